import Foundation
import Models
import Testing
import TestSupport
@testable import Host
import Storage
import Workloads
@testable import Benchmarks
@testable import PluginHost

/// Plugins training real models through ``PluginStack``.
@Suite struct PluginTrainingTests {
    /// The headline: one C file, compiled with nothing but `cc -shared -fPIC -I <include>`, loads
    /// and its optimizer_step trains a tiny model.
    @Test func singleCFilePluginTrainsATinyModel() throws {
        let dir = try makeTemporaryDirectory()
        let source = PluginPaths.root.appendingPathComponent("Plugins/Examples/SGDMomentum/sgd_momentum.c")
        let mine = dir.appendingPathComponent("mine.c")
        try FileManager.default.copyItem(at: source, to: mine)
        try runTool("/usr/bin/env", ["cc", "-shared", "-fPIC", "-I", PluginPaths.include.path, "-o", "libmine.so", "mine.c"], in: dir)
        let path = dir.appendingPathComponent("libmine.so").path

        let host = try StandaloneHost(steps: 60, seed: 5, settings: ["lr=0.05", "warmup=0"])
        let stack = try PluginStack.open(method: path, settings: ["momentum": "0.9"], searchPath: PluginSearchPath(directories: []), services: host)
        #expect(stack?.replacesOptimizer == true)
        try host.train(stack)
        let early = host.losses.prefix(5).reduce(0, +) / 5, late = host.losses.suffix(5).reduce(0, +) / 5
        #expect(late < early * 0.9, "loss should fall: \(early) → \(late)")
        #expect(stack?.optimizerUpdates == 60)
        #expect(host.clock.charged[.plugin] ?? 0 > 0)
        #expect(host.clock.charged[.optimizer] == nil)
        let record = try #require(stack?.provenance.first)
        #expect(record.optimizerCharge == "estimated")
        #expect(record.sha256 == (try SHA256Digest.hex(ofFileAt: path)))
        #expect(record.callStats["optimizer_step"]?.calls == 60)
    }

