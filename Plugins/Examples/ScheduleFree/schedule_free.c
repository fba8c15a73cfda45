/* Example plugin: Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled"; the
 * AlgoPerf 2024 self-tuning winner), written as a third-party author would, against the public
 * header only. It shows the PluginAPI v1.1 features such a method needs:
 *   - its own schedule from the host's context (ntng_optimizer_args.schedule_fraction, peak_lr);
 *   - per-tensor step counts (ntng_param_info.updates) for the second-moment bias correction;
 *   - gradient presence (has_gradient): tensors a keep mask or freeze left without a gradient
 *     are not touched;
 *   - "ntng.evaluation_weights/1": it trains at y but is evaluated at x, the averaged iterate.
 *
 * The model's parameters hold y, where gradients are taken. Per coordinate, with z (the base SGD
 * sequence) and v (AdamW's second moment) in host state tensors and x = y + (1 - 1/beta1)(z - y):
 *     lr_t  = peak * min(1, fraction / warmup) * sqrt(1 - beta2^t)         t = param_info.updates
 *     c     = lr_max^2 / sum over steps of lr_max^2                        (weight_lr_power 2)
 *     v     = beta2 v + (1 - beta2) g^2
 *     d     = g / (sqrt(v) + eps) + wd * y                                 (wd where decayed)
 *     y     = (1 - c) y + c z + lr_t (beta1 (1 - c) - 1) d
 *     z     = z - lr_t d
 * which is the reference AdamWScheduleFree's update (y.lerp_(z, c); y.add_(d, ...); z.sub_(d)).
 * z starts equal to y: a state tensor "started" (fill 0) marks the tensors already seeded, so a
 * tensor that a resize creates afresh is seeded again from its new values.
 *
 * The host's one-cycle schedule is ignored on purpose (schedule-free means no decay to plan for).
 * The rate used is recorded as the diagnostic "lr", which the host then shows in the progress line
 * and stores as the step's rate (`ntng runs show`), instead of its own schedule's.
 *
 * Build on its own with
 *     cc -shared -fPIC -fvisibility=hidden -I Sources/PluginAPI/include \
 *        -o libschedulefree.so Plugins/Examples/ScheduleFree/schedule_free.c -lm
 * In the package it is the ExampleScheduleFree product.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

typedef struct schedule_free {
  const ntng_host *host;
  double peak_lr, warmup, beta1, beta2, eps, weight_decay;
  int32_t z, v, started; /* state tensor ids */
  /* private state (save_state): the running weight sum and the largest rate so far */
  double weight_sum, lr_max;
} schedule_free;

static ntng_status sf_create(const ntng_host *h, void **out_self) {
  schedule_free *s = (schedule_free *)calloc(1, sizeof *s);
  if (!s) return ntng_fail(h, NTNG_E_NO_MEMORY, "out of memory");
  s->host = h;
  if (h->config_double(h, "peak_lr", &s->peak_lr) != NTNG_OK || h->config_double(h, "warmup", &s->warmup) != NTNG_OK ||
      h->config_double(h, "beta1", &s->beta1) != NTNG_OK || h->config_double(h, "beta2", &s->beta2) != NTNG_OK ||
      h->config_double(h, "eps", &s->eps) != NTNG_OK || h->config_double(h, "weight_decay", &s->weight_decay) != NTNG_OK) {
    free(s);
    return ntng_fail(h, NTNG_E_INVALID, "could not read the config");
  }
  if (!(s->peak_lr > 0) || !(s->warmup >= 0 && s->warmup <= 1) || !(s->beta1 > 0 && s->beta1 < 1) ||
      !(s->beta2 >= 0 && s->beta2 < 1) || !(s->eps > 0) || !(s->weight_decay >= 0)) {
    free(s);
    return ntng_fail(h, NTNG_E_INVALID, "need peak_lr > 0, warmup in [0, 1], beta1 in (0, 1), beta2 in [0, 1), eps > 0, weight_decay >= 0");
  }
  s->z = h->state_tensor(h, "z", 0.0f);
  s->v = h->state_tensor(h, "v", 0.0f);
  s->started = h->state_tensor(h, "started", 0.0f);
  if (s->z < 0 || s->v < 0 || s->started < 0) {
    free(s);
    return ntng_fail(h, NTNG_E_NO_MEMORY, "could not allocate the state tensors");
  }
  *out_self = s;
  return NTNG_OK;
}

