import Foundation
import PluginAPI
#if canImport(Glibc)
import Glibc
#endif
import Storage

/// The hooks a plugin may implement, by their C names.
public enum PluginHook: String, Sendable, Codable, CaseIterable, Comparable {
    case onRunStart = "on_run_start"
    case onRunEnd = "on_run_end"
    case resizeModel = "resize_model"
    case onModelResized = "on_model_resized"
    case onStep = "on_step"
    case selectBatch = "select_batch"
    case poolFactor = "pool_factor"
    case optimizerStep = "optimizer_step"
    case saveState = "save_state"
    case loadState = "load_state"
    case getExtension = "get_extension"
    /// v1.1: after whichever optimizer ran, composing in stack order.
    case afterOptimizerStep = "after_optimizer_step"
    /// v1.1: the "ntng.evaluation_weights/1" extension's `write`.
    case evaluationWeights = "evaluation_weights.write"

    /// Hooks at most one plugin of a stack may implement.
    public static let exclusive: [PluginHook] = [.resizeModel, .selectBatch, .optimizerStep]

    public static func < (a: PluginHook, b: PluginHook) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// What a plugin's descriptor declares, copied out of plugin memory and checked.
public struct PluginDescriptorInfo: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var version: String
    public var summary: String
    public var abiMajor: Int
    public var abiMinor: Int
    public var configKeys: [PluginConfigKey]
    public var requiredExtensions: [String]
    /// Hooks with a function, in declaration order.
    public var hooks: [PluginHook]

    public var abiVersion: String { "\(abiMajor).\(abiMinor)" }
}

/// A loaded and validated plugin library.
///
/// Loading runs only the library's `init`; no instance is created. Libraries are opened with
/// `RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE` and never closed: unloading Swift code crashes the
/// runtime's conformance cache, and PostgreSQL-style "load once" keeps function pointers valid.
public final class PluginLibrary: @unchecked Sendable {
    /// The host's ABI version.
    public static let hostABIMajor = Int(NTNG_ABI_MAJOR)
    public static let hostABIMinor = Int(NTNG_ABI_MINOR)
    /// Extension ids this host serves (what `get_extension` answers), so a plugin may require them.
    public static let servedExtensions: Set<String> = [NTNG_EXT_DIAGNOSTICS, NTNG_EXT_MODEL_STACKS]

    /// The v1.0 sizes of the plugin-written tables: a plugin's struct_size must reach them.
    /// Pinned as numbers because they must not follow the header when v1.x appends fields.
    static let entrySizeV1_0 = 24
    static let descriptorSizeV1_0 = 80
    static let hooksSizeV1_0 = 96
    static let configKeySizeV1_0 = 32

    /// Absolute path of the library file.
    public let path: String
    /// Hex SHA-256 of the library file.
    public let sha256: String
    public let descriptor: PluginDescriptorInfo
    /// The `--method` token this library was resolved from, if any (e.g. `lion`).
    public let methodName: String?
    /// The plugin's descriptor and hook tables as far as its `struct_size`s reach (fields a newer
    /// host appends read as zero: "absent" for an older plugin).
    let table: ntng_descriptor
    let hooks: ntng_hooks

    /// Prefixes accepted before a config key in `--set` (method name, library stem, id).
    public var settingPrefixes: [String] {
        var prefixes: [String] = []
        if let methodName, !methodName.contains("/") { prefixes.append(methodName) }
        prefixes.append(PluginResolver.stem(ofLibrary: path))
        prefixes.append(descriptor.id)
        var seen = Set<String>()
        return prefixes.filter { seen.insert($0).inserted }
    }

