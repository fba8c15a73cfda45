import Foundation
import Clock
import Records
import Storage
import Host

/// Mean and sample standard deviation of a few numbers (one per seed).
///
/// With one value the standard deviation is `nil`, not 0: one seed says nothing about the spread.
public struct SampleSummary: Sendable, Equatable, Codable {
    /// How many values (seeds).
    public let count: Int
    /// Arithmetic mean; `nil` when there are no values.
    public let mean: Double?
    /// Sample standard deviation (divisor n − 1); `nil` for fewer than two values.
    public let standardDeviation: Double?

    public init<S: Sequence>(_ values: S) where S.Element == Double {
        let xs = Array(values)
        count = xs.count
        guard !xs.isEmpty else { mean = nil; standardDeviation = nil; return }
        let m = xs.reduce(0, +) / Double(xs.count)
        mean = m
        guard xs.count > 1 else { standardDeviation = nil; return }
        let squares = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) }
        standardDeviation = (squares / Double(xs.count - 1)).squareRoot()
    }

    enum CodingKeys: String, CodingKey { case count = "n", mean, standardDeviation = "std" }
}

/// The paired difference method − reference over the seeds both finished, with a two-sided
/// 95 % Student-t confidence interval for its mean.
///
/// Pairing by seed removes what the seeds share (initial weights, data order, masks, validation
/// set), so the interval is about the method, not about the luck of the seed. With one pair there
/// is no interval (``interval`` is `nil`, ``verdict`` is `.notAvailable`): one seed cannot show
/// that a difference is more than noise.
public struct PairedDifference: Sendable, Equatable {
    /// Per-seed differences (method − reference), in seed order.
    public let differences: [Double]
    /// Mean and standard deviation of the differences.
    public let summary: SampleSummary
    /// The 95 % confidence interval of the mean difference; `nil` with fewer than two pairs.
    public let interval: ClosedRange<Double>?

    /// What the interval says, for a metric where `lowerIsBetter`.
    public enum Verdict: String, Sendable, Codable {
        /// The interval lies entirely on the good side of 0.
        case better
        /// The interval lies entirely on the bad side of 0.
        case worse
        /// The interval contains 0: no significant difference.
        case notSignificant = "not significant"
        /// Fewer than two pairs: no interval can be given.
        case notAvailable = "n/a"
    }

    /// The verdict for a metric where smaller values are better (losses) or larger ones (scores).
    public let verdict: Verdict

    /// Pairs `method[seed]` with `reference[seed]` for every seed present in both.
    public init(method: [UInt64: Double], reference: [UInt64: Double], lowerIsBetter: Bool = true) {
        let seeds = Set(method.keys).intersection(reference.keys).sorted()
        self.init(differences: seeds.map { method[$0]! - reference[$0]! }, lowerIsBetter: lowerIsBetter)
    }

    public init(differences: [Double], lowerIsBetter: Bool = true) {
        self.differences = differences
        summary = SampleSummary(differences)
        if let mean = summary.mean, let sd = summary.standardDeviation {
            let half = StudentT.quantile975(degreesOfFreedom: differences.count - 1) * sd / Double(differences.count).squareRoot()
            let range = (mean - half)...(mean + half)
            interval = range
            if range.upperBound < 0 {
                verdict = lowerIsBetter ? .better : .worse
            } else if range.lowerBound > 0 {
                verdict = lowerIsBetter ? .worse : .better
            } else {
                verdict = .notSignificant
            }
        } else {
            interval = nil
            verdict = .notAvailable
        }
    }

    /// Whether the interval excludes 0.
    public var isSignificant: Bool { verdict == .better || verdict == .worse }
}

/// Quantiles of Student's t distribution.
public enum StudentT {
    /// t₀.₉₇₅ for 1…30 degrees of freedom (the two-sided 95 % critical values of standard tables).
    static let table975: [Double] = [
        12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836,
        2.446911851, 2.364624252, 2.306004135, 2.262157163, 2.228138852,
        2.200985160, 2.178812830, 2.160368656, 2.144786688, 2.131449546,
        2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447,
        2.079613845, 2.073873068, 2.068657610, 2.063898562, 2.059538553,
        2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
    ]

    /// The 97.5 % quantile of t with `df` degrees of freedom (`df` ≥ 1): the table up to 30, then
    /// the Cornish–Fisher expansion around the normal quantile (error below 1e-4 for df > 30).
    public static func quantile975(degreesOfFreedom df: Int) -> Double {
        precondition(df >= 1, "t quantiles need at least one degree of freedom")
        if df <= table975.count { return table975[df - 1] }
        let z = 1.959963984540054, n = Double(df)
        let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z
        return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n)
    }
}
