import Corpus
import Foundation
import Models
import Tasks
import TensorCore
import Host

/// nanoT5's fine-tuning recipe for Super-Natural-Instructions (shared/reference/methods.md §11.4),
/// scaled for a CPU where marked: AdamW at a constant 5e-5, no warm-up, no clipping, no weight
/// decay, batch 8, 2 epochs, 100 instances per training task and the first 100 of each test task,
/// the task definition and 2 positive examples as the prompt.
public struct InstructionTuningSettings: Codable, Sendable, Equatable {
    public var learningRate = 5e-5
    /// PyTorch's AdamW defaults, which nanoT5's fine-tuning uses.
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var batchSize = 8
    public var epochs = 2
    /// Source tokens at most, EOS included (nanoT5: 1024; scaled for CPU).
    public var maxSourceLength = 256
    /// Target tokens at most, EOS included, in training and generation (nanoT5: 128; scaled for CPU).
    public var maxTargetLength = 32
    public var trainInstancesPerTask = 100
    public var testInstancesPerTask = 100
    public var positiveExamples = 2
    /// Seed of the training sample, the reference each training instance learns and the order.
    public var seed: UInt64 = 0

    public init() {}
}

/// One test task's scores after fine-tuning, with the copy-the-input baseline on the same instances.
public struct InstructionTaskResult: Codable, Sendable, Equatable {
    public var task: String
    public var instances: Int
    public var rougeL: Double
    public var exactMatch: Double
    /// SNI's "copying instance input" baseline.
    public var copyInputRougeL: Double
}

public struct InstructionTuningReport: Codable, Sendable {
    public var settings: InstructionTuningSettings
    public var trainTasks: [String]
    public var results: [InstructionTaskResult]
    /// Mean training loss per target token of each epoch.
    public var epochLosses: [Double]
    public var trainInstances: Int
    /// Prompts cut at `maxSourceLength` (their instance input, which comes last, is partly lost;
    /// Tk-Instruct truncates the same way) and references cut at `maxTargetLength`, over all
    /// training and test instances.
    public var truncatedSources: Int
    public var truncatedTargets: Int
    public var seconds: Double
    public var rougeL: Double { results.isEmpty ? .nan : results.map(\.rougeL).reduce(0, +) / Double(results.count) }
    public var exactMatch: Double { results.isEmpty ? .nan : results.map(\.exactMatch).reduce(0, +) / Double(results.count) }
    public var copyInputRougeL: Double {
        results.isEmpty ? .nan : results.map(\.copyInputRougeL).reduce(0, +) / Double(results.count)
    }
}

/// Fine-tunes a copy of a pre-trained T5 on an instruction suite's training tasks, generates
/// greedily on its test tasks and scores the outputs as SNI does. Weights only: no plugin code
/// runs and nothing is charged.
public enum InstructionTuning {
    /// An instance tokenised: the prompt (EOS-terminated, truncated) and one reference.
    struct Encoded {
        var source: [Int32]
        var target: [Int32]
    }

    public static func run(suite: InstructionSuite, pretrained: T5Model, tokenizer: Tokenizer, settings s: InstructionTuningSettings,
                           backend: any ComputeBackend = CPUBackend.shared, progress: (String) -> Void = { _ in }) throws -> InstructionTuningReport {
        let start = Date()
        guard !suite.train.isEmpty else { throw TaskError.empty(task: "instruction suite", split: "training-task") }
        var config = pretrained.config
        config.sequenceLength = s.maxSourceLength
        config.encoderDecoder!.targetLength = s.maxTargetLength
        config.microBatch = s.batchSize
        let model = try T5Model(config: config, seed: 0, backend: backend)
        model.parameters.copyValues(from: pretrained.parameters)

        var rng = CorpusRandom(seed: s.seed, key: 0x5e9_5e9)
        var train: [Encoded] = []
        var truncatedSources = 0, truncatedTargets = 0
        for task in suite.train {
            for instance in task.instances {
                let reference = instance.outputs[rng.next(below: instance.outputs.count)]
                train.append(Encoded(source: try source(task, instance, tokenizer: tokenizer, settings: s, truncated: &truncatedSources),
                                     target: try target(reference, tokenizer: tokenizer, limit: s.maxTargetLength, truncated: &truncatedTargets)))
            }
        }
        let adamSettings: AdamW.Settings = {
            var a = AdamW.Settings()
            a.beta1 = s.beta1
            a.beta2 = s.beta2
            a.epsilon = s.epsilon
            a.weightDecay = 0
            return a
        }()
        let optimizer = AdamW(parameterCount: model.parameters.count, settings: adamSettings)
        var epochLosses: [Double] = []
        for epoch in 0..<s.epochs {
            let order = FineTuning.permutation(train.count, seed: CorpusRandom.mix(s.seed &+ UInt64(epoch + 1)))
            var loss = 0.0, tokens = 0
            for first in stride(from: 0, to: train.count, by: s.batchSize) {
                let rows = order[first..<min(first + s.batchSize, train.count)].map { train[$0] }
                let batch = Self.batch(rows, config: config)
                model.parameters.zeroGradients()
                let l = model.forwardBackward(batch)
                loss += l.sum
                tokens += l.targetTokens
                optimizer.update(model.parameters, learningRate: Float(s.learningRate))
            }
            epochLosses.append(loss / Double(max(tokens, 1)))
            progress(String(format: "epoch %d/%d: %d instances of %d training tasks, loss %.4f per target token, %.0f s", epoch + 1,
                            s.epochs, train.count, suite.train.count, epochLosses.last!, Date().timeIntervalSince(start)))
        }

        var results: [InstructionTaskResult] = []
        for task in suite.test {
            let sources = try task.instances.map { try source(task, $0, tokenizer: tokenizer, settings: s, truncated: &truncatedSources) }
            let generated = generate(model, sources: sources, settings: s)
            var texts: [String] = []
            for ids in generated { texts.append(try text(ids, tokenizer: tokenizer)) }
            let scored = GenerationScores(zip(task.instances, texts).map { .init(task: task.name, prediction: $1, references: $0.outputs) })
            let copy = GenerationScores(task.instances.map { .init(task: task.name, prediction: $0.input, references: $0.outputs) })
            results.append(InstructionTaskResult(task: task.name, instances: task.instances.count, rougeL: scored.rougeL,
                                                 exactMatch: scored.exactMatch, copyInputRougeL: copy.rougeL))
            progress(String(format: "%@: ROUGE-L %.2f, exact match %.2f (copying the input: %.2f), %d instances", task.name,
                            scored.rougeL, scored.exactMatch, copy.rougeL, task.instances.count))
        }
        return InstructionTuningReport(settings: s, trainTasks: suite.train.map(\.name), results: results, epochLosses: epochLosses,
                                       trainInstances: train.count, truncatedSources: truncatedSources,
                                       truncatedTargets: truncatedTargets, seconds: Date().timeIntervalSince(start))
    }

