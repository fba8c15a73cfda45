import TestSupport
import Foundation
import Testing
@testable import Models
@testable import Host
@testable import PluginHost

/// The Sophia-G plugin (`Plugins/Sophia/sophia.c`, built as `libSophia.so`) against Sophia-G
/// computed by hand, its curvature schedule and charging, and its resume.
@Suite struct SophiaTests {
    static var path: String { methodPluginPath("Sophia") }

    struct Case: Sendable, CustomTestStringConvertible {
        var curvatureClip: Double
        var rmsScaling: Bool
        /// The `bs` setting (0: the step's masked tokens).
        var bs: Int
        var rho: Double
        var testDescription: String { "clip \(curvatureClip), rms \(rmsScaling), bs \(bs), rho \(rho)" }
    }

    /// The step's masked tokens handed to optimizer_step.
    static let batchTokens = 200

    /// Starting values: alternating signs, magnitudes 0.5, 0.6, ….
    static func initialValue(_ k: Int) -> Double { (k % 2 == 0 ? 1.0 : -1.0) * (0.5 + 0.1 * Double(k)) }

    /// Gradient of coordinate `k` at step `t`; coordinates 0 (decayed matrix) and 6 (norm gain)
    /// never get one, so their momentum stays 0 and sign(0) = 0 must leave them to decay alone.
    static func gradient(_ k: Int, _ t: Int) -> Double {
        [0, 6].contains(k) ? 0 : Double((k * 7 + t * 3) % 11 - 5) * 0.01
    }

    /// The sampled-label gradient of refresh `r`; coordinate 1 never has curvature (h stays 0, so
    /// its step is always clipped to a full sign step).
    static func sampled(_ k: Int, _ r: Int) -> Double {
        k == 1 ? 0 : Double((k * 5 + r * 2) % 9 - 4) * 0.03 + 0.01
    }

