/* RHO-LOSS (Mindermann et al. 2022, "Prioritized training on points that are learnable, worth
 * learning, and not yet learnt"), as used by NTNG (docs/methods/rho.md):
 *
 *   every step the host samples a mega-batch of pool_factor x batch candidates; the plugin scores
 *   all of them with the host's forward-only per_example_loss (charged as scoring), looks up each
 *   candidate's irreducible loss by example id in a precomputed table, and trains on the n_select
 *   candidates with the largest reducible loss  (training loss - irreducible loss), both as
 *   per-token means over the masked tokens. Ties go to the lower pool row, so selection is
 *   deterministic and uses no randomness at all.
 *
 * The table (`table`, a file of float32 per training example id, NaN for ids of the proxy
 * split, the NaN with payload 1 (RHO_NOT_EXTRACTED) for ids beyond the stream prefix the host
 * computed for this budget) is made by the host (`ntng rho prepare`, or `ntng run --method rho` on first use): an
 * irreducible-loss model of the target's architecture trained on the 20 % proxy split, its losses
 * computed with the target run's masks. That work is amortised and not charged; the plugin says so
 * in the run log. An id outside the table or one of the proxy split is an error (it would mean the
 * table belongs to another corpus, sequence length or split rule).
 *
 * C11 against ntng_plugin.h only. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

#define RHO_STATE_MAGIC 0x314F4852u /* "RHO1" little-endian */
#define RHO_TEXT 1024
#define RHO_NOT_EXTRACTED 0x7FC00001u /* NaN payload 1: the host computed no loss for this id */

typedef struct rho {
  const ntng_host *h;
  const ntng_diagnostics_v1 *diag;
  int32_t pool_factor;

  float *table;          /* irreducible loss per example id */
  int64_t table_count;   /* ids 0 ..< table_count */
  int64_t proxy_ids;     /* NaN entries: ids of the proxy split */
  int64_t missing_ids;   /* RHO_NOT_EXTRACTED entries: beyond the covered stream prefix */
  char table_path[RHO_TEXT], table_sha256[128], proxy_checkpoint[RHO_TEXT], proxy_sha256[128];

  /* Totals over the run, checkpointed (they only feed the end-of-run log line). */
  uint64_t steps, scored, selected;

  /* Scratch, grown on demand. */
  int32_t scratch;
  int32_t *rows, *order, *tmp;
  float *loss_sum, *masked;
  double *score, *irreducible;
} rho;

static ntng_status fail(const rho *p, ntng_status code, const char *msg) {
  p->h->set_error(p->h, code, msg);
  return code;
}

static void record(const rho *p, const char *key, double value) {
  if (p->diag && p->diag->record && isfinite(value)) p->diag->record(p->h, key, value);
}

/* ---- config -------------------------------------------------------------------------------- */

static const ntng_config_key key_table = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_STRING,
    .key = "table",
    .default_value = "",
    .help = "irreducible-loss table (float32 per training example id); set by `ntng run` from `ntng rho prepare`",
};
static const ntng_config_key key_table_sha = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_STRING,
    .key = "table_sha256",
    .default_value = "",
    .help = "SHA-256 of the table, recorded with the run (set by the host)",
};
static const ntng_config_key key_proxy = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_STRING,
    .key = "proxy_checkpoint",
    .default_value = "",
    .help = "the irreducible-loss model the table came from, recorded with the run (set by the host)",
};
static const ntng_config_key key_proxy_sha = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_STRING,
    .key = "proxy_sha256",
    .default_value = "",
    .help = "SHA-256 of the proxy checkpoint, recorded with the run (set by the host)",
};
static const ntng_config_key key_proxy_budget = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_STRING,
    .key = "proxy_budget",
    .default_value = "run",
    .help = "RST budget of the proxy model's training when the host prepares the table (amortised, not charged); run = the run's own budget",
};
static const ntng_config_key key_pool = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_INT,
    .key = "pool_factor",
    .default_value = "2",
    .help = "mega-batch as a multiple of the batch (1..64): 2 as in NTNG, 10 in the 'for free' ablation",
};
static const ntng_config_key *const config_keys[] = {&key_table, &key_table_sha, &key_proxy, &key_proxy_sha,
                                                     &key_proxy_budget, &key_pool, NULL};

