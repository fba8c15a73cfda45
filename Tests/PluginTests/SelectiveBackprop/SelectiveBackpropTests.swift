import TestSupport
import TrainingFixtures
import Foundation
import Models
import TensorCore
import Testing
@testable import Host
@testable import PluginHost

/// Selective backprop (`Plugins/SelectiveBackprop`, issue 7) through ``PluginStack``.
@Suite struct SelectiveBackpropTests {
    static let batch = 32

    func openStack(_ services: ScriptedHost, _ settings: [String: String] = [:]) throws -> PluginStack {
        let library = try PluginLibrary.open(path: methodPluginPath("SelectiveBackprop"))
        return try PluginStack(libraries: [library], settings: settings, services: services)
    }

    /// Pool ids are irrelevant to selective backprop; any distinct ids do.
    func ids(_ n: Int, step: Int) -> [UInt64] { (0..<n).map { UInt64(step * n + $0) } }

    struct StepOutcome {
        var rows: [Int]
        var scoredRows: [Int]
        var passed: Int
        var filled: Int
        var rate: Double
    }

    /// One select_batch call on a pool whose row losses come from `loss`.
    func select(_ stack: PluginStack, _ services: ScriptedHost, step: Int, seed: UInt64? = nil,
                loss: @escaping (Int) -> ExampleLoss) throws -> StepOutcome {
        services.newStep(seed: seed ?? SplitMix64.mix(UInt64(step) &+ 77))
        services.exampleLoss = loss
        let n = Self.batch * (stack.poolFactor ?? 1)
        let selection = try stack.selectBatch(exampleIDs: ids(n, step: step), batch: Self.batch, sequenceLength: 16, in: StepContext(number: 1))
        let scored = services.scoredRows.flatMap { $0 }
        #expect(selection.rows.count == Self.batch && Set(selection.rows).count == Self.batch)
        #expect(selection.rowsScored == scored.count, "every scored row is counted (and so charged)")
        #expect(Set(scored).count == scored.count)
        #expect(Set(selection.rows).isSubset(of: scored), "only scored candidates can be chosen")
        return StepOutcome(rows: selection.rows, scoredRows: scored, passed: Int(services.diagnostic("passed") ?? -1),
                           filled: Int(services.diagnostic("filled_rows") ?? -1), rate: services.diagnostic("selection_rate") ?? -1)
    }

    /// i.i.d. losses: uniform per-token means in [1, 3) from a generator keyed by (step, row).
    static func iidLoss(step: Int, masked: Int = 4) -> (Int) -> ExampleLoss {
        { row in
            var g = SplitMix64(seed: SplitMix64.mix(UInt64(step) << 20 ^ UInt64(row)))
            let u = Float(g.next() >> 40) / Float(1 << 24)
            return ExampleLoss(sum: (1 + 2 * u) * Float(masked), maskedTokens: masked)
        }
    }

    /// On a stationary loss stream the share of scored candidates that pass is E[U^β] = 1/(1+β),
    /// measured before any fill-up; scoring is lazy (fewer rows than the pool on average).
    @Test(arguments: [(beta: 1.0, factor: 3), (beta: 2.0, factor: 4)])
    func passRateIsOneOverOnePlusBeta(beta: Double, factor: Int) throws {
        let services = try selectionTestHost()
        let stack = try openStack(services, ["beta": String(beta), "pool_factor": String(factor)])
        #expect(stack.poolFactor == factor)
        var passed = 0, scored = 0, fillSteps = 0
        let steps = 300
        for step in 0..<steps {
            let out = try select(stack, services, step: step, loss: Self.iidLoss(step: step))
            passed += out.passed
            scored += out.scoredRows.count
            if out.filled > 0 { fillSteps += 1 }
            #expect(abs(out.rate - Double(out.passed) / Double(out.scoredRows.count)) < 1e-12)
        }
        let rate = Double(passed) / Double(scored)
        #expect(abs(rate - 1 / (1 + beta)) < 0.02, "pass rate \(rate), expected \(1 / (1 + beta))")
        // Lazy scoring: about (1+β)·batch rows per step, well under the whole pool.
        let meanScored = Double(scored) / Double(steps)
        #expect(meanScored < Double(factor * Self.batch) * 0.9 && meanScored >= Double(Self.batch))
        #expect(fillSteps < steps / 20, "fill-up should be rare with a pool of \(factor)×: \(fillSteps) steps")
    }

