import Corpus
import Foundation
import Models
import Storage
import Clock
import Workloads
import TensorCore

/// Finds reference profiles: a path, a name in `$NTNG_HOME/profiles/`, or one of the defaults
/// measured on the reference machine that ship with ntng (`default-<preset>`).
public enum ProfileCatalog {
    /// Where `ntng calibrate` writes profiles.
    public static var userDirectory: URL { NTNGHome.directory().appendingPathComponent("profiles") }

    /// The shipped default profiles.
    public static var bundledDirectory: URL? {
        Bundle.module.url(forResource: "Profiles", withExtension: nil)
    }

    /// `default-<preset>` for fp32 work, `default-<preset>-bf16` for bf16 work.
    public static func defaultName(for preset: String, precision: Precision = .fp32) -> String {
        "default-\(preset)" + (precision == .fp32 ? "" : "-" + precision.rawValue)
    }

    /// The `precision` field a profile of `precision` carries (nil for fp32).
    public static func recordedPrecision(_ precision: Precision) -> String? { precision == .fp32 ? nil : precision.rawValue }

    /// Resolves `nameOrPath` (nil: the default for `preset` and `precision`) and checks it fits
    /// the model and prices work of that precision.
    public static func load(_ nameOrPath: String?, preset: String, shape: ModelShape, precision: Precision = .fp32) throws -> ReferenceProfile {
        let name = nameOrPath ?? defaultName(for: preset, precision: precision)
        let profile: ReferenceProfile
        do {
            profile = try ReferenceProfile.load(from: try locate(name))
        } catch let error as ProfileCatalogError where nameOrPath == nil && precision != .fp32 {
            throw ProfileCatalogError.noDefault(preset: preset, precision: precision.rawValue, detail: "\(error)")
        }
        try profile.validate(for: preset, shape: shape)
        guard profile.precision == recordedPrecision(precision) else {
            throw ProfileCatalogError.precisionMismatch(profile: profile.name, prices: profile.precision ?? "fp32", run: precision.rawValue,
                                                        preset: preset)
        }
        return profile
    }

    /// Resolves `nameOrPath` (nil: the default for the workload's preset and precision) and checks
    /// it prices `workload`'s work (its profile key and its backend's precision).
    public static func load(_ nameOrPath: String?, for workload: any Workload) throws -> ReferenceProfile {
        let key = workload.profileKey
        return try load(nameOrPath, preset: key.preset, shape: key.shape, precision: workload.backend.precision)
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

    /// The shape a profile must have been measured with for a model of shape `config`.
    public static func shape(of config: ModelConfig) -> ModelShape {
        Workloads.profileShape(config)
    }
}

public enum ProfileCatalogError: Error, CustomStringConvertible {
    case notFound(String, available: [String])
    case noDefault(preset: String, precision: String, detail: String)
    case precisionMismatch(profile: String, prices: String, run: String, preset: String)
    public var description: String {
        switch self {
        case .noDefault(let preset, let precision, _):
            return "no shipped reference profile prices \(precision) work on \(preset) (ntng ships default-tiny-bf16 and default-small-bf16); measure one on the reference machine with `ntng calibrate --model \(preset) --precision \(precision)`"
        case .precisionMismatch(let profile, let prices, let run, let preset):
            return "profile \(profile) prices \(prices) work but the run computes in \(run): its steps would be charged at the wrong cost; use a \(run) profile (the default is \(ProfileCatalog.defaultName(for: preset, precision: Precision(rawValue: run) ?? .fp32)); measure one with `ntng calibrate --model \(preset) --precision \(run)`)"
        case .notFound(let name, let available):
            return "no reference profile named '\(name)' (looked in \(ProfileCatalog.userDirectory.path) and the shipped defaults; available: \(available.isEmpty ? "none" : available.joined(separator: ", "))); measure one with `ntng calibrate --model PRESET --name \(name)`"
        }
    }
}
