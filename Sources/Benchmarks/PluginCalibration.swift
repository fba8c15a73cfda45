import Foundation
import Clock
import Host
import Corpus
import Models
import TensorCore
import PluginHost

/// Measures a plugin's own `optimizer_step` cost on this machine, for `ntng calibrate --plugin X`.
///
/// Run on the reference machine, the result goes into the profile's
/// `pluginCostPerParameter[<plugin id>]`, after which every run charges the plugin's update
/// deterministically (``PluginCharging``). The plugin runs inside a ``StandaloneHost`` on the
/// profile's preset with real gradients; time spent in host services (e.g. Sophia's sampled-label
/// pass, charged separately as curvature) is excluded.
public enum PluginCalibration {
    public struct Measurement: Sendable, Equatable, Codable {
        public var pluginID: String
        public var preset: String
        public var parameters: Int
        /// The plugin's own seconds per parameter, averaged over every timed step: a plugin that
        /// does heavy work every k-th update is priced at its mean, not at its light steps.
        public var secondsPerParameter: Double
        public var timedSteps: Int
    }

    /// Times `steps` optimizer steps (after `warmup` untimed ones) of the plugin at `path`; 60
    /// steps cover any periodic behaviour of up to 60 updates (Sophia refreshes its Hessian every 10).
    public static func measureOptimizerStep(libraryPath path: String, settings: [String: String] = [:],
                                            preset: String, steps: Int = 60, warmup: Int = 2) throws -> Measurement {
        let library = try PluginLibrary.open(path: path)
        guard library.descriptor.hooks.contains(.optimizerStep) else {
            throw PluginError(.check, plugin: library.descriptor.id, hook: "calibrate",
                              "has no optimizer_step; only a plugin optimizer's own work needs calibrating")
        }
        let host = try StandaloneHost(preset: preset, steps: steps + warmup, microBatches: 1)
        let stack = try PluginStack(libraries: [library], settings: settings, services: host)
        host.plugins = stack
        try stack.runStart(in: host.runContext())
        var samples: [Double] = []
        let plugin = stack.plugins[0]
        for i in 0..<(steps + warmup) {
            let before = plugin.callStats[.optimizerStep]?.selfSeconds ?? 0
            try host.step(stack)
            let spent = (plugin.callStats[.optimizerStep]?.selfSeconds ?? 0) - before
            if i >= warmup { samples.append(spent / Double(host.parameters.parameterCount)) }
        }
        try stack.runEnd(in: host.runContext())
        return Measurement(pluginID: library.descriptor.id, preset: preset, parameters: host.parameters.parameterCount,
                           secondsPerParameter: samples.reduce(0, +) / Double(Swift.max(samples.count, 1)), timedSteps: samples.count)
    }
}
