/* Selective backprop (Jiang et al. 2019, "Accelerating deep learning by focusing on the biggest
 * losers") with the NTNG rule (docs/methods/selective-backprop.md):
 *
 *   1. score candidates with the host's forward-only per_example_loss (charged as scoring);
 *   2. push each candidate's per-token mean loss (loss_sum / masked count) into a FIFO history of
 *      the last `history` losses, then rank it against the history: q = percentile rank
 *      ("rank" kind: the mean of the strict and the weak percentage), in 0..1;
 *   3. keep it with probability q^beta (independent Bernoulli draws from the step's rng_seed);
 *   4. train on a full batch of kept candidates.
 *
 * The ABI gives one candidate pool per step (pool_factor x batch rows) and wants exactly n_select
 * rows back, so scoring is lazy: chunks are scored until enough candidates have passed (only the
 * scored rows are charged). If the whole pool is scored and too few passed, the batch is filled
 * with the highest-ranked candidates that did not pass ("fill-up", reported per step as
 * filled_rows). Candidates that passed beyond n_select are dropped, as the pool does not carry
 * over to the next step.
 *
 * mode=accumulate is Algorithm 3's accumulate-until-full: every trained row passed. Chunks are
 * never larger than the rows still missing, so no passer is left over (nothing scored is wasted,
 * as when Algorithm 3 carries surplus to the next update), the pool is larger (pool_factor 0 =
 * auto: 8 x batch instead of 3 x) and fill-up happens only when even that pool runs out (logged).
 *
 * C11 against ntng_plugin.h only. State: the history, saved with save_state. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

#define SB_STATE_MAGIC 0x31425354u /* "TSB1" little-endian */

typedef struct sb {
  const ntng_host *h;
  const ntng_diagnostics_v1 *diag; /* NULL when the host keeps no diagnostics */

  /* Config. */
  double beta;
  int accumulate; /* mode=accumulate: Algorithm 3, batches only of passers */
  int32_t pool_factor;
  int32_t chunk;     /* rows per scoring call; 0 = adaptive */
  int32_t capacity;  /* history length */

  /* Loss history: a ring buffer of per-token mean losses. */
  float *history;
  int32_t count; /* valid entries */
  int32_t head;  /* next slot to write */

  /* Totals over the run (for the end-of-run log line), checkpointed with the history. */
  uint64_t steps, scored, passed, filled_rows, fill_steps;

  /* Scratch, grown on demand. */
  int32_t scratch;
  int32_t *rows;
  float *loss_sum, *masked;
  double *rank;
  uint8_t *passed_flag;
} sb;

/* ---- small helpers ---------------------------------------------------------------------- */

static ntng_status fail(const sb *p, ntng_status code, const char *msg) {
  p->h->set_error(p->h, code, msg);
  return code;
}

/* SplitMix64: the only generator, seeded from ntng_step_info.rng_seed (fairness rule F3). */
static uint64_t splitmix_next(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) { return (double)(splitmix_next(state) >> 11) * 0x1.0p-53; }

static void history_push(sb *p, float value) {
  p->history[p->head] = value;
  p->head = (p->head + 1) % p->capacity;
  if (p->count < p->capacity) p->count++;
}

/* Percentile rank of x in the history, SciPy's percentileofscore(kind="rank") / 100: the mean of
 * the share strictly below x and the share at or below x. */
static double history_rank(const sb *p, float x) {
  int64_t less = 0, equal = 0;
  for (int32_t i = 0; i < p->count; i++) {
    float v = p->history[i];
    if (v < x) less++;
    else if (v == x) equal++;
  }
  if (p->count == 0) return 0.5;
  return ((double)less + 0.5 * (double)equal) / (double)p->count;
}

static ntng_status ensure_scratch(sb *p, int32_t n) {
  if (n <= p->scratch) return NTNG_OK;
  int32_t *rows = (int32_t *)realloc(p->rows, sizeof(int32_t) * (size_t)n);
  if (rows) p->rows = rows;
  float *sum = (float *)realloc(p->loss_sum, sizeof(float) * (size_t)n);
  if (sum) p->loss_sum = sum;
  float *masked = (float *)realloc(p->masked, sizeof(float) * (size_t)n);
  if (masked) p->masked = masked;
  double *rank = (double *)realloc(p->rank, sizeof(double) * (size_t)n);
  if (rank) p->rank = rank;
  uint8_t *flag = (uint8_t *)realloc(p->passed_flag, (size_t)n);
  if (flag) p->passed_flag = flag;
  if (!rows || !sum || !masked || !rank || !flag) return fail(p, NTNG_E_NO_MEMORY, "selective backprop: out of memory for the candidate pool");
  p->scratch = n;
  return NTNG_OK;
}