    /// Ranking uses the per-token mean: sequences with more masked tokens are not favoured.
    @Test func perTokenMeansDoNotFavourSequencesWithMoreMaskedTokens() throws {
        let services = try selectionTestHost()
        let stack = try openStack(services)
        var manyMasked = 0, total = 0
        for step in 0..<100 {
            let out = try select(stack, services, step: step) { row in
                // Even rows have 10 masked tokens, odd rows 1; the per-token means are i.i.d.
                Self.iidLoss(step: step, masked: row % 2 == 0 ? 10 : 1)(row)
            }
            manyMasked += out.rows.filter { $0 % 2 == 0 }.count
            total += out.rows.count
        }
        let share = Double(manyMasked) / Double(total)
        #expect(abs(share - 0.5) < 0.06, "share of 10-token rows among the chosen: \(share)")
    }

    /// When losses keep falling, few candidates pass: the whole pool is scored and the batch is
    /// filled with the highest losses among the rest; the fill is reported.
    @Test func fillUpTakesTheHighestRemainingLossesAndIsReported() throws {
        let services = try selectionTestHost()
        let stack = try openStack(services)
        var fillSteps = 0
        for step in 0..<40 {
            let n = 3 * Self.batch
            let means = (0..<n).map { row -> Float in
                var g = SplitMix64(seed: SplitMix64.mix(UInt64(step * 1000 + row)))
                return Float(100 - step) + Float(g.next() >> 40) / Float(1 << 24) * 0.5
            }
            let out = try select(stack, services, step: step) { ExampleLoss(sum: means[$0] * 2, maskedTokens: 2) }
            #expect(out.passed >= 0 && out.filled >= 0)
            #expect(min(out.passed, Self.batch) + out.filled == Self.batch)
            guard out.filled > 0 else { continue }
            fillSteps += 1
            #expect(out.scoredRows.count == n, "fill-up only after the whole pool was scored")
            // Every filled row has a higher loss than every row left out.
            let chosen = Set(out.rows)
            let bestLeftOut = (0..<n).filter { !chosen.contains($0) }.map { means[$0] }.max() ?? -.infinity
            #expect(out.rows.filter { means[$0] > bestLeftOut }.count >= out.filled)
        }
        #expect(fillSteps > 20, "falling losses should force fill-ups (\(fillSteps) steps)")
    }

    /// mode=accumulate (Algorithm 3): every trained row passed, no passer is scored and left over,
    /// and the auto pool is 8× the batch; on i.i.d. losses the pass rate is still 1/(1+β) and no
    /// step needs fill-up. Under falling losses it scores deeper into its pool than the default
    /// mode before filling up.
    @Test func accumulateModeTrainsOnlyOnPassersAndWastesNoScoredPasser() throws {
        let services = try selectionTestHost()
        let stack = try openStack(services, ["mode": "accumulate"])
        #expect(stack.poolFactor == 8)
        var passed = 0, scored = 0
        for step in 0..<200 {
            let out = try select(stack, services, step: step, loss: Self.iidLoss(step: step))
            #expect(out.passed == Self.batch && out.filled == 0, "step \(step): \(out.passed) passed, \(out.filled) filled")
            passed += out.passed
            scored += out.scoredRows.count
        }
        #expect(abs(Double(passed) / Double(scored) - 0.5) < 0.02)
        // The default mode on the same stream drops surplus passers of its last chunk.
        let pooled = try openStack(services)
        #expect(pooled.poolFactor == 3)
        var surplus = 0
        for step in 0..<200 {
            let out = try select(pooled, services, step: step, loss: Self.iidLoss(step: step))
            surplus += max(0, out.passed - Self.batch)
        }
        #expect(surplus > 0)
        expectPluginError(["mode must be pool"]) { _ = try openStack(services, ["mode": "until-full"]) }
    }

    /// The history is plugin state: a stack restored from a checkpoint selects exactly as the
    /// original continues to, and differently from a fresh stack without history.
    @Test func historySurvivesSaveAndLoad() throws {
        let services = try selectionTestHost()
        let original = try openStack(services)
        for step in 0..<30 { _ = try select(original, services, step: step, loss: Self.iidLoss(step: step)) }
        let saved = try original.checkpoint()
        let decoded = try JSONDecoder().decode(PluginStackCheckpoint.self, from: try JSONEncoder().encode(saved))
        let restored = try openStack(services)
        try restored.restore(decoded)
        #expect(try restored.checkpoint() == saved)
        let fresh = try openStack(services)
        var differs = false
        for step in 30..<40 {
            // Losses drift upwards, so the rank against the old history decides.
            let loss: (Int) -> ExampleLoss = { row in
                let base = Self.iidLoss(step: step)(row)
                return ExampleLoss(sum: base.sum + Float(step - 30) * 0.2 * Float(base.maskedTokens), maskedTokens: base.maskedTokens)
            }
            let a = try select(original, services, step: step, loss: loss)
            let b = try select(restored, services, step: step, loss: loss)
            let c = try select(fresh, services, step: step, loss: loss)
            #expect(a.rows == b.rows && a.scoredRows == b.scoredRows)
            if c.rows != a.rows { differs = true }
        }
        #expect(differs, "the history should change the selection")
    }

