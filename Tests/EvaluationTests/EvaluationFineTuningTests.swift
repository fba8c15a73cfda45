import Corpus
@testable import Tasks
import Foundation
import Models
import TensorCore
import Testing
import TestSupport
@testable import Host
@testable import Clock
@testable import Records
@testable import Evaluation

/// Fine-tuning end to end on a fixture task whose label is decided by a keyword, with a `tiny`
/// encoder and a tokenizer trained here; and the stored names `ntng compare --downstream` reads.
@Suite(.serialized) struct EvaluationFineTuningTests {
    static let words = """
        the of and to in is that for it as was with be by on not he this are or his from at which but have an they \
        you were her she there one all we their can has more when will would been if no what some so out up about \
        time only new into than its two may first then do any like my now over such our man me even most made after \
        mountain garden library window engine memory kernel process letter question answer morning evening winter
        """.split(separator: " ").map(String.init)

    /// A sentence of 4–9 random words, with "river" inserted when `keyword`.
    static func sentence(_ rng: inout SplitMix64, keyword: Bool) -> String {
        var w = (0..<(4 + Int(rng.next() % 6))).map { _ in words[Int(rng.next() % UInt64(words.count))] }
        if keyword { w.insert("river", at: Int(rng.next() % UInt64(w.count + 1))) }
        return w.joined(separator: " ")
    }

    /// A balanced task: "yes" exactly when the text contains "river".
    static func keywordTask(train: Int, dev: Int) -> LoadedTask {
        var rng = SplitMix64(seed: 42)
        func examples(_ n: Int, _ prefix: String) -> [TaskExample] {
            (0..<n).map { k in
                let yes = k % 2 == 0
                return TaskExample(text: sentence(&rng, keyword: yes), label: yes ? "yes" : "no", group: "\(prefix)\(k)")
            }
        }
        let info = TaskInfo(name: "keyword", kind: .single, metric: .accuracy, labels: ["no", "yes"], positiveLabel: "yes",
                            analogue: "fixture", source: "test")
        return LoadedTask(info: info, splits: [.train: examples(train, "t"), .dev: examples(dev, "d")])
    }

    static func tokenizer(in directory: URL) throws -> Tokenizer {
        var rng = SplitMix64(seed: 7)
        let lines = (0..<2000).map { k in sentence(&rng, keyword: k % 3 == 0) }
        let input = directory.appendingPathComponent("sample.txt")
        try lines.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        return try Tokenizer(modelURL: try Tokenizer.train(inputFile: input, outputDirectory: directory, vocabSize: 150))
    }

    @Test func tinyModelBeatsTheMajorityClassOnAKeywordTask() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizer = try Self.tokenizer(in: dir)
        var config = try ModelConfig.preset("tiny")
        config.vocabularySize = tokenizer.vocabSize
        let pretrained = try MaskedLanguageModel(config: config, seed: 1)
        let before = pretrained.parameters.values[0]
        var settings = FineTuningSettings()
        settings.learningRate = 3e-3  // a 16-wide random encoder needs far more than BERT's 4e-5
        settings.epochs = 4
        settings.maxLength = 16
        var lines = [String]()
        let result = try FineTuning.run(task: Self.keywordTask(train: 480, dev: 200), pretrained: pretrained,
                                        tokenizer: tokenizer, settings: settings) { lines.append($0) }
        #expect(result.epochs.count == 4 && lines.count == 4)
        #expect(abs(result.majority.accuracy - 0.5) < 1e-9)
        #expect(result.final.accuracy > 0.8, "\(result.epochs)")
        #expect(result.score == result.final.accuracy && result.trainExamples == 480 && result.evaluationExamples == 200)
        #expect(result.sequenceLength <= 16 && result.sequenceLength % 8 == 0)
        // The pre-trained model is only read.
        #expect(pretrained.parameters.values[0] == before)