static void sf_destroy(void *self) { free(self); }

static ntng_status sf_optimizer_step(void *self, const ntng_step_info *step, const ntng_optimizer_args *args) {
  schedule_free *s = (schedule_free *)self;
  const ntng_host *h = s->host;
  (void)step;
  ntng_model_info model;
  if (ntng_get_model(h, &model) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "no model info");
  float *z = h->state_data(h, s->z), *v = h->state_data(h, s->v), *started = h->state_data(h, s->started);
  if (!z || !v || !started) return ntng_fail(h, NTNG_E_INTERNAL, "a state tensor vanished");

  /* Warm-up on the budget fraction the host's schedule was read at, then constant. */
  const double warm = s->warmup > 0 ? fmin(1.0, args->schedule_fraction / s->warmup) : 1.0;
  const double lr = s->peak_lr * warm * args->lr_scale;
  if (lr > s->lr_max) s->lr_max = lr;
  const double weight = s->lr_max * s->lr_max;
  s->weight_sum += weight;
  const double c = s->weight_sum > 0 ? weight / s->weight_sum : 1.0;

  for (int32_t i = 0; i < model.num_params; i++) {
    ntng_param_info p;
    if (ntng_get_param(h, i, &p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
    if (!p.has_gradient) continue; /* no micro-batch ran it, or frozen: leave y, z and v alone */
    float *y = p.value, *zp = z + p.offset, *vp = v + p.offset;
    if (started[p.offset] == 0.0f) {
      memcpy(zp, y, (size_t)p.count * sizeof(float));
      for (int64_t j = 0; j < p.count; j++) started[p.offset + j] = 1.0f;
    }
    const double t = (double)(p.updates > 0 ? p.updates : 1);
    const float step_lr = (float)(lr * sqrt(1.0 - pow(s->beta2, t)));
    const float b1 = (float)s->beta1, b2 = (float)s->beta2, eps = (float)s->eps, cf = (float)c;
    const float wd = p.decayed ? (float)s->weight_decay : 0.0f;
    const float y_step = step_lr * (b1 * (1.0f - cf) - 1.0f);
    for (int64_t j = 0; j < p.count; j++) {
      const float g = p.grad[j];
      vp[j] = b2 * vp[j] + (1.0f - b2) * g * g;
      const float d = g / (sqrtf(vp[j]) + eps) + wd * y[j];
      y[j] = (1.0f - cf) * y[j] + cf * zp[j] + y_step * d;
      zp[j] -= step_lr * d;
    }
  }
  const ntng_diagnostics_v1 *diagnostics = (const ntng_diagnostics_v1 *)h->get_extension(h, NTNG_EXT_DIAGNOSTICS);
  if (diagnostics && diagnostics->record) return diagnostics->record(h, "lr", lr);
  return NTNG_OK;
}

/* "ntng.evaluation_weights/1": x = y + (1 - 1/beta1)(z - y), read-only. */
static ntng_status sf_evaluation_weights(void *self, const ntng_step_info *step, float *out, int64_t count) {
  schedule_free *s = (schedule_free *)self;
  const ntng_host *h = s->host;
  (void)step;
  ntng_model_info model;
  if (ntng_get_model(h, &model) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "no model info");
  if (count != model.flat_count) return ntng_fail(h, NTNG_E_INVALID, "the buffer does not have the model's flat layout");
  const float *z = h->state_data(h, s->z), *started = h->state_data(h, s->started);
  if (!z || !started) return ntng_fail(h, NTNG_E_INTERNAL, "a state tensor vanished");
  const float toward_z = (float)(1.0 - 1.0 / s->beta1);
  for (int32_t i = 0; i < model.num_params; i++) {
    ntng_param_info p;
    if (ntng_get_param(h, i, &p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
    if (started[p.offset] == 0.0f) continue; /* never stepped: x = y, already in out */
    for (int64_t j = 0; j < p.count; j++) {
      const float y = p.value[j];
      out[p.offset + j] = y + toward_z * (z[p.offset + j] - y);
    }
  }
  return NTNG_OK;
}

static const ntng_evaluation_weights_v1 evaluation_weights = {
    .struct_size = sizeof(ntng_evaluation_weights_v1),
    .write = sf_evaluation_weights,
};

static const void *sf_get_extension(void *self, const char *id) {
  (void)self;
  return strcmp(id, NTNG_EXT_EVALUATION_WEIGHTS) == 0 ? &evaluation_weights : NULL;
}

static ntng_status sf_save_state(void *self, const ntng_ostream *out) {
  schedule_free *s = (schedule_free *)self;
  unsigned char bytes[16];
  uint64_t a, b;
  memcpy(&a, &s->weight_sum, 8);
  memcpy(&b, &s->lr_max, 8);
  ntng_put_u64(bytes, a);
  ntng_put_u64(bytes + 8, b);
  return ntng_write_exact(out, bytes, sizeof bytes) ? NTNG_OK : ntng_fail(s->host, NTNG_E_IO, "the host refused the state bytes");
}

static ntng_status sf_load_state(void *self, const ntng_istream *in) {
  schedule_free *s = (schedule_free *)self;
  unsigned char bytes[16];
  if (!ntng_read_exact(in, bytes, sizeof bytes)) return ntng_fail(s->host, NTNG_E_IO, "the saved state is shorter than 16 bytes");
  const uint64_t a = ntng_get_u64(bytes), b = ntng_get_u64(bytes + 8);
  memcpy(&s->weight_sum, &a, 8);
  memcpy(&s->lr_max, &b, 8);
  return NTNG_OK;
}

#define KEY(name, value, text)                                                                              \
  static const ntng_config_key key_##name = {.struct_size = sizeof(ntng_config_key), .type = NTNG_CONFIG_DOUBLE, \
                                             .key = #name, .default_value = value, .help = text}
KEY(peak_lr, "2e-3", "the constant rate after warm-up (schedule-free methods take about twice AdamW's peak)");
KEY(warmup, "0.1", "linear warm-up over this fraction of the budget");
KEY(beta1, "0.9", "interpolation between the averaged iterate x and the SGD sequence z (y = (1-beta1) z + beta1 x)");
KEY(beta2, "0.98", "second-moment decay, as the baseline's AdamW");
KEY(eps, "1e-8", "added to sqrt(v)");
KEY(weight_decay, "0.01", "decay at y on the tensors the baseline decays");
#undef KEY
static const ntng_config_key *const config_keys[] = {&key_peak_lr, &key_warmup, &key_beta1, &key_beta2,
                                                     &key_eps, &key_weight_decay, NULL};

static const ntng_hooks hooks = {
    .struct_size = sizeof(ntng_hooks),
    .optimizer_step = sf_optimizer_step,
    .save_state = sf_save_state,
    .load_state = sf_load_state,
    .get_extension = sf_get_extension,
};

static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .id = "org.ntng.examples.schedule-free-adamw",
    .name = "Schedule-Free AdamW",
    .version = "1.0.0",
    .description = "Schedule-Free AdamW (Defazio et al. 2024): trains at y, evaluates at the averaged iterate x",
    .config_keys = config_keys,
    .hooks = &hooks,
    .create = sf_create,
    .destroy = sf_destroy,
};

static const ntng_entry entry = {
    .struct_size = sizeof(ntng_entry),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .descriptor = &descriptor,
};

NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
