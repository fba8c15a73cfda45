import Foundation
import Models
import Clock

/// How the budget pays for work a plugin does itself (docs/plugins.md, "Charging").
///
/// Host services are charged by the trainer at their reference costs (`.scoring`, `.curvature`).
/// What remains is a plugin's own arithmetic in `optimizer_step` and `after_optimizer_step`
/// (PluginAPI v1.1; its calibration key is ``afterOptimizerKey(_:)``), charged as `.plugin`:
/// - **calibrated**: the profile has `pluginCostPerParameter[id]`, measured on the reference
///   machine by `ntng calibrate --plugin X` (`PluginCalibration` in Benchmarks) — deterministic, like every
///   other charge;
/// - **estimated**: otherwise, the measured wall time of the call scaled by
///   `referenceOverLocal` (reference machine speed over this machine's, see
///   ``TrainingStep/referenceOverLocal(profile:parameterCount:repeats:)``). The run is marked estimated;
///   its step count is no longer exactly reproducible.
///
/// Other hooks' own time (CPU-side schedules and selection logic) is not charged, as in the
/// original NTNG code (docs/clock.md), but it is timed and recorded per hook in the provenance.
public enum PluginCharging {
    /// Seconds to charge for one plugin `optimizer_step`.
    public static func optimizerCharge(pluginID: String, parameters: Int, measuredSeconds: Double,
                                       profile: ReferenceProfile, referenceOverLocal: Double?) -> PluginWorkCharge {
        if let perParameter = profile.pluginCostPerParameter[pluginID] {
            return PluginWorkCharge(seconds: perParameter * Double(parameters), basis: .calibrated)
        }
        let ratio = referenceOverLocal.flatMap { $0.isFinite && $0 > 0 ? $0 : nil } ?? 1
        return PluginWorkCharge(seconds: Swift.max(0, measuredSeconds) * ratio, basis: .estimated)
    }

    /// The profile key of a plugin's calibrated `after_optimizer_step` cost (per parameter).
    public static func afterOptimizerKey(_ pluginID: String) -> String { "\(pluginID)/after_optimizer_step" }

    /// Seconds to charge for carrying out a resize plan: the host copies every parameter once,
    /// charged like one AdamW pass over the new model (deterministic, and an upper bound of a
    /// memory copy).
    public static func resizeCost(_ profile: ReferenceProfile, parameters: Int) -> Double {
        profile.optimizerUpdateCost(parameters: parameters)
    }
}

/// A charge for plugin work.
public struct PluginWorkCharge: Sendable, Equatable {
    public enum Basis: String, Sendable, Codable {
        /// From the profile's `pluginCostPerParameter` (reproducible).
        case calibrated
        /// Measured time × machine-speed ratio (the run is marked estimated).
        case estimated
    }

    public var seconds: Double
    public var basis: Basis
}