static void record(const sb *p, const char *key, double value) {
  if (p->diag && p->diag->record) p->diag->record(p->h, key, value);
}

/* ---- config -------------------------------------------------------------------------------- */

static const ntng_config_key key_beta = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "beta",
    .default_value = "1.0",
    .help = "keep probability exponent: a candidate is kept with probability CDF^beta (1 keeps ~1/2, 2 ~1/3)",
};
static const ntng_config_key key_history = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_INT,
    .key = "history",
    .default_value = "5000",
    .help = "losses in the FIFO history a candidate is ranked against",
};
static const ntng_config_key key_pool = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_INT,
    .key = "pool_factor",
    .default_value = "0",
    .help = "candidate pool per step as a multiple of the batch (1..64; 0 = auto: 3 in pool mode, 8 in accumulate mode); ~(1+beta) are needed on average",
};
static const ntng_config_key key_mode = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_STRING,
    .key = "mode",
    .default_value = "pool",
    .help = "pool: score lazily, fill up from the best-ranked if too few pass; accumulate: Algorithm 3, score until the batch is full of passers",
};
static const ntng_config_key key_chunk = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_INT,
    .key = "chunk",
    .default_value = "0",
    .help = "rows scored per per_example_loss call; 0 = adaptive: ceil(missing x (1+beta)) rows",
};
static const ntng_config_key *const config_keys[] = {&key_beta, &key_history, &key_pool, &key_chunk, &key_mode, NULL};

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void destroy(void *self) {
  sb *p = (sb *)self;
  if (!p) return;
  free(p->history);
  free(p->rows);
  free(p->loss_sum);
  free(p->masked);
  free(p->rank);
  free(p->passed_flag);
  free(p);
}

static ntng_status create(const ntng_host *h, void **out_self) {
  sb probe;
  memset(&probe, 0, sizeof probe);
  probe.h = h;
  int64_t history = 0, pool = 0, chunk = 0;
  double beta = 0;
  char mode[32] = {0};
  uint64_t mode_length = 0;
  if (h->config_double(h, "beta", &beta) != NTNG_OK || h->config_int(h, "history", &history) != NTNG_OK ||
      h->config_int(h, "pool_factor", &pool) != NTNG_OK || h->config_int(h, "chunk", &chunk) != NTNG_OK ||
      h->config_string(h, "mode", mode, sizeof mode, &mode_length) != NTNG_OK)
    return fail(&probe, NTNG_E_INTERNAL, "selective backprop: cannot read its config");
  int accumulate = strcmp(mode, "accumulate") == 0;
  if (!accumulate && strcmp(mode, "pool") != 0)
    return fail(&probe, NTNG_E_INVALID, "mode must be pool (lazy scoring with fill-up) or accumulate (Algorithm 3: only passers)");
  if (pool == 0) pool = accumulate ? 8 : 3;
  if (!(beta >= 0) || !isfinite(beta)) return fail(&probe, NTNG_E_INVALID, "beta must be a finite number >= 0");
  if (history < 1 || history > 100000000) return fail(&probe, NTNG_E_INVALID, "history must be in 1..100000000");
  if (pool < 1 || pool > 64) return fail(&probe, NTNG_E_INVALID, "pool_factor must be in 1..64 (0 = auto)");
  if (chunk < 0 || chunk > 1000000) return fail(&probe, NTNG_E_INVALID, "chunk must be in 0..1000000 (0 = adaptive)");

  sb *p = (sb *)calloc(1, sizeof *p);
  if (!p) return fail(&probe, NTNG_E_NO_MEMORY, "selective backprop: out of memory");
  p->h = h;
  p->beta = beta;
  p->accumulate = accumulate;
  p->capacity = (int32_t)history;
  p->pool_factor = (int32_t)pool;
  p->chunk = (int32_t)chunk;
  p->history = (float *)calloc((size_t)p->capacity, sizeof(float));
  if (!p->history) {
    free(p);
    return fail(&probe, NTNG_E_NO_MEMORY, "selective backprop: out of memory for the loss history");
  }
  const ntng_diagnostics_v1 *d = (const ntng_diagnostics_v1 *)h->get_extension(h, NTNG_EXT_DIAGNOSTICS);
  if (d && d->struct_size >= sizeof(ntng_diagnostics_v1)) p->diag = d;
  *out_self = p;
  return NTNG_OK;
}

