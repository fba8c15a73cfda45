import Foundation
import Testing
import TestSupport

import PluginAPI
@testable import PluginHost

/// Loading, validation and refusal messages: each names the file or plugin and the reason.
@Suite struct PluginLoaderTests {
    @Test func cExampleLoadsThroughTheRealABI() throws {
        let lib = try PluginLibrary.open(path: PluginPaths.sgdExample)
        #expect(lib.descriptor.id == "example.sgd-momentum")
        #expect(lib.descriptor.abiVersion == "1.1")
        #expect(lib.descriptor.hooks == [.optimizerStep, .saveState, .loadState])
        #expect(lib.descriptor.configKeys.map(\.key) == ["momentum", "weight_decay", "nesterov"])
        #expect(lib.sha256.count == 64)
    }

    @Test func swiftExampleLoadsThroughTheRealABI() throws {
        let lib = try PluginLibrary.open(path: PluginPaths.lrScaleExample)
        #expect(lib.descriptor.id == "example.lr-scale")
        #expect(lib.descriptor.hooks == [.onStep, .saveState, .loadState])
    }

    @Test func wrongMajorVersionIsRefused() throws {
        let path = try buildProbe(["ABI_MAJOR=2", "ABI_MINOR=0"])
        expectPluginError([path, "abi_major", "PluginAPI 2.0", "major version must match"]) { _ = try PluginLibrary.open(path: path) }
    }

    @Test func newerMinorVersionIsRefused() throws {
        let path = try buildProbe(["ABI_MINOR=7"])
        expectPluginError([path, "abi_minor", "1.7", "newer than this host's 1.1"]) { _ = try PluginLibrary.open(path: path) }
    }

    @Test func missingEntrySymbolIsRefused() throws {
        let path = try buildProbe(["NO_ENTRY"])
        expectPluginError([path, "ntng_get_entry_v1", "does not export"]) { _ = try PluginLibrary.open(path: path) }
    }

    @Test func malformedDescriptorIsRefused() throws {
        let path = try buildProbe(["DESCRIPTOR_SIZE=8"])
        expectPluginError([path, "ntng_descriptor.struct_size", "smaller than the v1.0 size 80"]) { _ = try PluginLibrary.open(path: path) }
    }

    @Test func invalidIDAndBadDefaultAreRefused() throws {
        let badID = try buildProbe([], id: "Has Spaces")
        expectPluginError([badID, "ntng_descriptor.id", "must match"]) { _ = try PluginLibrary.open(path: badID) }
        let badDefault = try buildProbe(["ALPHA_DEFAULT=\"abc\""])
        expectPluginError([badDefault, "default_value", "alpha", "not a finite number"]) { _ = try PluginLibrary.open(path: badDefault) }
    }

    @Test func missingRequiredExtensionIsRefused() throws {
        let path = try buildProbe(["REQUIRE_EXTENSION"])
        expectPluginError([path, "required_extensions", "ntng.ops/1"]) { _ = try PluginLibrary.open(path: path) }
    }

    /// The host serves the diagnostics extension, so a plugin may require it.
    @Test func aServedExtensionMayBeRequired() throws {
        let lib = try PluginLibrary.open(path: try buildProbe(["REQUIRE_DIAGNOSTICS"]))
        #expect(lib.descriptor.requiredExtensions == ["ntng.diagnostics/1"])
    }

