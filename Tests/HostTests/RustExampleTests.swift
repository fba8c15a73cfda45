import Foundation
import Testing
import TestSupport

import Host
import PluginHost

/// The Rust example plugin (an EMA of the weights through after_optimizer_step and the
/// evaluation-weights extension), loaded through the real ABI when scripts/rust-example built it.
@Suite(.enabled(if: PluginPaths.rustExampleBuilt, "scripts/rust-example has not built the Rust example (no cargo)"))
struct RustExampleTests {
    /// Stacked on Lion, it runs after Lion's update every step, and evaluation sees its average,
    /// which lags the weights.
    @Test func composesWithLionAndEvaluatesAtTheAverage() throws {
        let h = try StandaloneHost(steps: 5, seed: 2, settings: ["warmup=0"])
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: methodPluginPath("Lion")),
                                                try PluginLibrary.open(path: PluginPaths.rustExample)],
                                    settings: ["decay": "0.5"], services: h)
        try h.train(stack)
        #expect(stack.plugins[1].callStats[.afterOptimizerStep]?.calls == 5)
        let p = h.workload.parameters
        let weights = Array(UnsafeBufferPointer(start: p.values, count: p.count))
        let average = try #require(try h.evaluationWeights())
        #expect(average != weights)
        let ema = try #require(stack.plugins[1].stateTensors.values(named: "ema"))
        #expect(average == ema, "every tensor had a gradient, so every tensor is seeded")
    }
}