static int32_t pool_factor(void *self) { return ((sb *)self)->pool_factor; }

static ntng_status on_run_start(void *self, const ntng_step_info *s) {
  sb *p = (sb *)self;
  (void)s;
  char line[256];
  snprintf(line, sizeof line,
           "selective backprop (%s mode): keep probability CDF^%g against the last %d losses (per-token means), pool %d x batch, "
           "scoring %s; scoring passes are charged as scoring",
           p->accumulate ? "accumulate" : "pool", p->beta, (int)p->capacity, (int)p->pool_factor,
           p->accumulate ? "until the batch is full of passers" : p->chunk > 0 ? "in fixed chunks" : "lazily in adaptive chunks");
  p->h->log(p->h, NTNG_LOG_INFO, line);
  return NTNG_OK;
}

static ntng_status on_run_end(void *self, const ntng_step_info *s) {
  sb *p = (sb *)self;
  (void)s;
  char line[320];
  snprintf(line, sizeof line,
           "selective backprop: %llu steps, %llu candidates scored, %.1f%% passed (expected ~%.1f%% on a stationary stream), "
           "%llu steps needed fill-up (%llu rows)",
           (unsigned long long)p->steps, (unsigned long long)p->scored,
           p->scored ? 100.0 * (double)p->passed / (double)p->scored : 0.0, 100.0 / (1.0 + p->beta),
           (unsigned long long)p->fill_steps, (unsigned long long)p->filled_rows);
  p->h->log(p->h, NTNG_LOG_INFO, line);
  if (p->accumulate && p->fill_steps > 0) {
    snprintf(line, sizeof line,
             "selective backprop: accumulate mode ran out of its %d x batch pool in %llu steps and filled up; raise pool_factor",
             (int)p->pool_factor, (unsigned long long)p->fill_steps);
    p->h->log(p->h, NTNG_LOG_WARNING, line);
  }
  return NTNG_OK;
}

/* ---- selection ------------------------------------------------------------------------------ */

static ntng_status select_batch(void *self, const ntng_step_info *s, const ntng_batch_pool *pool, int32_t *out_rows) {
  sb *p = (sb *)self;
  const int32_t n = pool->n_candidates, need = pool->n_select;
  if (need < 1 || n < need) return fail(p, NTNG_E_INVALID, "selective backprop: the pool is smaller than the batch");
  ntng_status st = ensure_scratch(p, n);
  if (st != NTNG_OK) return st;

  uint64_t rng = s->rng_seed;
  int32_t scored = 0, passed = 0, chosen = 0;
  memset(p->passed_flag, 0, (size_t)n);

  /* The pool is a random sample, so scoring rows in index order is an unbiased draw. */
  while (passed < need && scored < n) {
    int32_t missing = need - passed;
    int64_t size = p->chunk > 0 ? p->chunk : (int64_t)ceil((double)missing * (1.0 + p->beta));
    /* Accumulate: at most the missing rows, so every passer scored is trained on. */
    if (p->accumulate && size > missing) size = missing;
    if (size < 1) size = 1;
    if (size > n - scored) size = n - scored;
    for (int32_t i = 0; i < size; i++) p->rows[scored + i] = scored + i;
    st = p->h->per_example_loss(p->h, p->rows + scored, (int32_t)size, p->loss_sum + scored, p->masked + scored);
    if (st != NTNG_OK) return fail(p, st, "selective backprop: per_example_loss failed");

    /* As in the NTNG code, the history already holds the chunk being ranked. */
    for (int32_t i = scored; i < scored + size; i++) {
      float m = p->masked[i];
      float mean = m > 0 ? p->loss_sum[i] / m : 0.0f;
      if (!isfinite(mean)) return fail(p, NTNG_E_INVALID, "selective backprop: per_example_loss returned a non-finite loss");
      p->loss_sum[i] = mean; /* from here on: the per-token mean */
      history_push(p, mean);
    }
    for (int32_t i = scored; i < scored + size; i++) {
      double q = history_rank(p, p->loss_sum[i]);
      p->rank[i] = q;
      double u = uniform01(&rng);
      if (u < pow(q, p->beta)) {
        p->passed_flag[i] = 1;
        passed++;
        if (chosen < need) out_rows[chosen++] = i;
      }
    }
    scored += (int32_t)size;
  }

  /* Fill-up: too few passed in the whole pool; take the best-ranked of the rest (ties: lower row).
   * Ranks are recomputed against the final history, so candidates of different chunks compare on
   * one scale (the fill is then simply the highest losses among the candidates that did not pass). */
  int32_t filled = 0;
  if (chosen < need)
    for (int32_t i = 0; i < scored; i++)
      if (!p->passed_flag[i]) p->rank[i] = history_rank(p, p->loss_sum[i]);
  while (chosen < need) {
    int32_t best = -1;
    for (int32_t i = 0; i < scored; i++)
      if (!p->passed_flag[i] && (best < 0 || p->rank[i] > p->rank[best])) best = i;
    if (best < 0) return fail(p, NTNG_E_INTERNAL, "selective backprop: fill-up ran out of candidates");
    p->passed_flag[best] = 2;
    out_rows[chosen++] = best;
    filled++;
  }

  p->steps++;
  p->scored += (uint64_t)scored;
  p->passed += (uint64_t)passed;
  p->filled_rows += (uint64_t)filled;
  if (filled > 0) p->fill_steps++;
  record(p, "selection_rate", (double)passed / (double)scored);
  record(p, "passed", (double)passed);
  record(p, "filled_rows", (double)filled);
  return NTNG_OK;
}

