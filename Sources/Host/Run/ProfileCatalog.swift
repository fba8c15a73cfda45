import Corpus
import Foundation
import Models
import Storage
import Clock
import Workloads

/// Finds reference profiles: a path, a name in `$NTNG_HOME/profiles/`, or one of the defaults
/// measured on the reference machine that ship with ntng (`default-<preset>`).
public enum ProfileCatalog {
    /// Where `ntng calibrate` writes profiles.
    public static var userDirectory: URL { NTNGHome.directory().appendingPathComponent("profiles") }

    /// The shipped default profiles.
    public static var bundledDirectory: URL? {
        Bundle.module.url(forResource: "Profiles", withExtension: nil)
    }

    public static func defaultName(for preset: String) -> String { "default-\(preset)" }

    /// Resolves `nameOrPath` (nil: the default for `preset`) and checks it fits the model.
    public static func load(_ nameOrPath: String?, preset: String, shape: ModelShape) throws -> ReferenceProfile {
        let name = nameOrPath ?? defaultName(for: preset)
        let profile = try ReferenceProfile.load(from: try locate(name))
        try profile.validate(for: preset, shape: shape)
        return profile
    }

    /// Resolves `nameOrPath` (nil: the default for the workload's preset) and checks it prices
    /// `workload`'s work (its profile key).
    public static func load(_ nameOrPath: String?, for workload: any Workload) throws -> ReferenceProfile {
        let key = workload.profileKey
        return try load(nameOrPath, preset: key.preset, shape: key.shape)
    }

    /// The file for a profile name or path; a missing one gets an error listing what exists.
    public static func locate(_ nameOrPath: String) throws -> URL {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".json") {
            return URL(fileURLWithPath: nameOrPath)
        }
        for directory in [userDirectory, bundledDirectory].compactMap({ $0 }) {
            let url = directory.appendingPathComponent(nameOrPath + ".json")
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw ProfileCatalogError.notFound(nameOrPath, available: available())
    }

    /// Names of every profile found (user profiles first).
    public static func available() -> [String] {
        [userDirectory, bundledDirectory].compactMap { $0 }.flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
                .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
        }
    }

    /// The shape a profile must have been measured with for a masked LM of shape `config`.
    public static func shape(of config: ModelConfig) -> ModelShape {
        MaskedLMWorkload.profileShape(config)
    }
}

public enum ProfileCatalogError: Error, CustomStringConvertible {
    case notFound(String, available: [String])
    public var description: String {
        switch self {
        case .notFound(let name, let available):
            return "no reference profile named '\(name)' (looked in \(ProfileCatalog.userDirectory.path) and the shipped defaults; available: \(available.isEmpty ? "none" : available.joined(separator: ", "))); measure one with `ntng calibrate --model PRESET --name \(name)`"
        }
    }
}
