import Corpus
import Foundation
import Models
import Testing
import TestSupport
import TensorCore
@testable import Tasks
@testable import Evaluation

/// Instruction tuning end to end with `t5-tiny`: fine-tuned on one task of a fixture suite, it
/// answers the held-out instances far better than copying their input.
@Suite(.serialized) struct InstructionTuningTests {
    /// "yes" exactly when the sentence contains "river" (EvaluationFineTuningTests' keyword task),
    /// in SNI's format.
    static func keywordTask(_ name: String, instances: Int, seed: UInt64) -> InstructionTask {
        var rng = SplitMix64(seed: seed)
        let items = (0..<instances).map { k -> InstructionTask.Instance in
            let yes = k % 2 == 0
            return .init(id: "\(name)-\(k)", input: EvaluationFineTuningTests.sentence(&rng, keyword: yes), outputs: [yes ? "yes" : "no"])
        }
        return InstructionTask(name: name, definition: ["Answer yes if the sentence names the hidden word, else no."],
                               positiveExamples: [.init(input: "the river was wide", output: "yes"), .init(input: "a long winter", output: "no")],
                               instances: items)
    }

    @Test func aFineTunedT5TinyBeatsCopyingTheInput() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizer = try EvaluationFineTuningTests.tokenizer(in: dir)
        var config = try ModelConfig.preset("t5-tiny")
        config.vocabularySize = tokenizer.vocabSize
        config.encoderDecoder!.sentinels = 4
        let suite = InstructionSuite(train: [Self.keywordTask("keyword_train", instances: 400, seed: 1)],
                                     test: [Self.keywordTask("keyword_test", instances: 100, seed: 2)])
        var settings = InstructionTuningSettings()
        settings.learningRate = 3e-3  // a 16-wide random T5 needs far more than nanoT5's 5e-5, and more epochs
        settings.epochs = 8
        settings.maxSourceLength = 128
        settings.maxTargetLength = 8  // "yes" is four pieces of this 150-id tokenizer
        // No worked examples: one would put the keyword into every prompt, outside the input.
        settings.positiveExamples = 0
        let pretrained = try T5Model(config: config, seed: 1)
        let before = Array(UnsafeBufferPointer(start: pretrained.parameters.values, count: pretrained.parameters.count))
        var lines: [String] = []
        let report = try InstructionTuning.run(suite: suite, pretrained: pretrained, tokenizer: tokenizer, settings: settings) { lines.append($0) }
        #expect(lines.count == settings.epochs + 1 && report.trainInstances == 400 && report.results.map(\.instances) == [100])
        #expect(report.truncatedSources == 0 && report.truncatedTargets == 0)
        let result = report.results[0]
        // A constant answer scores 50; copying the input scores only where a sentence has "no".
        print("t5-tiny instruction tuning: \(result)")
        #expect(result.copyInputRougeL < 20, "\(result)")
        #expect(result.rougeL > result.copyInputRougeL + 60 && result.rougeL > 75, "\(result), losses \(report.epochLosses)")
        #expect(result.exactMatch == result.rougeL)  // one-word answers: ROUGE-L is 0 or 100
        #expect(report.epochLosses.last! < report.epochLosses.first!)
        // The pre-trained model is only read, and the same settings give the same scores.
        #expect(Array(UnsafeBufferPointer(start: pretrained.parameters.values, count: pretrained.parameters.count)) == before)
        let again = try InstructionTuning.run(suite: suite, pretrained: pretrained, tokenizer: tokenizer, settings: settings)
        #expect(again.results == report.results && again.epochLosses == report.epochLosses)
    }
}
