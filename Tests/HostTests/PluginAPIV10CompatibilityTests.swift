import Foundation
import Testing
import TestSupport

import Host
import PluginHost

/// Plugins built against the PluginAPI v1.0 header as released (Tests/Fixtures/PluginAPI-v1.0),
/// as an author who never rebuilt for v1.1 has them: today's host loads them, reads their tables
/// only as far as their struct sizes reach, fills their structs only as far as theirs, and trains
/// with them exactly as with the same source built against today's header.
@Suite struct PluginAPIV10CompatibilityTests {
    private func host() throws -> StandaloneHost {
        try StandaloneHost(steps: 4, seed: 3, microBatches: 2, settings: ["lr=3e-3", "warmup=0"])
    }

    /// The negative-test probe's SGD optimizer, built against v1.0 and against v1.1: both load,
    /// the first as ABI 1.0, and they train to the same bits.
    @Test func aV10OptimizerTrainsAsTheSameSourceBuiltToday() throws {
        let old = try PluginLibrary.open(path: try buildCPlugin(probePluginSource, defines: ["WITH_OPTIMIZER"], name: "probe10",
                                                                extraFlags: ["-lm"], include: PluginPaths.includeV1_0))
        let new = try PluginLibrary.open(path: try buildProbe(["WITH_OPTIMIZER"]))
        #expect(old.descriptor.abiVersion == "1.0" && new.descriptor.abiVersion == "1.1")
        let a = try host(), b = try host()
        try a.train(try PluginStack(libraries: [old], services: a))
        try b.train(try PluginStack(libraries: [new], services: b))
        #expect(a.losses == b.losses)
        #expect(a.parameterDigest() == b.parameterDigest())
    }

    /// A v1.0 plugin whose hooks table is followed by non-NULL junk (a v1.1 host reading past the
    /// v1.0 size would call it as after_optimizer_step and crash), whose param_info struct is
    /// followed by canary bytes (the host must not write v1.1 fields there), and whose optimizer
    /// moves a tensor that has no gradient under its own keep mask — which v1.1 refuses only for
    /// plugins that know the flag, so this one trains on, as it did under v1.0.
    @Test func aV10PluginSeesOnlyV10() throws {
        let path = try buildCPlugin(v10Plugin, name: "legacy10", include: PluginPaths.includeV1_0)
        let h = try host()
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: path)], services: h)
        #expect(stack.plugins[0].hooks == [.onStep, .optimizerStep])
        try h.train(stack)
        #expect(h.losses.count == 4)
    }
}

/// Built against the v1.0 header only.
private let v10Plugin = #"""
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
"""#
