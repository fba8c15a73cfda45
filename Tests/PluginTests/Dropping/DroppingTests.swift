import TestSupport
import Foundation
import Models
import TensorCore
import Testing
@testable import Host
@testable import Records
@testable import PluginHost

/// Progressive layer dropping (`Plugins/Dropping`, id `dropping`): the real built library, driven
/// through ``PluginStack`` by a ``ScriptedHost`` (see StackingTests.swift) and through the trainer.
@Suite struct DroppingTests {
    static var library: String { methodPluginPath("Dropping") }

    static func open(layers: Int, settings: [String: String] = [:]) throws -> (stack: PluginStack, host: ScriptedHost) {
        let host = try layerMethodHost(layers: layers)
        let stack = try PluginStack(libraries: [try PluginLibrary.open(path: library)], settings: settings, services: host)
        return (stack, host)
    }

    /// The keep masks of `steps` steps of `microBatches` rows each at one budget fraction, every
    /// step with its own seed. A nil active list (everything kept) becomes full rows.
    static func masks(_ stack: PluginStack, _ host: ScriptedHost, fraction: Double, steps: Int, microBatches: Int,
                      firstStep: Int = 0) throws -> [[[Bool]]] {
        let layers = host.modelConfig.layers
        return try (firstStep ..< firstStep + steps).map { step in
            host.set(fraction: fraction, step: step)
            let plan = try stack.stepPlan(microBatches: microBatches, in: StepContext(number: 1))
            #expect(plan.lrScale == 1)
            guard let active = plan.activeLayers else { return Array(repeating: Array(repeating: true, count: layers), count: microBatches) }
            return active.map { kept in (0..<layers).map { kept.contains($0) } }
        }
    }

    static func theta(_ fraction: Double, floor: Double = 0.5, gammaFactor: Double = 100) -> Double {
        (1 - floor) * exp(-gammaFactor * fraction) + floor
    }

