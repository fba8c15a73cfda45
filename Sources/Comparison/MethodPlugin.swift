import Clock
import PluginHost

/// One plugin of a compared method as tables and reports name it: id and version, the library's
/// SHA-256 and path, and how its own arithmetic is charged.
public struct MethodPlugin: Sendable, Equatable, Codable {
    public static let calibrated = "calibrated"
    public static let estimated = "estimated"

    public var id: String
    public var version: String
    public var sha256: String
    public var path: String
    /// `calibrated` or `estimated` for each hook whose own work is charged (`optimizer_step`,
    /// `after_optimizer_step`), e.g. "optimizer_step calibrated"; "not charged" when it has neither
    /// (its model work goes through host services, charged at reference cost).
    public var charge: String

    public init(id: String, version: String, sha256: String, path: String, charge: String) {
        self.id = id
        self.version = version
        self.sha256 = sha256
        self.path = path
        self.charge = charge
    }

    /// What `library` is, and how `profile` charges it.
    public init(library: PluginLibrary, profile: ReferenceProfile) {
        let hooks = library.descriptor.hooks, id = library.descriptor.id
        var charges: [String] = []
        if hooks.contains(.optimizerStep) {
            charges.append("optimizer_step " + (profile.chargesByEstimate(plugin: id) ? Self.estimated : Self.calibrated))
        }
        if hooks.contains(.afterOptimizerStep) {
            charges.append("after_optimizer_step " + (profile.chargesByEstimate(plugin: PluginCharging.afterOptimizerKey(id)) ? Self.estimated : Self.calibrated))
        }
        self.init(id: id, version: library.descriptor.version, sha256: library.sha256, path: library.path,
                  charge: charges.isEmpty ? "no own work charged" : charges.joined(separator: ", "))
    }

    /// "id version (sha256 1234567890ab, charge)".
    public var summary: String { "\(id) \(version) (sha256 \(sha256.prefix(12)), \(charge))" }
}
