import Corpus
import Foundation
import Testing
import TrainingFixtures
@testable import Models
import TensorCore
@testable import Host
@testable import Clock
@testable import Records
import Workloads

/// T5 (`t5-tiny`) trained end to end through the same `Trainer` as the masked LM: the
/// span-corrupted stream of the fixture corpus, its reference lines, determinism, checkpoints
/// and exact resume.
@Suite(.serialized) struct T5RunTests {
    /// The fixture with a `t5-tiny` profile of simple costs beside its `tiny` one.
    func t5Profile(_ f: TrainingFixture) throws -> String {
        var config = try ModelConfig.preset("t5-tiny")
        config.vocabularySize = try PreparedCorpus(corpus: f.corpusPath, location: f.data).vocabSize
        let profile = ReferenceProfile(
            name: "test-t5-tiny", preset: "t5-tiny", shape: ProfileCatalog.shape(of: config), toolchain: "test", blas: "test", threads: 1,
            forwardBackwardPerSequence: [1e-3, 2e-3, 3e-3], forwardOnlyPerSequence: [4e-4, 8e-4, 1.2e-3],
            sampledLabelPassPerSequence: [1e-3, 2e-3, 3e-3], optimizerUpdatePerParameter: 1e-9)
        let path = f.directory.appendingPathComponent("test-t5-tiny.json").path
        try profile.save(to: URL(fileURLWithPath: path))
        return path
    }

    func settings(_ f: TrainingFixture, _ extra: [String] = []) throws -> RunSettings {
        var s = try f.settings(extra)
        s.model = "t5-tiny"
        return s
    }

    @Test func theSpanCorruptedStreamIsAPureFunctionOfSeedAndExample() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let corpus = try PreparedCorpus(corpus: f.corpusPath, location: f.data)
        func source(_ seed: UInt64) throws -> SpanCorruptionSource {
            // 32 inputs: 34 raw tokens, two noise spans (with one span the mask has one possible layout).
            try SpanCorruptionSource(corpus: corpus, inputLength: 32, sentinels: 100, batchSize: 4, seed: seed)
        }
        let a = try source(1), b = try source(1), c = try source(2)
        #expect(a.batch(0) == b.batch(0) && a.batch(3) == b.batch(3))
        #expect(a.batch(0) != c.batch(0))
        #expect(a.validationExamples(maxCount: 8) == c.validationExamples(maxCount: 8))  // validation ignores the run's seed
        for e in a.batch(0) + a.validationExamples(maxCount: 8) {
            #expect(e.inputs.count == 32 && e.targets.count == 8)
            #expect(e.inputs.last == SpecialTokens.sep && e.targets.last == SpecialTokens.sep)
            #expect(e.targets.first == Int32(corpus.vocabSize + 99))  // <extra_id_0>
        }
        // The same example, drawn by any batch, is corrupted the same way.
        let first = a.batch(0)[0]
        #expect(a.trainingExample(id: first.exampleId) == first && c.trainingExample(id: first.exampleId) != first)
        // The model reads the targets shifted right behind [PAD].
        let batch = SpanCorruptionBatch(examples: a.batch(0), inputLength: 32, targetLength: 8)
        #expect(Array(batch.decoderInputs[0..<8]) == [SpecialTokens.pad] + Array(first.targets[0..<7]))
        // The unigram line covers every target position, the two sentinels and EOS at 1/T each.
        let lines = a.referenceLines(validationSequences: 8)
        #expect(lines.targets == 8 * 8 && lines.unigram > Foundation.log(8.0) * 3 / 8 && lines.unigram < lines.uniform)
        #expect(abs(lines.uniform - Foundation.log(Double(corpus.vocabSize + 100))) < 1e-12)
    }

    @Test func aT5RunIsDeterministicAndResumesExactly() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let profile = try t5Profile(f)
        func start() throws -> Trainer { try Trainer.start(settings: try settings(f), data: f.data, store: f.store, profile: profile) }
        let first = try start()
        #expect(first.workload.kind == SpanCorruptionWorkload.kind && first.workload.stacks.map(\.name) == ["encoder", "decoder"])
        guard case .finished(let a) = try first.train() else { Issue.record("not finished"); return }
        // The second run shares the machine with a busy loop: RST comes from the profile, not the clock.
        let busy = BusyLoop()
        busy.start()
        guard case .finished(let b) = try start().train() else { busy.stop(); Issue.record("not finished"); return }
        busy.stop()
        #expect(a.steps == b.steps && a.steps > 10 && a.finalTrainLoss == b.finalTrainLoss && a.valLoss == b.valLoss)
        #expect(a.valLoss.map { $0.isFinite } == true)
        let evaluations = try f.store.evaluations(runID: first.runID).map(\.name)
        #expect(evaluations.contains(ReferenceLines.unigramName))

        let interrupted = try start()
        var seen = 0
        guard case .interrupted = try interrupted.train(shouldStop: { seen >= 7 }, progress: { _ in seen += 1 }) else {
            Issue.record("expected an interruption"); return
        }
        let resumed = try Trainer.resume(runID: interrupted.runID, data: f.data, store: f.store)
        #expect(resumed.workload.kind == SpanCorruptionWorkload.kind)
        guard case .finished(let result) = try resumed.train() else { Issue.record("not finished"); return }
        #expect(result.steps == a.steps && result.finalTrainLoss == a.finalTrainLoss && result.valLoss == a.valLoss)
        #expect(result.rstSeconds.bitPattern == a.rstSeconds.bitPattern)
    }

    @Test func aT5ModelGrowsBothStacksTogether() throws {
        let config = try ModelConfig.preset("t5-tiny")
        let workload = try Workloads.make(config: config, seed: 3, maxLayers: 4)
        try workload.resize(to: [.copy(of: 0), .copy(of: 1), .copy(of: 0), .copy(of: 1)], seed: 1)
        #expect(workload.stacks.map(\.layers) == [4, 4] && workload.depth == 4)
        let p = workload.parameters
        for name in ["encoder.layers.%d.attention.qkv.weight", "decoder.layers.%d.cross_attention.key_value.weight",
                     "decoder.layers.%d.self_attention.relative_bias"] {
            #expect(p.value(String(format: name, 2)).toArray() == p.value(String(format: name, 0)).toArray())
            #expect(p.value(String(format: name, 3)).toArray() == p.value(String(format: name, 1)).toArray())
        }
    }
}

