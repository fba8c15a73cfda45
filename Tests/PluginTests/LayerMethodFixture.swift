import TestSupport
import TrainingFixtures
import Corpus
import Foundation
import Models
import TensorCore
import Testing
@testable import Host
@testable import Clock
@testable import Records
@testable import PluginHost

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
        let words = ["the", "river", "ran", "past", "an", "old", "mill", "where", "children", "played", "quietly", "in",
                     "summer", "and", "winter", "snow", "covered", "every", "field", "near", "our", "small", "town"]
        let files = (0..<4).map { file -> String in
            var rng = SplitMix64(seed: UInt64(file) &+ 77)
            return (0..<60).map { _ in
                (0..<40).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ") + "."
            }.joined(separator: "\n\n")
        }
        let prepared = try TrainingFixture.prepareCorpus(files, in: directory)
        (data, corpusPath) = (prepared.data, prepared.corpusPath)

        var config = try ModelConfig.preset("tiny", overrides: ["layers": String(layers)])
        config.vocabularySize = prepared.vocabularySize
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