    /// θ(t) = (1 − ᾱ)·exp(−γ_f·t/T) + ᾱ, reported per step as the diagnostic `dropping_theta`.
    @Test(arguments: [[String: String](), ["keep_floor": "0.3", "dropping.gamma_factor": "20"]])
    func thetaFollowsTheFormula(settings: [String: String]) throws {
        let floor = Double(settings["keep_floor"] ?? "0.5")!, gamma = Double(settings["dropping.gamma_factor"] ?? "100")!
        let (stack, host) = try Self.open(layers: 16, settings: settings)
        let fractions = [0, 1e-4, 0.001, log(2) / 100, 0.01, 0.02, 0.05, 0.1, 0.5, 1]
        _ = try fractions.enumerated().map { step, f in try Self.masks(stack, host, fraction: f, steps: 1, microBatches: 1, firstStep: step) }
        let reported = host.diagnostics.filter { $0.key == "dropping_theta" }.map(\.value)
        #expect(reported.count == fractions.count)
        for (f, value) in zip(fractions, reported) {
            #expect(abs(value - Self.theta(f, floor: floor, gammaFactor: gamma)) < 1e-12, "theta(\(f)) = \(value)")
        }
        // The paper's BERT setting is half-way to the floor at ln 2 / 100 ≈ 0.69 % of the budget.
        if settings.isEmpty { #expect(abs(reported[3] - 0.75) < 1e-12) }
        let expected = host.diagnostics.filter { $0.key == "dropping_expected_depth" }.map(\.value)
        #expect(abs(expected.last! - (16 - (1 - Self.theta(1, floor: floor, gammaFactor: gamma)) * 17 / 2)) < 1e-9)
    }

    /// At the start of training nothing is dropped.
    @Test func keepsEveryLayerAtTheStart() throws {
        let (stack, host) = try Self.open(layers: 16)
        host.set(fraction: 0, step: 0)
        let plan = try stack.stepPlan(microBatches: 4, in: StepContext(number: 1))
        #expect(plan.activeLayers == nil)
    }

    /// At the floor (θ = 0.5) layer i is kept with probability 1 − 0.5·(i+1)/L and the expected
    /// kept depth is (3L − 1)/4: 11.75 of 16. Checked over 4000 steps × 4 micro-batches.
    @Test func sampledDepthAtTheFloorIsThreeLMinusOneOverFour() throws {
        let layers = 16
        let (stack, host) = try Self.open(layers: layers)
        let rows = try Self.masks(stack, host, fraction: 1, steps: 4000, microBatches: 4).flatMap { $0 }
        let meanDepth = Double(rows.reduce(0) { $0 + $1.filter { $0 }.count }) / Double(rows.count)
        #expect(abs(meanDepth - Double(3 * layers - 1) / 4) < 0.06, "mean kept depth \(meanDepth), expected 11.75")
        for i in 0..<layers {
            let kept = Double(rows.filter { $0[i] }.count) / Double(rows.count)
            let expected = 1 - 0.5 * Double(i + 1) / Double(layers)
            #expect(abs(kept - expected) < 0.02, "layer \(i) kept in \(kept) of rows, expected \(expected)")
        }
        #expect(rows.allSatisfy { $0.contains(true) })
    }

    /// rescale=true: every layer's output scale is 1/p with p = 1 − (1 − θ)(i+1)/L its keep
    /// probability (Algorithm 2); without it the plan has no scales. Masks are the same either way.
    @Test func rescaleScalesKeptLayersByTheInverseKeepProbability() throws {
        let layers = 8, fraction = 1.0
        let (plain, plainHost) = try Self.open(layers: layers)
        let (scaled, scaledHost) = try Self.open(layers: layers, settings: ["rescale": "true"])
        plainHost.set(fraction: fraction, step: 3)
        scaledHost.set(fraction: fraction, step: 3)
        let a = try plain.stepPlan(microBatches: 2, in: StepContext(number: 4))
        let b = try scaled.stepPlan(microBatches: 2, in: StepContext(number: 4))
        #expect(a.outputScales == nil && a.activeLayers == b.activeLayers)
        let drop = 1 - Self.theta(fraction)
        let expected = (0..<layers).map { Float(1 / (1 - drop * Double($0 + 1) / Double(layers))) }
        #expect(b.outputScales == [expected, expected])
        #expect(expected.last! == 2, "the top layer is kept with probability 1/2 at the floor")
    }

    /// Part way down the schedule the expected depth is L − (1 − θ)(L + 1)/2.
    @Test func sampledDepthFollowsThetaOnTheWayDown() throws {
        let layers = 8, fraction = 0.005
        let (stack, host) = try Self.open(layers: layers)
        let rows = try Self.masks(stack, host, fraction: fraction, steps: 3000, microBatches: 2).flatMap { $0 }
        let meanDepth = Double(rows.reduce(0) { $0 + $1.filter { $0 }.count }) / Double(rows.count)
        let expected = Double(layers) - (1 - Self.theta(fraction)) * Double(layers + 1) / 2
        #expect(abs(meanDepth - expected) < 0.04, "mean kept depth \(meanDepth), expected \(expected)")
    }

    /// One row per micro-batch, each drawn afresh (the seed code resamples per micro-batch);
    /// `per_micro_batch=false` draws one mask per step.
    @Test func masksAreResampledPerMicroBatch() throws {
        let (stack, host) = try Self.open(layers: 16)
        let steps = try Self.masks(stack, host, fraction: 1, steps: 50, microBatches: 8)
        #expect(steps.allSatisfy { $0.count == 8 })
        #expect(steps.filter { Set($0).count > 1 }.count >= 49, "rows of a step should differ")

        let perStep = try Self.open(layers: 16, settings: ["per_micro_batch": "false"])
        let shared = try Self.masks(perStep.stack, perStep.host, fraction: 1, steps: 50, microBatches: 8)
        #expect(shared.allSatisfy { Set($0).count == 1 })
        #expect(Set(shared.map { $0[0] }).count > 40, "steps should still differ")
    }

    /// Masks come only from the step seed: the same seed gives the same masks, another seed others.
    @Test func masksDependOnlyOnTheStepSeed() throws {
        let a = try Self.open(layers: 16), b = try Self.open(layers: 16)
        let first = try Self.masks(a.stack, a.host, fraction: 1, steps: 20, microBatches: 4)
        let second = try Self.masks(b.stack, b.host, fraction: 1, steps: 20, microBatches: 4)
        #expect(first == second)
        let shifted = try Self.masks(b.stack, b.host, fraction: 1, steps: 20, microBatches: 4, firstStep: 100)
        #expect(first != shifted)
    }

    /// A row that would drop every layer runs the full model instead (the seed code's empty list
    /// meant "all layers"). With L = 2 and a floor of 0, layer 1 always drops and layer 0 drops
    /// half the time, so half the rows fall back to [1, 1] and no row is ever [0, 1].
    @Test func aRowThatWouldDropEverythingRunsTheFullModel() throws {
        let (stack, host) = try Self.open(layers: 2, settings: ["keep_floor": "0"])
        let rows = try Self.masks(stack, host, fraction: 1, steps: 1000, microBatches: 2).flatMap { $0 }
        #expect(!rows.contains([false, true]) && !rows.contains([false, false]))
        let full = Double(rows.filter { $0 == [true, true] }.count) / Double(rows.count)
        #expect(abs(full - 0.5) < 0.05, "full rows: \(full)")
    }

    @Test(arguments: [("keep_floor", "1.5", "keep_floor"), ("gamma_factor", "-1", "gamma_factor"), ("keep_floor", "abc", "keep_floor")])
    func badSettingsAreRefused(key: String, value: String, fragment: String) throws {
        let host = try layerMethodHost(layers: 4)
        let library = try PluginLibrary.open(path: Self.library)
        expectPluginError(["dropping", fragment]) {
            _ = try PluginStack(libraries: [library], settings: [key: value], services: host)
        }
    }

    @Test func passesEveryConformanceCheck() throws {
        for check in PluginCheck.allCases {
            let result = PluginConformance.run(check, libraryPath: Self.library)
            #expect(result.passed, "\(check): \(result.detail)")
        }
    }

    @Test func ntngPluginCheckPasses() throws {
        try #require(FileManager.default.isExecutableFile(atPath: PluginPaths.ntng), "the ntng executable is built beside the tests")
        let out = try runTool(PluginPaths.ntng, ["plugin", "check", Self.library, "--set", "gamma_factor=20"])
        #expect(out.contains("all checks passed"), "\(out)")
    }

    // MARK: - Through the trainer

    /// Dropping on an 8-layer tiny model against the baseline under the same RST budget: once θ
    /// has fallen, steps run fewer layers and cost less, so the run makes more steps; the mean
    /// active depth per step is in the record and evaluation uses the full model.
    @Test func trainsMoreStepsThanTheBaselineWithinTheSameBudget() throws {
        let fixture = try LayerMethodFixture(layers: 8)
        defer { fixture.remove() }
        let dropping = try fixture.run(method: "dropping", ["batch=8"])  // two micro-batches per step
        let baseline = try fixture.run(method: "baseline", ["batch=8"])
        #expect(dropping.summary.steps > baseline.summary.steps, "dropping \(dropping.summary.steps) steps vs baseline \(baseline.summary.steps)")

        // RST per step: the same as the baseline's at first (θ = 1), clearly less late in the run.
        func perStep(_ points: [LossPoint]) -> [Double] {
            points.indices.map { points[$0].rstSeconds - ($0 > 0 ? points[$0 - 1].rstSeconds : 0) }
        }
        let d = perStep(dropping.points), b = perStep(baseline.points)
        #expect(abs(d[0] - b[0]) < 1e-12)
        let lateDropping = d.suffix(20).reduce(0, +) / 20, lateBaseline = b.suffix(20).reduce(0, +) / 20
        #expect(lateDropping < 0.85 * lateBaseline, "late RST per step \(lateDropping) vs \(lateBaseline)")

        // Mean active depth per step is recorded; its average at the floor is about (3L − 1)/4.
        let active = try fixture.depthTimeline(runID: dropping.trainer.runID, key: "active_depth")
        #expect(active.count == dropping.summary.steps)
        let late = active.filter { $0.fraction > 0.2 }.map(\.value)
        let mean = late.reduce(0, +) / Double(max(late.count, 1))
        #expect(abs(mean - 5.75) < 0.75, "mean active depth \(mean) late in the run, expected about 5.75")
        #expect(dropping.trainer.workload.config.layers == 8)
    }

    /// Masks come from the step seed alone, so a resumed run drops the same layers as an
    /// uninterrupted one and ends identically.
    @Test func resumedRunMatchesAnUninterruptedOne() throws {
        let fixture = try LayerMethodFixture(layers: 8)
        defer { fixture.remove() }
        let r = try fixture.interruptedAndResumed(method: "dropping", stopAfter: 20, ["batch=8"])
        #expect(r.resumed.steps == r.straight.steps)
        #expect(r.resumedLosses == r.straightLosses)
        #expect(r.resumed.valLoss == r.straight.valLoss)
    }
}
