import Corpus
import Tasks
import Foundation
import Models
import TensorCore
import Clock
import Records
import Storage
import Host

/// The fine-tuning recipe, the same for every method (the paper's GLUE protocol scaled to CPU time, docs/evaluation.md):
/// AdamW β = (0.9, 0.98), ε = 1e-6, no weight decay, batch 16, no clipping, a linear warm-up over
/// the first 10 % of *this task's* steps then a cosine to zero (the seed code carried the first
/// task's absolute warm-up over to later tasks, a bug), a fixed number of epochs.
/// The learning rate is 1e-4 rather than the seed's 4e-5: a task gets only ~375 steps here and the
/// encoders are narrow, and at 4e-5 the head hardly leaves the majority class (docs/evaluation.md).
public struct FineTuningSettings: Codable, Sendable, Equatable {
    public var learningRate = 1e-4
    public var beta1: Float = 0.9
    public var beta2: Float = 0.98
    public var epsilon: Float = 1e-6
    public var weightDecay: Float = 0
    public var batchSize = 16
    public var epochs = 3
    /// Warm-up as a fraction of the task's total steps.
    public var warmupFraction = 0.1
    /// Token cap per example ([CLS] and [SEP]s included); a task's sequence length is its
    /// 98th-percentile training example rounded up to 8, at most this.
    public var maxLength = 64
    /// Training examples per task at most (a fixed pseudo-random subset beyond that).
    public var maxTrainExamples = 2000
    /// Evaluation examples per task at most.
    public var maxEvaluationExamples = 1000
    /// Seed of the head's initialisation and the shuffling; mixed with the task name.
    public var seed: UInt64 = 0
    /// The split scores are reported on (dev; test only on request).
    public var evaluationSplit: TaskSplit = .dev

    public init() {}
}

/// Scores after one epoch.
public struct EpochResult: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var scores: ClassificationScores
}

/// The outcome of fine-tuning on one task.
public struct TaskResult: Codable, Sendable, Equatable {
    public var task: String
    public var metric: TaskMetric
    public var labels: [String]
    public var epochs: [EpochResult]
    /// Always predicting the most frequent training label, on the same evaluation examples.
    public var majority: ClassificationScores
    public var trainExamples: Int
    public var evaluationExamples: Int
    public var evaluationSplit: TaskSplit
    public var sequenceLength: Int
    /// Examples cut to `maxLength` (train + evaluation).
    public var truncated: Int
    public var seconds: Double

    /// The last epoch's scores: what ntng reports by default.
    public var final: ClassificationScores { epochs.last!.scores }
    /// The epoch with the best headline score (optimistic: chosen on the evaluation split itself).
    public var bestEpoch: EpochResult { epochs.max { $0.scores.value(metric) < $1.scores.value(metric) }! }
    public var score: Double { final.value(metric) }
    public var majorityScore: Double { majority.value(metric) }
}