    /// The C example's update matches SGD with momentum computed by hand.
    @Test func sgdMomentumMatchesHandComputation() throws {
        let services = try ScriptedHost.servingEverything()
        let lib = try PluginLibrary.open(path: PluginPaths.sgdExample)
        let stack = try PluginStack(libraries: [lib], settings: ["momentum": "0.5", "weight_decay": "0.1"], services: services)
        let store = services.parameters
        let e = try #require(store.info("layers.0.ffn.input.weight"))
        let bias = try #require(store.info("layers.0.ffn_norm.bias"))
        var p = Array(UnsafeBufferPointer(start: store.values + e.offset, count: 4)).map(Double.init)
        var v = [Double](repeating: 0, count: 4)
        var pb = Double(store.values[bias.offset])
        var vb = 0.0
        let lr = 0.1
        for step in 0..<3 {
            for i in 0..<store.count { store.gradients[i] = Float((i + step) % 5) * 0.01 - 0.02 }
            for j in 0..<4 {
                let g = Double(store.gradients[e.offset + j]) + 0.1 * p[j]  // matrices are decayed
                v[j] = 0.5 * v[j] + g
                p[j] -= lr * v[j]
            }
            let gb = Double(store.gradients[bias.offset])  // biases are not
            vb = 0.5 * vb + gb
            pb -= lr * vb
            _ = try stack.optimizerStep(learningRate: Float(lr), batchSequences: 4, batchTokens: 8, in: StepContext(number: 1))
        }
        for j in 0..<4 { #expect(abs(Double(store.values[e.offset + j]) - p[j]) < 1e-5) }
        #expect(abs(Double(store.values[bias.offset]) - pb) < 1e-6)
        let velocity = try #require(stack.plugins[0].stateTensors.values(named: "velocity"))
        #expect(abs(Double(velocity[e.offset]) - v[0]) < 1e-5)
    }

    /// A C optimizer and the Swift LR-scale plugin stacked (`a+b`) train together.
    @Test func stackedCAndSwiftPlugins() throws {
        let host = try StandaloneHost(steps: 6)
        let stack = try #require(try PluginStack.open(
            method: "example-sgd-momentum+example-lr-scale", settings: ["scale": "0.5", "skip_every": "2"],
            searchPath: PluginSearchPath(directories: [PluginPaths.build]), services: host))
        try host.train(stack)
        #expect(stack.plugins.map(\.id) == ["example.sgd-momentum", "example.lr-scale"])
        #expect(stack.plugins[1].callStats[.onStep]?.calls == 6)
        // Every second step skips layer 0: those steps are charged for one layer, not two.
        let full = host.clock.profile.forwardBackwardCost(activeLayers: 2, sequences: 4)
        let reduced = host.clock.profile.forwardBackwardCost(activeLayers: 1, sequences: 4)
        #expect(abs((host.clock.charged[.training] ?? 0) - (3 * full + 3 * reduced)) < 1e-9)
        let json = try stack.provenanceJSON()
        #expect(json.contains("\"hostABI\":\"1.1\"") && json.contains("\"scale\":\"0.5\""))
    }

    /// Stacking in miniature through resize_model: the host carries out the plans, then the
    /// plugin optimizer keeps training.
    @Test func resizePlansAreCarriedOut() throws {
        let host = try StandaloneHost(steps: 4)
        let lib = try PluginLibrary.open(path: try buildProbe(["WITH_RESIZE", "WITH_OPTIMIZER"]))
        let stack = try PluginStack(libraries: [lib], services: host)
        try host.train(stack)
        #expect(host.depths == [1, 1, 2, 2])
        #expect(stack.plugins[0].stateTensors.values(named: "m")?.count == host.parameters.count)
    }

    /// State tensors follow parameters by name across a resize; new layers take the fill.
    @Test func stateTensorsRemapByName() throws {
        let model = try MaskedLanguageModel(config: try ModelConfig.preset("tiny"), seed: 1)
        let old = model.parameters
        let state = PluginStateTensors()
        let id = state.tensor(named: "m", fill: -1, count: old.count)
        let data = try #require(state.data(id))
        for e in old.entries { for j in 0..<e.count { data[e.offset + j] = Float(e.layer ?? 9) } }
        // Layer 0 stays itself; layer 1 becomes a copy of layer 0 and layer 2 is new: both start
        // afresh (matching by name alone would hand layer 1 the old layer 1's state).
        let plan: [LayerSource] = [.copy(of: 0), .copy(of: 0), .fresh]
        try model.resize(to: plan, seed: 2)
        state.remap(from: old, to: model.parameters, reset: LayerSource.parametersStartingAfresh(after: plan, in: model.parameters))
        let new = model.parameters
        let values = try #require(state.values(named: "m"))
        #expect(values.count == new.count)
        for e in new.entries {
            let expected: Float = e.layer == nil ? 9 : (e.layer! == 0 ? 0 : -1)
            #expect(values[e.offset] == expected, "\(e.name)")
        }
    }

    /// Checkpoints cover private bytes, state tensors and the update counter.
    @Test func checkpointRestoresPluginState() throws {
        let host = try StandaloneHost(steps: 3)
        let lib = try PluginLibrary.open(path: PluginPaths.sgdExample)
        let first = try PluginStack(libraries: [lib], services: host)
        try host.train(first)
        let saved = try first.checkpoint()
        let data = try JSONEncoder().encode(saved)
        let decoded = try JSONDecoder().decode(PluginStackCheckpoint.self, from: data)
        let second = try PluginStack(libraries: [lib], services: host)
        try second.restore(decoded)
        #expect(second.optimizerUpdates == 3)
        #expect(second.plugins[0].stateTensors.values(named: "velocity") == first.plugins[0].stateTensors.values(named: "velocity"))
        #expect(try second.checkpoint() == saved)
        #expect(saved.plugins[0].stateBytes == [3, 0, 0, 0, 0, 0, 0, 0])
    }

    /// Selection through the standalone host charges scoring for every candidate scored.
    @Test func selectionIsChargedAsScoring() throws {
        let host = try StandaloneHost(steps: 2)
        let lib = try PluginLibrary.open(path: try buildProbe(["WITH_SELECT", "POOL_FACTOR=3"]))
        let stack = try PluginStack(libraries: [lib], services: host)
        try host.train(stack)
        let perStep = host.clock.profile.forwardOnlyCost(activeLayers: 2, sequences: 12)
        #expect(abs((host.clock.charged[.scoring] ?? 0) - 2 * perStep) < 1e-12)
    }

    /// Sophia's sampled-label pass: the host fills the state tensor and charges curvature.
    @Test func sampledLabelGradientIsChargedAsCurvature() throws {
        let host = try StandaloneHost(steps: 1)
        let lib = try PluginLibrary.open(path: try buildProbe(["WITH_OPTIMIZER", "CURVATURE"]))
        let stack = try PluginStack(libraries: [lib], services: host)
        try host.train(stack)
        #expect(host.clock.charged[.curvature] ?? 0 > 0)
        let h = try #require(stack.plugins[0].stateTensors.values(named: "h"))
        #expect(h.contains { $0 != 0 })
    }

    @Test func chargingRules() throws {
        var profile = StandaloneHost.syntheticProfile(try ModelConfig.preset("tiny"))
        let estimated = PluginCharging.optimizerCharge(pluginID: "x", parameters: 1000, measuredSeconds: 0.2, profile: profile, referenceOverLocal: 3)
        #expect(estimated == PluginWorkCharge(seconds: 0.6000000000000001, basis: .estimated))
        profile.pluginCostPerParameter["x"] = 1e-6
        let calibrated = PluginCharging.optimizerCharge(pluginID: "x", parameters: 1000, measuredSeconds: 0.2, profile: profile, referenceOverLocal: 3)
        #expect(calibrated == PluginWorkCharge(seconds: 1e-3, basis: .calibrated))
    }

    @Test func calibrationMeasuresTheOptimizer() throws {
        let m = try PluginCalibration.measureOptimizerStep(libraryPath: PluginPaths.sgdExample, preset: "tiny", steps: 3, warmup: 1)
        #expect(m.pluginID == "example.sgd-momentum")
        #expect(m.secondsPerParameter.isFinite && m.secondsPerParameter > 0)
        expectPluginError(["example.lr-scale", "no optimizer_step"]) {
            _ = try PluginCalibration.measureOptimizerStep(libraryPath: PluginPaths.lrScaleExample, preset: "tiny")
        }
    }

    /// A plugin with after_optimizer_step is priced under "<id>/after_optimizer_step", which is
    /// then the key its runs are charged from (calibrated, so reproducible).
    @Test func calibrationMeasuresAfterOptimizerStep() throws {
        let path = try buildCPlugin(afterOnly, name: "afteronly")
        let measured = try PluginCalibration.measure(libraryPath: path, preset: "tiny", steps: 3, warmup: 1)
        #expect(measured.map(\.profileKey) == ["test.after-only/after_optimizer_step"])
        #expect(measured[0].secondsPerParameter > 0)
        let host = try StandaloneHost(steps: 2)
        var profile = host.clock.profile
        profile.pluginCostPerParameter[measured[0].profileKey] = 1e-9
        let calibrated = try StandaloneHost(settings: { var s = RunSettings(budget: try .steps(2)); s.model = "tiny"; return s }(),
                                            batches: SyntheticBatches(config: host.workload.config, seed: 1), profile: profile)
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: path)], services: calibrated)
        try calibrated.train(stack)
        #expect(stack.afterOptimizerChargeBasis["test.after-only"] == .calibrated)
        #expect(calibrated.clock.charged[.plugin] == 2 * 1e-9 * Double(calibrated.workload.parameters.parameterCount))
        #expect(calibrated.clock.charged[.optimizer] ?? 0 > 0, "the host's AdamW ran and was charged as well")
    }
}

