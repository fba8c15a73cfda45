import Foundation
import Storage
import Clock
import Records
import Host
import Preparation
import PluginHost

/// One cell of a comparison: one method under one budget with one seed.
public struct Trial: Sendable, Hashable {
    /// The method its run trains (`baseline`, plugins).
    public var method: String
    /// Its row as `--methods` names it: the method, or the method pinned to a precision
    /// (`baseline@bf16`, see ``ComparedMethod``).
    public var row: String
    /// The budget text as given (passed to the child unchanged) and its parsed value.
    public var budgetText: String
    public var budget: Budget
    public var seed: UInt64
    /// Its grid point as `KEY=VALUE, …` (empty without --grid); its settings include the point.
    public var setting = ""
    /// The settings the trial's run will be started with (threads included; identity ignores them).
    public var settings: RunSettings
    /// `--set` arguments for the child: the comparison's settings minus plugin settings of plugins
    /// the method does not load.
    public var setArguments: [String]
    /// The JSON of the reference profile its run is charged from.
    public var profileJSON: String
    /// The `--profile` its child gets (nil: the default of its precision).
    public var profileArgument: String?
    /// What makes two runs the same trial (see ``TrialIdentity``).
    public var identity: TrialIdentity

    /// `lion, 5m RST, seed 1`.
    public var label: String { "\(row)\(setting.isEmpty ? "" : " [\(setting)]"), \(budget), seed \(seed)" }

    public static func == (a: Trial, b: Trial) -> Bool { a.identity == b.identity && a.settings.threads == b.settings.threads }
    public func hash(into h: inout Hasher) { h.combine(identity) }
}

/// The identity of a trial: two runs with equal identities are the same experiment and give the
/// same result, so a finished one can stand in for the other.
///
/// It covers the method, model, corpus, seed, budget, every setting that changes what is computed
/// (hyperparameters, model overrides, plugin settings, free charge kinds), the SHA-256 of the
/// reference profile's JSON and of each plugin library, and the host build (``NTNGVersion``) that
/// trains it. It leaves out what cannot change the
/// result: the thread count (the same steps and bit-identical losses on any thread count),
/// plugin search folders, and the plugin settings the host derives itself (``MethodPreparations``:
/// RHO's table path and hashes, which follow from corpus, model and seed).
public struct TrialIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Canonical JSON of everything above.
    public let canonical: String
    /// SHA-256 of ``canonical`` (hex), the short form people see.
    public let digest: String

    /// The identity of a run with these settings, profile JSON and plugin library hashes, trained
    /// by host build `build`.
    public init(settings: RunSettings, profileJSON: String, pluginSHA256: [String], build: String = NTNGVersion.string) {
        var s = settings
        s.threads = 0
        s.pluginPaths = []
        // Where the data lies does not change a result; what it holds does. Likewise a library given
        // by path is identified by its hash (in `plugins`), not by the path it was given as.
        s.data?.directory = ""
        s.method = s.method.split(separator: "+").map { PluginResolver.isPath(String($0)) ? "library" : String($0) }.joined(separator: "+")

        s.hyperparameters.pluginSettings = s.hyperparameters.pluginSettings.filter { key, _ in
            guard let dot = key.lastIndex(of: ".") else { return true }
            return !MethodPreparations.hostFilledKeys.contains(String(key[key.index(after: dot)...]))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let settingsJSON = (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        let profileHash = SHA256Digest.hex(Array(profileJSON.utf8))
        canonical = "{\"build\":\"\(build)\",\"plugins\":[\(pluginSHA256.map { "\"\($0)\"" }.joined(separator: ","))],\"profile_sha256\":\"\(profileHash)\",\"settings\":\(settingsJSON)}"
        digest = SHA256Digest.hex(Array(canonical.utf8))
    }

    /// The identity of a stored run, or nil when its stored configuration cannot be read.
    public init?(record: RunRecord) {
        guard let settings = try? JSONDecoder().decode(RunSettings.self, from: Data(record.configJSON.utf8)),
              let profile = record.profileJSON else { return nil }
        self.init(settings: settings, profileJSON: profile, pluginSHA256: Self.pluginHashes(provenanceJSON: record.pluginsJSON),
                  build: record.codeVersion)
    }

    /// The library hashes in a run's plugin provenance (`[{"sha256": …}, …]`), in stack order.
    static func pluginHashes(provenanceJSON: String?) -> [String] {
        guard let json = provenanceJSON, let data = json.data(using: .utf8),
              let array = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return array.compactMap { $0["sha256"] as? String }
    }

    public var description: String { String(digest.prefix(12)) }
}