/// Fine-tunes a copy of a pre-trained encoder with a `SequenceClassifier` head on one task.
/// Runs no plugin code and charges no budget: it only reads the encoder's weights.
public enum FineTuning {
    /// Fine-tunes on `backend` (OpenBLAS fp32 unless given: `ntng eval` passes the run's own).
    public static func run(task: LoadedTask, pretrained: MaskedLanguageModel, tokenizer: Tokenizer,
                           settings s: FineTuningSettings, backend: any ComputeBackend = CPUBackend.shared,
                           progress: (String) -> Void = { _ in }) throws -> TaskResult {
        let start = Date()
        let info = task.info
        guard info.labels.count >= 2 else { throw TaskError.unsupported(task: info.name, reason: "it has fewer than two labels") }
        let trainSet = subset(task.examples(.train), max: s.maxTrainExamples)
        let evaluationSet = subset(task.examples(s.evaluationSplit), max: s.maxEvaluationExamples)
        guard !trainSet.isEmpty else { throw TaskError.empty(task: info.name, split: "train") }
        guard !evaluationSet.isEmpty else { throw TaskError.empty(task: info.name, split: s.evaluationSplit.rawValue) }
        // The task's sequence length: its training examples' 98th-percentile length, rounded up to
        // 8, at most maxLength. Cost grows with the length, and a few long outliers (fortunes,
        // verses with long notes) would otherwise set it for every batch; they are truncated.
        let length = sequenceLength(try EncodedExamples(trainSet, task: info.name, labels: info.labels, tokenizer: tokenizer,
                                                        maxLength: s.maxLength), cap: s.maxLength)
        let train = try EncodedExamples(trainSet, task: info.name, labels: info.labels, tokenizer: tokenizer, maxLength: length)
        let evaluation = try EncodedExamples(evaluationSet, task: info.name, labels: info.labels, tokenizer: tokenizer, maxLength: length)

        // A model laid out for this length and the fine-tuning batch, holding a copy of the
        // pre-trained weights (positions are sinusoidal, so a shorter length needs no new weights).
        var config = pretrained.config
        config.sequenceLength = length
        config.microBatch = s.batchSize
        let encoder = try MaskedLanguageModel(config: config, seed: 0, backend: backend)
        encoder.parameters.copyValues(from: pretrained.parameters)
        let taskSeed = SplitMix64.mix(s.seed ^ FNV1a64.hash(info.name))
        let classifier = SequenceClassifier(encoder: encoder, classes: info.labels.count, seed: taskSeed)
        var adam = AdamW.Settings()
        adam.beta1 = s.beta1
        adam.beta2 = s.beta2
        adam.epsilon = s.epsilon
        adam.weightDecay = s.weightDecay
        let encoderOptimizer = AdamW(parameterCount: encoder.parameters.count, settings: adam)
        let headOptimizer = AdamW(parameterCount: classifier.head.count, settings: adam)

        let stepsPerEpoch = (train.count + s.batchSize - 1) / s.batchSize
        let totalSteps = stepsPerEpoch * s.epochs
        let schedule = LearningRateSchedule.cosineToMinimum(peak: s.learningRate, warmupFraction: s.warmupFraction,
                                                            initialFactor: 0, minimumFactor: 0)
        var batch = MaskedLMBatch(sequenceLength: config.sequenceLength, tokens: [], validLengths: [], maskedPositions: [],
                                  labels: [], exampleIds: [])
        var batchLabels = [Int32]()
        let positive = info.positiveClass
        let majority = ClassificationMetrics.majorityBaseline(trainLabels: train.labels, evaluationLabels: evaluation.labels,
                                                              classes: info.labels.count, positive: positive)
        var epochs = [EpochResult]()
        var step = 0
        for epoch in 0..<s.epochs {
            let order = permutation(train.count, seed: SplitMix64.mix(taskSeed &+ UInt64(epoch + 1)))
            var lossSum = 0.0
            for first in stride(from: 0, to: train.count, by: s.batchSize) {
                let rows = Array(order[first..<min(first + s.batchSize, train.count)])
                fill(&batch, labels: &batchLabels, rows: rows, from: train)
                encoder.parameters.zeroGradients()
                classifier.head.zeroGradients()
                lossSum += classifier.forwardBackward(batch, labels: batchLabels).sum
                let lr = Float(schedule.learningRate(atFraction: Double(step) / Double(totalSteps)))
                encoderOptimizer.update(encoder.parameters, learningRate: lr)
                headOptimizer.update(classifier.head, learningRate: lr)
                step += 1
            }
            let predictions = predict(classifier, evaluation, batch: &batch, labels: &batchLabels, batchSize: s.batchSize)
            let scores = ClassificationMetrics.scores(predictions: predictions, labels: evaluation.labels,
                                                      classes: info.labels.count, positive: positive)
            epochs.append(EpochResult(epoch: epoch + 1, trainLoss: lossSum / Double(train.count), scores: scores))
            progress(String(format: "%@ epoch %d/%d: train loss %.4f, %@ %@ %.4f (majority %.4f), %.0f s", info.name,
                            epoch + 1, s.epochs, lossSum / Double(train.count), s.evaluationSplit.rawValue,
                            info.metric.rawValue, scores.value(info.metric), majority.scores.value(info.metric),
                            Date().timeIntervalSince(start)))
        }
        return TaskResult(task: info.name, metric: info.metric, labels: info.labels, epochs: epochs, majority: majority.scores,
                          trainExamples: train.count, evaluationExamples: evaluation.count, evaluationSplit: s.evaluationSplit,
                          sequenceLength: config.sequenceLength, truncated: train.truncated + evaluation.truncated,
                          seconds: Date().timeIntervalSince(start))
    }