    /// Opens and validates the library at `path`. Every refusal names the file and the reason.
    public static func open(path: String, methodName: String? = nil) throws -> PluginLibrary {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: absolute) else {
            throw PluginError(.load, plugin: absolute, hook: "dlopen", "no such file")
        }
        guard let handle = dlopen(absolute, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw PluginError(.load, plugin: absolute, hook: "dlopen", why)
        }
        // No dlclose on any path below: see the type's documentation.
        guard let symbol = dlsym(handle, NTNG_ENTRY_SYMBOL) else {
            throw PluginError(.load, plugin: absolute, hook: NTNG_ENTRY_SYMBOL,
                              "the library does not export \(NTNG_ENTRY_SYMBOL); is it an ntng plugin built against ntng_plugin.h with NTNG_EXPORT on the entry function?")
        }
        let getEntry = unsafeBitCast(symbol, to: ntng_get_entry_fn.self)
        guard let entry = getEntry() else {
            throw PluginError(.load, plugin: absolute, hook: NTNG_ENTRY_SYMBOL, "the entry function returned NULL")
        }
        let sha = try SHA256Digest.hex(ofFileAt: absolute)
        let e = readPrefix(entry)
        try checkVersion(major: Int(e.abi_major), minor: Int(e.abi_minor), what: "entry", path: absolute)
        guard Int(e.struct_size) >= entrySizeV1_0 else {
            throw PluginError(.descriptor, plugin: absolute, hook: "ntng_entry",
                              "struct_size \(e.struct_size) is smaller than the v1.0 size \(entrySizeV1_0)")
        }
        if let initialise = e.`init` {
            let accepted = absolute.withCString { initialise($0) }
            guard accepted != 0 else {
                throw PluginError(.load, plugin: absolute, hook: "init", "init returned 0 (the plugin refused to load)")
            }
        }
        guard let raw = e.descriptor else {
            throw PluginError(.descriptor, plugin: absolute, hook: "ntng_entry", "descriptor is NULL")
        }
        let (table, info, hooks) = try readDescriptor(raw, path: absolute)
        return PluginLibrary(path: absolute, sha256: sha, descriptor: info, methodName: methodName, table: table, hooks: hooks)
    }

    private init(path: String, sha256: String, descriptor: PluginDescriptorInfo, methodName: String?,
                 table: ntng_descriptor, hooks: ntng_hooks) {
        self.path = path
        self.sha256 = sha256
        self.descriptor = descriptor
        self.methodName = methodName
        self.table = table
        self.hooks = hooks
    }

    /// A copy of the plugin's table at `p` holding only the bytes its leading `struct_size` (the
    /// first field of every plugin-written struct) covers; the rest stays zero (rule V2). Copying
    /// `p.pointee` whole would read past every table built against an older, shorter header.
    static func readPrefix<T>(_ p: UnsafePointer<T>) -> T {
        let declared = Int(UnsafeRawPointer(p).loadUnaligned(as: UInt32.self))
        let copy = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        defer { copy.deallocate() }
        copy.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        copy.copyMemory(from: UnsafeRawPointer(p), byteCount: Swift.min(declared, MemoryLayout<T>.size))
        return copy.load(as: T.self)
    }

    private static func checkVersion(major: Int, minor: Int, what: String, path: String) throws {
        guard major == hostABIMajor else {
            throw PluginError(.descriptor, plugin: path, hook: "abi_major",
                              "\(what) was built for PluginAPI \(major).\(minor), but this host speaks \(hostABIMajor).\(hostABIMinor) (the major version must match); rebuild it against this ntng_plugin.h")
        }
        guard minor <= hostABIMinor else {
            throw PluginError(.descriptor, plugin: path, hook: "abi_minor",
                              "\(what) was built for PluginAPI \(major).\(minor), newer than this host's \(hostABIMajor).\(hostABIMinor); update ntng or build against the older header")
        }
    }

    private static func readDescriptor(_ raw: UnsafePointer<ntng_descriptor>, path: String) throws -> (ntng_descriptor, PluginDescriptorInfo, ntng_hooks) {
        let d = readPrefix(raw)
        func refuse(_ field: String, _ reason: String) -> PluginError {
            PluginError(.descriptor, plugin: path, hook: "ntng_descriptor.\(field)", reason)
        }
        guard Int(d.struct_size) >= descriptorSizeV1_0 else {
            throw refuse("struct_size", "\(d.struct_size) is smaller than the v1.0 size \(descriptorSizeV1_0); the table is malformed")
        }
        try checkVersion(major: Int(d.abi_major), minor: Int(d.abi_minor), what: "descriptor", path: path)
        guard let id = cString(d.id), !id.isEmpty else { throw refuse("id", "is NULL or empty") }
        guard isValidID(id) else {
            throw refuse("id", "\"\(id)\" must match [a-z0-9][a-z0-9._-]* (e.g. \"lion\" or \"org.example.sgd\")")
        }
        guard let name = cString(d.name), !name.isEmpty else { throw refuse("name", "is NULL or empty") }
        guard let version = cString(d.version), !version.isEmpty else { throw refuse("version", "is NULL or empty") }
        guard d.create != nil else { throw refuse("create", "is NULL") }
        guard d.destroy != nil else { throw refuse("destroy", "is NULL") }
        guard let hooksPointer = d.hooks else { throw refuse("hooks", "is NULL") }
        let hooks = readPrefix(hooksPointer)
        guard Int(hooks.struct_size) >= hooksSizeV1_0 else {
            throw refuse("hooks.struct_size", "\(hooks.struct_size) is smaller than the v1.0 size \(hooksSizeV1_0)")
        }

        var keys: [PluginConfigKey] = []
        if var cursor = d.config_keys {
            while let keyPointer = cursor.pointee {
                let k = readPrefix(keyPointer)
                let index = keys.count
                guard Int(k.struct_size) >= configKeySizeV1_0 else {
                    throw refuse("config_keys[\(index)]", "struct_size \(k.struct_size) is smaller than the v1.0 size \(configKeySizeV1_0)")
                }
                guard let key = cString(k.key), isValidKey(key) else {
                    throw refuse("config_keys[\(index)].key", "must be a non-empty [a-z0-9_.-]+ name")
                }
                guard !keys.contains(where: { $0.key == key }) else { throw refuse("config_keys", "declares \"\(key)\" twice") }
                guard let type = PluginConfigKey.ValueType(code: k.type) else {
                    throw refuse("config_keys[\(index)].type", "\(k.type) is not an NTNG_CONFIG_* type (key \"\(key)\")")
                }
                guard let defaultText = cString(k.default_value) else {
                    throw refuse("config_keys[\(index)].default_value", "is NULL (key \"\(key)\")")
                }
                if case .failure(let f) = PluginConfigValue.parse(defaultText, as: type) {
                    throw refuse("config_keys[\(index)].default_value", "for \"\(key)\": \(f.reason)")
                }
                keys.append(PluginConfigKey(key: key, type: type, defaultValue: defaultText, help: cString(k.help) ?? ""))
                guard keys.count <= 256 else { throw refuse("config_keys", "has more than 256 entries (missing NULL terminator?)") }
                cursor += 1
            }
        }
        var required: [String] = []
        if var cursor = d.required_extensions {
            while let s = cursor.pointee {
                guard let text = cString(s) else { break }
                required.append(text)
                guard required.count <= 64 else { throw refuse("required_extensions", "has more than 64 entries (missing NULL terminator?)") }
                cursor += 1
            }
        }
        if let missing = required.first(where: { !servedExtensions.contains($0) }) {
            throw refuse("required_extensions", "requires extension \"\(missing)\", which this host (PluginAPI \(hostABIMajor).\(hostABIMinor)) does not serve")
        }

        var declared: [PluginHook] = []
        func note(_ present: Bool, _ hook: PluginHook) { if present { declared.append(hook) } }
        note(hooks.on_run_start != nil, .onRunStart)
        note(hooks.on_run_end != nil, .onRunEnd)
        note(hooks.resize_model != nil, .resizeModel)
        note(hooks.on_model_resized != nil, .onModelResized)
        note(hooks.on_step != nil, .onStep)
        note(hooks.select_batch != nil, .selectBatch)
        note(hooks.pool_factor != nil, .poolFactor)
        note(hooks.optimizer_step != nil, .optimizerStep)
        note(hooks.save_state != nil, .saveState)
        note(hooks.load_state != nil, .loadState)
        note(hooks.get_extension != nil, .getExtension)
        note(hooks.after_optimizer_step != nil, .afterOptimizerStep)
        if declared.contains(.selectBatch) != declared.contains(.poolFactor) {
            throw refuse("hooks", "select_batch and pool_factor come together (one is set, the other NULL)")
        }
        if declared.contains(.saveState) != declared.contains(.loadState) {
            throw refuse("hooks", "save_state and load_state come together (one is set, the other NULL)")
        }
        let info = PluginDescriptorInfo(
            id: id, name: name, version: version, summary: cString(d.description) ?? "",
            abiMajor: Int(d.abi_major), abiMinor: Int(d.abi_minor), configKeys: keys,
            requiredExtensions: required, hooks: declared)
        return (d, info, hooks)
    }

    /// A copy of a plugin-owned C string, bounded so a missing terminator cannot run away.
    static func cString(_ p: UnsafePointer<CChar>?, limit: Int = 4096) -> String? {
        guard let p else { return nil }
        let n = strnlen(p, limit)
        return String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
    }

    static func isValidID(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) }
    }

    static func isValidKey(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) }
    }
}