    /// Randomness comes only from the step seed.
    @Test func sameStepSeedSameRows() throws {
        let services = try selectionTestHost()
        let a = try openStack(services), b = try openStack(services)
        var allEqual = true
        for step in 0..<5 {
            let x = try select(a, services, step: step, loss: Self.iidLoss(step: step))
            let y = try select(b, services, step: step, loss: Self.iidLoss(step: step))
            allEqual = allEqual && x.rows == y.rows
        }
        #expect(allEqual)
        // And the seed is what the draw depends on: other step seeds, other rows.
        let c = try openStack(services), d = try openStack(services)
        var anyDifferent = false
        for step in 0..<5 {
            let x = try select(c, services, step: step, loss: Self.iidLoss(step: step))
            let z = try select(d, services, step: step, seed: 0xDEAD_BEEF &+ UInt64(step), loss: Self.iidLoss(step: step))
            anyDifferent = anyDifferent || x.rows != z.rows
        }
        #expect(anyDifferent)
    }

    @Test func badSettingsAreRefused() throws {
        let services = try selectionTestHost()
        expectPluginError(["pool_factor must be in 1..64"]) { _ = try openStack(services, ["pool_factor": "65"]) }
        expectPluginError(["beta must be"]) { _ = try openStack(services, ["beta": "-1"]) }
        expectPluginError(["history must be"]) { _ = try openStack(services, ["history": "0"]) }
    }

    /// `ntng plugin check` passes with the defaults.
    @Test func conformanceCheckerPasses() throws {
        let output = try runTool(PluginPaths.ntng, ["plugin", "check", methodPluginPath("SelectiveBackprop")])
        #expect(output.contains("all checks passed"), "\(output)")
    }

    /// A short real run: RST = training + scoring + optimizer charges, where the scoring charge is
    /// the profile's forward-only cost × the scored sequences the run records per step; with
    /// `--free scoring` that cost is not charged (but still totalled) and the run takes more steps.
    @Test func chargesAddUpInARealRun() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var steps: [Bool: Int] = [:]
        for free in [false, true] {
            var settings = try f.settings(budget: "0.3s")
            settings.method = methodPluginPath("SelectiveBackprop")
            if free { settings.free = [.scoring] }
            let trainer = try f.start(settings)
            guard case .finished(let summary) = try trainer.train() else { Issue.record("not finished"); return }
            let clock = trainer.clock, profile = clock.profile
            let layers = trainer.workload.config.layers, b = trainer.workload.config.microBatch
            let scored = try f.store.diagnostics(runID: trainer.runID, key: "scored_sequences").map(\.value).reduce(0, +)
            let rates = try f.store.diagnostics(runID: trainer.runID, key: "selection_rate")
            #expect(rates.count == summary.steps && scored >= Double(summary.steps * b))
            let scoring = profile.forwardOnlyCost(activeLayers: layers, sequences: Int(scored))
            let training = profile.forwardBackwardCost(activeLayers: layers, sequences: summary.steps * b)
            let optimizer = Double(summary.steps) * profile.optimizerUpdateCost(parameters: trainer.workload.parameters.parameterCount)
            #expect(abs((clock.charged[.training] ?? 0) - training) < 1e-9)
            if free {
                #expect((clock.charged[.scoring] ?? 0) == 0)
                #expect(abs((clock.wouldHaveCost[.scoring] ?? 0) - scoring) < 1e-9)
                #expect(abs(clock.rstSeconds - (training + optimizer)) < 1e-9)
            } else {
                #expect(abs((clock.charged[.scoring] ?? 0) - scoring) < 1e-9)
                #expect(abs(clock.rstSeconds - (training + scoring + optimizer)) < 1e-9)
            }
            steps[free] = summary.steps
        }
        #expect(steps[true]! > steps[false]!, "free scoring leaves more budget for training: \(steps)")
    }
}
