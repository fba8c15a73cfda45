/* Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms") as an ntng method
 * plugin: it replaces the host's AdamW through optimizer_step.
 *
 * Per coordinate, with one momentum m (a host-owned state tensor, zero at the start):
 *     c = beta1*m + (1 - beta1)*g
 *     p = p*(1 - lr*weight_decay)          only where the baseline decays (ntng_param_info.decayed)
 *     p = p - lr*sign(c)                   sign(0) = 0
 *     m = beta2*m + (1 - beta2)*g
 *
 * Learning rate. args->lr is the host's budget schedule (one-cycle, peak = the run's `--set lr`,
 * 1e-3 by default) times any on_step lr_scale. The ABI does not tell a plugin the schedule's peak,
 * so Lion scales the scheduled rate by `lr_multiplier`: lr = args->lr * lr_multiplier. The default
 * 0.7 turns the default peak 1e-3 into the paper's tuned Lion peak 7e-4 while keeping the host's
 * schedule shape exactly. (Equivalently, run with `--set lr=7e-4 --set lion.lr_multiplier=1`.)
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
  double lr_multiplier;
  int32_t rms_scaling;
  int32_t momentum; /* state tensor id */
} lion;

static ntng_status lion_create(const ntng_host *h, void **out_self) {
  double beta1 = 0, beta2 = 0, weight_decay = 0, lr_multiplier = 0;
  int32_t rms_scaling = 0;
  if (h->config_double(h, "beta1", &beta1) != NTNG_OK || h->config_double(h, "beta2", &beta2) != NTNG_OK ||
      h->config_double(h, "weight_decay", &weight_decay) != NTNG_OK ||
      h->config_double(h, "lr_multiplier", &lr_multiplier) != NTNG_OK ||
      h->config_bool(h, "rms_scaling", &rms_scaling) != NTNG_OK)
    return ntng_fail(h, NTNG_E_INVALID, "could not read the config");
  if (!(beta1 >= 0 && beta1 <= 1) || !(beta2 >= 0 && beta2 <= 1))
    return ntng_fail(h, NTNG_E_INVALID, "beta1 and beta2 must be in [0, 1]");
  if (!(weight_decay >= 0)) return ntng_fail(h, NTNG_E_INVALID, "weight_decay must be >= 0");
  if (!(lr_multiplier > 0)) return ntng_fail(h, NTNG_E_INVALID, "lr_multiplier must be > 0");

  lion *s = (lion *)calloc(1, sizeof *s);
  if (!s) return ntng_fail(h, NTNG_E_NO_MEMORY, "out of memory");
  s->host = h;
  s->beta1 = (float)beta1;
  s->beta2 = (float)beta2;
  s->weight_decay = weight_decay;
  s->lr_multiplier = lr_multiplier;
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
  memset(&model, 0, sizeof model);
  model.struct_size = sizeof model;
  if (h->get_model_info(h, &model) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "no model info");
  float *momentum = h->state_data(h, s->momentum); /* re-fetched every step: buffers move on resize */
  if (!momentum) return ntng_fail(h, NTNG_E_INTERNAL, "the momentum state tensor vanished");

  const double lr = (double)args->lr * s->lr_multiplier;
  for (int32_t i = 0; i < model.num_params; i++) {
    ntng_param_info p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    if (h->param_info(h, i, &p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
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
static const ntng_config_key key_lr_multiplier = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "lr_multiplier",
    .default_value = "0.7",
    .help = "Lion's rate = the host's scheduled rate x this; with the default --set lr=1e-3 the peak is the paper's 7e-4",
};
static const ntng_config_key key_rms_scaling = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_BOOL,
    .key = "rms_scaling",
    .default_value = "false",
    .help = "scale each tensor's rate by max(1e-3, RMS(p)) as the T5 recipes do (decay and step)",
};
static const ntng_config_key *const config_keys[] = {&key_beta1,         &key_beta2,       &key_weight_decay,
                                                     &key_lr_multiplier, &key_rms_scaling, NULL};

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
    .version = "1.0.0",
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