static int read_text(const ntng_host *h, const char *key, char *buffer, uint64_t capacity) {
  uint64_t length = 0;
  if (h->config_string(h, key, buffer, capacity, &length) != NTNG_OK) return 0;
  return length < capacity; /* a truncated path would name another file */
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void destroy(void *self) {
  rho *p = (rho *)self;
  if (!p) return;
  free(p->table);
  free(p->rows);
  free(p->order);
  free(p->tmp);
  free(p->loss_sum);
  free(p->masked);
  free(p->score);
  free(p->irreducible);
  free(p);
}

static int not_extracted(float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  return bits == RHO_NOT_EXTRACTED;
}

/* Reads the whole table file: little-endian float32, one per example id. */
static ntng_status load_table(rho *p) {
  char msg[RHO_TEXT + 200];
  FILE *f = fopen(p->table_path, "rb");
  if (!f) {
    snprintf(msg, sizeof msg, "cannot open the irreducible-loss table %s", p->table_path);
    return fail(p, NTNG_E_IO, msg);
  }
  long bytes = -1;
  if (fseek(f, 0, SEEK_END) == 0) bytes = ftell(f);
  if (bytes <= 0 || bytes % 4 != 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    snprintf(msg, sizeof msg, "the irreducible-loss table %s is empty or not a whole number of float32 values", p->table_path);
    return fail(p, NTNG_E_IO, msg);
  }
  p->table_count = bytes / 4;
  p->table = (float *)malloc((size_t)bytes);
  if (!p->table) {
    fclose(f);
    return fail(p, NTNG_E_NO_MEMORY, "RHO: out of memory for the irreducible-loss table");
  }
  size_t got = fread(p->table, 4, (size_t)p->table_count, f);
  fclose(f);
  if ((int64_t)got != p->table_count) {
    snprintf(msg, sizeof msg, "reading the irreducible-loss table %s failed", p->table_path);
    return fail(p, NTNG_E_IO, msg);
  }
  for (int64_t i = 0; i < p->table_count; i++) {
    if (not_extracted(p->table[i])) p->missing_ids++;
    else if (isnan(p->table[i])) p->proxy_ids++;
    else if (!isfinite(p->table[i])) {
      snprintf(msg, sizeof msg, "the irreducible-loss table %s holds an infinite loss at id %lld", p->table_path, (long long)i);
      return fail(p, NTNG_E_INVALID, msg);
    }
  }
  if (p->proxy_ids + p->missing_ids == p->table_count) {
    snprintf(msg, sizeof msg, "the irreducible-loss table %s has no training ids (all NaN)", p->table_path);
    return fail(p, NTNG_E_INVALID, msg);
  }
  return NTNG_OK;
}

static ntng_status create(const ntng_host *h, void **out_self) {
  rho *p = (rho *)calloc(1, sizeof *p);
  if (!p) {
    h->set_error(h, NTNG_E_NO_MEMORY, "RHO: out of memory");
    return NTNG_E_NO_MEMORY;
  }
  p->h = h;
  int64_t pool = 0;
  ntng_status st = NTNG_OK;
  if (h->config_int(h, "pool_factor", &pool) != NTNG_OK || !read_text(h, "table", p->table_path, sizeof p->table_path) ||
      !read_text(h, "table_sha256", p->table_sha256, sizeof p->table_sha256) ||
      !read_text(h, "proxy_checkpoint", p->proxy_checkpoint, sizeof p->proxy_checkpoint) ||
      !read_text(h, "proxy_sha256", p->proxy_sha256, sizeof p->proxy_sha256))
    st = fail(p, NTNG_E_INVALID, "RHO: cannot read its config (a path longer than 1023 bytes?)");
  else if (pool < 1 || pool > 64)
    st = fail(p, NTNG_E_INVALID, "pool_factor must be in 1..64");
  else if (p->table_path[0] == '\0')
    st = fail(p, NTNG_E_INVALID,
              "no irreducible-loss table: `ntng run --method rho` prepares one automatically (or run `ntng rho prepare "
              "--corpus C --model M --seed S`); elsewhere pass --set table=PATH/losses.f32");
  else
    st = load_table(p);
  if (st != NTNG_OK) {
    destroy(p);
    return st;
  }
  p->pool_factor = (int32_t)pool;
  const ntng_diagnostics_v1 *d = (const ntng_diagnostics_v1 *)h->get_extension(h, NTNG_EXT_DIAGNOSTICS);
  if (d && d->struct_size >= sizeof(ntng_diagnostics_v1)) p->diag = d;
  *out_self = p;
  return NTNG_OK;
}

static int32_t pool_factor(void *self) { return ((rho *)self)->pool_factor; }

static ntng_status on_run_start(void *self, const ntng_step_info *s) {
  rho *p = (rho *)self;
  (void)s;
  char line[3 * RHO_TEXT];
  snprintf(line, sizeof line,
           "RHO-LOSS: irreducible losses from %s (sha256 %s; %lld example ids, %lld of them in the proxy split, %lld not "
           "computed as beyond the budget's reach), "
           "proxy model %s (sha256 %s). Proxy training and loss extraction are amortised and NOT charged; "
           "the selection forwards (%d x the batch per step) are charged as scoring.",
           p->table_path, p->table_sha256[0] ? p->table_sha256 : "not given", (long long)p->table_count,
           (long long)p->proxy_ids, (long long)p->missing_ids, p->proxy_checkpoint[0] ? p->proxy_checkpoint : "not given",
           p->proxy_sha256[0] ? p->proxy_sha256 : "not given", (int)p->pool_factor);
  p->h->log(p->h, NTNG_LOG_INFO, line);
  return NTNG_OK;
}

static ntng_status on_run_end(void *self, const ntng_step_info *s) {
  rho *p = (rho *)self;
  (void)s;
  char line[256];
  snprintf(line, sizeof line, "RHO-LOSS: %llu steps, %llu candidates scored, %llu selected (%.1f%%)",
           (unsigned long long)p->steps, (unsigned long long)p->scored, (unsigned long long)p->selected,
           p->scored ? 100.0 * (double)p->selected / (double)p->scored : 0.0);
  p->h->log(p->h, NTNG_LOG_INFO, line);
  return NTNG_OK;
}

/* ---- selection ------------------------------------------------------------------------------ */

static ntng_status ensure_scratch(rho *p, int32_t n) {
  if (n <= p->scratch) return NTNG_OK;
  void **slots[] = {(void **)&p->rows, (void **)&p->order, (void **)&p->tmp, (void **)&p->loss_sum,
                    (void **)&p->masked, (void **)&p->score, (void **)&p->irreducible};
  size_t sizes[] = {sizeof(int32_t), sizeof(int32_t), sizeof(int32_t), sizeof(float), sizeof(float), sizeof(double), sizeof(double)};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    void *grown = realloc(*slots[k], sizes[k] * (size_t)n);
    if (!grown) return fail(p, NTNG_E_NO_MEMORY, "RHO: out of memory for the mega-batch");
    *slots[k] = grown;
  }
  p->scratch = n;
  return NTNG_OK;
}

