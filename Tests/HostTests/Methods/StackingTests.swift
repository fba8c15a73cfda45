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

// MARK: - Shared by StackingTests and DroppingTests (issue 6)

/// The host of the schedule tests (stacking, dropping): a real `tiny`-shaped model of `layers`
/// layers, a budget whose fraction the test sets (``ScriptedHost/set(fraction:step:)``), the
/// trainer's resize sequence; no scoring or curvature.
func layerMethodHost(layers: Int) throws -> ScriptedHost {
    try ScriptedHost(layers: layers, modelSeed: 5, budget: .atStart(.rst, amount: 100), stepSeed: 1)
}

/// Real trainings on a small prepared corpus with a `tiny` model of `layers` layers and a
/// profile whose forward+backward cost grows with the layers run (1e-3 s per layer and sequence
/// plus 0.5e-3 s): enough for the method to change what a step costs.
struct LayerMethodFixture {
    let directory: URL
    let data: DataLocation
    let corpusPath: String
    let profilePath: String
    let store: ResultsStore
    let layers: Int

    init(layers: Int, _ name: String = #function) throws {
        self.layers = layers
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-layer-methods-\(name.filter(\.isLetter))-\(UUID().uuidString)")
        let text = directory.appendingPathComponent("text")
        try FileManager.default.createDirectory(at: text, withIntermediateDirectories: true)
        let words = ["the", "river", "ran", "past", "an", "old", "mill", "where", "children", "played", "quietly", "in",
                     "summer", "and", "winter", "snow", "covered", "every", "field", "near", "our", "small", "town"]
        for file in 0..<4 {
            var rng = SplitMix64(seed: UInt64(file) &+ 77)
            var paragraphs: [String] = []
            for _ in 0..<60 {
                var sentence: [String] = []
                for _ in 0..<40 { sentence.append(words[Int(rng.next() % UInt64(words.count))]) }
                paragraphs.append(sentence.joined(separator: " ") + ".")
            }
            let body = paragraphs.joined(separator: "\n\n")
            try body.write(to: text.appendingPathComponent("part\(file).txt"), atomically: true, encoding: .utf8)
        }
        data = DataLocation(explicitDirectory: directory.appendingPathComponent("data").path)
        var options = PreparationOptions(corpus: text.path)
        options.vocabSize = 300
        options.splitRule = SplitRule(pieceWords: 100, validationPerMille: 100)
        let prepared = try DataPreparer.prepare(options, location: data)
        corpusPath = text.path

        var config = try ModelConfig.preset("tiny", overrides: ["layers": String(layers)])
        config.vocabularySize = prepared.stats.vocabSize
        let forwardBackward = (0...layers).map { 0.5e-3 + 1e-3 * Double($0) }
        let profile = ReferenceProfile(
            name: "test-tiny-\(layers)", preset: "tiny", shape: ProfileCatalog.shape(of: config), toolchain: "test", blas: "test", threads: 1,
            forwardBackwardPerSequence: forwardBackward, forwardOnlyPerSequence: forwardBackward.map { $0 / 3 },
            sampledLabelPassPerSequence: forwardBackward, optimizerUpdatePerParameter: 1e-9)
        profilePath = directory.appendingPathComponent("test-tiny-\(layers).json").path
        try profile.save(to: URL(fileURLWithPath: profilePath))
        store = try ResultsStore(url: directory.appendingPathComponent("results.sqlite"))
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// Settings for `method` under an RST budget of about 60 full-depth steps.
    func settings(method: String, _ extra: [String] = []) throws -> RunSettings {
        let fullStep = 4 * (0.5e-3 + 1e-3 * Double(layers))
        var s = RunSettings(budget: try Budget(amount: 60 * fullStep, kind: .rst))
        s.method = method
        s.model = "tiny"
        s.modelOverrides = ["layers": String(layers)]
        s.corpus = corpusPath
        s.threads = 1
        s.pluginPaths = [PluginPaths.build.path]
        for setting in ["checkpoint-every=0", "val-sequences=16"] + extra { try s.apply(setting: setting) }
        return s
    }

    func start(method: String, _ extra: [String] = []) throws -> Trainer {
        try Trainer.start(settings: try settings(method: method, extra), data: data, store: store, profile: profilePath)
    }

    /// Trains `method` to the end of the budget.
    func run(method: String, _ extra: [String] = []) throws -> (trainer: Trainer, summary: RunSummary, points: [LossPoint]) {
        let trainer = try start(method: method, extra)
        guard case .finished(let summary) = try trainer.train() else { throw ToolFailure(message: "\(method) did not finish") }
        return (trainer, summary, try store.lossCurve(runID: trainer.runID))
    }

    /// Trains `method` twice: straight through, and stopped after `stopAfter` steps then resumed
    /// from the checkpoint. Returns both summaries and both loss curves.
    func interruptedAndResumed(method: String, stopAfter: Int, _ extra: [String] = []) throws
        -> (straight: RunSummary, resumed: RunSummary, straightLosses: [Double?], resumedLosses: [Double?], depthAtResume: Int) {
        let straight = try run(method: method, extra)
        let first = try start(method: method, extra)
        var seen = 0
        guard case .interrupted = try first.train(shouldStop: { seen >= stopAfter }, progress: { _ in seen += 1 }) else {
            throw ToolFailure(message: "\(method) was not interrupted")
        }
        let second = try Trainer.resume(runID: first.runID, data: data, store: store)
        let depthAtResume = second.workload.config.layers
        guard case .finished(let resumed) = try second.train() else { throw ToolFailure(message: "\(method) did not finish after resuming") }
        defer {
            for id in [first.runID, straight.trainer.runID] {
                try? FileManager.default.removeItem(at: store.checkpointURL(runID: id).deletingLastPathComponent())
            }
        }
        return (straight.summary, resumed, try store.lossCurve(runID: straight.trainer.runID).map(\.trainLoss),
                try store.lossCurve(runID: first.runID).map(\.trainLoss), depthAtResume)
    }

    /// A diagnostic's values per step, with the budget fraction at the start of that step.
    func depthTimeline(runID: String, key: String) throws -> [(fraction: Double, value: Double)] {
        let amount = try store.run(id: runID).budgetAmount
        let points = try store.lossCurve(runID: runID)
        var startRST: [Int: Double] = [1: 0]
        for p in points { startRST[p.step + 1] = p.rstSeconds }
        return try store.diagnostics(runID: runID, key: key).map { ((startRST[$0.step] ?? .nan) / amount, $0.value) }
    }
}
