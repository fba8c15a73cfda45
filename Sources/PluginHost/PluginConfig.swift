import Foundation

/// A config key a plugin declares in its descriptor (`ntng_config_key`).
public struct PluginConfigKey: Sendable, Equatable, Codable {
    public enum ValueType: String, Sendable, Codable {
        case int, double, bool, string

        init?(code: Int32) {
            switch code {
            case 0: self = .int
            case 1: self = .double
            case 2: self = .bool
            case 3: self = .string
            default: return nil
            }
        }
    }

    public var key: String
    public var type: ValueType
    /// The default as text, parsed like a `--set` value.
    public var defaultValue: String
    public var help: String
}

/// A typed config value, parsed from `--set` text or a declared default.
public enum PluginConfigValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case string(String)

    /// Parses `text` as `type`; nil with a reason when it does not parse.
    public static func parse(_ text: String, as type: PluginConfigKey.ValueType) -> Result<PluginConfigValue, ConfigParseFailure> {
        let t = text.trimmingCharacters(in: .whitespaces)
        switch type {
        case .int:
            guard let v = Int64(t) else { return .failure(.init(reason: "\"\(text)\" is not a whole number")) }
            return .success(.int(v))
        case .double:
            guard let v = Double(t), v.isFinite else { return .failure(.init(reason: "\"\(text)\" is not a finite number")) }
            return .success(.double(v))
        case .bool:
            switch t.lowercased() {
            case "true", "1", "yes", "on": return .success(.bool(true))
            case "false", "0", "no", "off": return .success(.bool(false))
            default: return .failure(.init(reason: "\"\(text)\" is not true or false"))
            }
        case .string:
            return .success(.string(text))
        }
    }

    public struct ConfigParseFailure: Error, Sendable { public let reason: String }

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let v): return v ? "true" : "false"
        case .string(let v): return v
        }
    }
}

/// The resolved config of one plugin: every declared key with its value (default or `--set`).
public struct PluginConfig: Sendable, Equatable {
    public private(set) var values: [String: PluginConfigValue]
    /// Keys set explicitly (the rest are defaults); recorded in provenance.
    public private(set) var explicitlySet: Set<String>

    /// Defaults of `keys` overridden by `settings` (bare keys). Unknown keys and bad values throw.
    public init(keys: [PluginConfigKey], settings: [String: String], plugin: String) throws {
        var values: [String: PluginConfigValue] = [:]
        for k in keys {
            switch PluginConfigValue.parse(k.defaultValue, as: k.type) {
            case .success(let v): values[k.key] = v
            case .failure(let f):
                throw PluginError(.descriptor, plugin: plugin, hook: "config_keys",
                                  "default of \(k.key) does not parse: \(f.reason)")
            }
        }
        let declared = Dictionary(uniqueKeysWithValues: keys.map { ($0.key, $0) })
        for (key, text) in settings.sorted(by: { $0.key < $1.key }) {
            guard let k = declared[key] else {
                let known = keys.map(\.key).sorted().joined(separator: ", ")
                throw PluginError(.config, plugin: plugin, hook: "--set",
                                  "unknown config key \"\(key)\"; known keys: \(known.isEmpty ? "none" : known)")
            }
            switch PluginConfigValue.parse(text, as: k.type) {
            case .success(let v): values[key] = v
            case .failure(let f):
                throw PluginError(.config, plugin: plugin, hook: "--set", "\(key): \(f.reason) (expected \(k.type.rawValue))")
            }
        }
        self.values = values
        self.explicitlySet = Set(settings.keys)
    }

    /// Text form of every value, for provenance.
    public var textValues: [String: String] { values.mapValues(\.description) }
}

/// Splits run-level `--set` settings between the plugins of a stack.
///
/// A key may be qualified by a plugin's method name, library stem or id (`lion.beta1`,
/// `example.sgd-momentum.momentum`) or given bare (`beta1`) when exactly one plugin of the stack
/// declares it. Anything else is refused before training, naming the key.
public enum PluginSettings {
    /// Returns one settings dictionary (bare keys) per plugin, in stack order.
    public static func assign(_ settings: [String: String], to libraries: [PluginLibrary]) throws -> [[String: String]] {
        var result = Array(repeating: [String: String](), count: libraries.count)
        for (fullKey, value) in settings.sorted(by: { $0.key < $1.key }) {
            var matched = false
            // Qualified: the longest prefix naming a plugin wins (ids may contain dots).
            for (i, lib) in libraries.enumerated() {
                for prefix in lib.settingPrefixes where fullKey.hasPrefix(prefix + ".") {
                    let key = String(fullKey.dropFirst(prefix.count + 1))
                    guard lib.descriptor.configKeys.contains(where: { $0.key == key }) else {
                        throw PluginError(.config, plugin: lib.descriptor.id, hook: "--set",
                                          "unknown config key \"\(key)\" in \"\(fullKey)\"; known keys: "
                                              + (lib.descriptor.configKeys.map(\.key).sorted().joined(separator: ", ").nonEmpty ?? "none"))
                    }
                    result[i][key] = value
                    matched = true
                    break
                }
                if matched { break }
            }
            if matched { continue }
            let owners = libraries.indices.filter { libraries[$0].descriptor.configKeys.contains { $0.key == fullKey } }
            switch owners.count {
            case 1: result[owners[0]][fullKey] = value
            case 0:
                let ids = libraries.map(\.descriptor.id).joined(separator: ", ")
                throw PluginError(.config, plugin: ids.nonEmpty ?? "(none)", hook: "--set",
                                  "unknown config key \"\(fullKey)\": no plugin of this run declares it")
            default:
                let ids = owners.map { libraries[$0].descriptor.id }.joined(separator: " and ")
                throw PluginError(.config, plugin: ids, hook: "--set",
                                  "config key \"\(fullKey)\" is ambiguous; qualify it, e.g. \(libraries[owners[0]].settingPrefixes[0]).\(fullKey)")
            }
        }
        return result
    }
}

extension String {
    public var nonEmpty: String? { isEmpty ? nil : self }
}
