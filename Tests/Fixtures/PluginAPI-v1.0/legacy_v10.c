/* A PluginAPI v1.0 plugin, kept with its binary (libntng-legacy-v10.so, built from this file with
 *     cc -std=c11 -O2 -shared -fPIC -fvisibility=hidden -I Tests/Fixtures/PluginAPI-v1.0 \
 *        -o Tests/Fixtures/PluginAPI-v1.0/libntng-legacy-v10.so Tests/Fixtures/PluginAPI-v1.0/legacy_v10.c
 * against the v1.0 header in this folder) to prove that today's host runs a v1.0 binary that was
 * never rebuilt. Its hooks table is followed by non-NULL junk (a host reading past the v1.0 size
 * would call it as after_optimizer_step), its param_info struct by canary bytes (a host writing v1.1
 * fields there is caught), and its optimizer moves every tensor, also those a keep mask left
 * without a gradient — which v1.0 allowed and v1.1 refuses only for plugins that know the flag. */
#include <stdlib.h>
#include <string.h>
#include "ntng_plugin.h"
#include "ntng_plugin_util.h"

typedef struct legacy { const ntng_host *h; } legacy;
static ntng_status create(const ntng_host *h, void **out) {
  legacy *l = (legacy *)calloc(1, sizeof *l);
  l->h = h;
  *out = l;
  return NTNG_OK;
}
static void destroy(void *self) { free(self); }

/* Drops the top layer in every micro-batch. */
static ntng_status on_step(void *self, const ntng_step_info *s, ntng_step_plan *plan) {
  (void)self; (void)s;
  if (plan->struct_size != sizeof(ntng_step_plan) + 16) return NTNG_E_INVALID; /* the host's v1.1 plan: 40 bytes */
  for (int32_t m = 0; m < plan->micro_batches; m++) plan->layer_keep[m * plan->num_layers + plan->num_layers - 1] = 0;
  return NTNG_OK;
}

static ntng_status optimizer_step(void *self, const ntng_step_info *s, const ntng_optimizer_args *a) {
  legacy *l = (legacy *)self;
  const ntng_host *h = l->h;
  (void)s;
  ntng_model_info mi; memset(&mi, 0, sizeof mi); mi.struct_size = sizeof mi;
  h->get_model_info(h, &mi);
  for (int32_t i = 0; i < mi.num_params; i++) {
    /* A v1.0 param_info (96 bytes) with 32 canary bytes behind it. */
    unsigned char room[sizeof(ntng_param_info) + 32];
    memset(room, 0xAB, sizeof room);
    ntng_param_info *p = (ntng_param_info *)(void *)room;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    if (h->param_info(h, i, p) != NTNG_OK) return ntng_fail(h, NTNG_E_INTERNAL, "param_info failed");
    for (size_t k = sizeof *p; k < sizeof room; k++)
      if (room[k] != 0xAB) return ntng_fail(h, NTNG_E_INTERNAL, "the host wrote past this plugin's v1.0 ntng_param_info");
    for (int64_t j = 0; j < p->count; j++) p->value[j] -= a->lr * p->grad[j];
    p->value[0] += 1e-6f; /* moves every tensor, the dropped layer's too: v1.0 never said not to */
  }
  return NTNG_OK;
}

/* The v1.0 hooks table, then junk where a v1.1 table has after_optimizer_step. */
static const struct {
  ntng_hooks hooks;
  const void *junk[4];
} table = {
    {.struct_size = sizeof(ntng_hooks), .on_step = on_step, .optimizer_step = optimizer_step},
    {(const void *)0x1, (const void *)0x2, (const void *)0x3, (const void *)0x4},
};
static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor), .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR,
    .id = "test.legacy-v10", .name = "v1.0 plugin", .version = "1.0.0",
    .hooks = &table.hooks, .create = create, .destroy = destroy,
};
static const ntng_entry entry = {.struct_size = sizeof(ntng_entry), .abi_major = NTNG_ABI_MAJOR,
                                 .abi_minor = NTNG_ABI_MINOR, .descriptor = &descriptor};
NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
