import Foundation
import Testing
import TestSupport
@testable import Clock

@Suite struct LearningRateScheduleTests {
    @Test func oneCycleAtExactPoints() {
        let schedule = LearningRateSchedule.oneCycle(peak: 1e-3)
        #expect(schedule.learningRate(atFraction: 0) == 0)
        #expect(schedule.learningRate(atFraction: 0.25) == 0.5e-3)
        #expect(schedule.learningRate(atFraction: 0.5) == 1e-3)
        #expect(schedule.learningRate(atFraction: 0.75) == 0.5e-3)
        #expect(schedule.learningRate(atFraction: 1) == 0)
    }

    @Test func oneCycleClampsOutsideTheBudget() {
        let schedule = LearningRateSchedule.oneCycle(peak: 1e-3)
        #expect(schedule.learningRate(atFraction: -0.1) == 0)
        #expect(schedule.learningRate(atFraction: 1.2) == 0)
        #expect(schedule.learningRate(atFraction: .nan) == 0)
    }

    @Test func oneCycleWithShortWarmup() {
        let schedule = LearningRateSchedule.oneCycle(peak: 2, warmupFraction: 0.25)
        #expect(schedule.learningRate(atFraction: 0.125) == 1)
        #expect(schedule.learningRate(atFraction: 0.25) == 2)
        #expect(schedule.learningRate(atFraction: 0.625) == 1)
        #expect(schedule.learningRate(atFraction: 1) == 0)
    }

    @Test func cosineToMinimum() {
        let schedule = LearningRateSchedule.cosineToMinimum(peak: 1, warmupFraction: 0.2, initialFactor: 0.5, minimumFactor: 1e-5)
        #expect(schedule.learningRate(atFraction: 0) == 0.5)
        #expect(abs(schedule.learningRate(atFraction: 0.1) - 0.75) < 1e-12)
        #expect(schedule.learningRate(atFraction: 0.2) == 1)
        #expect(abs(schedule.learningRate(atFraction: 0.6) - 0.5) < 1e-12)  // half way through the cosine
        #expect(schedule.learningRate(atFraction: 1) == 1e-5)                 // floored at the minimum
    }

    @Test func cosineDefaultsMatchNTNG() {
        let schedule = LearningRateSchedule.cosineToMinimum(peak: 0.02)
        guard case .cosineToMinimum(_, let warmup, let initial, let minimum) = schedule else {
            Issue.record("wrong case"); return
        }
        #expect(warmup == 10_000.0 / 65_536.0)
        #expect(initial == 0.5)
        #expect(minimum == 1e-5)
    }

    @Test func validation() throws {
        try LearningRateSchedule.oneCycle(peak: 1e-3).validate()
        #expect(throws: LearningRateScheduleError.self) { try LearningRateSchedule.oneCycle(peak: 0).validate() }
        #expect(throws: LearningRateScheduleError.self) { try LearningRateSchedule.oneCycle(peak: 1, warmupFraction: 1).validate() }
        #expect(throws: LearningRateScheduleError.self) {
            try LearningRateSchedule.cosineToMinimum(peak: 1, minimumFactor: 2).validate()
        }
    }

    @Test func codableRoundTrip() throws {
        let schedule = LearningRateSchedule.oneCycle(peak: 1e-3, warmupFraction: 0.3)
        let decoded = try JSONDecoder().decode(LearningRateSchedule.self, from: JSONEncoder().encode(schedule))
        #expect(decoded == schedule)
    }
}
