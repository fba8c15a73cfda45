/* Sophia-G (Liu et al. 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for Language
 * Model Pre-training") with the Gauss-Newton-Bartlett curvature estimator, as an ntng method
 * plugin: it replaces the host's AdamW through optimizer_step.
 *
 * Per coordinate, with momentum m and curvature h (host-owned state tensors, zero at the start):
 *     every curvature_interval (k) updates, before the update:
 *         g^ = the host's sampled_label_gradient (labels drawn from the model's own softmax on this
 *              step's batch, accumulated over all its micro-batches; charged as curvature)
 *         h  = beta2*h + (1 - beta2)*g^*g^
 *     p = p*(1 - lr*weight_decay)                           only where the baseline decays
 *     m = beta1*m + (1 - beta1)*g
 *     p = p - lr*sign(m)*min(|m| / (rho*bs*h + eps), 1)    sign(0) = 0
 * No bias correction anywhere, as in the official code. Refreshes happen on updates 1, 1+k,
 * 1+2k, ... (args->update is 1-based and checkpointed by the host), so the first update already
 * has a curvature estimate, as in NTNG's BERT script (it refreshes at update count 0 mod k before
 * training on it).
 *
 * bs. GNB estimates the Gauss-Newton diagonal as B*g^*g^, where B is the number of predictions
 * g^ averages over; Sophia folds B into the update as `bs`. The host's g^ is a batch mean over the
 * step's masked tokens, so bs defaults to args->batch_tokens (config bs = 0, "auto"); a positive
 * bs fixes it (NTNG's BERT code used 196608 = 1536 x 128, all tokens rather than masked ones).
 *
 * curvature_clip > 0 scales g^ to that global L2 norm before it enters h, as the official GPT-2
 * script and NTNG's T5 port do (norm 1.0); NTNG's BERT script does not clip, hence the default 0.
 *
 * Not offered: a switch reproducing NTNG's BERT bug of zeroing the gradient on every curvature
 * micro-batch (only the last one reached h). The host service returns the sum over all
 * micro-batches and the ABI exposes no single micro-batch, so that behaviour cannot be expressed.
 *
 * rms_scaling (off by default) uses lr*max(1e-3, RMS(p)) per tensor for the step, as NTNG's T5
 * Sophia does (weight decay keeps the unscaled rate there too).
 *
 * Learning rate: Lion's peak rule (PluginAPI v1.1): the host's schedule and lr_scale rescaled to
 * Sophia's own peak, lr = args->lr * (peak_lr / args->peak_lr); the default peak_lr 4e-4 is the
 * paper's tuned Sophia peak.
 *
 * Tensors without a gradient this step (has_gradient = 0: skipped by layer dropping in every
 * micro-batch, or frozen) keep their value and momentum, as SophiaG skips parameters whose .grad is
 * None; the curvature refresh still covers them (the sampled-label pass runs the full model).
 *
 * Each update records "win_rate", the fraction of coordinates whose step is not clipped
 * (|m| < rho*bs*h), through ntng.diagnostics/1. Private state (save_state/load_state): the number
 * of curvature refreshes and the running win-rate sum, for the end-of-run summary.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

typedef struct sophia {
  const ntng_host *host;
  float beta1, beta2;
  double rho, weight_decay, peak_lr, eps, curvature_clip;
  int64_t interval;  /* k */
  int64_t bs;        /* 0: args->batch_tokens */
  int32_t rms_scaling;
  int32_t momentum, hessian, sampled; /* state tensor ids; `sampled` receives g^ */
  /* private state, saved with save_state */
  uint64_t refreshes;
  uint64_t updates;
  double win_rate_sum;
} sophia;

