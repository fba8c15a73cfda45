import Foundation
import Clock
import Host
import Corpus
import Models
import TensorCore
import PluginHost

/// Measures a plugin's own `optimizer_step` and `after_optimizer_step` costs on this machine, for
/// `ntng calibrate --plugin X`.
///
/// Run on the reference machine, the results go into the profile's
/// `pluginCostPerParameter[<plugin id>]` and `[<plugin id>/after_optimizer_step]`
/// (``PluginCharging/afterOptimizerKey(_:)``), after which every run charges the plugin's work
/// deterministically (``PluginCharging``). The plugin runs inside a ``StandaloneHost`` on the
/// profile's preset with real gradients; time spent in host services (e.g. Sophia's sampled-label
/// pass, charged separately as curvature) is excluded.
public enum PluginCalibration {
    public struct Measurement: Sendable, Equatable, Codable {
        public var pluginID: String
        /// The hook measured (`optimizer_step` or `after_optimizer_step`).
        public var hook: String
        /// The profile key its cost goes under.
        public var profileKey: String
        public var preset: String
        public var parameters: Int
        /// The plugin's own seconds per parameter, averaged over every timed step: a plugin that
        /// does heavy work every k-th update is priced at its mean, not at its light steps.
        public var secondsPerParameter: Double
        public var timedSteps: Int
    }

    /// The plugin's `optimizer_step` cost (``measure(libraryPath:settings:preset:steps:warmup:)``).
    public static func measureOptimizerStep(libraryPath path: String, settings: [String: String] = [:],
                                            preset: String, steps: Int = 60, warmup: Int = 2) throws -> Measurement {
        let library = try PluginLibrary.open(path: path)
        guard library.descriptor.hooks.contains(.optimizerStep) else {
            throw PluginError(.check, plugin: library.descriptor.id, hook: "calibrate",
                              "has no optimizer_step; only a plugin optimizer's own work needs calibrating")
        }
        return try measure(libraryPath: path, settings: settings, preset: preset, steps: steps, warmup: warmup)
            .first { $0.hook == PluginHook.optimizerStep.rawValue }!
    }

    /// Times `steps` steps (after `warmup` untimed ones) of the plugin at `path`, one measurement
    /// per hook whose own work is charged; 60 steps cover any periodic behaviour of up to 60
    /// updates (Sophia refreshes its Hessian every 10). Without such a hook it is an error.
    public static func measure(libraryPath path: String, settings: [String: String] = [:],
                               preset: String, steps: Int = 60, warmup: Int = 2) throws -> [Measurement] {
        let library = try PluginLibrary.open(path: path)
        let hooks = [PluginHook.optimizerStep, .afterOptimizerStep].filter(library.descriptor.hooks.contains)
        guard !hooks.isEmpty else {
            throw PluginError(.check, plugin: library.descriptor.id, hook: "calibrate",
                              "has no optimizer_step or after_optimizer_step; only a plugin's own arithmetic in those needs calibrating")
        }
        let host = try StandaloneHost(preset: preset, steps: steps + warmup, microBatches: 1)
        let stack = try PluginStack(libraries: [library], settings: settings, services: host)
        host.plugins = stack
        try stack.runStart(in: host.runContext())
        var samples: [PluginHook: [Double]] = [:]
        let plugin = stack.plugins[0]
        for i in 0..<(steps + warmup) {
            let before = hooks.map { plugin.callStats[$0]?.selfSeconds ?? 0 }
            try host.step(stack)
            guard i >= warmup else { continue }
            for (hook, start) in zip(hooks, before) {
                samples[hook, default: []].append(((plugin.callStats[hook]?.selfSeconds ?? 0) - start) / Double(host.parameters.parameterCount))
            }
        }
        try stack.runEnd(in: host.runContext())
        let id = library.descriptor.id
        return hooks.map { hook in
            let s = samples[hook] ?? []
            return Measurement(pluginID: id, hook: hook.rawValue, profileKey: hook == .optimizerStep ? id : PluginCharging.afterOptimizerKey(id),
                               preset: preset, parameters: host.parameters.parameterCount,
                               secondsPerParameter: s.reduce(0, +) / Double(Swift.max(s.count, 1)), timedSteps: s.count)
        }
    }
}
