/* Example plugin in plain C: SGD with momentum (heavy-ball), replacing the host's AdamW.
 *
 *   v <- momentum * v + g + weight_decay * p      (decay only where the baseline decays)
 *   p <- p - lr * (nesterov ? g + momentum * v : v)
 *
 * It shows the whole contract in one file: the entry symbol, a descriptor with config keys, a
 * host-owned state tensor for the velocity, plugin-private state bytes (an update counter) and
 * error reporting. Build it on its own with
 *     cc -shared -fPIC -fvisibility=hidden -I Sources/PluginAPI/include \
 *        -o libsgd.so Plugins/Examples/SGDMomentum/sgd_momentum.c
 * and try `ntng plugin check ./libsgd.so`. In the package it is the ExampleSGDMomentum product.
 */
#include <stdlib.h>
#include <string.h>

#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

typedef struct sgd {
  const ntng_host *host;
  double momentum;
  double weight_decay;
  int32_t nesterov;
  int32_t velocity;   /* state tensor id */
  uint64_t updates;   /* private state, saved with save_state */
} sgd;

static ntng_status sgd_create(const ntng_host *h, void **out_self) {
  sgd *s = (sgd *)calloc(1, sizeof *s);
  if (!s) return ntng_fail(h, NTNG_E_NO_MEMORY, "out of memory");
  s->host = h;
  if (h->config_double(h, "momentum", &s->momentum) != NTNG_OK ||
      h->config_double(h, "weight_decay", &s->weight_decay) != NTNG_OK ||
      h->config_bool(h, "nesterov", &s->nesterov) != NTNG_OK) {
    free(s);
    return ntng_fail(h, NTNG_E_INVALID, "could not read config");
  }
  if (!(s->momentum >= 0 && s->momentum < 1)) {
    free(s);
    return ntng_fail(h, NTNG_E_INVALID, "momentum must be in [0, 1)");
  }
  s->velocity = h->state_tensor(h, "velocity", 0.0f);
  if (s->velocity < 0) {
    free(s);
    return ntng_fail(h, NTNG_E_NO_MEMORY, "could not allocate the velocity state tensor");
  }
  *out_self = s;
  return NTNG_OK;
}

static void sgd_destroy(void *self) { free(self); }

static ntng_status sgd_optimizer_step(void *self, const ntng_step_info *step,
                                      const ntng_optimizer_args *args) {
  sgd *s = (sgd *)self;
  const ntng_host *h = s->host;
  (void)step;
  ntng_model_info model;
  memset(&model, 0, sizeof model);
  model.struct_size = sizeof model;
  if (h->get_model_info(h, &model) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "no model info");
  float *velocity = h->state_data(h, s->velocity);
  if (!velocity) return ntng_fail(h, NTNG_E_INTERNAL, "velocity state tensor vanished");

  const float lr = args->lr, mu = (float)s->momentum;
  for (int32_t i = 0; i < model.num_params; i++) {
    ntng_param_info p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    if (h->param_info(h, i, &p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
    if (!p.has_gradient) continue; /* skipped or frozen this step: velocity and value stay (rule G1) */
    const float decay = p.decayed ? (float)s->weight_decay : 0.0f;
    float *v = velocity + p.offset;
    for (int64_t j = 0; j < p.count; j++) {
      const float g = p.grad[j] + decay * p.value[j];
      v[j] = mu * v[j] + g;
      p.value[j] -= lr * (s->nesterov ? g + mu * v[j] : v[j]);
    }
  }
  s->updates++;
  return NTNG_OK;
}

/* The private state is the update counter, 8 bytes little-endian. */
static ntng_status sgd_save_state(void *self, const ntng_ostream *out) {
  const sgd *s = (const sgd *)self;
  unsigned char bytes[8];
  ntng_put_u64(bytes, s->updates);
  if (!ntng_write_exact(out, bytes, sizeof bytes)) return ntng_fail(s->host, NTNG_E_IO, "state stream refused bytes");
  return NTNG_OK;
}

static ntng_status sgd_load_state(void *self, const ntng_istream *in) {
  sgd *s = (sgd *)self;
  unsigned char bytes[8];
  if (!ntng_read_exact(in, bytes, sizeof bytes)) return ntng_fail(s->host, NTNG_E_IO, "state is shorter than 8 bytes");
  s->updates = ntng_get_u64(bytes);
  return NTNG_OK;
}

static const ntng_config_key key_momentum = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "momentum",
    .default_value = "0.9",
    .help = "velocity decay per step",
};
static const ntng_config_key key_weight_decay = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_DOUBLE,
    .key = "weight_decay",
    .default_value = "0.0",
    .help = "L2 penalty added to the gradient of matrices",
};
static const ntng_config_key key_nesterov = {
    .struct_size = sizeof(ntng_config_key),
    .type = NTNG_CONFIG_BOOL,
    .key = "nesterov",
    .default_value = "false",
    .help = "use Nesterov momentum",
};
static const ntng_config_key *const config_keys[] = {&key_momentum, &key_weight_decay,
                                                     &key_nesterov, NULL};

static const ntng_hooks hooks = {
    .struct_size = sizeof(ntng_hooks),
    .optimizer_step = sgd_optimizer_step,
    .save_state = sgd_save_state,
    .load_state = sgd_load_state,
};

static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .id = "example.sgd-momentum",
    .name = "SGD with momentum (C example)",
    .version = "1.0.0",
    .description = "Heavy-ball SGD replacing AdamW; the PluginAPI example in plain C",
    .config_keys = config_keys,
    .hooks = &hooks,
    .create = sgd_create,
    .destroy = sgd_destroy,
};

static const ntng_entry entry = {
    .struct_size = sizeof(ntng_entry),
    .abi_major = NTNG_ABI_MAJOR,
    .abi_minor = NTNG_ABI_MINOR,
    .descriptor = &descriptor,
};

NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
