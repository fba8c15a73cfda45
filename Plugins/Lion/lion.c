/* Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms") as an ntng method
 * plugin: it replaces the host's AdamW through optimizer_step.
 *
 * Per coordinate, with one momentum m (a host-owned state tensor, zero at the start):
 *     c = beta1*m + (1 - beta1)*g
 *     p = p*(1 - lr*weight_decay)          only where the baseline decays (ntng_param_info.decayed)
 *     p = p - lr*sign(c)                   sign(0) = 0
 *     m = beta2*m + (1 - beta2)*g
 *
 * Learning rate (PluginAPI v1.1 peak rule). args->lr is the host's budget schedule (one-cycle, peak
 * args->peak_lr = the run's `--set lr`, 1e-3 by default) times any on_step lr_scale. Lion keeps that
 * shape and every lr_scale but rescales it to its own peak: lr = args->lr * (peak_lr / args->peak_lr).
 * The default peak_lr 7e-4 is the paper's tuned Lion peak, whatever the baseline's `--set lr`; a Lion
 * LR grid sweeps `--set lion.peak_lr=...`.
 *
 * Tensors without a gradient this step (ntng_param_info.has_gradient = 0: a layer that layer
 * dropping skipped in every micro-batch, or a frozen one) are left alone entirely — value and
 * momentum — as lion-pytorch does for parameters whose .grad is None.
 *
 * rms_scaling (off by default, as for BERT) applies the T5 recipes' per-tensor scaling
 * lr_t = lr * max(1e-3, RMS(p)), with RMS taken over the tensor's values before the update. As in
 * NTNG's T5 Lion the scaled rate drives both the decay and the sign step.
 *
 * All state is the momentum tensor, which the host checkpoints and remaps on resize; the plugin
 * keeps no private scalars, so it has no save_state/load_state. Only ntng_get_entry_v1 is
 * exported (built with -fvisibility=hidden).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

typedef struct lion {
  const ntng_host *host;
  float beta1, beta2;
  double weight_decay;
  double peak_lr;
  int32_t rms_scaling;
  int32_t momentum; /* state tensor id */
} lion;

static ntng_status lion_create(const ntng_host *h, void **out_self) {
  double beta1 = 0, beta2 = 0, weight_decay = 0, peak_lr = 0;
  int32_t rms_scaling = 0;
  if (h->config_double(h, "beta1", &beta1) != NTNG_OK || h->config_double(h, "beta2", &beta2) != NTNG_OK ||
      h->config_double(h, "weight_decay", &weight_decay) != NTNG_OK ||
      h->config_double(h, "peak_lr", &peak_lr) != NTNG_OK ||
      h->config_bool(h, "rms_scaling", &rms_scaling) != NTNG_OK)
    return ntng_fail(h, NTNG_E_INVALID, "could not read the config");
  if (!(beta1 >= 0 && beta1 <= 1) || !(beta2 >= 0 && beta2 <= 1))
    return ntng_fail(h, NTNG_E_INVALID, "beta1 and beta2 must be in [0, 1]");
  if (!(weight_decay >= 0)) return ntng_fail(h, NTNG_E_INVALID, "weight_decay must be >= 0");
  if (!(peak_lr > 0)) return ntng_fail(h, NTNG_E_INVALID, "peak_lr must be > 0");

  lion *s = (lion *)calloc(1, sizeof *s);
  if (!s) return ntng_fail(h, NTNG_E_NO_MEMORY, "out of memory");
  s->host = h;
  s->beta1 = (float)beta1;
  s->beta2 = (float)beta2;
  s->weight_decay = weight_decay;
  s->peak_lr = peak_lr;
  s->rms_scaling = rms_scaling;
  s->momentum = h->state_tensor(h, "momentum", 0.0f);
  if (s->momentum < 0) {
    free(s);
    return ntng_fail(h, NTNG_E_NO_MEMORY, "could not allocate the momentum state tensor");
  }
  *out_self = s;
  return NTNG_OK;
}

static void lion_destroy(void *self) { free(self); }

