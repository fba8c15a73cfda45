import Foundation
import Testing
import TestSupport

import Clock
import Host
import Models
import PluginHost
import Storage

/// PluginAPI v1.1 through the real ABI and the real step: gradient presence and per-tensor update
/// counts, `decayed` under decay-all, the schedule in the optimizer arguments, per-layer output
/// scales and frozen layers, row weights, `after_optimizer_step` and the refusals that go with
/// them. The plugin is `v11Probe` below, one `-D` switch per behaviour.
@Suite struct PluginAPIV11Tests {
    /// A host for the tiny model (2 layers) with 2 micro-batches per step, no clipping in effect.
    private func host(steps: Int = 3, _ extra: [String] = []) throws -> StandaloneHost {
        try StandaloneHost(steps: steps, seed: 7, microBatches: 2, settings: ["lr=3e-3", "warmup=0.5", "clip=1e9"] + extra)
    }

    private func stack(_ defines: [String], id: String = "test.v11", plus methods: [String] = [], on host: StandaloneHost) throws -> PluginStack {
        let probe = try buildCPlugin(v11Probe, defines: defines + ["PLUGIN_ID=\"\(id)\""], name: id.replacingOccurrences(of: ".", with: "_"), extraFlags: ["-lm"])
        let others = try methods.map { try PluginLibrary.open(path: methodPluginPath($0)) }
        return try PluginStack(libraries: [try PluginLibrary.open(path: probe)] + others, services: host)
    }

    /// A digest of one layer's values (short failure messages).
    private func values(_ host: StandaloneHost, layer: Int) -> String {
        let p = host.workload.parameters
        let floats = p.entries.filter { $0.layer == layer }.flatMap { Array(UnsafeBufferPointer(start: p.values + $0.offset, count: $0.count)) }
        return floats.withUnsafeBytes { SHA256Digest.hex($0) }
    }

    private func diagnostics(_ host: StandaloneHost, _ key: String) -> [Double] {
        host.diagnostics.filter { $0.key == key }.map(\.value)
    }

    /// A layer no micro-batch ran has no gradient: has_gradient = 0 for its 8 tensors, its update
    /// count stays 0 while the others count every step, and a v1.1 optimizer leaves it alone.
    @Test func aDroppedLayerHasNoGradientAndNoUpdates() throws {
        let h = try host()
        let s = try stack(["DROP_LAST", "OPTIMIZER"], on: h)
        let top = values(h, layer: 1), bottom = values(h, layer: 0)
        try h.train(s)
        #expect(diagnostics(h, "nograd") == [8, 8, 8])
        #expect(diagnostics(h, "updates.first") == [1, 2, 3])
        #expect(diagnostics(h, "updates.last_layer") == [0, 0, 0])
        #expect(values(h, layer: 1) == top)
        #expect(values(h, layer: 0) != bottom)
    }

    /// Lion and Sophia under a keep mask that drops the top layer: its values stay exactly where
    /// they were (they moved by a full step per coordinate before v1.1), the rest trains.
    @Test(arguments: ["Lion", "Sophia"])
    func lionAndSophiaLeaveADroppedLayerAlone(_ optimizer: String) throws {
        let h = try host()
        let s = try stack(["DROP_LAST"], plus: [optimizer], on: h)
        let top = values(h, layer: 1), bottom = values(h, layer: 0)
        try h.train(s)
        #expect(values(h, layer: 1) == top)
        #expect(values(h, layer: 0) != bottom)
    }

    /// `decayed` is what the baseline decays: the matrices by default, every tensor with decay-all.
    @Test func decayedFollowsDecayAll() throws {
        let plain = try host(steps: 1), all = try host(steps: 1, ["decay-all=true"])
        try plain.train(try stack(["OPTIMIZER"], on: plain))
        try all.train(try stack(["OPTIMIZER"], on: all))
        let p = plain.workload.parameters
        #expect(diagnostics(plain, "decayed") == [Double(p.entries.filter { $0.kind == .matrix }.count)])
        #expect(diagnostics(all, "decayed") == [Double(p.entries.count)])
    }