static ntng_status sophia_create(const ntng_host *h, void **out_self) {
  double beta1 = 0, beta2 = 0, rho = 0, weight_decay = 0, peak_lr = 0, eps = 0, clip = 0;
  int64_t interval = 0, bs = 0;
  int32_t rms_scaling = 0;
  if (h->config_double(h, "beta1", &beta1) != NTNG_OK || h->config_double(h, "beta2", &beta2) != NTNG_OK ||
      h->config_double(h, "rho", &rho) != NTNG_OK || h->config_double(h, "weight_decay", &weight_decay) != NTNG_OK ||
      h->config_double(h, "peak_lr", &peak_lr) != NTNG_OK || h->config_double(h, "eps", &eps) != NTNG_OK ||
      h->config_double(h, "curvature_clip", &clip) != NTNG_OK ||
      h->config_int(h, "curvature_interval", &interval) != NTNG_OK || h->config_int(h, "bs", &bs) != NTNG_OK ||
      h->config_bool(h, "rms_scaling", &rms_scaling) != NTNG_OK)
    return ntng_fail(h, NTNG_E_INVALID, "could not read the config");
  if (!(beta1 >= 0 && beta1 <= 1) || !(beta2 >= 0 && beta2 <= 1))
    return ntng_fail(h, NTNG_E_INVALID, "beta1 and beta2 must be in [0, 1]");
  if (!(rho > 0)) return ntng_fail(h, NTNG_E_INVALID, "rho must be > 0");
  if (!(weight_decay >= 0)) return ntng_fail(h, NTNG_E_INVALID, "weight_decay must be >= 0");
  if (!(peak_lr > 0)) return ntng_fail(h, NTNG_E_INVALID, "peak_lr must be > 0");
  if (!(eps >= 0)) return ntng_fail(h, NTNG_E_INVALID, "eps must be >= 0");
  if (!(clip >= 0)) return ntng_fail(h, NTNG_E_INVALID, "curvature_clip must be >= 0 (0 = no clipping)");
  if (interval < 1) return ntng_fail(h, NTNG_E_INVALID, "curvature_interval must be >= 1");
  if (bs < 0) return ntng_fail(h, NTNG_E_INVALID, "bs must be >= 0 (0 = the step's masked tokens)");

  sophia *s = (sophia *)calloc(1, sizeof *s);
  if (!s) return ntng_fail(h, NTNG_E_NO_MEMORY, "out of memory");
  s->host = h;
  s->beta1 = (float)beta1;
  s->beta2 = (float)beta2;
  s->rho = rho;
  s->weight_decay = weight_decay;
  s->peak_lr = peak_lr;
  s->eps = eps;
  s->curvature_clip = clip;
  s->interval = interval;
  s->bs = bs;
  s->rms_scaling = rms_scaling;
  s->momentum = h->state_tensor(h, "momentum", 0.0f);
  s->hessian = h->state_tensor(h, "hessian", 0.0f);
  s->sampled = h->state_tensor(h, "sampled_grad", 0.0f);
  if (s->momentum < 0 || s->hessian < 0 || s->sampled < 0) {
    free(s);
    return ntng_fail(h, NTNG_E_NO_MEMORY, "could not allocate the state tensors");
  }
  *out_self = s;
  return NTNG_OK;
}

static void sophia_destroy(void *self) { free(self); }

/* max(1e-3, RMS of a tensor's values), accumulated in double: the T5 recipes' rate scale. */
static double rms_scale(const float *x, int64_t n) {
  double sum = 0;
  for (int64_t j = 0; j < n; j++) sum += (double)x[j] * (double)x[j];
  const double rms = n > 0 ? sqrt(sum / (double)n) : 0.0;
  return rms > 1e-3 ? rms : 1e-3;
}

/* h = beta2*h + (1 - beta2)*(scale*g^)^2 over one tensor's slice. */
static void refresh_slice(float *restrict hess, const float *restrict sampled, int64_t n, float beta2, float scale) {
  for (int64_t j = 0; j < n; j++) {
    const float g = scale * sampled[j];
    hess[j] = beta2 * hess[j] + (1.0f - beta2) * g * g;
  }
}

