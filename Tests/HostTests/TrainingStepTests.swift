import Corpus
import TestSupport
import TrainingFixtures
import Foundation
import Testing
@testable import Models
@testable import Host
@testable import Clock
@testable import PluginHost

/// The one step: `ntng plugin check`'s host (``StandaloneHost``) and `ntng run` (``Trainer``)
/// take the same steps, so the checker tests the recipe runs train with.
@Suite(.serialized) struct TrainingStepTests {
    /// Dropping exercises skipped layers under AdamW and step seeds in `on_step`; stacking + Lion
    /// exercise resizes (seeded fresh layers, optimizer remaps) and a charged plugin optimizer.
    @Test(arguments: ["Dropping", "Stacking+Lion"])
    func thePluginCheckersStepsAreTheStepsOfARun(products: String) throws {
        let f = try TrainingFixture(products.filter(\.isLetter))
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var settings = try f.settings(budget: "1s", ["clip=0.3", "lr=2e-3"])
        settings.budget = try .steps(24)
        settings.seed = 9
        settings.method = products.split(separator: "+").map { methodPluginPath(String($0)) }.joined(separator: "+")

        // A calibrated Lion cost, so every charge (and with it the step count) is reproducible.
        var profile = try ReferenceProfile.load(from: URL(fileURLWithPath: f.profilePath))
        profile.pluginCostPerParameter["lion"] = 2e-9
        let profilePath = f.directory.appendingPathComponent("calibrated.json").path
        try profile.save(to: URL(fileURLWithPath: profilePath))

        let trainer = try Trainer.start(settings: settings, data: f.data, store: f.store, profile: profilePath)
        trainer.pluginLog = { _ in }
        guard case .finished(let summary) = try trainer.train() else { Issue.record("the run did not finish"); return }
        let run = try f.store.lossCurve(runID: trainer.runID).compactMap(\.trainLoss)

        let corpus = try PreparedCorpus(corpus: f.corpusPath, location: f.data)
        let config = try settings.modelConfig(vocabularySize: corpus.vocabSize)
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: config.sequenceLength, batchSize: config.microBatch, seed: settings.seed)
        let host = try StandaloneHost(settings: settings, batches: source, profile: profile, vocabularySize: corpus.vocabSize)
        let stack = try PluginStack.open(method: settings.method, settings: settings.hyperparameters.pluginSettings,
                                         searchPath: .standard(extra: []), services: host)
        try host.train(stack)

        #expect(summary.steps == 24 && host.losses.count == 24)
        #expect(run.map(\.bitPattern) == host.losses.map(\.bitPattern), "run \(run.prefix(4)) … vs checker host \(host.losses.prefix(4)) …")
        #expect(host.clock.rstSeconds.bitPattern == trainer.clock.rstSeconds.bitPattern)
        #expect(host.parameterDigest() == StandaloneHost.digest(trainer.workload.parameters))
    }
}