    /// The prompt's ids: Tk-Instruct's template, positive examples kept while the prompt fits,
    /// truncated to `maxSourceLength − 1`, then EOS (T5 ends every input with it).
    static func source(_ task: InstructionTask, _ instance: InstructionTask.Instance, tokenizer: Tokenizer,
                       settings s: InstructionTuningSettings, truncated: inout Int) throws -> [Int32] {
        let text = InstructionPrompt.source(task: task, instance: instance, examples: s.positiveExamples) { candidate in
            ((try? tokenizer.encode(candidate).count) ?? .max) < s.maxSourceLength
        }
        let ids = try tokenizer.encode(text)
        if ids.count > s.maxSourceLength - 1 { truncated += 1 }
        return Array(ids.prefix(s.maxSourceLength - 1)) + [SpecialTokens.sep]
    }

    static func target(_ text: String, tokenizer: Tokenizer, limit: Int, truncated: inout Int) throws -> [Int32] {
        let ids = try tokenizer.encode(text)
        if ids.count > limit - 1 { truncated += 1 }
        return Array(ids.prefix(limit - 1)) + [SpecialTokens.sep]
    }

    /// Rows padded to the model's lengths: the decoder reads the target shifted right behind the
    /// start id ([PAD], as T5's decoder start), and padded positions are out of attention and loss.
    static func batch(_ rows: [Encoded], config c: ModelConfig) -> SpanCorruptionBatch {
        let s = c.sequenceLength, t = c.encoderDecoder!.targetLength
        var inputs = [Int32](), decoderInputs = [Int32](), targets = [Int32]()
        for row in rows {
            inputs += row.source + [Int32](repeating: SpecialTokens.pad, count: s - row.source.count)
            let shifted = [SpecialTokens.pad] + row.target.dropLast()
            decoderInputs += shifted + [Int32](repeating: SpecialTokens.pad, count: t - shifted.count)
            targets += row.target + [Int32](repeating: SpecialTokens.pad, count: t - row.target.count)
        }
        var batch = SpanCorruptionBatch(inputLength: s, targetLength: t, inputs: inputs, decoderInputs: decoderInputs, targets: targets,
                                        exampleIds: rows.indices.map { UInt64($0) })
        batch.inputLengths = rows.map { Int32($0.source.count) }
        batch.targetLengths = rows.map { Int32($0.target.count) }
        return batch
    }

    static func generate(_ model: T5Model, sources: [[Int32]], settings s: InstructionTuningSettings) -> [[Int32]] {
        let length = model.config.sequenceLength
        var inputs = [Int32]()
        for ids in sources { inputs += ids + [Int32](repeating: SpecialTokens.pad, count: length - ids.count) }
        return model.generateGreedy(inputs: inputs, rows: sources.count, inputLengths: sources.map { Int32($0.count) },
                                    settings: GreedyDecoding(maxLength: s.maxTargetLength, startToken: SpecialTokens.pad,
                                                             endToken: SpecialTokens.sep))
    }

    /// Generated ids as text: special ids and sentinels (ids past the tokenizer's) are dropped.
    static func text(_ ids: [Int32], tokenizer: Tokenizer) throws -> String {
        try tokenizer.decode(ids.filter { $0 >= SpecialTokens.count && Int($0) < tokenizer.vocabSize })
    }
}
