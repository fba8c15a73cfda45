import Corpus
import Foundation
import Models
import TensorCore
import Clock
import Host
import Workloads

/// Times full training steps (forward + backward + gradient clipping + AdamW) of a model preset
/// and compares them with the sgemm ceiling measured at the step's own GEMM shapes.
public struct StepBenchmark {
    /// Figures for one thread count.
    public struct Result: Codable, Sendable {
        public var threads: Int
        /// The compute backend (`cpu-openblas`, `cpu-onednn`).
        public var backend: String
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
    /// The backend the step runs on (its matrix library also prices the ceiling).
    public let backend: CPUBackend

    public init(config: ModelConfig, steps: Int = 20, warmup: Int = 2, backend: CPUBackend = .shared) {
        self.config = config
        self.steps = steps
        self.warmup = warmup
        self.backend = backend
    }

    /// A synthetic micro-batch of the preset: random tokens, 15 % of positions masked.
    public func syntheticExamples(seed: UInt64 = 1) -> [MaskedExample] {
        var rng = SplitMix64(seed: seed)
        let s = config.sequenceLength
        let perSequence = max(1, Int((Double(s - 2) * 0.15).rounded()))
        return (0..<config.microBatch).map { row in
            var tokens = (0..<s).map { _ in Int32(5 + Int(rng.next() % UInt64(config.vocabularySize - 5))) }
            let positions = Set((0..<perSequence).map { _ in 1 + Int(rng.next() % UInt64(s - 2)) }).sorted()
            let labels = positions.map { tokens[$0] }
            for i in positions { tokens[i] = 4 }
            return MaskedExample(exampleId: UInt64(row), inputTokens: tokens, length: s,
                                 maskedPositions: positions.map(Int32.init), labels: labels)
        }
    }

    /// ``syntheticExamples(seed:)`` as the model's batch layout.
    public func syntheticBatch(seed: UInt64 = 1) -> MaskedLMBatch {
        MaskedLMBatch(examples: syntheticExamples(seed: seed), sequenceLength: config.sequenceLength)
    }

    /// Runs the benchmark at `threads` threads: ``TrainingStep/take()``, the step every run takes,
    /// on the same synthetic batch every step.
    public func run(threads: Int) throws -> Result {
        ComputeThreads.set(threads)
        var settings = RunSettings(budget: try .steps(warmup + steps))
        settings.model = config.name
        let workload = try Workloads.make(config: config, seed: 0, backend: backend)
        // The encoder's random masked batch (its figures stay comparable with earlier ones), or
        // the workload's own synthetic batch for the others.
        let batches: any TrainingBatches = workload is MaskedLMWorkload
            ? RepeatedBatch(syntheticExamples(), sequenceLength: config.sequenceLength)
            : RepeatedTrainingBatch(try workload.syntheticBatches(seed: 1, firstID: 0).batch(microBatches: 0..<1))
        let batch = try batches.batch(microBatches: 0..<1)
        let training = TrainingStep(
            workload: workload, optimizer: AdamW(parameterCount: workload.parameters.count),
            clock: RSTClock(budget: settings.budget, profile: StandaloneHost.syntheticProfile(config)),
            recipe: try TrainingRecipe(settings: settings, config: config),
            batches: batches)
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
            workload.forward(batch, activeLayers: nil)
            forwardTimes.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let median = Median.of(stepTimes)
        let flops = config.trainingFLOPs(sequences: batch.sequences, masked: batch.targetTokens)
        let ceiling = GEMMCeiling(config: config, sequences: batch.sequences, masked: batch.targetTokens)
            .measure(threads: threads, library: backend.library, precision: backend.precision)
        let achieved = flops / (median / 1e3) / 1e9
        return Result(
            threads: threads, backend: backend.name, stepMillisecondsMedian: median, stepMillisecondsMin: stepTimes.min() ?? 0,
            stepMillisecondsSamples: stepTimes,
            forwardMillisecondsMedian: Median.of(forwardTimes), optimizerMillisecondsMedian: Median.of(optimizerTimes),
            tokensPerSecond: Double(batch.sequences * config.sequenceLength) / (median / 1e3),
            modelGFLOPPerStep: flops / 1e9, modelGFLOPS: achieved, sgemmCeilingGFLOPS: ceiling.gflops,
            mfu: achieved / ceiling.gflops, gemmShareAtCeiling: ceiling.flops / (ceiling.gflops * 1e9) / (median / 1e3))
    }
}

/// One batch, returned for every micro-batch index (benchmarks time steps, not data).
/// One batch, every step.
final class RepeatedTrainingBatch: TrainingBatches {
    let batch: any TrainingBatch
    init(_ batch: any TrainingBatch) { self.batch = batch }
    var microBatchesAvailable: Int? { nil }
    func batch(microBatches range: Range<Int>) throws -> any TrainingBatch { batch }
}

final class RepeatedBatch: MaskedExampleBatches {
    let examples: [MaskedExample]
    let sequenceLength: Int

    init(_ examples: [MaskedExample], sequenceLength: Int) {
        self.examples = examples
        self.sequenceLength = sequenceLength
    }

    var microBatchesAvailable: Int? { nil }
    func examples(microBatch index: Int) -> [MaskedExample] { examples }
}