    /// Rule V2: the host reads a plugin table only as far as its `struct_size` says. The table sits
    /// at the very end of a readable page, followed by an inaccessible one: copying the host's
    /// (longer) struct whole would fault; the prefix read copies the declared bytes and zeroes the
    /// rest.
    @Test func tablesAreReadOnlyAsFarAsTheirStructSize() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let base = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else {
            Issue.record("mmap failed"); return
        }
        defer { munmap(base, 2 * page) }
        #expect(mprotect(base + page, page, PROT_NONE) == 0)
        let declared = 16  // struct_size and the first hook pointer, as if built against a shorter header
        let table = base + page - declared
        table.storeBytes(of: UInt32(declared), as: UInt32.self)
        table.storeBytes(of: UInt64(0x1234), toByteOffset: 8, as: UInt64.self)
        let hooks = PluginLibrary.readPrefix(table.assumingMemoryBound(to: ntng_hooks.self))
        #expect(hooks.struct_size == UInt32(declared))
        #expect(hooks.on_run_start != nil)
        #expect(hooks.on_run_end == nil && hooks.get_extension == nil, "fields past struct_size must read as absent")
    }

    /// The shipped C plugins fill their ABI tables with designated initializers (CLAP style): a
    /// positional table silently shifts when a field is appended in a later minor version.
    @Test func shippedPluginTablesUseDesignatedInitializers() throws {
        let plugins = PluginPaths.root.appendingPathComponent("Plugins")
        let files = try #require(FileManager.default.enumerator(atPath: plugins.path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".c") }
        #expect(files.count >= 7)
        let table = try Regex(#"static const ntng_(hooks|descriptor|entry|config_key) \w+ = \{\s*([^\s])"#)
        for file in files {
            let text = try String(contentsOf: plugins.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: table) {
                #expect(text[match.range].last == ".", "\(file): \(text[match.range]) is not a designated initializer")
            }
        }
    }

    @Test func notAFileIsRefused() {
        expectPluginError(["/nonexistent/libx.so", "no such file"]) { _ = try PluginLibrary.open(path: "/nonexistent/libx.so") }
    }

    @Test func unknownConfigKeyIsRefusedBeforeTraining() throws {
        let lib = try PluginLibrary.open(path: PluginPaths.sgdExample)
        let services = try ScriptedHost.servingEverything()
        expectPluginError(["example.sgd-momentum", "--set", "unknown config key \"momentun\"", "momentum, nesterov, weight_decay"]) {
            _ = try PluginStack(libraries: [lib], settings: ["example.sgd-momentum.momentun": "0.5"], services: services)
        }
        expectPluginError(["unknown config key \"beta9\"", "no plugin of this run declares it"]) {
            _ = try PluginStack(libraries: [lib], settings: ["beta9": "0.5"], services: services)
        }
        expectPluginError(["example.sgd-momentum", "momentum", "not a finite number"]) {
            _ = try PluginStack(libraries: [lib], settings: ["momentum": "fast"], services: services)
        }
    }

    @Test func configValuesReachThePlugin() throws {
        let lib = try PluginLibrary.open(path: PluginPaths.sgdExample)
        let services = try ScriptedHost.servingEverything()
        let stack = try PluginStack(libraries: [lib], settings: ["ExampleSGDMomentum.momentum": "0.5", "nesterov": "yes"], services: services)
        let p = stack.provenance[0]
        #expect(p.config == ["momentum": "0.5", "nesterov": "true", "weight_decay": "0.0"])
        #expect(p.explicitlySet == ["momentum", "nesterov"])
        // The plugin's own validation of a value reaches the user through set_error.
        expectPluginError(["example.sgd-momentum", "create", "momentum must be in [0, 1)"]) {
            _ = try PluginStack(libraries: [lib], settings: ["momentum": "1.5"], services: services)
        }
    }

    @Test func clashingExclusiveHooksAreRefusedBeforeTraining() throws {
        let a = try PluginLibrary.open(path: PluginPaths.sgdExample)
        let b = try PluginLibrary.open(path: try buildProbe(["WITH_OPTIMIZER"]))
        expectPluginError(["example.sgd-momentum and test.probe", "optimizer_step", "exclusive"]) {
            try PluginStack.checkComposition([a, b])
        }
        expectPluginError(["example.sgd-momentum", "listed twice"]) { try PluginStack.checkComposition([a, a]) }
    }

    @Test func methodStringsResolve() throws {
        let searchPath = PluginSearchPath(directories: [PluginPaths.build])
        #expect(try PluginResolver.resolve(method: "baseline", searchPath: searchPath).isEmpty)
        let byName = try PluginResolver.resolve(method: "example-sgd-momentum+example_lr_scale", searchPath: searchPath)
        #expect(byName.map(\.descriptor.id) == ["example.sgd-momentum", "example.lr-scale"])
        let byPath = try PluginResolver.resolve(method: PluginPaths.sgdExample, searchPath: searchPath)
        #expect(byPath.map(\.descriptor.id) == ["example.sgd-momentum"])
        expectPluginError(["nosuchmethod", "no plugin library named libnosuchmethod.so"]) {
            _ = try PluginResolver.resolve(method: "nosuchmethod", searchPath: searchPath)
        }
        expectPluginError(["baseline", "cannot be stacked"]) { _ = try PluginResolver.parse("baseline+lion") }
        expectPluginError(["empty component"]) { _ = try PluginResolver.parse("lion+") }
    }

    @Test func searchPathOrder() {
        let path = PluginSearchPath.standard(extra: ["/opt/a"], environment: ["NTNG_PLUGIN_PATH": "/opt/b:/opt/c", "NTNG_HOME": "/h"],
                                             executable: URL(fileURLWithPath: "/usr/local/bin/ntng"))
        #expect(path.directories.map(\.path) == ["/opt/a", "/opt/b", "/opt/c", "/h/plugins", "/usr/local/bin", "/usr/local/lib/ntng"])
    }

    @Test func headerCompilesAsStrictCAndCxx() throws {
        let dir = try makeTemporaryDirectory()
        let c = dir.appendingPathComponent("h.c"), cxx = dir.appendingPathComponent("h.cpp")
        try "#include \"ntng_plugin.h\"\nint main(void) { return NTNG_OK; }\n".write(to: c, atomically: true, encoding: .utf8)
        try "#include \"ntng_plugin.h\"\nint main() { ntng_entry e{}; return (int)e.struct_size; }\n".write(to: cxx, atomically: true, encoding: .utf8)
        try runTool("/usr/bin/env", ["cc", "-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only", "-I", PluginPaths.include.path, c.path])
        try runTool("/usr/bin/env", ["c++", "-std=c++17", "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only", "-I", PluginPaths.include.path, cxx.path])
    }

    /// The header's LAYOUT block states today's layout (scripts/abi-layout regenerates it), and
    /// Swift's view of the structs agrees with it.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "python3 is needed to run scripts/abi-layout"))
    func layoutBlockIsCurrent() throws {
        try runTool("/usr/bin/python3", [PluginPaths.root.appendingPathComponent("scripts/abi-layout").path, "--check"])
        let header = try String(contentsOf: PluginPaths.include.appendingPathComponent("ntng_plugin.h"), encoding: .utf8)
        for (name, size) in [("ntng_param_info", MemoryLayout<ntng_param_info>.size), ("ntng_step_plan", MemoryLayout<ntng_step_plan>.size),
                             ("ntng_batch_pool", MemoryLayout<ntng_batch_pool>.size), ("ntng_optimizer_args", MemoryLayout<ntng_optimizer_args>.size),
                             ("ntng_hooks", MemoryLayout<ntng_hooks>.size), ("ntng_host", MemoryLayout<ntng_host>.size)] {
            #expect(header.contains("NTNG_CHECK_SIZE(\(name), \(size));"), "\(name): Swift sees \(size) bytes")
        }
    }

    @Test func pinnedV1SizesMatchTheHeader() {
        // The loader's minimum sizes are the v1.0 layouts: the entry, descriptor and config key
        // have not grown; the hooks table grew in v1.1, and its v1.0 size is where the first v1.1
        // field starts.
        #expect(PluginLibrary.entrySizeV1_0 == MemoryLayout<ntng_entry>.size)
        #expect(PluginLibrary.descriptorSizeV1_0 == MemoryLayout<ntng_descriptor>.size)
        #expect(PluginLibrary.hooksSizeV1_0 == MemoryLayout<ntng_hooks>.offset(of: \ntng_hooks.after_optimizer_step))
        #expect(PluginLibrary.configKeySizeV1_0 == MemoryLayout<ntng_config_key>.size)
    }
}

