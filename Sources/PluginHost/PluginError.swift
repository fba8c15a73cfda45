import Foundation

/// Why a plugin was refused or a plugin hook failed. Every description names the library or
/// plugin, the hook (or loading stage) and the reason, so a failed run's record says exactly what
/// went wrong without a debugger.
public struct PluginError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// What stage failed.
    public enum Stage: String, Sendable, Equatable {
        /// Finding the library from a `--method` string or the search path.
        case resolve
        /// `dlopen`, the entry symbol and `init`.
        case load
        /// Checking the entry and descriptor tables.
        case descriptor
        /// Matching `--set` values to declared config keys.
        case config
        /// Combining plugins (`a+b`): exclusive hooks.
        case stack
        /// A call into the plugin (`create`, a hook) or a value it returned.
        case hook
        /// A conformance check (`ntng plugin check`).
        case check
    }

    public let stage: Stage
    /// The plugin id when known, else the library path or method text.
    public let plugin: String
    /// The hook or service involved (`"select_batch"`), or the loading step (`"dlopen"`).
    public let hook: String?
    public let reason: String

    public init(_ stage: Stage, plugin: String, hook: String? = nil, _ reason: String) {
        self.stage = stage
        self.plugin = plugin
        self.hook = hook
        self.reason = reason
    }

    public var description: String {
        switch stage {
        case .resolve, .load, .descriptor, .config, .stack:
            return "plugin \(plugin) refused\(hook.map { " (\($0))" } ?? ""): \(reason)"
        case .hook:
            return "plugin \(plugin) failed in \(hook ?? "a hook"): \(reason)"
        case .check:
            return "plugin \(plugin) failed check \(hook ?? "?"): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