/// Only an after_optimizer_step that scales nothing but reads every value (some own work to time).
private let afterOnly = #"""
#include <stdlib.h>
#include <string.h>
#include "ntng_plugin.h"
typedef struct a { const ntng_host *h; int32_t t; } a;
static ntng_status create(const ntng_host *h, void **out) { a *x = (a *)calloc(1, sizeof *x); x->h = h; x->t = h->state_tensor(h, "sum", 0.0f); *out = x; return NTNG_OK; }
static void destroy(void *self) { free(self); }
static ntng_status after(void *self, const ntng_step_info *s, const ntng_optimizer_args *args) {
  a *x = (a *)self; (void)s; (void)args;
  ntng_model_info mi; memset(&mi, 0, sizeof mi); mi.struct_size = sizeof mi;
  x->h->get_model_info(x->h, &mi);
  float *sum = x->h->state_data(x->h, x->t);
  for (int32_t i = 0; i < mi.num_params; i++) {
    ntng_param_info p; memset(&p, 0, sizeof p); p.struct_size = sizeof p;
    x->h->param_info(x->h, i, &p);
    for (int64_t j = 0; j < p.count; j++) sum[p.offset + j] += p.value[j];
  }
  return NTNG_OK;
}
static const ntng_hooks hooks = {.struct_size = sizeof hooks, .after_optimizer_step = after};
static const ntng_descriptor d = {.struct_size = sizeof d, .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR,
  .id = "test.after-only", .name = "a", .version = "0", .hooks = &hooks, .create = create, .destroy = destroy};
static const ntng_entry entry = {.struct_size = sizeof entry, .abi_major = NTNG_ABI_MAJOR, .abi_minor = NTNG_ABI_MINOR, .descriptor = &d};
NTNG_EXPORT const ntng_entry *ntng_get_entry_v1(void) { return &entry; }
"""#
