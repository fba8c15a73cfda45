import Foundation
import Testing
import TestSupport

import Host
import PluginHost

/// Plugins built against the PluginAPI v1.0 header as released (Tests/Fixtures/PluginAPI-v1.0),
/// as an author who never rebuilt for v1.1 has them: today's host loads them, reads their tables
/// only as far as their struct sizes reach, fills their structs only as far as theirs, and trains
/// with them exactly as with the same source built against today's header.
@Suite struct PluginAPIV10CompatibilityTests {
    private func host() throws -> StandaloneHost {
        try StandaloneHost(steps: 4, seed: 3, microBatches: 2, settings: ["lr=3e-3", "warmup=0"])
    }

    /// The negative-test probe's SGD optimizer, built against v1.0 and against v1.1: both load,
    /// the first as ABI 1.0, and they train to the same bits.
    @Test func aV10OptimizerTrainsAsTheSameSourceBuiltToday() throws {
        let old = try PluginLibrary.open(path: try buildCPlugin(probePluginSource, defines: ["WITH_OPTIMIZER"], name: "probe10",
                                                                extraFlags: ["-lm"], include: PluginPaths.includeV1_0))
        let new = try PluginLibrary.open(path: try buildProbe(["WITH_OPTIMIZER"]))
        #expect(old.descriptor.abiVersion == "1.0" && new.descriptor.abiVersion == "1.1")
        let a = try host(), b = try host()
        try a.train(try PluginStack(libraries: [old], services: a))
        try b.train(try PluginStack(libraries: [new], services: b))
        #expect(a.losses == b.losses)
        #expect(a.parameterDigest() == b.parameterDigest())
    }

    /// `Tests/Fixtures/PluginAPI-v1.0/legacy_v10.c`: a v1.0 plugin whose hooks table is followed
    /// by non-NULL junk (a v1.1 host reading past the v1.0 size would call it as
    /// after_optimizer_step and crash), whose param_info struct is followed by canary bytes (the
    /// host must not write v1.1 fields there), and whose optimizer moves a tensor that has no
    /// gradient under its own keep mask — which v1.1 refuses only for plugins that know the flag,
    /// so this one trains on, as it did under v1.0. Run twice: as the binary committed beside it
    /// (built once against v1.0, never rebuilt) and compiled afresh from its source; both must
    /// train to the same bits.
    @Test func aV10PluginSeesOnlyV10() throws {
        let fixture = PluginPaths.includeV1_0
        let committed = fixture.appendingPathComponent("libntng-legacy-v10.so").path
        let rebuilt = try buildCPlugin(try String(contentsOf: fixture.appendingPathComponent("legacy_v10.c"), encoding: .utf8),
                                       name: "legacy10", include: fixture)
        var digests: [String] = []
        for path in [committed, rebuilt] {
            let library = try PluginLibrary.open(path: path)
            #expect(library.descriptor.abiVersion == "1.0")
            let h = try host()
            let stack = try PluginStack(libraries: [library], services: h)
            #expect(stack.plugins[0].hooks == [.onStep, .optimizerStep])
            try h.train(stack)
            #expect(h.losses.count == 4)
            digests.append(h.parameterDigest())
        }
        #expect(digests[0] == digests[1])
    }
}
