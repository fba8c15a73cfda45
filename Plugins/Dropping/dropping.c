/* Progressive layer dropping (Zhang & He 2020), in the variant NTNG trains BERT with.
 *
 * The keep ratio decays from 1 to a floor as the budget is spent:
 *
 *     theta(t) = (1 - keep_floor) * exp(-gamma * t) + keep_floor,   gamma = gamma_factor / T
 *
 * with t / T the budget fraction (RST for RST budgets). Layer i (0-based) of the L current layers
 * is dropped with probability (1 - theta(t)) * (i + 1) / L, independently, so the top layer is
 * dropped most and the expected kept depth at the floor 0.5 is (3L - 1) / 4.
 *
 * As in the seed code (and unlike DeepSpeed's PLD) a fresh mask is drawn for every micro-batch,
 * and by default kept layers are not rescaled. `rescale=true` follows the paper's Algorithm 2
 * instead: a kept layer i's residual branches are multiplied by 1/p_i, p_i = 1 - (1 - theta)(i+1)/L
 * its keep probability, through PluginAPI v1.1's layer_output_scale (so each layer's expected
 * contribution equals the full model's, which evaluation runs). A skipped layer is the identity on
 * the residual stream; the host charges each micro-batch for the layers it runs and evaluates the
 * full model.
 *
 * The only randomness is ntng_step_info.rng_seed (fairness rule F3), expanded with SplitMix64.
 * The plugin is stateless: theta follows from the budget fraction, the masks from the seed.
 * Public header only; the one exported symbol is ntng_get_entry_v1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

typedef struct dropping {
  const ntng_host *host;
  double keep_floor;             /* theta's limit (NTNG's `max_theta`) */
  double gamma_factor;           /* gamma * T: how many e-foldings the decay makes per budget */
  int32_t per_micro_batch;       /* 1: a mask per micro-batch (seed code); 0: one per step */
  int32_t rescale;               /* 1: kept layers' outputs x 1/p (Algorithm 2) */
} dropping;

static ntng_status dropping_create(const ntng_host *h, void **out_self) {
  dropping *d = (dropping *)calloc(1, sizeof *d);
  if (!d) return ntng_fail(h, NTNG_E_NO_MEMORY, "out of memory");
  d->host = h;
  if (h->config_double(h, "keep_floor", &d->keep_floor) != NTNG_OK ||
      h->config_double(h, "gamma_factor", &d->gamma_factor) != NTNG_OK ||
      h->config_bool(h, "per_micro_batch", &d->per_micro_batch) != NTNG_OK ||
      h->config_bool(h, "rescale", &d->rescale) != NTNG_OK) {
    free(d);
    return ntng_fail(h, NTNG_E_INVALID, "could not read the config (keep_floor, gamma_factor, per_micro_batch, rescale)");
  }
  if (!(d->keep_floor >= 0.0 && d->keep_floor <= 1.0)) {
    free(d);
    return ntng_fail(h, NTNG_E_INVALID, "keep_floor must be in [0, 1]");
  }
  if (!(d->gamma_factor >= 0.0)) {
    free(d);
    return ntng_fail(h, NTNG_E_INVALID, "gamma_factor must be >= 0");
  }
  *out_self = d;
  return NTNG_OK;
}

static void dropping_destroy(void *self) { free(self); }

/* theta(t): the keep probability of the top layer at budget fraction t/T. */
static double keep_theta(const dropping *d, double fraction) {
  return (1.0 - d->keep_floor) * exp(-d->gamma_factor * fraction) + d->keep_floor;
}

/* SplitMix64 (Steele, Lea & Flood 2014): a full-period 64-bit stream from any seed. */
static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* A uniform double in [0, 1) from the top 53 bits. */
static double uniform(uint64_t *state) { return (double)(splitmix64(state) >> 11) * 0x1.0p-53; }

/* Draws one keep row: layer i survives unless u < (1 - theta) (i + 1) / L. Returns the layers
 * kept. A row that keeps nothing runs the full model instead, as the seed code does (its empty
 * active list means "all layers"); the host would refuse an empty row. */
