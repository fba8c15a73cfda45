import Corpus
import Foundation
import Storage

/// Where plugin libraries are looked for, in order:
/// 1. `--plugin-path` folders given on the command line,
/// 2. the folders in `$NTNG_PLUGIN_PATH` (colon-separated),
/// 3. `<ntng home>/plugins` (`~/.ntng/plugins` unless `NTNG_HOME` is set),
/// 4. the folder of the `ntng` executable (where `swift build` puts the built-in plugins),
/// 5. `<executable folder>/../lib/ntng` (an installed layout).
public struct PluginSearchPath: Sendable, Equatable {
    public var directories: [URL]

    public init(directories: [URL]) { self.directories = directories }

    /// The standard search path.
    public static func standard(extra: [String] = [], environment: [String: String] = ProcessInfo.processInfo.environment,
                                executable: URL? = PluginSearchPath.currentExecutable) -> PluginSearchPath {
        var dirs = extra.map { URL(fileURLWithPath: $0, isDirectory: true) }
        if let env = environment["NTNG_PLUGIN_PATH"] {
            dirs += env.split(separator: ":").filter { !$0.isEmpty }.map { URL(fileURLWithPath: String($0), isDirectory: true) }
        }
        dirs.append(NTNGHome.directory(environment: environment).appendingPathComponent("plugins", isDirectory: true))
        if let executable {
            let folder = executable.deletingLastPathComponent()
            dirs.append(folder)
            dirs.append(folder.deletingLastPathComponent().appendingPathComponent("lib/ntng", isDirectory: true))
        }
        var seen = Set<String>()
        return PluginSearchPath(directories: dirs.filter { seen.insert($0.standardizedFileURL.path).inserted })
    }

    /// This process's executable, symlinks resolved.
    public static var currentExecutable: URL? {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    }

    /// Every `lib*.so` in every folder of the search path, first folder first (a file name may
    /// appear in several folders; the same file reached twice is listed once).
    public func allLibraries() -> [URL] {
        var seen = Set<String>()
        return directories.flatMap { dir -> [URL] in
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            return files.sorted().filter { $0.hasPrefix("lib") && $0.hasSuffix(".so") }.map { dir.appendingPathComponent($0) }
        }.filter { seen.insert($0.resolvingSymlinksInPath().path).inserted }
    }

    /// Every `lib*.so` in the search path, first folder first, each file name once.
    public func libraries() -> [URL] {
        var result: [URL] = []
        var names = Set<String>()
        for dir in directories {
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { continue }
            for f in files.sorted() where f.hasPrefix("lib") && f.hasSuffix(".so") && names.insert(f).inserted {
                result.append(dir.appendingPathComponent(f))
            }
        }
        return result
    }
}

/// Turns `--method` text into plugin libraries.
///
/// The text is one or more components joined by `+`, applied in that order. A component is
/// `baseline` (no plugin; only alone), a path (it contains `/` or ends in `.so`), or a built-in
/// name such as `lion` or `selective-backprop`, matched against library file names
/// (`libLion.so`, `libSelectiveBackprop.so`: case, `-`, `_` and `.` ignored) and then against
/// plugin ids on the search path.
public enum PluginResolver {
    public enum Component: Sendable, Equatable {
        case baseline
        case name(String)
        case path(String)
    }

    /// Whether a part of a method names a library file (`./libMine.so`) rather than a plugin name.
    public static func isPath(_ part: String) -> Bool { part.contains("/") || part.hasSuffix(".so") }

    /// Splits and classifies the method text.
    public static func parse(_ method: String) throws -> [Component] {
        let parts = method.split(separator: "+", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.contains(where: \.isEmpty) else {
            throw PluginError(.resolve, plugin: method, "empty component in the method; write e.g. dropping+lion")
        }
        let components = parts.map { p -> Component in
            if p == "baseline" { return .baseline }
            if isPath(p) { return .path(p) }
            return .name(p)
        }
        if components.contains(.baseline) && components.count > 1 {
            throw PluginError(.resolve, plugin: method, "baseline means \"no plugin\" and cannot be stacked")
        }
        return components
    }

    /// Loads the libraries of `method` (none for `baseline`), refusing clashes of exclusive hooks.
    public static func resolve(method: String, searchPath: PluginSearchPath) throws -> [PluginLibrary] {
        var libraries: [PluginLibrary] = []
        for component in try parse(method) {
            switch component {
            case .baseline: return []
            case .path(let p): libraries.append(try PluginLibrary.open(path: p, methodName: p))
            case .name(let n): libraries.append(try find(name: n, searchPath: searchPath))
            }
        }
        try PluginStack.checkComposition(libraries)
        return libraries
    }

    /// A built-in or installed plugin by name.
    /// Two libraries answering to one name are an error naming both: which one a run used must
    /// never depend on the order of the search path.
    public static func find(name: String, searchPath: PluginSearchPath) throws -> PluginLibrary {
        let wanted = normalize(name)
        let files = searchPath.allLibraries()
        func ambiguous(_ paths: [String]) -> PluginError {
            PluginError(.resolve, plugin: name, "\(paths.count) libraries on the search path answer to \"\(name)\": \(paths.joined(separator: ", ")); remove all but one, or pass the path of the one you mean")
        }
        let byFile = files.filter { normalize(stem(ofLibrary: $0.path)) == wanted }
        if byFile.count > 1 { throw ambiguous(byFile.map(\.path)) }
        if let file = byFile.first { return try PluginLibrary.open(path: file.path, methodName: name) }
        // No file of that name: look for a plugin whose id matches (loads each library's init).
        var byID: [PluginLibrary] = []
        for file in files {
            guard let lib = try? PluginLibrary.open(path: file.path, methodName: name) else { continue }
            let id = lib.descriptor.id
            if id == name || normalize(id) == wanted || normalize(String(id.split(separator: ".").last ?? "")) == wanted {
                byID.append(lib)
            }
        }
        if byID.count > 1 { throw ambiguous(byID.map(\.path)) }
        if let lib = byID.first { return lib }
        let dirs = searchPath.directories.map(\.path).joined(separator: ", ")
        let known = searchPath.libraries().map { stem(ofLibrary: $0.path) }.joined(separator: ", ")
        throw PluginError(.resolve, plugin: name,
                          "no plugin library named lib\(name).so or with id \"\(name)\" on the search path (\(dirs)); found: \(known.isEmpty ? "none" : known). Pass a path (./libmine.so) or --plugin-path DIR")
    }

    /// `libExampleSGDMomentum.so` → `ExampleSGDMomentum`.
    public static func stem(ofLibrary path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        if name.hasPrefix("lib") { name.removeFirst(3) }
        if let dot = name.range(of: ".so") { name = String(name[..<dot.lowerBound]) }
        return name
    }

    static func normalize(_ s: String) -> String {
        String(s.lowercased().filter { $0 != "-" && $0 != "_" && $0 != "." })
    }
}