    /// Five updates with k = 2 (refreshes before updates 1, 3 and 5) on four tensors with padding
    /// between them; weight decay 0.1 on the matrix only; the ratio clipped in some coordinates
    /// and not in others; once with the defaults' choices (no ĝ clipping, bs = masked tokens) and
    /// once with ĝ clipped to norm 0.05, a fixed bs and RMS scaling.
    @Test(arguments: [Case(curvatureClip: 0, rmsScaling: false, bs: 0, rho: 0.5),
                      Case(curvatureClip: 0.05, rmsScaling: true, bs: 50, rho: 60)])
    func followsTheHandComputedTrajectory(_ c: Case) throws {
        let services = try optimizerTestHost()
        let n = services.coordinates.count
        let tensor = services.tensorOfCoordinate, decayed = services.decayed
        services.scriptSampledGradient { r in (0..<n).map { Self.sampled($0, r) } }
        var p: [Double] = (0..<n).map { k in Self.initialValue(k) }
        services.values = p
        let settings = ["curvature_interval": "2", "rho": "\(c.rho)", "weight_decay": "0.1", "peak_lr": "5e-4",
                        "curvature_clip": "\(c.curvatureClip)", "rms_scaling": "\(c.rmsScaling)", "bs": "\(c.bs)"]
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: Self.path)], settings: settings, services: services)

        var m = [Double](repeating: 0, count: n), h = [Double](repeating: 0, count: n)
        let initial = p
        let rates = [0.01, 0.02, 0.05, 0.03, 0.02]
        let rhoBs = c.rho * Double(c.bs > 0 ? c.bs : Self.batchTokens)
        var expectedWinRates: [Double] = [], passes: [Int] = []
        var refreshes = 0, sawClippedAndUnclipped = false
        for (t, scheduled) in rates.enumerated() {
            let g = (0..<n).map { Self.gradient($0, t) }
            services.setGradients(g)
            let outcome = try #require(try stack.optimizerStep(learningRate: Float(scheduled), batchSequences: 4, batchTokens: Self.batchTokens, in: StepContext(number: 1)))
            passes.append(outcome.curvaturePasses)

            if t % 2 == 0 {  // updates 1, 3, 5
                var s = (0..<n).map { Self.sampled($0, refreshes) }
                let norm = s.map { $0 * $0 }.reduce(0, +).squareRoot()
                if c.curvatureClip > 0 && norm > c.curvatureClip { s = s.map { $0 * c.curvatureClip / norm } }
                for k in 0..<n { h[k] = 0.99 * h[k] + 0.01 * s[k] * s[k] }
                refreshes += 1
            }
            let lr = scheduled * 0.5
            var scale = [Double](repeating: 1, count: services.parameters.entries.count)
            if c.rmsScaling {
                for i in scale.indices {
                    let xs = (0..<n).filter { tensor[$0] == i }.map { p[$0] }
                    scale[i] = max(1e-3, (xs.map { $0 * $0 }.reduce(0, +) / Double(xs.count)).squareRoot())
                }
            }
            var wins = 0, clipped = 0
            for k in 0..<n {
                if decayed[k] { p[k] *= 1 - lr * 0.1 }  // the unscaled rate, also with RMS scaling
                m[k] = 0.965 * m[k] + 0.035 * g[k]
                let bound = rhoBs * h[k]
                #expect(bound == 0 || abs(abs(m[k]) - bound) > 1e-6 * bound, "the test must not sit on the clip's edge")
                let ratio = min(abs(m[k]) / (bound + 1e-15), 1)
                p[k] -= lr * scale[tensor[k]] * (m[k] > 0 ? 1 : m[k] < 0 ? -1 : 0) * ratio
                if abs(m[k]) < bound { wins += 1 } else if m[k] != 0 { clipped += 1 }
            }
            if wins > 0 && clipped > 0 { sawClippedAndUnclipped = true }
            expectedWinRates.append(Double(wins) / Double(n))
            let got = services.values
            for k in 0..<n { #expect(abs(got[k] - p[k]) < 2e-6, "step \(t + 1) coordinate \(k): \(got[k]) vs \(p[k])") }
        }
        #expect(sawClippedAndUnclipped, "the case should exercise both sides of the clip")
        #expect(passes == [1, 0, 1, 0, 1])
        #expect(services.curvatureCalls == 3)
        #expect(services.diagnostics.map(\.key) == Array(repeating: "win_rate", count: 5))
        #expect(services.diagnostics.map(\.value) == expectedWinRates)

        let state = stack.plugins[0].stateTensors
        let gotM = services.real(try #require(state.values(named: "momentum")))
        let gotH = services.real(try #require(state.values(named: "hessian")))
        for k in 0..<n {
            #expect(abs(gotM[k] - m[k]) < 1e-7, "momentum \(k)")
            // Float32's 1 − β2 is 0.0099999905: a relative error near 1e-6 is the plugin's own rounding.
            #expect(abs(gotH[k] - h[k]) <= 1e-5 * h[k] + 1e-12, "curvature \(k)")
        }
        // sign(0) = 0: no gradient, no step; only the matrix decays.
        if !c.rmsScaling {
            let decayOnly: Double = rates.map { 1 - $0 * 0.5 * 0.1 }.reduce(1, *)
            #expect(abs(services.values[0] - initial[0] * decayOnly) < 1e-6)
        }
        #expect(services.values[6] == Double(Float(initial[6])))
        #expect(h[1] == 0 && gotH[1] == 0)
    }

    @Test func descriptorDeclaresEveryHyperparameter() throws {
        let library = try PluginLibrary.open(path: Self.path)
        let d = library.descriptor
        #expect(d.id == "sophia")
        #expect(Set(d.hooks) == [.optimizerStep, .saveState, .loadState, .onRunEnd])
        let defaults = Dictionary(uniqueKeysWithValues: d.configKeys.map { ($0.key, $0.defaultValue) })
        #expect(defaults == ["beta1": "0.965", "beta2": "0.99", "rho": "0.01", "weight_decay": "0.015", "peak_lr": "4e-4",
                             "eps": "1e-15", "curvature_interval": "10", "bs": "0", "curvature_clip": "0",
                             "rms_scaling": "false"])
        #expect(d.configKeys.allSatisfy { !$0.help.isEmpty })
    }

    @Test func refusesBadSettings() throws {
        let library = try PluginLibrary.open(path: Self.path)
        let services = try optimizerTestHost()
        expectPluginError(["sophia", "create", "curvature_interval"]) {
            _ = try PluginStack(libraries: [library], settings: ["curvature_interval": "0"], services: services)
        }
        expectPluginError(["sophia", "rho"]) {
            _ = try PluginStack(libraries: [library], settings: ["rho": "-1"], services: services)
        }
    }

    /// With k = 3, seven steps refresh the curvature three times (before updates 1, 4 and 7), each
    /// a real sampled-label pass over the step's micro-batches, charged as curvature.
    @Test func curvatureRefreshesEveryKStepsAndIsCharged() throws {
        let host = try StandaloneHost(steps: 7, seed: 3)
        let stack = try #require(try PluginStack.open(method: "sophia", settings: ["curvature_interval": "3"],
                                                      searchPath: PluginSearchPath(directories: [PluginPaths.build]), services: host))
        var passes: [Int] = []
        try stack.runStart(in: StepContext(number: 0))
        while host.clock.canStartStep() {
            try host.step(stack)
            passes.append(stack.plugins[0].lastCurvaturePasses)
        }
        try stack.runEnd(in: StepContext(number: 0))
        #expect(passes == [1, 0, 0, 1, 0, 0, 1])
        let perMicroBatch = host.batchSize / host.microBatches
        let perRefresh = (0..<host.microBatches).map { _ in
            host.clock.profile.sampledLabelPassCost(activeLayers: host.workload.config.layers, sequences: perMicroBatch)
        }.reduce(0, +)
        let charged = try #require(host.clock.charged[.curvature])
        #expect(abs(charged - 3 * perRefresh) <= 1e-9 * charged, "\(charged) vs \(3 * perRefresh)")
        #expect(host.clock.charged[.plugin] ?? 0 > 0)
        #expect(host.clock.charged[.optimizer] == nil)
        let h = try #require(stack.plugins[0].stateTensors.values(named: "hessian"))
        #expect(h.contains { $0 > 0 } && h.allSatisfy { $0 >= 0 })
        #expect(host.logLines.contains { $0.message.contains("7 updates, 3 curvature refreshes") })
    }

    /// Momentum, curvature and the private counters survive save → load; the resumed run is
    /// bit-identical to an uninterrupted one, refreshes included.
    @Test func resumesExactly() throws {
        let settings = ["curvature_interval": "3"]
        let straight = try trainWithResume(product: "Sophia", settings: settings, steps: 8, resumeAfter: nil, learningRate: 3e-3)
        let resumed = try trainWithResume(product: "Sophia", settings: settings, steps: 8, resumeAfter: 5, learningRate: 3e-3)
        #expect(resumed.losses == straight.losses)
        #expect(resumed.digest == straight.digest)
        #expect(resumed.checkpoint == straight.checkpoint)
        let entry = straight.checkpoint.plugins[0]
        #expect(entry.tensors.map(\.name) == ["momentum", "hessian", "sampled_grad"])
        // Version 1, 3 refreshes (updates 1, 4, 7), 8 updates, then the win-rate sum.
        let words = stride(from: 0, to: entry.stateBytes.count, by: 8).map { i in
            entry.stateBytes[i..<i + 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        }
        #expect(words.count == 4 && Array(words.prefix(3)) == [1, 3, 8])
    }

    @Test func trainsTheTinyModel() throws {
        let host = try StandaloneHost(steps: 60, seed: 5, settings: ["lr=5e-3", "warmup=0"])
        let stack = try #require(try PluginStack.open(method: "sophia", settings: ["peak_lr": "2e-3"], searchPath: PluginSearchPath(directories: [PluginPaths.build]), services: host))
        try host.train(stack)
        let early = host.losses.prefix(5).reduce(0, +) / 5, late = host.losses.suffix(5).reduce(0, +) / 5
        #expect(late < early * 0.9, "loss should fall: \(early) → \(late)")
    }

    @Test func passesThePluginChecks() throws {
        for check in PluginCheck.allCases {
            let result = PluginConformance.run(check, libraryPath: Self.path)
            #expect(result.passed, "\(check): \(result.detail)")
        }
        let ntng = PluginPaths.ntng
        try #require(FileManager.default.isExecutableFile(atPath: ntng))
        let out = try runTool(ntng, ["plugin", "check", Self.path])
        #expect(out.contains("all checks passed"), "\(out)")
    }
}