/* "a before b": larger score first, then the lower row. */
static int before(const double *score, int32_t a, int32_t b) {
  return score[a] > score[b] || (score[a] == score[b] && a < b);
}

/* Bottom-up merge sort of order[0..n) by `before` (O(n log n), no qsort_r needed). */
static void sort_rows(int32_t *order, int32_t *tmp, int32_t n, const double *score) {
  for (int32_t width = 1; width < n; width *= 2) {
    for (int32_t lo = 0; lo < n; lo += 2 * width) {
      int32_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
      int32_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = before(score, order[j], order[i]) ? order[j++] : order[i++];
      while (i < mid) tmp[k++] = order[i++];
      while (j < hi) tmp[k++] = order[j++];
    }
    memcpy(order, tmp, sizeof(int32_t) * (size_t)n);
  }
}

static ntng_status select_batch(void *self, const ntng_step_info *s, const ntng_batch_pool *pool, int32_t *out_rows) {
  rho *p = (rho *)self;
  (void)s;
  const int32_t n = pool->n_candidates, need = pool->n_select;
  if (need < 1 || n < need || !pool->example_ids) return fail(p, NTNG_E_INVALID, "RHO: the pool is smaller than the batch");
  ntng_status st = ensure_scratch(p, n);
  if (st != NTNG_OK) return st;

  /* Look every id up before paying for the scoring pass: a mismatch is an error, not a step. */
  char msg[RHO_TEXT + 256];
  for (int32_t i = 0; i < n; i++) {
    uint64_t id = pool->example_ids[i];
    if (id >= (uint64_t)p->table_count) {
      snprintf(msg, sizeof msg,
               "example id %llu is outside the irreducible-loss table %s (%lld ids): the table was made for another corpus, "
               "tokenizer or sequence length",
               (unsigned long long)id, p->table_path, (long long)p->table_count);
      return fail(p, NTNG_E_INVALID, msg);
    }
    if (not_extracted(p->table[id])) {
      snprintf(msg, sizeof msg,
               "example id %llu has no irreducible loss in %s: the host computed losses only for the stream positions "
               "it estimated this budget could reach; prepare the whole table with `ntng rho prepare --force` (no --budget) "
               "and pass it with --set table=PATH",
               (unsigned long long)id, p->table_path);
      return fail(p, NTNG_E_INVALID, msg);
    }
    if (isnan(p->table[id])) {
      snprintf(msg, sizeof msg,
               "example id %llu belongs to the proxy (hold-out) split of %s: the training stream contains the proxy model's "
               "data (split mismatch)",
               (unsigned long long)id, p->table_path);
      return fail(p, NTNG_E_INVALID, msg);
    }
    p->irreducible[i] = p->table[id];
    p->rows[i] = i;
    p->order[i] = i;
  }

  st = p->h->per_example_loss(p->h, p->rows, n, p->loss_sum, p->masked);
  if (st != NTNG_OK) return fail(p, st, "RHO: per_example_loss failed");
  double pool_reducible = 0;
  int32_t pool_counted = 0;
  for (int32_t i = 0; i < n; i++) {
    if (p->masked[i] > 0) {
      double train = (double)p->loss_sum[i] / (double)p->masked[i];
      if (!isfinite(train)) return fail(p, NTNG_E_INVALID, "RHO: per_example_loss returned a non-finite loss");
      p->score[i] = train - p->irreducible[i];
      pool_reducible += p->score[i];
      pool_counted++;
    } else {
      p->score[i] = -INFINITY; /* nothing to learn from a row without masked tokens */
    }
  }
  sort_rows(p->order, p->tmp, n, p->score);

  double sel_reducible = 0, sel_irreducible = 0;
  for (int32_t k = 0; k < need; k++) {
    out_rows[k] = p->order[k];
    sel_reducible += p->score[p->order[k]];
    sel_irreducible += p->irreducible[p->order[k]];
  }
  p->steps++;
  p->scored += (uint64_t)n;
  p->selected += (uint64_t)need;
  record(p, "selection_rate", (double)need / (double)n);
  record(p, "reducible_selected", sel_reducible / need);
  if (pool_counted > 0) record(p, "reducible_pool", pool_reducible / pool_counted);
  record(p, "irreducible_selected", sel_irreducible / need);
  return NTNG_OK;
}

/* ---- state: the run totals only (the table is config, not state) ---------------------------- */

static ntng_status save_state(void *self, const ntng_ostream *out) {
  rho *p = (rho *)self;
  uint64_t words[4] = {RHO_STATE_MAGIC, p->steps, p->scored, p->selected};
  if (!ntng_write_exact(out, words, sizeof words)) return fail(p, NTNG_E_IO, "RHO: writing state failed");
  return NTNG_OK;
}

static ntng_status load_state(void *self, const ntng_istream *in) {
  rho *p = (rho *)self;
  uint64_t words[4];
  if (!ntng_read_exact(in, words, sizeof words)) return fail(p, NTNG_E_IO, "RHO: the saved state is truncated");
  if (words[0] != RHO_STATE_MAGIC) return fail(p, NTNG_E_IO, "RHO: the saved state is not RHO state");
  p->steps = words[1];
  p->scored = words[2];
  p->selected = words[3];
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
    .id = "rho",
    .name = "RHO-LOSS",
    .version = "1.1.0",
    .description = "trains on the mega-batch rows with the largest training minus irreducible loss (Mindermann et al. 2022)",
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
