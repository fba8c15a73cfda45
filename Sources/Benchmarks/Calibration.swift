import Foundation
import Models
import TensorCore
import Clock
import Host
import Corpus
import Workloads

/// Measures a reference profile on this machine: the cost of every unit of work the host charges,
/// for each number of active layers, with warm-up and medians over repetitions.
public struct Calibration {
    public let config: ModelConfig
    public let threads: Int
    public let repetitions: Int
    /// The backend measured (the profile records its library).
    public let backend: CPUBackend

    public init(config: ModelConfig, threads: Int, repetitions: Int = 5, backend: CPUBackend = .shared) {
        self.config = config
        self.threads = threads
        self.repetitions = repetitions
        self.backend = backend
    }

    /// Runs every measurement; `progress` receives one line per measured depth.
    public func measure(name: String, toolchain: String, progress: (String) -> Void = { _ in }) throws -> ReferenceProfile {
        ComputeThreads.set(threads)
        let workload = try Workloads.make(config: config, seed: 0, backend: backend)
        // One full micro-batch of the workload's own synthetic stream.
        let batch = try workload.syntheticBatches(seed: 1, firstID: 0).batch(microBatches: 0..<1)
        let b = Double(batch.sequences), scale = 1 / Float(Swift.max(batch.targetTokens, 1))
        var forwardBackward: [Double] = [], forwardOnly: [Double] = [], sampled: [Double] = []
        for depth in 0...config.layers {
            let active = Array(0..<depth)
            forwardBackward.append(time { workload.forwardBackward(batch, activeLayers: active, targets: .labels, gradientScale: scale) } / b)
            forwardOnly.append(time { workload.forward(batch, activeLayers: active) } / b)
            sampled.append(time { workload.forwardBackward(batch, activeLayers: active, targets: .sampledFromModel(seed: 1), gradientScale: scale) } / b)
            progress(String(format: "depth %2d: forward+backward %.3f ms/seq, forward %.3f ms/seq, sampled-label %.3f ms/seq",
                            depth, forwardBackward[depth] * 1e3, forwardOnly[depth] * 1e3, sampled[depth] * 1e3))
        }
        let optimizer = AdamW(parameterCount: workload.parameters.count)
        let perParameter = time { TrainingStep.timedOptimizerUnit(workload.parameters, optimizer) } / Double(workload.parameters.parameterCount)
        progress(String(format: "optimizer: %.3f ns/parameter", perParameter * 1e9))
        let key = workload.profileKey
        return ReferenceProfile(
            name: name, preset: key.preset, shape: key.shape, toolchain: toolchain,
            blas: workload.backend.libraryDescription, threads: threads,
            forwardBackwardPerSequence: forwardBackward, forwardOnlyPerSequence: forwardOnly,
            sampledLabelPassPerSequence: sampled, optimizerUpdatePerParameter: perParameter,
            notes: "\(workload.kind) on \(workload.backend.name): median of \(repetitions) timed repetitions after 1 warm-up, micro-batch \(batch.sequences), \(threads) thread(s)")
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