    /// The optimizer arguments carry the schedule: lr = Float(schedule_lr × lr_scale), the peak
    /// is `--set lr`, lr_scale the composed on_step scale, and the fraction the one the schedule
    /// was read at (0 at the first step, growing after).
    @Test func optimizerArgumentsCarryTheSchedule() throws {
        let h = try host()
        try h.train(try stack(["OPTIMIZER", "LR_SCALE=0.5f"], on: h))
        let lr = diagnostics(h, "args.lr"), schedule = diagnostics(h, "args.schedule_lr"), scale = diagnostics(h, "args.lr_scale")
        #expect(scale == [0.5, 0.5, 0.5])
        #expect(diagnostics(h, "args.peak_lr") == [3e-3, 3e-3, 3e-3])
        for i in lr.indices { #expect(lr[i] == Double(Float(schedule[i] * scale[i]))) }
        let fractions = diagnostics(h, "args.schedule_fraction")
        #expect(fractions.first == 0 && fractions == fractions.sorted() && fractions.last! > 0)
        #expect(schedule == fractions.map { h.recipe.schedule.learningRate(atFraction: $0) })
    }

    /// after_optimizer_step runs after the host's AdamW or a plugin optimizer, every plugin's in
    /// stack order, and sees the parameters the optimizer wrote.
    @Test(arguments: [[], ["Lion"]])
    func afterOptimizerStepComposesInStackOrder(_ optimizer: [String]) throws {
        let h = try host(steps: 2)
        let a = try buildCPlugin(v11Probe, defines: ["AFTER", "PLUGIN_ID=\"test.a\""], name: "after_a", extraFlags: ["-lm"])
        let b = try buildCPlugin(v11Probe, defines: ["AFTER", "PLUGIN_ID=\"test.b\""], name: "after_b", extraFlags: ["-lm"])
        let libraries = try [a, b].map { try PluginLibrary.open(path: $0) } + optimizer.map { try PluginLibrary.open(path: methodPluginPath($0)) }
        var log: [String] = []
        h.pluginLog = { log.append($0) }
        let s = try PluginStack(libraries: libraries, services: h)
        try h.train(s)
        #expect(log.filter { $0.contains("after") } == ["[test.a] after", "[test.b] after", "[test.a] after", "[test.b] after"])
        // The first parameter's first value as the hook saw it is the value the step left.
        let first = h.workload.parameters.values[0]
        #expect(diagnostics(h, "after.p0").last == Double(first))
        #expect(diagnostics(h, "after.update") == [1, 1, 2, 2])
        #expect(diagnostics(h, "after.updates.first") == [1, 1, 2, 2], "the per-tensor counts of whichever optimizer ran")
    }

    /// after_optimizer_step may write parameters (rule F6): halving the first tensor after every
    /// update is what the next step starts from.
    @Test func afterOptimizerStepMayWriteParameters() throws {
        let h = try host(steps: 1, ["warmup=0"])
        let s = try stack(["AFTER", "AFTER_SHRINKS"], on: h)
        try h.train(s)
        #expect(diagnostics(h, "after.p0") == [Double(h.workload.parameters.values[0] * 2)])
    }

    /// A v1.1 optimizer that moves a tensor without a gradient is stopped, naming rule G1.
    @Test func movingATensorWithoutAGradientIsRefused() throws {
        let h = try host()
        let s = try stack(["DROP_LAST", "OPTIMIZER", "MOVE_NOGRAD"], on: h)
        expectPluginError(["test.v11", "optimizer_step", "has no gradient", "G1"]) { try h.train(s) }
    }

    /// Freezing layer 0: it and the embedding's norm and position scale stay put, the step is
    /// charged forward+backward at depth 1 plus layer 0's forward.
    @Test func aFrozenLayerIsChargedForwardOnlyAndStaysPut() throws {
        let h = try host(steps: 1, ["warmup=0"])
        let s = try stack(["FREEZE_FIRST"], on: h)
        let p = h.workload.parameters
        let below = ["embedding.norm.gain", "embedding.position_scale"].map { Array(p.value($0).buffer) }
        let bottom = values(h, layer: 0), top = values(h, layer: 1)
        try h.train(s)
        #expect(values(h, layer: 0) == bottom)
        #expect(["embedding.norm.gain", "embedding.position_scale"].map { Array(p.value($0).buffer) } == below)
        #expect(values(h, layer: 1) != top)
        let profile = h.clock.profile, sequences = h.batchSize
        let expected = profile.forwardBackwardCost(activeLayers: 1, sequences: sequences)
            + profile.forwardOnlyCost(activeLayers: 2, sequences: sequences) - profile.forwardOnlyCost(activeLayers: 1, sequences: sequences)
        #expect(abs((h.clock.charged[.training] ?? 0) - expected) <= 1e-12 * expected)
    }

    /// Output scale 1 is the plain step bit for bit; another scale trains a different model.
    @Test func outputScalesOfOneChangeNothing() throws {
        let plain = try host(), ones = try host(), doubled = try host()
        try plain.train(nil)
        try ones.train(try stack(["SCALE=1.0f"], on: ones))
        try doubled.train(try stack(["SCALE=2.0f"], on: doubled))
        #expect(ones.losses == plain.losses && ones.parameterDigest() == plain.parameterDigest())
        #expect(doubled.losses != plain.losses)
    }

    /// Weights 2 on every row give exactly the gradient of a doubled loss: SGD at rate r with
    /// weights 2 lands where SGD at rate 2r with weights 1 does, bit for bit.
    @Test func rowWeightsScaleTheGradient() throws {
        let weighted = try host(steps: 2), faster = try host(steps: 2)
        try weighted.train(try stack(["OPTIMIZER", "SELECT", "WEIGHT=2.0f"], on: weighted))
        try faster.train(try stack(["OPTIMIZER", "SELECT", "WEIGHT=1.0f", "LR_SCALE=2.0f"], on: faster))
        #expect(weighted.parameterDigest() == faster.parameterDigest())
        #expect(weighted.losses.first == faster.losses.first)
    }

    /// Bad v1.1 plan entries are refused with the field and the rule.
    @Test func badPlansAreRefused() throws {
        for (defines, fragments) in [(["SCALE=0.0f"], ["layer_output_scale", "finite number > 0"]),
                                     (["FREEZE_TOP"], ["layer_backward", "bottom block"]),
                                     (["SELECT", "WEIGHT=-1.0f"], ["row_weights[0]", ">= 0"]),
                                     (["SELECT", "WEIGHT=0.0f"], ["row_weights are all 0"])] {
            let h = try host(steps: 1)
            let s = try stack(defines, on: h)
            expectPluginError(["test.v11"] + fragments) { try h.train(s) }
        }
    }
}

/// The probe of this suite. Without switches it does nothing (on_step declines).
let v11Probe = #"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ntng_plugin.h"
#ifndef PLUGIN_ID
#define PLUGIN_ID "test.v11"
#endif
typedef struct probe { const ntng_host *h; int32_t ema; } probe;

static void record(const ntng_host *h, const char *key, double value) {
  const ntng_diagnostics_v1 *d = (const ntng_diagnostics_v1 *)h->get_extension(h, NTNG_EXT_DIAGNOSTICS);
  d->record(h, key, value);
}
static ntng_status create(const ntng_host *h, void **out) {
  probe *p = (probe *)calloc(1, sizeof *p);
  p->h = h;
  p->ema = h->state_tensor(h, "ema", 0.0f);
  *out = p;
  return NTNG_OK;
}
static void destroy(void *self) { free(self); }

static ntng_status on_step(void *self, const ntng_step_info *s, ntng_step_plan *plan) {
  (void)self; (void)s;
  int changed = 0;
  for (int32_t m = 0; m < plan->micro_batches; m++) {
#ifdef DROP_LAST
    plan->layer_keep[m * plan->num_layers + plan->num_layers - 1] = 0; changed = 1;
#endif
#ifdef SCALE
    for (int32_t l = 0; l < plan->num_layers; l++) plan->layer_output_scale[m * plan->num_layers + l] = SCALE;
    changed = 1;
#endif
  }
#ifdef FREEZE_FIRST
  plan->layer_backward[0] = 0; changed = 1;
#endif
#ifdef FREEZE_TOP
  plan->layer_backward[plan->num_layers - 1] = 0; changed = 1;
#endif
#ifdef LR_SCALE
  plan->lr_scale = LR_SCALE; changed = 1;
#endif
  return changed ? NTNG_OK : NTNG_DECLINED;
}

#ifdef SELECT
static ntng_status select_batch(void *self, const ntng_step_info *s, const ntng_batch_pool *pool, int32_t *rows) {
  (void)self; (void)s;
  for (int32_t i = 0; i < pool->n_select; i++) { rows[i] = i; pool->row_weights[i] = WEIGHT; }
  return NTNG_OK;
}
static int32_t pool_factor(void *self) { (void)self; return 1; }
#define SELECT_HOOK select_batch
#define POOL_HOOK pool_factor
#else
#define SELECT_HOOK NULL
#define POOL_HOOK NULL
#endif

static ntng_status optimizer_step(void *self, const ntng_step_info *s, const ntng_optimizer_args *a) {
  probe *p = (probe *)self;
  const ntng_host *h = p->h;
  (void)s;
  ntng_model_info mi; memset(&mi, 0, sizeof mi); mi.struct_size = sizeof mi;
  h->get_model_info(h, &mi);
  int nograd = 0, decayed = 0;
  for (int32_t i = 0; i < mi.num_params; i++) {
    ntng_param_info pi; memset(&pi, 0, sizeof pi); pi.struct_size = sizeof pi;
    h->param_info(h, i, &pi);
    decayed += pi.decayed;
    if (i == 0) record(h, "updates.first", (double)pi.updates);
    if (pi.layer == mi.num_layers - 1 && strstr(pi.name, "ffn.input.weight")) record(h, "updates.last_layer", (double)pi.updates);
    if (!pi.has_gradient) {
      nograd++;
#ifdef MOVE_NOGRAD
      pi.value[0] += 1.0f;
#endif
      continue;
    }
    for (int64_t j = 0; j < pi.count; j++) pi.value[j] -= a->lr * pi.grad[j];
  }
  record(h, "nograd", nograd);
  record(h, "decayed", decayed);
  record(h, "args.lr", a->lr);
  record(h, "args.schedule_lr", a->schedule_lr);
  record(h, "args.lr_scale", a->lr_scale);
  record(h, "args.peak_lr", a->peak_lr);
  record(h, "args.schedule_fraction", a->schedule_fraction);
  return NTNG_OK;
}

static ntng_status after_optimizer_step(void *self, const ntng_step_info *s, const ntng_optimizer_args *a) {
  probe *p = (probe *)self;
  const ntng_host *h = p->h;
  (void)s;
  h->log(h, NTNG_LOG_INFO, "after");
  ntng_param_info pi; memset(&pi, 0, sizeof pi); pi.struct_size = sizeof pi;
  h->param_info(h, 0, &pi);
  record(h, "after.p0", pi.value[0]);
  record(h, "after.update", (double)a->update);
  record(h, "after.updates.first", (double)pi.updates);
  float *ema = h->state_data(h, p->ema);
  for (int64_t j = 0; j < pi.count; j++) ema[pi.offset + j] = 0.9f * ema[pi.offset + j] + 0.1f * pi.value[j];
#ifdef AFTER_SHRINKS
  for (int64_t j = 0; j < pi.count; j++) pi.value[j] *= 0.5f; /* writes parameters: allowed here */
#endif
  return NTNG_OK;
}

#ifdef OPTIMIZER
#define OPTIMIZER_HOOK optimizer_step
#else
#define OPTIMIZER_HOOK NULL
#endif
#ifdef AFTER
#define AFTER_HOOK after_optimizer_step
#else
#define AFTER_HOOK NULL
#endif

static const ntng_hooks hooks = {
    .struct_size = sizeof(ntng_hooks), .on_step = on_step, .select_batch = SELECT_HOOK, .pool_factor = POOL_HOOK,
    .optimizer_step = OPTIMIZER_HOOK, .after_optimizer_step = AFTER_HOOK,
};
static const char *const required[] = {NTNG_EXT_DIAGNOSTICS, NULL};
static const ntng_descriptor descriptor = {
    .struct_size = sizeof(ntng_descriptor), .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR,
    .id = PLUGIN_ID, .name = "v1.1 probe", .version = "0.0.1", .required_extensions = required,
    .hooks = &hooks, .create = create, .destroy = destroy,
};
static const ntng_entry entry = {.struct_size = sizeof(ntng_entry), .abi_major = NTNG_ABI_MAJOR,
                                 .abi_minor = NTNG_ABI_MINOR, .descriptor = &descriptor};
NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
"""#