        // The same settings give the same scores (fixed seeds, identical for every method).
        let again = try FineTuning.run(task: Self.keywordTask(train: 480, dev: 200), pretrained: pretrained,
                                       tokenizer: tokenizer, settings: settings)
        #expect(again.epochs == result.epochs)
    }

    /// `ntng eval --precision bf16` fine-tunes on the bf16 backend: it still learns the task, and its
    /// losses are its own (bf16 products), not the fp32 ones.
    @Test(.enabled(if: Precision.bf16IsNative)) func bf16FineTuningLearnsWithItsOwnNumbers() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizer = try Self.tokenizer(in: dir)
        var config = try ModelConfig.preset("tiny")
        config.vocabularySize = tokenizer.vocabSize
        let pretrained = try MaskedLanguageModel(config: config, seed: 1)
        var settings = FineTuningSettings()
        settings.learningRate = 3e-3
        settings.epochs = 4
        settings.maxLength = 16
        let task = Self.keywordTask(train: 480, dev: 200)
        let fp32 = try FineTuning.run(task: task, pretrained: pretrained, tokenizer: tokenizer, settings: settings)
        let bf16 = try FineTuning.run(task: task, pretrained: pretrained, tokenizer: tokenizer, settings: settings,
                                      backend: CPUBackend.oneDNNBF16)
        #expect(bf16.final.accuracy > 0.8, "\(bf16.epochs)")
        #expect(bf16.epochs.map(\.trainLoss) != fp32.epochs.map(\.trainLoss))
        #expect(abs(bf16.epochs[0].trainLoss - fp32.epochs[0].trainLoss) < 0.05 * fp32.epochs[0].trainLoss)
    }

    @Test func encodingAddsSpecialTokensAndTruncatesLongestFirst() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizer = try Self.tokenizer(in: dir)
        let a = try tokenizer.encode("the river"), long = try tokenizer.encode(Array(repeating: "mountain garden", count: 10).joined(separator: " "))
        let examples = [TaskExample(text: "the river", label: "no", group: "0"),
                        TaskExample(text: "the river", textB: Array(repeating: "mountain garden", count: 10).joined(separator: " "), label: "yes", group: "1")]
        let encoded = try EncodedExamples(examples, task: "t", labels: ["no", "yes"], tokenizer: tokenizer, maxLength: 12)
        #expect(encoded.sequences[0] == [SpecialTokens.cls] + a + [SpecialTokens.sep])
        #expect(encoded.sequences[1].count == 12 && encoded.truncated == 1)
        #expect(encoded.sequences[1] == [SpecialTokens.cls] + a + [SpecialTokens.sep] + long.prefix(12 - 3 - a.count) + [SpecialTokens.sep])
        #expect(encoded.labels == [0, 1])
        #expect(throws: TaskError.self) {
            try EncodedExamples([TaskExample(text: "x", label: "maybe", group: "2")], task: "t", labels: ["no", "yes"], tokenizer: tokenizer, maxLength: 12)
        }
    }

    @Test func warmUpIsPerTaskAndSubsetsAreStable() {
        // Warm-up is 10 % of *this* task's steps: a task with 10 steps reaches the peak at step 1,
        // one with 1000 steps at step 100 (the seed carried the first task's count over).
        let schedule = LearningRateSchedule.cosineToMinimum(peak: 4e-5, warmupFraction: 0.1, initialFactor: 0, minimumFactor: 0)
        #expect(schedule.learningRate(atFraction: 0) == 0)
        #expect(abs(schedule.learningRate(atFraction: 1.0 / 10) - 4e-5) < 1e-12)
        #expect(abs(schedule.learningRate(atFraction: 50.0 / 1000) - 2e-5) < 1e-12)
        #expect(schedule.learningRate(atFraction: 1) < 1e-12)
        let examples = (0..<50).map { TaskExample(text: "t\($0)", label: "a", group: "g\($0)") }
        let subset = FineTuning.subset(examples, max: 20)
        #expect(subset.count == 20 && subset == FineTuning.subset(examples.reversed(), max: 20).sorted { Int($0.text.dropFirst())! < Int($1.text.dropFirst())! })
        #expect(FineTuning.subset(examples, max: 100) == examples)
        let order = FineTuning.permutation(30, seed: 3)
        #expect(Set(order) == Set(0..<30) && order != Array(0..<30))
        #expect(FineTuning.permutation(30, seed: 4) != order, "another seed, another order")
    }

    @Test func scoresAreStoredUnderDownstreamNames() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try ResultsStore(url: dir.appendingPathComponent("results.sqlite"))
        let run = try store.createRun(NewRun(method: "baseline", model: "tiny", corpus: "books", seed: 0, budget: try .parse("1m"),
                                             configJSON: "{}", profileJSON: nil, codeVersion: "test", pluginsJSON: nil))
        #expect(try DownstreamEvaluation.storedScores(runID: run.id, store: store).isEmpty)
        func result(_ task: String, _ metric: TaskMetric, _ scores: [Double]) -> TaskResult {
            TaskResult(task: task, metric: metric, labels: ["a", "b"],
                       epochs: scores.enumerated().map { EpochResult(epoch: $0 + 1, trainLoss: 0.5, scores: ClassificationScores(accuracy: $1, f1: $1 / 2, mcc: $1 / 4)) },
                       majority: ClassificationScores(accuracy: 0.5, f1: 0, mcc: 0), trainExamples: 10, evaluationExamples: 5,
                       evaluationSplit: .dev, sequenceLength: 16, truncated: 0, seconds: 1)
        }
        let report = DownstreamReport(runID: run.id, results: [result("wic_wn", .accuracy, [0.6, 0.8, 0.7]), result("def_match", .f1, [0.4, 0.6])], seconds: 2,
                                      backend: "cpu-openblas")
        #expect(abs(report.average - (0.7 + 0.3) / 2) < 1e-12)          // final epochs: 0.7 and F1 0.6/2
        #expect(abs(report.bestEpochAverage - (0.8 + 0.3) / 2) < 1e-12)  // best epochs: 0.8 and 0.3
        try store.record(runID: run.id, evaluations: DownstreamEvaluation.evaluations(report, bestEpoch: true, step: 7, rstSeconds: 60))
        let names = try store.evaluations(runID: run.id).map(\.name)
        #expect(names.contains("downstream.wic_wn.accuracy") && names.contains("downstream.def_match.f1")
                && names.contains("downstream.wic_wn.majority") && names.contains("downstream_best_epoch.average"))
        let scores = try DownstreamEvaluation.storedScores(runID: run.id, store: store)
        #expect(scores.count == 3 && scores["wic_wn"] == 0.7 && scores["def_match"] == 0.3 && abs(scores["average"]! - 0.5) < 1e-12)
        // A comparison gets the headlines as columns, not the details.
        #expect(names.filter { !DownstreamEvaluation.isDetail($0) }.sorted() == ["downstream.average", "downstream.def_match", "downstream.wic_wn"])
    }
}
