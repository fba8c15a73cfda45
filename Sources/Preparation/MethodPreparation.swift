import Corpus
import Foundation
import Clock
import Records
import Storage
import Host
import PluginHost

/// Work a method needs from the host before it can run, amortised and charged to no run (RHO-LOSS's
/// irreducible-loss table is the one today). The host's commands, the comparison runner, trial
/// identity and the conformance checker go through ``MethodPreparations`` and never name a method.
public protocol MethodPreparation {
    /// The descriptor id of the plugin this prepares for.
    static var pluginID: String { get }
    /// Plugin settings the host fills in itself (paths and hashes of what it prepared): recorded
    /// with the run, left out of trial identity (they follow from corpus, model and seed).
    static var hostFilledKeys: Set<String> { get }
    /// Finds or prepares what a run with `settings` needs (reaching as far as `reachBudget` would,
    /// when a comparison prepares for its largest budget) and names it in the run's settings.
    static func prepare(run settings: inout RunSettings, library: PluginLibrary, data: DataLocation, profile: String?,
                        reachBudget: Budget?, log: (String) -> Void) throws
    /// On resume: checks that what a stored run recorded is still there, unchanged.
    static func verifyRecorded(_ settings: RunSettings) throws
    /// The `ntng` arguments that prepare for a comparison's trial in a child process (so Ctrl-C
    /// stops it and a crash fails only that method's trials), or nil when nothing is prepared there.
    static func preparationArguments(for settings: RunSettings, library: PluginLibrary, reachBudget: Budget,
                                     profile: String?, dataDirectory: String?, hostSettings: [String]) -> [String]?
    /// The plugin settings (the user's, completed) with which the method runs in `ntng plugin
    /// check`'s synthetic host, prepared as a run's are but for the checker's stream, writing any
    /// files into `directory` (the checker removes it afterwards).
    static func settingsForCheck(library: PluginLibrary, settings: [String: String], in directory: URL) throws -> [String: String]
}

/// Every method preparation the host knows, and the calls that dispatch to them.
public enum MethodPreparations {
    // An immutable list of metatypes: safe to share, though Swift cannot prove it.
    nonisolated(unsafe) public static let all: [any MethodPreparation.Type] = [RHOPreparation.self]

    /// The host-filled plugin setting keys of every preparation (bare keys).
    public static var hostFilledKeys: Set<String> { all.reduce(into: []) { $0.formUnion($1.hostFilledKeys) } }

    /// The preparations a run with `settings` needs, with the library each serves.
    public static func needed(by settings: RunSettings) -> [(preparation: any MethodPreparation.Type, library: PluginLibrary)] {
        guard settings.method != "baseline",
              let libraries = try? PluginResolver.resolve(method: settings.method, searchPath: .standard(extra: settings.pluginPaths))
        else { return [] }  // an unresolvable method is reported by Trainer.start
        return libraries.compactMap { library in
            all.first { $0.pluginID == library.descriptor.id }.map { ($0, library) }
        }
    }

    /// Prepares everything a run with `settings` needs and names it in `settings`.
    public static func prepare(run settings: inout RunSettings, data: DataLocation, profile: String?, reachBudget: Budget? = nil,
                               log: (String) -> Void) throws {
        for (preparation, library) in needed(by: settings) {
            try preparation.prepare(run: &settings, library: library, data: data, profile: profile, reachBudget: reachBudget, log: log)
        }
    }

    /// Checks what a stored run recorded (see ``MethodPreparation/verifyRecorded(_:)``).
    public static func verifyRecorded(_ settings: RunSettings) throws {
        for preparation in all { try preparation.verifyRecorded(settings) }
    }

    /// The settings `ntng plugin check` runs `library` with: the user's, completed by its
    /// preparation (if any) for the checker's stream, with files in `directory`.
    public static func settingsForCheck(library: PluginLibrary, settings: [String: String], in directory: URL) throws -> [String: String] {
        guard let preparation = all.first(where: { $0.pluginID == library.descriptor.id }) else { return settings }
        return try preparation.settingsForCheck(library: library, settings: settings, in: directory)
    }
}