static int32_t draw_row(uint8_t *row, int32_t layers, double drop_top, uint64_t *rng) {
  int32_t kept = 0;
  for (int32_t i = 0; i < layers; i++) {
    const double drop = drop_top * (double)(i + 1) / (double)layers;
    row[i] = uniform(rng) < drop ? 0 : 1;
    kept += row[i];
  }
  if (kept == 0) {
    memset(row, 1, (size_t)layers);
    kept = layers;
  }
  return kept;
}

static void record(const ntng_host *h, const char *key, double value) {
  const ntng_diagnostics_v1 *diag = (const ntng_diagnostics_v1 *)h->get_extension(h, NTNG_EXT_DIAGNOSTICS);
  if (diag && diag->struct_size >= sizeof *diag && diag->record) diag->record(h, key, value);
}

static ntng_status dropping_on_step(void *self, const ntng_step_info *info, ntng_step_plan *plan) {
  dropping *d = (dropping *)self;
  const int32_t layers = plan->num_layers, rows = plan->micro_batches;
  const double theta = keep_theta(d, info->budget_fraction);
  const double drop_top = 1.0 - theta;
  const double expected_depth = (double)layers - drop_top * (double)(layers + 1) / 2.0;
  record(d->host, "dropping_theta", theta);
  record(d->host, "dropping_expected_depth", expected_depth);
  if (layers <= 0 || rows <= 0 || drop_top <= 0.0) return NTNG_DECLINED; /* nothing to drop */

  uint64_t rng = info->rng_seed;
  for (int32_t m = 0; m < rows; m++) {
    uint8_t *row = plan->layer_keep + (size_t)m * (size_t)layers;
    if (m > 0 && !d->per_micro_batch) memcpy(row, plan->layer_keep, (size_t)layers);
    else draw_row(row, layers, drop_top, &rng);
    if (d->rescale) {
      float *scale = plan->layer_output_scale + (size_t)m * (size_t)layers;
      for (int32_t i = 0; i < layers; i++) {
        const double p = 1.0 - drop_top * (double)(i + 1) / (double)layers;
        scale[i] = (float)(1.0 / (p > 1e-3 ? p : 1e-3)); /* keep_floor 0 makes the top layer's p 0 */
      }
    }
  }
  return NTNG_OK;
}

static const ntng_config_key key_keep_floor = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "keep_floor",
    .default_value = "0.5",
    .help = "theta's floor (NTNG max_theta): the top layer's keep probability late in training",
};
static const ntng_config_key key_gamma_factor = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "gamma_factor",
    .default_value = "100",
    .help = "gamma = gamma_factor / T: theta decays as exp(-gamma_factor * budget fraction) (paper: 100 BERT, 20 T5)",
};
static const ntng_config_key key_per_micro_batch = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_BOOL,
    .key = "per_micro_batch",
    .default_value = "true",
    .help = "draw a fresh keep mask for every micro-batch (seed code); false = one mask per optimizer step",
};
static const ntng_config_key key_rescale = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_BOOL,
    .key = "rescale",
    .default_value = "false",
    .help = "multiply a kept layer's output by 1/p, its keep probability (the paper's Algorithm 2); false = the seed code",
};
static const ntng_config_key *const config_keys[] = {&key_keep_floor, &key_gamma_factor,
                                                     &key_per_micro_batch, &key_rescale, NULL};

static const ntng_hooks hooks = {
    .struct_size = sizeof(ntng_hooks),
    .on_step = dropping_on_step,
    /* .optimizer_step = NULL: the host's AdamW */
    /* .save_state = NULL: stateless, theta follows from the budget fraction */
};

static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .id = "dropping",
    .name = "Progressive layer dropping (Zhang & He, NTNG BERT variant)",
    .version = "1.1.0",
    .description = "Skips layer i of L with probability (1 - theta(t)) (i + 1) / L per micro-batch, theta decaying to 0.5",
    .config_keys = config_keys,
    .hooks = &hooks,
    .create = dropping_create,
    .destroy = dropping_destroy,
};

static const ntng_entry entry = {
    .struct_size = sizeof(ntng_entry),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .descriptor = &descriptor,
};

NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