/// Two libraries answering to one name on the search path are an error naming both.
@Suite struct PluginResolverAmbiguityTests {
    @Test func duplicatePluginsOnTheSearchPathAreNamed() throws {
        let library = try buildProbe(id: "test.twin")
        let a = try makeTemporaryDirectory("twin-a"), b = try makeTemporaryDirectory("twin-b")
        try FileManager.default.copyItem(atPath: library, toPath: a.appendingPathComponent("libTwin.so").path)
        try FileManager.default.copyItem(atPath: library, toPath: b.appendingPathComponent("libTwin.so").path)
        try FileManager.default.copyItem(atPath: library, toPath: b.appendingPathComponent("libOther.so").path)
        let path = PluginSearchPath(directories: [a, b])
        expectPluginError(["2 libraries on the search path answer to \"twin\"", a.path, b.path]) {
            _ = try PluginResolver.find(name: "twin", searchPath: path)
        }
        expectPluginError(["answer to \"test.twin\""]) {
            _ = try PluginResolver.find(name: "test.twin", searchPath: path)
        }
        // One copy: found by file name and by id.
        let single = PluginSearchPath(directories: [a])
        #expect(try PluginResolver.find(name: "twin", searchPath: single).descriptor.id == "test.twin")
        #expect(try PluginResolver.find(name: "test.twin", searchPath: single).descriptor.id == "test.twin")
    }
}