    /// The 98th-percentile length of `examples`, rounded up to a multiple of 8, within 8...cap.
    static func sequenceLength(_ examples: EncodedExamples, cap: Int) -> Int {
        let lengths = examples.sequences.map(\.count).sorted()
        guard !lengths.isEmpty else { return min(cap, 8) }
        let p98 = lengths[min(lengths.count - 1, (lengths.count * 98) / 100)]
        return min(cap, max(8, (p98 + 7) / 8 * 8))
    }

    /// At most `max` examples: all of them, or a fixed pseudo-random subset chosen by a stable
    /// hash of group and text (the same on every machine and for every method). The key is salted:
    /// `data prepare` capped classes by the unsalted hash, so the same order here would keep only
    /// the capped classes' lowest hashes and skew the subset towards the large classes.
    static func subset(_ examples: [TaskExample], max: Int) -> [TaskExample] {
        guard examples.count > max else { return examples }
        return examples.indices
            .map { (TaskSplitRule.stableHash("subset\u{1F}" + examples[$0].group + "\u{1F}" + examples[$0].text + "\u{1F}" + (examples[$0].textB ?? "")), $0) }
            .sorted { $0 < $1 }
            .prefix(max)
            .map { $0.1 }
            .sorted()
            .map { examples[$0] }
    }

    /// A Fisher–Yates permutation of 0..<n driven by SplitMix64(seed).
    static func permutation(_ n: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<n)
        var rng = SplitMix64(seed: seed)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        return order
    }

    /// Writes examples `rows` into the reused batch: tokens padded with [PAD] at the end.
    static func fill(_ batch: inout MaskedLMBatch, labels: inout [Int32], rows: [Int], from data: EncodedExamples) {
        let s = batch.sequenceLength
        batch.tokens.removeAll(keepingCapacity: true)
        batch.validLengths.removeAll(keepingCapacity: true)
        batch.exampleIds.removeAll(keepingCapacity: true)
        labels.removeAll(keepingCapacity: true)
        for r in rows {
            let ids = data.sequences[r]
            let n = min(ids.count, s)
            batch.tokens.append(contentsOf: ids[0..<n])
            batch.tokens.append(contentsOf: repeatElement(SpecialTokens.pad, count: s - n))
            batch.validLengths.append(Int32(n))
            batch.exampleIds.append(UInt64(r))
            labels.append(data.labels[r])
        }
    }

    /// Arg-max predictions for every example, in order, forward passes only.
    static func predict(_ classifier: SequenceClassifier, _ data: EncodedExamples, batch: inout MaskedLMBatch,
                        labels: inout [Int32], batchSize: Int) -> [Int32] {
        var predictions = [Int32]()
        predictions.reserveCapacity(data.count)
        for first in stride(from: 0, to: data.count, by: batchSize) {
            fill(&batch, labels: &labels, rows: Array(first..<min(first + batchSize, data.count)), from: data)
            classifier.forward(batch, labels: labels)
            predictions.append(contentsOf: classifier.predictions)
        }
        return predictions
    }
}
