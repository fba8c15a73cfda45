import Corpus
import Foundation
import Models
import TensorCore
import Clock
import Host

/// Times full training steps (forward + backward + gradient clipping + AdamW) of a model preset
/// and compares them with the sgemm ceiling measured at the step's own GEMM shapes.
public struct StepBenchmark {
    /// Figures for one thread count.
    public struct Result: Codable, Sendable {
        public var threads: Int
        public var stepMillisecondsMedian: Double
        public var stepMillisecondsMin: Double
        /// Every timed step, in order (machine noise shows here).
        public var stepMillisecondsSamples: [Double]
        public var forwardMillisecondsMedian: Double
        public var optimizerMillisecondsMedian: Double
        public var tokensPerSecond: Double
        public var modelGFLOPPerStep: Double
        public var modelGFLOPS: Double
        /// GEMM throughput at exactly the step's GEMM shapes (FLOP-weighted), this thread count.
        public var sgemmCeilingGFLOPS: Double
        /// Model FLOP utilisation: achieved model GFLOP/s over the sgemm ceiling.
        public var mfu: Double
        /// Share of the step's time the GEMMs would take at the ceiling.
        public var gemmShareAtCeiling: Double
    }

    public let config: ModelConfig
    public let steps: Int
    public let warmup: Int

    public init(config: ModelConfig, steps: Int = 20, warmup: Int = 2) {
        self.config = config
        self.steps = steps
        self.warmup = warmup
    }

    /// A synthetic batch of the preset's micro-batch with 15 % of positions masked.
    public func syntheticBatch(seed: UInt64 = 1) -> MaskedLMBatch {
        var rng = SplitMix64(seed: seed)
        let b = config.microBatch, s = config.sequenceLength
        let perSequence = max(1, Int((Double(s - 2) * 0.15).rounded()))
        var tokens = [Int32](), positions = [Int32](), labels = [Int32]()
        for row in 0..<b {
            for i in 0..<s { tokens.append(Int32(5 + Int(rng.next() % UInt64(config.vocabularySize - 5)))) }
            let chosen = Set((0..<perSequence).map { _ in 1 + Int(rng.next() % UInt64(s - 2)) })
            for i in chosen.sorted() {
                positions.append(Int32(row * s + i))
                labels.append(tokens[row * s + i])
                tokens[row * s + i] = 4
            }
        }
        return MaskedLMBatch(sequenceLength: s, tokens: tokens, validLengths: Array(repeating: Int32(s), count: b),
                             maskedPositions: positions, labels: labels, exampleIds: (0..<b).map(UInt64.init))
    }

    /// Runs the benchmark at `threads` threads: ``TrainingStep/take()``, the step every run takes,
    /// on the same synthetic batch every step.
    public func run(threads: Int) throws -> Result {
        ComputeThreads.set(threads)
        var settings = RunSettings(budget: try .steps(warmup + steps))
        settings.model = config.name
        let batch = syntheticBatch()
        let model = try MaskedLanguageModel(config: config, seed: 0)
        let training = TrainingStep(
            model: model, optimizer: AdamW(parameterCount: model.parameters.count),
            clock: RSTClock(budget: settings.budget, profile: StandaloneHost.syntheticProfile(config)),
            recipe: try TrainingRecipe(settings: settings, config: config), batches: RepeatedBatch(batch), maxLayers: config.layers)
        var stepTimes: [Double] = [], forwardTimes: [Double] = [], optimizerTimes: [Double] = []
        for i in 0..<(warmup + steps) {
            let start = DispatchTime.now().uptimeNanoseconds
            let result = try training.take()
            let end = DispatchTime.now().uptimeNanoseconds
            if i >= warmup {
                stepTimes.append(Double(end - start) / 1e6)
                optimizerTimes.append(result.optimizerSeconds * 1e3)
            }
        }
        for _ in 0..<max(3, steps / 4) {
            let start = DispatchTime.now().uptimeNanoseconds
            model.forward(batch)
            forwardTimes.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let median = Median.of(stepTimes)
        let flops = config.trainingFLOPs(sequences: batch.sequences, masked: batch.maskedCount)
        let ceiling = GEMMCeiling(config: config, sequences: batch.sequences, masked: batch.maskedCount).measure(threads: threads)
        let achieved = flops / (median / 1e3) / 1e9
        return Result(
            threads: threads, stepMillisecondsMedian: median, stepMillisecondsMin: stepTimes.min() ?? 0,
            stepMillisecondsSamples: stepTimes,
            forwardMillisecondsMedian: Median.of(forwardTimes), optimizerMillisecondsMedian: Median.of(optimizerTimes),
            tokensPerSecond: Double(batch.sequences * config.sequenceLength) / (median / 1e3),
            modelGFLOPPerStep: flops / 1e9, modelGFLOPS: achieved, sgemmCeilingGFLOPS: ceiling.gflops,
            mfu: achieved / ceiling.gflops, gemmShareAtCeiling: ceiling.flops / (ceiling.gflops * 1e9) / (median / 1e3))
    }
}

/// One batch, returned for every micro-batch index (benchmarks time steps, not data).
final class RepeatedBatch: TrainingBatches {
    let examples: [MaskedExample]

    init(_ batch: MaskedLMBatch) {
        let s = batch.sequenceLength
        var cursor = 0
        examples = (0..<batch.sequences).map { row in
            var positions: [Int32] = [], labels: [Int32] = []
            while cursor < batch.maskedCount, Int(batch.maskedPositions[cursor]) / s == row {
                positions.append(batch.maskedPositions[cursor] - Int32(row * s))
                labels.append(batch.labels[cursor])
                cursor += 1
            }
            return MaskedExample(exampleId: batch.exampleIds[row], inputTokens: Array(batch.tokens[row * s ..< (row + 1) * s]),
                                 length: Int(batch.validLengths[row]), maskedPositions: positions, labels: labels)
        }
    }

    var microBatchesAvailable: Int? { nil }
    func examples(microBatch index: Int) -> [MaskedExample] { examples }
}