/* ---- state ------------------------------------------------------------------------------------
 * Little-endian, fixed layout: magic, capacity, count, 5 totals, then the history oldest first (so
 * the bytes do not depend on where the ring buffer happens to start). */

static ntng_status save_state(void *self, const ntng_ostream *out) {
  sb *p = (sb *)self;
  uint32_t header[3] = {SB_STATE_MAGIC, (uint32_t)p->capacity, (uint32_t)p->count};
  uint64_t totals[5] = {p->steps, p->scored, p->passed, p->filled_rows, p->fill_steps};
  if (!ntng_write_exact(out, header, sizeof header) || !ntng_write_exact(out, totals, sizeof totals))
    return fail(p, NTNG_E_IO, "selective backprop: writing state failed");
  int32_t oldest = (p->head - p->count + p->capacity) % p->capacity;
  for (int32_t k = 0; k < p->count; k++) {
    float v = p->history[(oldest + k) % p->capacity];
    if (!ntng_write_exact(out, &v, sizeof v)) return fail(p, NTNG_E_IO, "selective backprop: writing state failed");
  }
  return NTNG_OK;
}

static ntng_status load_state(void *self, const ntng_istream *in) {
  sb *p = (sb *)self;
  uint32_t header[3];
  uint64_t totals[5];
  if (!ntng_read_exact(in, header, sizeof header) || header[0] != SB_STATE_MAGIC || !ntng_read_exact(in, totals, sizeof totals))
    return fail(p, NTNG_E_IO, "selective backprop: the saved state is not selective-backprop state");
  p->steps = totals[0];
  p->scored = totals[1];
  p->passed = totals[2];
  p->filled_rows = totals[3];
  p->fill_steps = totals[4];
  p->count = 0;
  p->head = 0;
  /* A different `history` on resume keeps the newest losses that fit. */
  for (uint32_t k = 0; k < header[2]; k++) {
    float v;
    if (!ntng_read_exact(in, &v, sizeof v)) return fail(p, NTNG_E_IO, "selective backprop: the saved history is truncated");
    history_push(p, v);
  }
  return NTNG_OK;
}

/* ---- tables ----------------------------------------------------------------------------------- */

static const ntng_hooks hooks = {
    .struct_size = sizeof(ntng_hooks),
    .on_run_start = on_run_start,
    .on_run_end = on_run_end,
    .select_batch = select_batch,
    .pool_factor = pool_factor,
    .save_state = save_state,
    .load_state = load_state,
};

static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .id = "selective-backprop",
    .name = "Selective backprop",
    .version = "1.1.0",
    .description = "keeps each scored candidate with probability CDF^beta of its loss in a 5000-loss history (Jiang et al. 2019)",
    .config_keys = config_keys,
    .hooks = &hooks,
    .create = create,
    .destroy = destroy,
};

static const ntng_entry entry = {
    .struct_size = sizeof(ntng_entry),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .descriptor = &descriptor,
};

NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