/// The recipe follows the workload: a T5 preset trains with the paper's T5 baseline (AdamWScale,
/// cosine-budget), a BERT preset keeps the one-cycle recipe and its stored form.
@Suite struct T5RecipeTests {
    @Test func aT5PresetGetsTheT5RecipeAndSettingsAfterItWin() throws {
        var s = RunSettings(budget: try .parse("1m"))
        s.model = "t5-small"
        try s.apply(setting: "lr=1e-2")  // the paper's layer-dropping LR on T5
        let hp = s.hyperparameters
        #expect(hp.schedule == .cosine && hp.peakLearningRate == 1e-2 && hp.clipNorm == 1)
        #expect(hp.adamW.rmsScaling && hp.adamW.weightDecay == 0 && hp.adamW.beta2 == 0.999 && hp.adamW.epsilon == 1e-6)
        let schedule = hp.learningRateSchedule
        // Half the peak at the start, the peak at 10000/65536 of the budget, 1e-5 × peak at its end.
        #expect(schedule.learningRate(atFraction: 0) == 5e-3)
        #expect(abs(schedule.learningRate(atFraction: 10_000.0 / 65_536.0) - 1e-2) < 1e-12)
        #expect(abs(schedule.learningRate(atFraction: 1) - 1e-7) < 1e-15)
    }

    @Test func aBERTPresetKeepsTheOneCycleRecipeAndItsStoredForm() throws {
        var s = RunSettings(budget: try .parse("1m"))
        s.model = "demo"
        #expect(s.hyperparameters == Hyperparameters())
        let json = String(decoding: try JSONEncoder().encode(s), as: UTF8.self)
        #expect(!json.contains("schedule") && !json.contains("encoderDecoder"))
        // Decoding stored T5 settings keeps what was stored (no recipe swap on decode).
        var t5 = RunSettings(budget: try .parse("1m"))
        t5.model = "t5-tiny"
        try t5.apply(setting: "schedule=one-cycle")
        let decoded = try JSONDecoder().decode(RunSettings.self, from: try JSONEncoder().encode(t5))
        #expect(decoded == t5 && decoded.hyperparameters.schedule == .oneCycle)
    }
}
