import Foundation
import Models
import TensorCore
import Clock
import Host
import Corpus

/// Measures a reference profile on this machine: the cost of every unit of work the host charges,
/// for each number of active layers, with warm-up and medians over repetitions.
public struct Calibration {
    public let config: ModelConfig
    public let threads: Int
    public let repetitions: Int

    public init(config: ModelConfig, threads: Int, repetitions: Int = 5) {
        self.config = config
        self.threads = threads
        self.repetitions = repetitions
    }

    /// Runs every measurement; `progress` receives one line per measured depth.
    public func measure(name: String, toolchain: String, progress: (String) -> Void = { _ in }) throws -> ReferenceProfile {
        ComputeThreads.set(threads)
        let model = try MaskedLanguageModel(config: config, seed: 0)
        let batch = StepBenchmark(config: config).syntheticBatch()
        let b = Double(batch.sequences)
        var forwardBackward: [Double] = [], forwardOnly: [Double] = [], sampled: [Double] = []
        for depth in 0...config.layers {
            let active = Array(0..<depth)
            forwardBackward.append(time { model.forwardBackward(batch, activeLayers: active) } / b)
            forwardOnly.append(time { model.forward(batch, activeLayers: active) } / b)
            sampled.append(time { model.forwardBackward(batch, activeLayers: active, targets: .sampledFromModel(seed: 1)) } / b)
            progress(String(format: "depth %2d: forward+backward %.3f ms/seq, forward %.3f ms/seq, sampled-label %.3f ms/seq",
                            depth, forwardBackward[depth] * 1e3, forwardOnly[depth] * 1e3, sampled[depth] * 1e3))
        }
        let optimizer = AdamW(parameterCount: model.parameters.count)
        let perParameter = time { TrainingStep.timedOptimizerUnit(model.parameters, optimizer) } / Double(model.parameters.parameterCount)
        progress(String(format: "optimizer: %.3f ns/parameter", perParameter * 1e9))
        return ReferenceProfile(
            name: name, preset: config.name, shape: ProfileCatalog.shape(of: config), toolchain: toolchain,
            blas: GEMM.libraryDescription, threads: threads,
            forwardBackwardPerSequence: forwardBackward, forwardOnlyPerSequence: forwardOnly,
            sampledLabelPassPerSequence: sampled, optimizerUpdatePerParameter: perParameter,
            notes: "median of \(repetitions) timed repetitions after 1 warm-up, micro-batch \(batch.sequences), \(threads) thread(s)")
    }

    /// Median wall seconds of `body` over `repetitions` runs after one warm-up.
    private func time(_ body: () -> Void) -> Double {
        body()
        var samples: [Double] = []
        for _ in 0..<repetitions {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Median.of(samples)
    }
}
