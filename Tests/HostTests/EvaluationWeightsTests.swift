import Foundation
import Testing
import TestSupport
import TrainingFixtures

import Clock
@testable import Host
import PluginHost
import Records

/// "ntng.evaluation_weights/1" end to end with the Schedule-Free AdamW example: runs train at y
/// and are evaluated (validation, checkpoint's evaluation copy) at x; resume continues from y.
@Suite(.serialized) struct EvaluationWeightsTests {
    /// A calibrated charge, so the step count is reproducible and resume can be compared bit for bit.
    private func fixture() throws -> TrainingFixture {
        let f = try TrainingFixture()
        var profile = try ReferenceProfile.load(from: URL(fileURLWithPath: f.profilePath))
        profile.pluginCostPerParameter = ["org.ntng.examples.schedule-free-adamw": 3e-9]
        try profile.save(to: URL(fileURLWithPath: f.profilePath))
        return f
    }

    private func settings(_ f: TrainingFixture) throws -> RunSettings {
        var s = try f.settings(budget: "0.4s")
        s.method = PluginPaths.scheduleFreeExample
        return s
    }

    @Test func validationAndTheCheckpointUseTheAveragedIterate() throws {
        let f = try fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let trainer = try f.start(try settings(f))
        guard case .finished(let summary) = try trainer.train() else { Issue.record("not finished"); return }
        let atX = try trainer.evaluate(), atY = trainer.evaluateTrainingWeights()
        #expect(summary.valLoss == atX)
        #expect(atX != atY, "x and y must differ after training: \(atX) vs \(atY)")
        #expect(atX.isFinite && atY.isFinite)
        // The checkpoint holds y as the model and x as its evaluation copy.
        let (checkpoint, workload, _) = try Checkpoint.load(from: f.store.checkpointURL(runID: trainer.runID), adamW: .init())
        let training = Array(UnsafeBufferPointer(start: trainer.workload.parameters.values, count: trainer.workload.parameters.count))
        #expect(Array(UnsafeBufferPointer(start: workload.parameters.values, count: workload.parameters.count)) == training)
        let x = try #require(checkpoint.evaluationWeights)
        #expect(x != training)
        #expect(try trainer.training.evaluationWeights() == x)
        // `ntng eval` fine-tunes from x.
        let evaluated = try Checkpoint.loadForEvaluation(from: f.store.checkpointURL(runID: trainer.runID), adamW: .init())
        #expect(Array(UnsafeBufferPointer(start: evaluated.parameters.values, count: evaluated.parameters.count)) == x)
        print("schedule-free: \(summary.steps) steps, validation at x \(atX), at y \(atY)")
        // Its own rate (reported as the diagnostic "lr") is the rate stored for each step: the
        // constant peak 2e-3 after warm-up, not the host's decaying one-cycle rate.
        let curve = try f.store.lossCurve(runID: trainer.runID)
        #expect(curve.last?.learningRate == 2e-3)
        #expect(curve.last?.learningRate != trainer.training.recipe.schedule.learningRate(atFraction: 0.97))
    }

    @Test func aResumedScheduleFreeRunEndsWhereAnUninterruptedOneDoes() throws {
        let f = try fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        guard case .finished(let reference) = try f.start(try settings(f)).train() else { Issue.record("not finished"); return }
        let interrupted = try f.start(try settings(f))
        var seen = 0
        guard case .interrupted = try interrupted.train(shouldStop: { seen >= 11 }, progress: { _ in seen += 1 }) else {
            Issue.record("expected an interruption"); return
        }
        guard case .finished(let resumed) = try Trainer.resume(runID: interrupted.runID, data: f.data, store: f.store).train() else {
            Issue.record("not finished"); return
        }
        #expect(resumed.steps == reference.steps)
        #expect(resumed.finalTrainLoss == reference.finalTrainLoss)
        #expect(resumed.valLoss == reference.valLoss)
    }

    /// A plugin whose write changes its own state tensor is stopped (rule E1).
    @Test func aWriteThatChangesStateIsRefused() throws {
        let path = try buildCPlugin(stateChangingEvaluator, name: "evaluator")
        let h = try StandaloneHost(steps: 1)
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: path)], services: h)
        h.plugins = stack
        expectPluginError(["test.evaluator", "evaluation_weights.write", "state tensors", "E1"]) { _ = try h.evaluationWeights() }
    }
}

private let stateChangingEvaluator = #"""
#include <stdlib.h>
#include <string.h>
#include "ntng_plugin.h"
typedef struct ev { const ntng_host *h; int32_t t; } ev;
static ntng_status create(const ntng_host *h, void **out) {
  ev *e = (ev *)calloc(1, sizeof *e); e->h = h; e->t = h->state_tensor(h, "t", 0.0f); *out = e; return NTNG_OK;
}
static void destroy(void *self) { free(self); }
static ntng_status on_step(void *self, const ntng_step_info *s, ntng_step_plan *p) { (void)self; (void)s; (void)p; return NTNG_DECLINED; }
static ntng_status write(void *self, const ntng_step_info *s, float *out, int64_t n) {
  ev *e = (ev *)self; (void)s; (void)out; (void)n;
  e->h->state_data(e->h, e->t)[0] += 1.0f;
  return NTNG_OK;
}
static const ntng_evaluation_weights_v1 table = {.struct_size = sizeof table, .write = write};
static const void *get_extension(void *self, const char *id) { (void)self; return strcmp(id, NTNG_EXT_EVALUATION_WEIGHTS) ? NULL : &table; }
static const ntng_hooks hooks = {.struct_size = sizeof hooks, .on_step = on_step, .get_extension = get_extension};
static const ntng_descriptor d = {.struct_size = sizeof d, .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR,
  .id = "test.evaluator", .name = "e", .version = "0", .hooks = &hooks, .create = create, .destroy = destroy};
static const ntng_entry entry = {.struct_size = sizeof entry, .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR, .descriptor = &d};
NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
"""#
