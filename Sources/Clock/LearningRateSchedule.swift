import Foundation

/// A learning-rate schedule as a pure function of the budget fraction (0 at the start, 1 when the
/// budget is used up), so that every schedule fully decays exactly at the end of the budget,
/// whatever the cost of a step (docs/clock.md).
///
/// The trainer reads ``RSTClock/fraction`` at the start of a step and uses
/// `schedule.learningRate(atFraction:)` for that step's update.
public enum LearningRateSchedule: Codable, Sendable, Equatable {
    /// Linear from 0 to `peak` at `warmupFraction`, then linear down to 0 at fraction 1.
    ///
    /// The NTNG BERT baseline ("budget-one-cycle") is `oneCycle(peak: 1e-3, warmupFraction: 0.5)`.
    /// NTNG quantizes the fraction to 1/2,000,000 of the budget; this is the continuous form.
    case oneCycle(peak: Double, warmupFraction: Double = 0.5)

    /// Linear warm-up from `initialFactor · peak` to `peak` over `warmupFraction`, then a cosine down
    /// to 0 at fraction 1, never below `minimumFactor · peak`.
    ///
    /// NTNG's T5 "cosine-budget" is `cosineToMinimum(peak: base, warmupFraction: 10000/65536,
    /// initialFactor: 0.5, minimumFactor: 1e-5)` (continuous form).
    case cosineToMinimum(peak: Double, warmupFraction: Double = 10_000.0 / 65_536.0,
                         initialFactor: Double = 0.5, minimumFactor: Double = 1e-5)

    /// A constant rate (tests and debugging).
    case constant(Double)

    /// The learning rate at budget fraction `fraction` (clamped to `0...1`).
    public func learningRate(atFraction fraction: Double) -> Double {
        let f = fraction.isNaN ? 0 : min(1, max(0, fraction))
        switch self {
        case .constant(let rate):
            return rate
        case .oneCycle(let peak, let warmup):
            if f < warmup { return peak * (f / warmup) }
            // warmup < 1 is checked by validate(); f >= warmup here.
            return max(0, peak * (1 - f) / (1 - warmup))
        case .cosineToMinimum(let peak, let warmup, let initial, let minimum):
            if f < warmup { return peak * (initial + (1 - initial) * f / warmup) }
            let progress = (f - warmup) / (1 - warmup)
            let factor = 0.5 * (1 + cos(Double.pi * progress))
            return peak * max(minimum, factor)
        }
    }

    /// The peak learning rate.
    public var peak: Double {
        switch self {
        case .constant(let rate): return rate
        case .oneCycle(let peak, _), .cosineToMinimum(let peak, _, _, _): return peak
        }
    }

    /// Checks the parameters: a finite positive peak, warm-up in `0..<1`, factors in `0...1`.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw LearningRateScheduleError(message: message) }
        }
        switch self {
        case .constant(let rate):
            try check(rate.isFinite && rate >= 0, "constant learning rate must be finite and >= 0, got \(rate)")
        case .oneCycle(let peak, let warmup):
            try check(peak.isFinite && peak > 0, "peak learning rate must be finite and > 0, got \(peak)")
            try check(warmup >= 0 && warmup < 1, "warm-up fraction must be in [0, 1), got \(warmup)")
        case .cosineToMinimum(let peak, let warmup, let initial, let minimum):
            try check(peak.isFinite && peak > 0, "peak learning rate must be finite and > 0, got \(peak)")
            try check(warmup >= 0 && warmup < 1, "warm-up fraction must be in [0, 1), got \(warmup)")
            try check(initial >= 0 && initial <= 1, "initial factor must be in [0, 1], got \(initial)")
            try check(minimum >= 0 && minimum <= 1, "minimum factor must be in [0, 1], got \(minimum)")
        }
    }
}

/// Invalid schedule parameters.
public struct LearningRateScheduleError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public let message: String
    public var description: String { message }
    public var errorDescription: String? { message }
}
