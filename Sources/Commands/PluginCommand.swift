import ArgumentParser
import Foundation
import Preparation
import Host
import PluginHost

/// `ntng plugin`: the author kit — list installed plugins, check one, start a new one.
struct PluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "List, check and create training-method plugins (PluginAPI v\(PluginLibrary.hostABIMajor).\(PluginLibrary.hostABIMinor)).",
        discussion: "The author guide is docs/plugins.md.",
        subcommands: [List.self, Check.self, New.self, CheckOne.self])

    /// `ntng plugin list`
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the plugins on the search path: id, name, version, ABI, hooks, path and SHA-256.",
            discussion: "Search path: --plugin-path folders, $NTNG_PLUGIN_PATH, <ntng home>/plugins, the folder of the ntng executable, <that folder>/../lib/ntng.")

        @Option(name: .long, help: "Extra folder to search first (repeatable).")
        var pluginPath: [String] = []

        @Flag(name: .long, help: "Also show each plugin's config keys.")
        var verbose = false

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let searchPath = PluginSearchPath.standard(extra: pluginPath)
            var found: [PluginLibrary] = []
            var refused: [(String, String)] = []
            for file in searchPath.libraries() {
                do { found.append(try PluginLibrary.open(path: file.path)) } catch { refused.append((file.path, "\(error)")) }
            }
            if json {
                struct Row: Codable {
                    var id, name, version, abi, path, sha256: String
                    var hooks: [String]
                    var configKeys: [PluginConfigKey]
                }
                let rows = found.map {
                    Row(id: $0.descriptor.id, name: $0.descriptor.name, version: $0.descriptor.version, abi: $0.descriptor.abiVersion,
                        path: $0.path, sha256: $0.sha256, hooks: $0.descriptor.hooks.map(\.rawValue), configKeys: $0.descriptor.configKeys)
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(rows), as: UTF8.self))
                return
            }
            if found.isEmpty { print("no plugins on the search path (\(searchPath.directories.map(\.path).joined(separator: ", ")))") }
            for lib in found {
                let d = lib.descriptor
                print("\(d.id)  \(d.name)  version \(d.version)  ABI \(d.abiVersion)")
                print("    hooks:  \(d.hooks.map(\.rawValue).joined(separator: ", "))")
                print("    path:   \(lib.path)")
                print("    sha256: \(lib.sha256)")
                if verbose {
                    for k in d.configKeys { print("    --set \(k.key)=\(k.defaultValue)  (\(k.type.rawValue)) \(k.help)") }
                }
            }
            for (path, why) in refused where !verbose {
                // Other shared libraries may sit beside the executable; mention only real plugins' faults.
                if !why.contains("does not export") { print("refused \(path): \(why)") }
            }
            if verbose { for (path, why) in refused { print("skipped \(path): \(why)") } }
        }
    }

    /// `ntng plugin check PATH`
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the conformance checks on a plugin library, each in a child process.",
            discussion: "Checks: \(PluginCheck.allCases.map(\.rawValue).joined(separator: ", ")). A crash or hang inside the plugin fails the check that caused it and is reported.")

        @Argument(help: "The plugin library, e.g. ./libmine.so.")
        var path: String

        @Option(name: .customLong("set"), help: "A config value for the plugin, KEY=VALUE (repeatable).")
        var settings: [String] = []

        @Option(name: .long, parsing: .unconditional, help: "Seconds each check may take.")
        var timeout: Double = 120

        func validate() throws {
            try OptionRange.check(timeout, "--timeout", 1...86_400)
        }

        @Flag(name: .long, help: "Run the checks in this process (a crash then ends ntng).")
        var inProcess = false

        func run() throws {
            let values = try parseSettings(settings)
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            guard let executable = PluginSearchPath.currentExecutable?.path else { throw ValidationError("cannot find the ntng executable to re-run") }
            print("checking \(absolute)")
            var failures = 0
            for check in PluginCheck.allCases {
                let result = inProcess
                    ? PluginConformance.run(check, libraryPath: absolute, settings: values, prepare: MethodPreparations.settingsForCheck)
                    : PluginConformance.runIsolated(check, libraryPath: absolute, settings: values,
                                                    command: [executable, "plugin", "_check-one"], timeout: timeout)
                print("\(result.passed ? "PASS" : "FAIL") \(check.rawValue): \(result.detail)")
                if !result.passed { failures += 1 }
                // Nothing else can be checked in a library that does not load.
                if check == .entry && !result.passed { break }
            }
            print(failures == 0 ? "all checks passed" : "\(failures) check(s) failed")
            if failures > 0 { throw ExitCode.failure }
        }
    }

    /// `ntng plugin new NAME --lang c|swift`
    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a buildable plugin skeleton into ./NAME (or --output).")

        @Argument(help: "The plugin's name, e.g. MyMethod.")
        var name: String

        @Option(name: .long, help: "c or swift.")
        var lang: String = "c"

        @Option(name: .long, help: "Folder to create (default ./NAME).")
        var output: String?

        @Option(name: .long, help: "Path of ntng_plugin.h (found automatically in a source checkout).")
        var header: String?

        func run() throws {
            guard let language = PluginSkeleton.Language(rawValue: lang.lowercased()) else { throw ValidationError("--lang must be c or swift") }
            guard let headerURL = header.map({ URL(fileURLWithPath: $0) }) ?? PluginSkeleton.locateHeader() else {
                throw ValidationError("cannot find ntng_plugin.h; pass --header PATH/ntng_plugin.h")
            }
            let text = try String(contentsOf: headerURL, encoding: .utf8)
            let files = try PluginSkeleton.files(name: name, language: language, header: text)
            let folder = URL(fileURLWithPath: output ?? name, isDirectory: true)
            if FileManager.default.fileExists(atPath: folder.path) {
                throw ValidationError("\(folder.path) already exists; choose another --output")
            }
            for file in files {
                let url = folder.appendingPathComponent(file.path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try file.contents.write(to: url, atomically: true, encoding: .utf8)
                if file.path.hasSuffix(".sh") { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
            }
            print("wrote \(files.map(\.path).joined(separator: ", ")) in \(folder.path)")
            print("build: \(folder.path)/build.sh    check: ntng plugin check \(folder.path)/lib\(name).so")
        }
    }

    /// The child side of `check` (hidden): runs one check and prints its result as JSON.
    struct CheckOne: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "_check-one", abstract: "Internal: one conformance check.",
                                                        shouldDisplay: false)

        @Argument var check: String
        @Argument var path: String
        @Option(name: .customLong("set")) var settings: [String] = []

        func run() throws {
            guard let which = PluginCheck(rawValue: check) else { throw ValidationError("unknown check \(check)") }
            let status = PluginConformance.childMain(check: which, libraryPath: path, settings: try parseSettings(settings),
                                                    prepare: MethodPreparations.settingsForCheck)
            if status != 0 { throw ExitCode(status) }
        }
    }
}

/// `KEY=VALUE` texts → dictionary.
private func parseSettings(_ texts: [String]) throws -> [String: String] {
    var result: [String: String] = [:]
    for t in texts {
        guard let eq = t.firstIndex(of: "="), eq != t.startIndex else { throw ValidationError("--set expects KEY=VALUE, got \"\(t)\"") }
        result[String(t[..<eq])] = String(t[t.index(after: eq)...])
    }
    return result
}
