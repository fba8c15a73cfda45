import TestSupport
import Foundation
import Testing
@testable import Models
@testable import Host
@testable import PluginHost

/// The Lion plugin (`Plugins/Lion/lion.c`, built as `libLion.so`) against Lion computed by hand.
@Suite struct LionTests {
    static var path: String { methodPluginPath("Lion") }

    /// Starting values: alternating signs, magnitudes 0.5, 0.6, ….
    static func initialValue(_ k: Int) -> Double { (k % 2 == 0 ? 1.0 : -1.0) * (0.5 + 0.1 * Double(k)) }

    /// Gradient of coordinate `k` at step `t`: multiples of 0.01 in -0.05…0.05, so an
    /// interpolated momentum is exactly zero only where every gradient so far was zero.
    /// Coordinate 0 (in the decayed matrix) and 6 (in the norm gain) never get a gradient.
    static func gradient(_ k: Int, _ t: Int) -> Double {
        [0, 6].contains(k) ? 0 : Double((k * 7 + t * 3) % 11 - 5) * 0.01
    }

    /// Four updates with changing rates on a matrix, a norm gain, a norm bias and an embedding,
    /// with the default settings (β = (0.9, 0.99), λ = 0.1, rate = scheduled rate × 7e-4 / 1e-3), and once
    /// more with RMS scaling (the embedding's values are tiny, so its scale hits the 1e-3 floor).
    @Test(arguments: [false, true])
    func followsTheHandComputedTrajectory(rmsScaling: Bool) throws {
        let services = try optimizerTestHost()
        let n = services.coordinates.count
        let tensor = services.tensorOfCoordinate, decayed = services.decayed
        let embedding = services.parameters.entries.firstIndex { $0.kind == .embedding }!
        var p: [Double] = (0..<n).map { k in tensor[k] == embedding ? Double(k % 3 + 1) * 1e-4 : Self.initialValue(k) }
        services.values = p
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: Self.path)],
                                    settings: ["rms_scaling": String(rmsScaling)], services: services)

        var m = [Double](repeating: 0, count: n)
        let initial = p
        let rates = [0.01, 0.02, 0.05, 0.03]
        for (t, scheduled) in rates.enumerated() {
            let g = (0..<n).map { Self.gradient($0, t) }
            services.setGradients(g)
            _ = try stack.optimizerStep(learningRate: Float(scheduled), batchSequences: 4, batchTokens: 10, in: StepContext(number: 1))

            let lr = scheduled * 0.7
            var scale = [Double](repeating: 1, count: services.parameters.entries.count)
            if rmsScaling {
                for i in scale.indices {
                    let xs = (0..<n).filter { tensor[$0] == i }.map { p[$0] }
                    scale[i] = max(1e-3, (xs.map { $0 * $0 }.reduce(0, +) / Double(xs.count)).squareRoot())
                }
            }
            for k in 0..<n {
                let rate = lr * scale[tensor[k]]
                let c = 0.9 * m[k] + 0.1 * g[k]
                #expect(c == 0 || abs(c) > 1e-6, "the test's momentum must not sit on the sign's edge")
                if decayed[k] { p[k] *= 1 - rate * 0.1 }
                p[k] -= rate * (c > 0 ? 1 : c < 0 ? -1 : 0)
                m[k] = 0.99 * m[k] + 0.01 * g[k]
            }
            let got = services.values
            for k in 0..<n { #expect(abs(got[k] - p[k]) < 1e-6, "step \(t + 1) coordinate \(k): \(got[k]) vs \(p[k])") }
        }
        let momentum = try #require(stack.plugins[0].stateTensors.values(named: "momentum"))
        let gotM = services.real(momentum)
        for k in 0..<n { #expect(abs(gotM[k] - m[k]) < 1e-7, "momentum \(k)") }

        // sign(0) = 0: a coordinate that never had a gradient only decays (matrix) or stays put.
        if !rmsScaling {
            let decayOnly = rates.map { 1 - $0 * 0.7 * 0.1 }.reduce(1, *)
            #expect(abs(services.values[0] - initial[0] * decayOnly) < 1e-6)
        }
        #expect(services.values[6] == Double(Float(initial[6])))
    }

    @Test func descriptorDeclaresEveryHyperparameter() throws {
        let library = try PluginLibrary.open(path: Self.path)
        let d = library.descriptor
        #expect(d.id == "lion")
        #expect(d.hooks == [.optimizerStep])
        let defaults = Dictionary(uniqueKeysWithValues: d.configKeys.map { ($0.key, $0.defaultValue) })
        #expect(defaults == ["beta1": "0.9", "beta2": "0.99", "weight_decay": "0.1", "peak_lr": "7e-4",
                             "rms_scaling": "false"])
        #expect(d.configKeys.allSatisfy { !$0.help.isEmpty })
    }

    @Test func refusesBadSettings() throws {
        let library = try PluginLibrary.open(path: Self.path)
        let services = try optimizerTestHost()
        expectPluginError(["lion", "create", "beta1"]) {
            _ = try PluginStack(libraries: [library], settings: ["beta1": "1.5"], services: services)
        }
        expectPluginError(["lion", "peak_lr"]) {
            _ = try PluginStack(libraries: [library], settings: ["peak_lr": "0"], services: services)
        }
    }

    /// The momentum is a host state tensor: a resumed run continues bit for bit.
    @Test func resumesExactly() throws {
        let straight = try trainWithResume(product: "Lion", settings: [:], steps: 6, resumeAfter: nil, learningRate: 3e-3)
        let resumed = try trainWithResume(product: "Lion", settings: [:], steps: 6, resumeAfter: 3, learningRate: 3e-3)
        #expect(resumed.losses == straight.losses)
        #expect(resumed.digest == straight.digest)
        #expect(resumed.checkpoint == straight.checkpoint)
        #expect(straight.checkpoint.plugins[0].tensors.map(\.name) == ["momentum"])
        #expect(straight.checkpoint.plugins[0].stateBytes.isEmpty)
    }

    /// Lion trains the tiny model, and its own arithmetic is charged as plugin work.
    @Test func trainsTheTinyModel() throws {
        let host = try StandaloneHost(steps: 60, seed: 5, settings: ["lr=3e-3", "warmup=0"])
        // Lion's peak 2.1e-3 (the rate this test trained at before the v1.1 peak rule).
        let stack = try #require(try PluginStack.open(method: "lion", settings: ["peak_lr": "2.1e-3"], searchPath: PluginSearchPath(directories: [PluginPaths.build]), services: host))
        try host.train(stack)
        let early = host.losses.prefix(5).reduce(0, +) / 5, late = host.losses.suffix(5).reduce(0, +) / 5
        #expect(late < early * 0.9, "loss should fall: \(early) → \(late)")
        #expect(host.clock.charged[.plugin] ?? 0 > 0)
        #expect(host.clock.charged[.optimizer] == nil)
        #expect(host.clock.charged[.curvature] == nil)
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