/* Curvature refresh: one charged sampled-label pass, optional clipping of g^, EMA into h. */
static ntng_status refresh_curvature(sophia *s, const ntng_model_info *model) {
  const ntng_host *h = s->host;
  ntng_status status = h->sampled_label_gradient(h, s->sampled);
  if (status != NTNG_OK) return status; /* the host has recorded why */
  const float *sampled = h->state_data(h, s->sampled);
  float *hess = h->state_data(h, s->hessian);
  if (!sampled || !hess) return ntng_fail(h, NTNG_E_INTERNAL, "a state tensor vanished");

  float scale = 1.0f;
  if (s->curvature_clip > 0) {
    double sum = 0;
    for (int32_t i = 0; i < model->num_params; i++) {
      ntng_param_info p;
      if (ntng_get_param(h, i, &p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
      for (int64_t j = 0; j < p.count; j++) sum += (double)sampled[p.offset + j] * (double)sampled[p.offset + j];
    }
    const double norm = sqrt(sum);
    if (norm > s->curvature_clip) scale = (float)(s->curvature_clip / norm);
  }
  for (int32_t i = 0; i < model->num_params; i++) {
    ntng_param_info p;
    if (ntng_get_param(h, i, &p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
    refresh_slice(hess + p.offset, sampled + p.offset, p.count, s->beta2, scale);
  }
  s->refreshes++;
  return NTNG_OK;
}

/* Up to 2^30 coordinates of one tensor; returns how many were not clipped (|m| < rho*bs*h). A
 * flat, branch-free loop the compiler can vectorise (a 32-bit counter keeps the vectors wide). */
static int32_t update_chunk(float *restrict value, const float *restrict grad, float *restrict m,
                            const float *restrict hess, int32_t n, float lr, float keep, float beta1,
                            float rho_bs, float eps) {
  int32_t wins = 0;
  for (int32_t j = 0; j < n; j++) {
    const float mj = beta1 * m[j] + (1.0f - beta1) * grad[j];
    m[j] = mj;
    const float magnitude = fabsf(mj);
    const float bound = rho_bs * hess[j];
    const float q = magnitude / (bound + eps);
    const float ratio = q < 1.0f ? q : 1.0f;
    const float sign = (float)((mj > 0.0f) - (mj < 0.0f)); /* sign(0) = 0 */
    value[j] = value[j] * keep - lr * sign * ratio;
    wins += magnitude < bound;
  }
  return wins;
}

static int64_t update_slice(float *value, const float *grad, float *m, const float *hess, int64_t n, float lr,
                            float keep, float beta1, float rho_bs, float eps) {
  const int64_t chunk = (int64_t)1 << 30;
  int64_t wins = 0;
  for (int64_t start = 0; start < n; start += chunk) {
    const int32_t len = (int32_t)(n - start < chunk ? n - start : chunk);
    wins += update_chunk(value + start, grad + start, m + start, hess + start, len, lr, keep, beta1, rho_bs, eps);
  }
  return wins;
}

static ntng_status sophia_optimizer_step(void *self, const ntng_step_info *step, const ntng_optimizer_args *args) {
  sophia *s = (sophia *)self;
  const ntng_host *h = s->host;
  (void)step;
  ntng_model_info model;
  if (ntng_get_model(h, &model) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "no model info");

  if ((args->update - 1) % (uint64_t)s->interval == 0) {
    ntng_status status = refresh_curvature(s, &model);
    if (status != NTNG_OK) return status;
  }

  /* Re-fetched after the service call and every step: buffers move on resize. */
  float *momentum = h->state_data(h, s->momentum);
  const float *hess = h->state_data(h, s->hessian);
  if (!momentum || !hess) return ntng_fail(h, NTNG_E_INTERNAL, "a state tensor vanished");

  if (!(args->peak_lr > 0)) return ntng_fail(h, NTNG_E_INVALID, "the host's schedule has no positive peak (args->peak_lr)");
  const double lr = (double)args->lr * (s->peak_lr / args->peak_lr);
  const int64_t bs = s->bs > 0 ? s->bs : (args->batch_tokens > 0 ? args->batch_tokens : 1);
  const float rho_bs = (float)(s->rho * (double)bs);
  const float keep = (float)(1.0 - lr * s->weight_decay);
  int64_t wins = 0, coordinates = 0;
  for (int32_t i = 0; i < model.num_params; i++) {
    ntng_param_info p;
    if (ntng_get_param(h, i, &p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
    if (!p.has_gradient) continue; /* skipped or frozen this step */
    double step_lr = lr;
    if (s->rms_scaling) step_lr *= rms_scale(p.value, p.count);
    wins += update_slice(p.value, p.grad, momentum + p.offset, hess + p.offset, p.count, (float)step_lr,
                         p.decayed ? keep : 1.0f, s->beta1, rho_bs, (float)s->eps);
    coordinates += p.count;
  }

  const double win_rate = coordinates > 0 ? (double)wins / (double)coordinates : 0.0;
  s->updates++;
  s->win_rate_sum += win_rate;
  const ntng_diagnostics_v1 *diagnostics = (const ntng_diagnostics_v1 *)h->get_extension(h, NTNG_EXT_DIAGNOSTICS);
  if (diagnostics && diagnostics->record) {
    ntng_status status = diagnostics->record(h, "win_rate", win_rate);
    if (status != NTNG_OK) return status;
  }
  return NTNG_OK;
}

static ntng_status sophia_run_end(void *self, const ntng_step_info *step) {
  sophia *s = (sophia *)self;
  (void)step;
  char line[200];
  snprintf(line, sizeof line, "Sophia-G: %llu updates, %llu curvature refreshes, mean win rate %.4f",
           (unsigned long long)s->updates, (unsigned long long)s->refreshes,
           s->updates ? s->win_rate_sum / (double)s->updates : 0.0);
  s->host->log(s->host, NTNG_LOG_INFO, line);
  return NTNG_OK;
}

/* Private state: a format version and three 8-byte little-endian fields. */
#define STATE_VERSION 1u
#define STATE_FIELDS 4

static ntng_status sophia_save_state(void *self, const ntng_ostream *out) {
  const sophia *s = (const sophia *)self;
  uint64_t fields[STATE_FIELDS] = {STATE_VERSION, s->refreshes, s->updates, 0};
  memcpy(&fields[3], &s->win_rate_sum, sizeof(double));
  unsigned char bytes[8 * STATE_FIELDS];
  for (int f = 0; f < STATE_FIELDS; f++) ntng_put_u64(bytes + 8 * f, fields[f]);
  if (!ntng_write_exact(out, bytes, sizeof bytes)) return ntng_fail(s->host, NTNG_E_IO, "the state stream refused bytes");
  return NTNG_OK;
}

static ntng_status sophia_load_state(void *self, const ntng_istream *in) {
  sophia *s = (sophia *)self;
  unsigned char bytes[8 * STATE_FIELDS];
  if (!ntng_read_exact(in, bytes, sizeof bytes)) return ntng_fail(s->host, NTNG_E_IO, "the saved state is shorter than 32 bytes");
  unsigned char extra;
  if (in->read(in, &extra, 1) != 0) return ntng_fail(s->host, NTNG_E_IO, "the saved state is longer than 32 bytes");
  uint64_t fields[STATE_FIELDS] = {0};
  for (int f = 0; f < STATE_FIELDS; f++) fields[f] = ntng_get_u64(bytes + 8 * f);
  if (fields[0] != STATE_VERSION) return ntng_fail(s->host, NTNG_E_INVALID, "unknown state version");
  s->refreshes = fields[1];
  s->updates = fields[2];
  memcpy(&s->win_rate_sum, &fields[3], sizeof(double));
  return NTNG_OK;
}

#define KEY(name, kind, value, text) \
  static const ntng_config_key key_##name = {                                                             \
      .struct_size = sizeof(ntng_config_key), .type = kind, .key = #name, .default_value = value, .help = text}
KEY(beta1, NTNG_CONFIG_DOUBLE, "0.965", "momentum decay");
KEY(beta2, NTNG_CONFIG_DOUBLE, "0.99", "curvature EMA decay (per refresh)");
KEY(rho, NTNG_CONFIG_DOUBLE, "0.01", "clip scale: steps are clipped where |m| >= rho*bs*h (paper's BERT value 0.01)");
KEY(weight_decay, NTNG_CONFIG_DOUBLE, "0.015",
    "decoupled weight decay p*(1 - lr*wd) on the tensors the baseline decays (paper's BERT value 0.015)");
KEY(peak_lr, NTNG_CONFIG_DOUBLE, "4e-4", "Sophia's peak rate (paper: 4e-4): the host's schedule and lr_scale, rescaled to this peak");
KEY(eps, NTNG_CONFIG_DOUBLE, "1e-15", "added to rho*bs*h in the clip ratio's denominator");
KEY(curvature_interval, NTNG_CONFIG_INT, "10", "k: refresh the curvature on updates 1, 1+k, 1+2k, ... (each refresh is charged)");
KEY(bs, NTNG_CONFIG_INT, "0",
    "tokens folded into the curvature (GNB's B); 0 = the step's masked tokens, which the sampled-label gradient averages over");
KEY(curvature_clip, NTNG_CONFIG_DOUBLE, "0",
    "clip the sampled-label gradient to this L2 norm before the refresh (official code: 1.0); 0 = off, as NTNG's BERT code");
KEY(rms_scaling, NTNG_CONFIG_BOOL, "false", "scale each tensor's step by max(1e-3, RMS(p)) as the T5 recipes do");
#undef KEY

static const ntng_config_key *const config_keys[] = {
    &key_beta1, &key_beta2, &key_rho, &key_weight_decay, &key_peak_lr, &key_eps, &key_curvature_interval,
    &key_bs, &key_curvature_clip, &key_rms_scaling, NULL};

static const ntng_hooks hooks = {
    .struct_size = sizeof(ntng_hooks),
    .on_run_end = sophia_run_end,
    .optimizer_step = sophia_optimizer_step,
    .save_state = sophia_save_state,
    .load_state = sophia_load_state,
};

static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .id = "sophia",
    .name = "Sophia-G",
    .version = "1.1.0",
    .description = "Sophia-G (Liu et al. 2023): clipped momentum preconditioned by a sampled-label Gauss-Newton curvature",
    .config_keys = config_keys,
    .hooks = &hooks,
    .create = sophia_create,
    .destroy = sophia_destroy,
};

static const ntng_entry entry = {
    .struct_size = sizeof(ntng_entry),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .descriptor = &descriptor,
};

NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
