import Foundation
import Testing
import TestSupport
@testable import Clock

@Suite struct RSTClockTests {
    @Test func chargesFromTheProfile() throws {
        var clock = RSTClock(budget: try .seconds(100), profile: sampleProfile())
        #expect(clock.chargeTraining(activeLayers: 4, sequences: 8) == 8 * 1.5)
        #expect(clock.chargeTraining(activeLayers: 2, sequences: 4) == 4 * 1.0)   // stacking: 2 layers active
        #expect(clock.chargeScoring(activeLayers: 4, sequences: 16) == 16 * 0.625)
        #expect(clock.chargeCurvature(activeLayers: 4, sequences: 2) == 2 * 3.0)
        #expect(clock.chargeOptimizer(parameters: 1000) == 1.0)
        #expect(clock.charge(.plugin, seconds: 1.0) == 1.0)
        #expect(clock.rstSeconds == 12 + 4 + 10 + 6 + 1 + 1)
        #expect(clock.charged[.training] == 16)
        #expect(clock.charged[.scoring] == 10)
        #expect(clock.elapsed == 34)
        #expect(clock.fraction == 0.34)
        #expect(clock.remaining == 66)
    }

    @Test func freeKindsAreCountedButNotCharged() throws {
        var clock = RSTClock(budget: try .seconds(100), profile: sampleProfile(), freeKinds: [.scoring, .curvature])
        #expect(clock.chargeScoring(activeLayers: 4, sequences: 16) == 0)
        #expect(clock.chargeCurvature(activeLayers: 4, sequences: 2) == 0)
        clock.chargeTraining(activeLayers: 4, sequences: 8)
        #expect(clock.rstSeconds == 12)
        #expect(clock.charged[.scoring] == nil)
        #expect(clock.wouldHaveCost[.scoring] == 10)
        #expect(clock.wouldHaveCost[.curvature] == 6)
        let totals = clock.totals()
        #expect(totals.first { $0.kind == .scoring }?.wouldHaveCost == 10)
        #expect(totals.first { $0.kind == .training }?.charged == 12)
    }

    @Test func parsesFreeKinds() throws {
        #expect(try ChargeKind.parseFree("scoring") == .scoring)
        #expect(try ChargeKind.parseFree("Curvature") == .curvature)
        #expect(throws: FreeKindError.self) { try ChargeKind.parseFree("training") }
        #expect(throws: FreeKindError.self) { try ChargeKind.parseFree("evaluation") }
    }

    @Test func fractionIsClamped() throws {
        var clock = RSTClock(budget: try .seconds(10), profile: sampleProfile())
        #expect(clock.fraction == 0)
        clock.charge(.training, seconds: 25)
        #expect(clock.fraction == 1)
        #expect(clock.remaining == 0)
    }

    /// Stop rule: a step starts only while elapsed < budget; the crossing step is completed and counted.
    @Test func stopRuleAtTheBoundary() throws {
        // Each step costs 8 × 1.5 = 12 s; budget 30 s → steps start at 0, 12, 24 and the third crosses.
        var clock = RSTClock(budget: try .seconds(30), profile: sampleProfile())
        var started = 0
        while clock.canStartStep() {
            started += 1
            clock.chargeTraining(activeLayers: 4, sequences: 8)
            clock.completeStep(sequences: 8, tokens: 8 * 32)
        }
        #expect(started == 3)
        #expect(clock.steps == 3)
        #expect(clock.tokens == 3 * 8 * 32)
        #expect(clock.sequences == 24)
        #expect(clock.rstSeconds == 36)  // overshoot < one step, recorded exactly
        #expect(clock.fraction == 1)
    }

    @Test func stopRuleWhenLandingExactlyOnTheBudget() throws {
        // Budget 24 s = exactly two steps: reaching it stops, no third step.
        var clock = RSTClock(budget: try .seconds(24), profile: sampleProfile())
        var started = 0
        while clock.canStartStep() {
            started += 1
            clock.chargeTraining(activeLayers: 4, sequences: 8)
            clock.completeStep(sequences: 8, tokens: 256)
        }
        #expect(started == 2)
        #expect(clock.isExhausted)
    }

    @Test func stepBudgetsCountSteps() throws {
        var clock = RSTClock(budget: try .steps(4), profile: sampleProfile())
        var started = 0
        while clock.canStartStep() {
            started += 1
            clock.chargeTraining(activeLayers: 4, sequences: 8)
            clock.completeStep(sequences: 8, tokens: 256)
            if started == 1 { #expect(clock.fraction == 0.25) }
        }
        #expect(started == 4)
        #expect(clock.rstSeconds == 48)  // RST is still recorded beside
        #expect(clock.elapsed == 4)
    }

    @Test func wallTimeIsRecordedButDrivesOnlyWallBudgets() throws {
        let fake = FakeMonotonicClock()
        var rst = RSTClock(budget: try .seconds(100), profile: sampleProfile(), freeKinds: [],
                           monotonicNow: { fake.now() })
        var wall = RSTClock(budget: try .seconds(100, kind: .wall), profile: sampleProfile(), freeKinds: [],
                            monotonicNow: { fake.now() })
        rst.charge(.training, seconds: 10)
        wall.charge(.training, seconds: 10)
        fake.advance(seconds: 50)
        #expect(abs(rst.wallSeconds - 50) < 1e-9)
        #expect(rst.fraction == 0.1)                  // RST budget ignores the wall clock
        #expect(abs(wall.fraction - 0.5) < 1e-9)      // wall budget follows it
        #expect(wall.rstSeconds == 10)
        fake.advance(seconds: 60)
        #expect(!wall.canStartStep())
        #expect(rst.canStartStep())
    }

    @Test func codableRoundTripIsExact() throws {
        var clock = RSTClock(budget: try .parse("1h"), profile: sampleProfile(), freeKinds: [.scoring])
        for _ in 0..<7 {
            clock.charge(.training, seconds: 0.1)        // sums that are not exactly representable
            clock.charge(.optimizer, seconds: 1.0 / 3.0)
            clock.charge(.scoring, seconds: 0.7)
            clock.completeStep(sequences: 3, tokens: 96)
        }
        let wallBeforeSaving = clock.wallSeconds
        let json = try clock.jsonString()
        let restored = try RSTClock.fromJSON(json)
        #expect(restored.rstSeconds.bitPattern == clock.rstSeconds.bitPattern)
        #expect(restored.charged == clock.charged)
        #expect(restored.wouldHaveCost == clock.wouldHaveCost)
        #expect(restored.freeKinds == [.scoring])
        #expect(restored.steps == 7 && restored.sequences == 21 && restored.tokens == 672)
        #expect(restored.budget == clock.budget)
        #expect(restored.profile == clock.profile)
        #expect(restored.wallSeconds >= wallBeforeSaving)  // wall time carries over

        // Continuing both gives bit-identical sums.
        var a = clock, b = restored
        a.charge(.training, seconds: 0.1)
        b.charge(.training, seconds: 0.1)
        #expect(a.rstSeconds.bitPattern == b.rstSeconds.bitPattern)
    }
}
