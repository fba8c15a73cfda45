import Foundation
import Models
import TensorCore
import Clock
import Host
import Corpus
import Workloads

/// Measures a reference profile on this machine: the cost of every unit of work the host charges,
/// for each number of active layers, with warm-up and medians over repetitions.
///
/// A measurement is repeated `repetitions` times and, while its spread (interquartile range over
/// median; the range with fewer than four samples) stays above ``targetSpread``, up to three times as often; the largest spread left is
/// reported (``largestSpread``, and in the profile's notes) so a noisy profile is visible.
public struct Calibration {
    public let config: ModelConfig
    public let threads: Int
    public let repetitions: Int
    /// The backend measured (the profile records its library).
    public let backend: CPUBackend

    /// The spread at which a measurement stops repeating early.
    public static let targetSpread = 0.03

    public init(config: ModelConfig, threads: Int, repetitions: Int = 5, backend: CPUBackend = .shared) {
        self.config = config
        self.threads = threads
        self.repetitions = repetitions
        self.backend = backend
    }

    /// The largest relative spread (IQR / median) of any measurement of the last ``measure``.
    public private(set) var largestSpread = 0.0

    /// How far a per-layer table may fall with depth before it counts as a dip: 5 %, or twice the
    /// largest spread measured when the machine was noisier than that.
    public var monotonicityTolerance: Double { Swift.max(0.05, 2 * largestSpread) }

    /// Tests: called inside every timed run with (table, depth), to stand in for a stalled machine.
    var stallForTesting: ((_ table: Int, _ depth: Int) -> Void)?

    /// Runs every measurement; `progress` receives the time estimate first, then one line per
    /// measured depth.
    public mutating func measure(name: String, toolchain: String, progress: (String) -> Void = { _ in }) throws -> ReferenceProfile {
        ComputeThreads.set(threads)
        let workload = try Workloads.make(config: config, seed: 0, backend: backend)
        // One full micro-batch of the workload's own synthetic stream.
        let batch = try workload.syntheticBatches(seed: 1, firstID: 0).batch(microBatches: 0..<1)
        let b = Double(batch.sequences), scale = 1 / Float(Swift.max(batch.targetTokens, 1))
        // One full-depth pass prices the whole calibration: each depth d costs about
        // (d + 1) / (L + 1) of it, three measurements of (1 warm-up + repetitions) runs each.
        let probeStart = DispatchTime.now().uptimeNanoseconds
        workload.forwardBackward(batch, activeLayers: nil, targets: .labels, gradientScale: scale)
        let full = Double(DispatchTime.now().uptimeNanoseconds - probeStart) / 1e9
        let estimate = full * Double(config.layers + 2) / 2 * 2.7 * Double(repetitions + 1)
        progress("calibrating \(config.name): \(config.layers + 1) depths × 3 measurements × (1 warm-up + \(repetitions) to \(3 * repetitions) repetitions); "
                 + "about \(Budget.formatReadable(estimate)) to \(Budget.formatReadable(estimate * 2.8)) on this machine")
        largestSpread = 0
        // Per depth, in the order of ReferenceProfile.perLayerTables.
        func measurement(_ table: Int, depth: Int) -> Double {
            let active = Array(0..<depth), stall = stallForTesting.map { f in { f(table, depth) } } ?? {}
            switch table {
            case 0: return time { stall(); workload.forwardBackward(batch, activeLayers: active, targets: .labels, gradientScale: scale) } / b
            case 1: return time { stall(); workload.forward(batch, activeLayers: active) } / b
            default: return time { stall(); workload.forwardBackward(batch, activeLayers: active, targets: .sampledFromModel(seed: 1), gradientScale: scale) } / b
            }
        }
        var tables: [[Double]] = [[], [], []]
        for depth in 0...config.layers {
            for t in 0..<3 { tables[t].append(measurement(t, depth: depth)) }
            progress(String(format: "depth %2d: forward+backward %.3f ms/seq, forward %.3f ms/seq, sampled-label %.3f ms/seq",
                            depth, tables[0][depth] * 1e3, tables[1][depth] * 1e3, tables[2][depth] * 1e3))
        }
        // More layers never cost less, and load only ever adds time: where a depth costs less than
        // the one below it by more than the noise, one of the two was measured during a stall. Both
        // are measured again, keeping the lower median of the two measurements (up to 3 rounds;
        // `ntng calibrate` refuses a profile still not monotone after them).
        var remeasured: [String] = []
        for _ in 0..<3 {
            let dips = ReferenceProfile.dips(in: tables, tolerance: monotonicityTolerance)
            if dips.isEmpty { break }
            for (t, d) in dips {
                for depth in [d - 1, d] { tables[t][depth] = Swift.min(tables[t][depth], measurement(t, depth: depth)) }
            }
            remeasured += dips.map { "\(ReferenceProfile.perLayerTableNames[$0.table]) at \($0.depth - 1)–\($0.depth) layers" }
            progress("measured again where a table fell with depth: " + remeasured.suffix(dips.count).joined(separator: ", "))
        }
        let (forwardBackward, forwardOnly, sampled) = (tables[0], tables[1], tables[2])
        let optimizer = AdamW(parameterCount: workload.parameters.count)
        let perParameter = time { TrainingStep.timedOptimizerUnit(workload.parameters, optimizer) } / Double(workload.parameters.parameterCount)
        progress(String(format: "optimizer: %.3f ns/parameter; largest spread (IQR/median) of any measurement %.1f %%", perParameter * 1e9, largestSpread * 100))
        let key = workload.profileKey
        return ReferenceProfile(
            name: name, preset: key.preset, shape: key.shape, toolchain: toolchain,
            blas: workload.backend.libraryDescription, threads: threads,
            forwardBackwardPerSequence: forwardBackward, forwardOnlyPerSequence: forwardOnly,
            sampledLabelPassPerSequence: sampled, optimizerUpdatePerParameter: perParameter,
            notes: "\(workload.kind) on \(workload.backend.name): median of \(repetitions)–\(3 * repetitions) timed repetitions after 1 warm-up "
                + "(more while the spread exceeded \(Int(Self.targetSpread * 100)) %; largest spread left \(String(format: "%.1f", largestSpread * 100)) %), "
                + "micro-batch \(batch.sequences), \(threads) thread(s)"
                + (remeasured.isEmpty ? "" : "; measured again, keeping the lower median: " + remeasured.joined(separator: ", ")))
    }

    /// Median wall seconds of `body` after one warm-up: `repetitions` runs, continued up to three
    /// times as many while the spread stays above ``targetSpread``.
    private mutating func time(_ body: () -> Void) -> Double {
        body()
        var samples: [Double] = []
        // IQR / median; with fewer than four samples the range / median (never 0 by default).
        func spread() -> Double {
            let s = samples.sorted(), n = s.count
            guard n >= 2 else { return 0 }
            let width = n >= 4 ? s[(3 * n) / 4] - s[n / 4] : s[n - 1] - s[0]
            return width / Swift.max(Median.of(s), 1e-12)
        }
        while samples.count < repetitions || (samples.count < 3 * repetitions && spread() > Self.targetSpread) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        largestSpread = Swift.max(largestSpread, spread())
        return Median.of(samples)
    }
}
