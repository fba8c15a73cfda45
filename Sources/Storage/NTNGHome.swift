import Foundation

/// Where ntng keeps its state: `$NTNG_HOME`, or `~/.ntng` when the variable is unset or empty.
/// The one resolver: data, profiles, plugins, RHO tables and the default results store all start
/// here (a run's checkpoints live beside its results store, ``ResultsStore``).
public enum NTNGHome {
    /// The ntng home directory (not created here). A leading `~` in `NTNG_HOME` is expanded.
    public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let value = environment["NTNG_HOME"], !value.isEmpty {
            return URL(fileURLWithPath: (value as NSString).expandingTildeInPath, isDirectory: true)
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent(".ntng", isDirectory: true)
    }

    /// The default results database, `<home>/results.sqlite`.
    public static func resultsDatabase(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        directory(environment: environment).appendingPathComponent("results.sqlite")
    }
}