/* max(1e-3, RMS of a tensor's values), accumulated in double: the T5 recipes' rate scale. */
static double rms_scale(const float *x, int64_t n) {
  double sum = 0;
  for (int64_t j = 0; j < n; j++) sum += (double)x[j] * (double)x[j];
  const double rms = n > 0 ? sqrt(sum / (double)n) : 0.0;
  return rms > 1e-3 ? rms : 1e-3;
}

/* One tensor's update: a flat loop the compiler can vectorise (the sign is branch-free). */
static void lion_update(float *restrict value, const float *restrict grad, float *restrict m, int64_t n,
                        float lr, float decay, float beta1, float beta2) {
  const float keep = 1.0f - lr * decay;
  for (int64_t j = 0; j < n; j++) {
    const float g = grad[j];
    const float c = beta1 * m[j] + (1.0f - beta1) * g;
    const float sign = (float)((c > 0.0f) - (c < 0.0f)); /* sign(0) = 0 */
    value[j] = value[j] * keep - lr * sign;
    m[j] = beta2 * m[j] + (1.0f - beta2) * g;
  }
}

static ntng_status lion_optimizer_step(void *self, const ntng_step_info *step, const ntng_optimizer_args *args) {
  lion *s = (lion *)self;
  const ntng_host *h = s->host;
  (void)step;
  ntng_model_info model;
  if (ntng_get_model(h, &model) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "no model info");
  float *momentum = h->state_data(h, s->momentum); /* re-fetched every step: buffers move on resize */
  if (!momentum) return ntng_fail(h, NTNG_E_INTERNAL, "the momentum state tensor vanished");

  if (!(args->peak_lr > 0)) return ntng_fail(h, NTNG_E_INVALID, "the host's schedule has no positive peak (args->peak_lr)");
  const double lr = (double)args->lr * (s->peak_lr / args->peak_lr);
  for (int32_t i = 0; i < model.num_params; i++) {
    ntng_param_info p;
    if (ntng_get_param(h, i, &p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
    if (!p.has_gradient) continue; /* skipped or frozen this step: no update, no momentum decay */
    double tensor_lr = lr;
    if (s->rms_scaling) tensor_lr *= rms_scale(p.value, p.count);
    lion_update(p.value, p.grad, momentum + p.offset, p.count, (float)tensor_lr,
                p.decayed ? (float)s->weight_decay : 0.0f, s->beta1, s->beta2);
  }
  return NTNG_OK;
}

static const ntng_config_key key_beta1 = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "beta1",
    .default_value = "0.9",
    .help = "interpolation between momentum and gradient for the update direction",
};
static const ntng_config_key key_beta2 = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "beta2",
    .default_value = "0.99",
    .help = "momentum decay (use 0.98 with beta1 0.95 if training spikes)",
};
static const ntng_config_key key_weight_decay = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "weight_decay",
    .default_value = "0.1",
    .help = "decoupled weight decay p*(1 - lr*wd) on the tensors the baseline decays (paper's BERT value 0.1)",
};
static const ntng_config_key key_peak_lr = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "peak_lr",
    .default_value = "7e-4",
    .help = "Lion's peak rate (paper: 7e-4): the host's schedule and lr_scale, rescaled to this peak",
};
static const ntng_config_key key_rms_scaling = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_BOOL,
    .key = "rms_scaling",
    .default_value = "false",
    .help = "scale each tensor's rate by max(1e-3, RMS(p)) as the T5 recipes do (decay and step)",
};
static const ntng_config_key *const config_keys[] = {&key_beta1,         &key_beta2,       &key_weight_decay,
                                                     &key_peak_lr, &key_rms_scaling, NULL};

static const ntng_hooks hooks = {
    .struct_size = sizeof(ntng_hooks),
    .optimizer_step = lion_optimizer_step,
    /* .save_state = NULL: no private state, the momentum is a host state tensor */
};

static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .id = "lion",
    .name = "Lion",
    .version = "1.1.0",
    .description = "Lion optimizer (Chen et al. 2023): sign of interpolated momentum, decoupled weight decay",
    .config_keys = config_keys,
    .hooks = &hooks,
    .create = lion_create,
    .destroy = lion_destroy,
};

static const ntng_entry entry = {
    .struct_size = sizeof(ntng_entry),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .descriptor = &descriptor,
};

NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
