import TestSupport
import Corpus
import Foundation
import Models
import TensorCore
import Testing
@testable import Host
@testable import Clock
@testable import Records
@testable import PluginHost

/// Layer stacking (`Plugins/Stacking`, id `stacking`): the real built library, driven through
/// ``PluginStack`` by a host whose budget fraction the test sets, and through the trainer.
@Suite struct StackingTests {
    static var library: String { methodPluginPath("Stacking") }

    /// Drives the plugin through `fractions` (one resize_model call each, as the trainer's step
    /// does) on a model of `layers` layers and returns the depth after each call.
    static func depths(layers: Int, fractions: [Double], settings: [String: String] = [:]) throws -> (depths: [Int], host: ScriptedHost) {
        let host = try layerMethodHost(layers: layers)
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: library)], settings: settings, services: host)
        var depths: [Int] = []
        for (step, fraction) in fractions.enumerated() {
            host.set(fraction: fraction, step: step)
            try host.resizeIfPlanned(stack)
            depths.append(host.modelConfig.layers)
        }
        return (depths, host)
    }

    @Test func growsFourToEightToSixteenAtTheBudgetFractions() throws {
        let fractions = [0, 0.01, 0.1249, 0.125, 0.2, 0.2999, 0.3, 0.31, 0.9, 1]
        let (depths, host) = try Self.depths(layers: 16, fractions: fractions)
        #expect(depths == [4, 4, 4, 8, 8, 8, 16, 16, 16, 16])
        // One rebuild per change of depth: the shrink before the first step and two doublings.
        #expect(host.plans == [
            Array(0..<4).map { LayerSource.copy(of: $0) },
            (Array(0..<4) + Array(0..<4)).map { LayerSource.copy(of: $0) },
            (Array(0..<8) + Array(0..<8)).map { LayerSource.copy(of: $0) },
        ])
        #expect(host.logMessages.contains { $0.contains("4 -> 8 layers at 12.50 % of the budget") }, "\(host.logMessages)")
        #expect(host.logMessages.contains { $0.contains("8 -> 16 layers at 30.00 % of the budget") }, "\(host.logMessages)")
        // The scheduled depth is reported per step for the run record.
        #expect(host.diagnostics.filter { $0.key == "stacking_depth" }.map(\.value) == depths.map(Double.init))
    }

    /// Presets with other depths scale proportionally (start at ceil(L/4)); a doubling past L stops
    /// at L, so the run always ends at full depth.
    @Test(arguments: [(8, [2, 4, 8]), (12, [3, 6, 12]), (10, [3, 6, 10]), (2, [1, 2, 2]), (1, [1, 1, 1])])
    func otherDepthsScaleAndCapAtTheFullDepth(layers: Int, expected: [Int]) throws {
        let (depths, host) = try Self.depths(layers: layers, fractions: [0, 0.2, 0.5])
        #expect(depths == expected)
        if layers == 10 {
            // 6 -> 10 copies the bottom four layers of the six on top.
            #expect(host.plans.last == (Array(0..<6) + Array(0..<4)).map { LayerSource.copy(of: $0) })
        }
    }

    @Test func fractionsAndInitialDepthAreConfigurable() throws {
        let a = try Self.depths(layers: 16, fractions: [0, 0.4, 0.5, 0.79, 0.8],
                                settings: ["stacking.fractions": "0.5, 0.8", "initial_layers": "2"])
        #expect(a.depths == [2, 2, 4, 4, 8])
        // Three growths: the default start is ceil(16 / 8) = 2.
        let b = try Self.depths(layers: 16, fractions: [0, 0.1, 0.2, 0.3], settings: ["fractions": "0.1,0.2,0.3"])
        #expect(b.depths == [2, 4, 8, 16])
        // No growth at all: train the first stage throughout.
        let c = try Self.depths(layers: 16, fractions: [0, 0.5, 1], settings: ["fractions": ""])
        #expect(c.depths == [16, 16, 16])
    }

    /// A step that crosses both growth fractions at once (a budget of very few steps) applies
    /// both doublings: the new stack is the old one four times over.
    @Test func crossingTwoFractionsInOneStepDoublesTwice() throws {
        let (depths, host) = try Self.depths(layers: 16, fractions: [0, 0.5])
        #expect(depths == [4, 16])
        #expect(host.plans.last == (0..<16).map { LayerSource.copy(of: $0 % 4) })
    }

    @Test(arguments: [("fractions", "0.3,0.125", "strictly increasing"), ("fractions", "0.1,1.5", "strictly between 0 and 1"),
                      ("fractions", "0.1;0.2", "comma-separated"), ("fractions", "0,0.3", "strictly between 0 and 1"),
                      ("initial_layers", "-1", "initial_layers")])
    func badSettingsAreRefusedAtCreate(key: String, value: String, fragment: String) throws {
        let host = try layerMethodHost(layers: 16)
        let library = try PluginLibrary.open(path: Self.library)
        expectPluginError(["stacking", "create", fragment]) {
            _ = try PluginStack(libraries: [library], settings: [key: value], services: host)
        }
    }

    /// Between growths the layers are changed (as training changes them); each growth must copy
    /// the values the source layers have at that moment, bit for bit, and leave everything else.
    @Test func copiedLayersEqualTheirSourcesAtTheMomentOfCopying() throws {
        let host = try layerMethodHost(layers: 16)
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: Self.library)], services: host)
        var seed: UInt64 = 11
        var checkedGrowths = 0
        for (step, fraction) in [0, 0.05, 0.125, 0.2, 0.3, 0.6].enumerated() {
            host.perturbEveryParameter(seed: seed)  // "training" since the last call
            seed += 1
            let before = host.snapshot()
            let depth = host.modelConfig.layers
            host.set(fraction: fraction, step: step)
            try host.resizeIfPlanned(stack)
            let after = host.snapshot()
            let newDepth = host.modelConfig.layers
            guard step > 0, newDepth > depth else { continue }
            checkedGrowths += 1
            #expect(newDepth == 2 * depth)
            for (name, values) in after {
                guard let layer = ScriptedHost.layer(of: name) else {
                    #expect(values == before[name], "\(name) changed in a growth")
                    continue
                }
                let source = layer < depth ? layer : layer - depth
                let sourceName = name.replacingOccurrences(of: "layers.\(layer).", with: "layers.\(source).")
                let expected = try #require(before[sourceName])
                #expect(values.map(\.bitPattern) == expected.map(\.bitPattern), "\(name) is not an exact copy of \(sourceName)")
            }
        }
        #expect(checkedGrowths == 2)
    }

    @Test func passesEveryConformanceCheck() throws {
        for check in PluginCheck.allCases {
            let result = PluginConformance.run(check, libraryPath: Self.library)
            #expect(result.passed, "\(check): \(result.detail)")
        }
    }

    /// `ntng plugin check` itself (each check in a child process), with a non-default setting.
    @Test func ntngPluginCheckPasses() throws {
        try #require(FileManager.default.isExecutableFile(atPath: PluginPaths.ntng), "the ntng executable is built beside the tests")
        let out = try runTool(PluginPaths.ntng, ["plugin", "check", Self.library, "--set", "fractions=0.25,0.5"])
        #expect(out.contains("all checks passed"), "\(out)")
    }

    // MARK: - Through the trainer

    /// Stacking on an 8-layer tiny model against the baseline under the same RST budget: the first
    /// stage runs 2 of 8 layers and so costs less RST per step, the run makes more steps, the
    /// depth timeline is 2 → 4 → 8 at 12.5 % and 30 % and new layers start with empty AdamW state.
    @Test func trainsMoreStepsThanTheBaselineWithinTheSameBudget() throws {
        let fixture = try LayerMethodFixture(layers: 8)
        defer { fixture.remove() }
        let baseline = try fixture.run(method: "baseline")
        let trainer = try fixture.start(method: "stacking")
        var previousDepth = trainer.workload.config.layers
        var growthsChecked = 0
        let outcome = try trainer.train(progress: { _ in
            let depth = trainer.workload.config.layers
            defer { previousDepth = depth }
            guard depth > previousDepth, trainer.clock.steps > 1 else { return }
            // The step that followed a growth was the new layers' first AdamW update: their first
            // moment is exactly (1 − β1)·g, i.e. it started from zero. The old layers' is not.
            let store = trainer.workload.parameters
            let beta1 = trainer.training.optimizer.settings.beta1
            for e in store.entries where e.layer != nil {
                let m = trainer.training.optimizer.firstMoment[e.offset], g = store.gradients[e.offset]
                let fresh = beta1 * 0 + (1 - beta1) * g
                if e.layer! >= previousDepth {
                    #expect(m == fresh, "\(e.name): first moment \(m) after one update of a new layer, expected \(fresh)")
                } else if g != 0 {
                    #expect(m != fresh, "\(e.name) lost its optimizer state in the growth")
                }
            }
            growthsChecked += 1
        })
        guard case .finished(let run) = outcome else { Issue.record("stacking did not finish"); return }
        #expect(growthsChecked == 2)
        #expect(run.steps > baseline.summary.steps, "stacking \(run.steps) steps vs baseline \(baseline.summary.steps)")

        let stackingPoints = try fixture.store.lossCurve(runID: trainer.runID)
        let firstStackingStep = try #require(stackingPoints.first).rstSeconds
        let firstBaselineStep = try #require(baseline.points.first).rstSeconds
        #expect(firstStackingStep < 0.5 * firstBaselineStep, "first step: \(firstStackingStep) s vs \(firstBaselineStep) s RST")

        // The depth timeline: 2 layers until 12.5 % of the budget, 4 until 30 %, then 8.
        let timeline = try fixture.depthTimeline(runID: trainer.runID, key: "stacking_depth")
        #expect(!timeline.isEmpty)
        for point in timeline {
            let expected = point.fraction < 0.125 ? 2.0 : point.fraction < 0.3 ? 4.0 : 8.0
            #expect(point.value == expected, "depth \(point.value) at \(point.fraction) of the budget")
        }
        #expect(Set(timeline.map(\.value)) == [2, 4, 8])
        #expect(trainer.workload.config.layers == 8)
    }

    /// The plugin keeps no private state: a run stopped between the growths and resumed from its
    /// checkpoint (model already 4 layers deep) continues exactly like an uninterrupted one.
    @Test func resumedRunMatchesAnUninterruptedOne() throws {
        let fixture = try LayerMethodFixture(layers: 8)
        defer { fixture.remove() }
        let r = try fixture.interruptedAndResumed(method: "stacking", stopAfter: 35)
        #expect(r.depthAtResume == 4)
        #expect(r.resumed.steps == r.straight.steps)
        #expect(r.resumedLosses == r.straightLosses)
        #expect(r.resumed.valLoss == r.straight.valLoss)
    }
}
