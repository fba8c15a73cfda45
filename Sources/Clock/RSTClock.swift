import Foundation

/// The kinds of work the host charges to the RST clock.
///
/// Evaluation (validation loss, checkpointing, data preparation) is never charged and has no kind.
public enum ChargeKind: String, Codable, Sendable, CaseIterable, Comparable {
    /// Forward + backward of the training micro-batches.
    case training
    /// No-grad forward passes that score candidate sequences (selective backprop, RHO-loss).
    case scoring
    /// Extra passes that estimate curvature, e.g. Sophia's sampled-label (GNB) pass.
    case curvature
    /// Optimizer update arithmetic.
    case optimizer
    /// Work done inside a method plugin.
    case plugin

    public static func < (a: ChargeKind, b: ChargeKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The compute-budget clock of one run, measured in reference system time (RST).
///
/// The host calls ``charge(_:seconds:)`` (or one of the look-up helpers) for each unit of work
/// **as it performs it**; the charge comes from the ``ReferenceProfile``, never from the wall clock,
/// so the same seed, budget and profile give the same steps and the same losses on an idle or a busy
/// machine. Wall time is measured beside it on a monotonic clock for reporting, and drives the
/// schedule only when the budget kind is `.wall`.
///
/// **Free kinds.** Kinds in ``freeKinds`` (`--free scoring`, `--free curvature`: the paper's
/// "for free" ablations) are charged as 0 but their cost is still totalled in ``wouldHaveCost``.
///
/// **Stop rule.** A step may start only while the budget is not used up (``canStartStep()``:
/// `elapsed < budget`). A step that has started is always completed, charged and counted, even if
/// it crosses the budget. This is the rule of the NTNG BERT code; it needs no
/// prediction of a step's cost (which is random under layer dropping and selection), never leaves a
/// half-accumulated gradient, and overshoots by less than one step, whose cost is recorded exactly
/// in ``rstSeconds``. For `.steps` budgets it runs exactly `budget` steps.
///
/// **Schedules** read ``fraction``, which is clamped to `0...1`.
///
/// The clock is `Codable` so that a checkpoint restores it exactly (RST sums are stored as JSON
/// numbers, which round-trip doubles bit for bit). Wall time accumulated before a checkpoint is kept;
/// the monotonic clock restarts on decode.
public struct RSTClock: Codable, Sendable {
    /// The budget this run may spend.
    public let budget: Budget
    /// The costs charged for each unit of work.
    public let profile: ReferenceProfile
    /// Kinds charged as zero (their cost is still reported in ``wouldHaveCost``).
    public let freeKinds: Set<ChargeKind>

    /// RST seconds charged so far (all non-free kinds, summed in charge order).
    public private(set) var rstSeconds: Double = 0
    /// Charged RST seconds per kind (free kinds stay 0).
    public private(set) var charged: [ChargeKind: Double] = [:]
    /// What free kinds would have cost had they been charged.
    public private(set) var wouldHaveCost: [ChargeKind: Double] = [:]
    /// Optimizer steps completed (``completeStep(sequences:tokens:)``).
    public private(set) var steps: Int = 0
    /// Training sequences consumed by completed steps.
    public private(set) var sequences: Int = 0
    /// Training tokens consumed by completed steps.
    public private(set) var tokens: Int = 0

    /// Wall seconds accumulated in earlier processes (before the last checkpoint restore).
    private var wallSecondsBefore: Double = 0
    /// Monotonic start of this process's share of the run. Not encoded.
    private var monotonicStart: UInt64
    private let monotonicNow: @Sendable () -> UInt64

    /// Creates a clock at zero.
    /// - Parameters:
    ///   - budget: what the run may spend.
    ///   - profile: reference costs; validate it for the model first.
    ///   - freeKinds: kinds to charge as zero (ablations). `.training` cannot be free.
    public init(budget: Budget, profile: ReferenceProfile, freeKinds: Set<ChargeKind> = []) {
        self.init(budget: budget, profile: profile, freeKinds: freeKinds, monotonicNow: RSTClock.monotonicNanoseconds)
    }

    /// Test seam: a clock reading wall time from `monotonicNow` (nanoseconds).
    init(budget: Budget, profile: ReferenceProfile, freeKinds: Set<ChargeKind>,
         monotonicNow: @escaping @Sendable () -> UInt64) {
        precondition(!freeKinds.contains(.training), "training work can never be free")
        self.budget = budget
        self.profile = profile
        self.freeKinds = freeKinds
        self.monotonicNow = monotonicNow
        self.monotonicStart = monotonicNow()
    }

    // MARK: - Charging

    /// Charges `seconds` of reference time of `kind` and returns what was charged (0 for a free kind).
    ///
    /// - Precondition: `seconds` is finite and non-negative.
    @discardableResult
    public mutating func charge(_ kind: ChargeKind, seconds: Double) -> Double {
        precondition(seconds.isFinite && seconds >= 0, "RST charge must be finite and >= 0, got \(seconds)")
        if freeKinds.contains(kind) {
            wouldHaveCost[kind, default: 0] += seconds
            return 0
        }
        charged[kind, default: 0] += seconds
        rstSeconds += seconds
        return seconds
    }

    /// Charges forward + backward of `sequences` training sequences through `activeLayers` layers.
    @discardableResult
    public mutating func chargeTraining(activeLayers: Int, sequences: Int) -> Double {
        charge(.training, seconds: profile.forwardBackwardCost(activeLayers: activeLayers, sequences: sequences))
    }

    /// Charges a training pass of `sequences` sequences through `activeLayers` layers of which the
    /// bottom `frozenLayers` run forward only: forward + backward at the trained depth, plus the
    /// frozen layers' forward (the forward-only table's increment, never negative).
    @discardableResult
    public mutating func chargeTraining(activeLayers: Int, frozenLayers: Int, sequences: Int) -> Double {
        guard frozenLayers > 0 else { return chargeTraining(activeLayers: activeLayers, sequences: sequences) }
        let trained = activeLayers - frozenLayers
        let forward = profile.forwardOnlyCost(activeLayers: activeLayers, sequences: sequences)
            - profile.forwardOnlyCost(activeLayers: trained, sequences: sequences)
        return charge(.training, seconds: profile.forwardBackwardCost(activeLayers: trained, sequences: sequences) + Swift.max(0, forward))
    }

    /// Charges no-grad scoring of `sequences` sequences through `activeLayers` layers.
    @discardableResult
    public mutating func chargeScoring(activeLayers: Int, sequences: Int) -> Double {
        charge(.scoring, seconds: profile.forwardOnlyCost(activeLayers: activeLayers, sequences: sequences))
    }

    /// Charges a sampled-label (curvature) pass of `sequences` sequences through `activeLayers` layers.
    @discardableResult
    public mutating func chargeCurvature(activeLayers: Int, sequences: Int) -> Double {
        charge(.curvature, seconds: profile.sampledLabelPassCost(activeLayers: activeLayers, sequences: sequences))
    }

    /// Charges one AdamW update over `parameters` parameters.
    @discardableResult
    public mutating func chargeOptimizer(parameters: Int) -> Double {
        charge(.optimizer, seconds: profile.optimizerUpdateCost(parameters: parameters))
    }

    /// Records a completed optimizer step and the training data it consumed.
    public mutating func completeStep(sequences: Int, tokens: Int) {
        precondition(sequences >= 0 && tokens >= 0, "step counters cannot decrease")
        steps += 1
        self.sequences += sequences
        self.tokens += tokens
    }

    // MARK: - Reading

    /// Monotonic wall seconds spent by the run, across checkpoint restores.
    public var wallSeconds: Double {
        wallSecondsBefore + Double(monotonicNow() &- monotonicStart) / 1e9
    }

    /// Budget used so far, in the budget's unit: RST seconds, wall seconds, or steps.
    public var elapsed: Double {
        switch budget.kind {
        case .rst: return rstSeconds
        case .wall: return wallSeconds
        case .steps: return Double(steps)
        }
    }

    /// Budget left, in the budget's unit (0 once it is used up).
    public var remaining: Double { max(0, budget.amount - elapsed) }

    /// Fraction of the budget used, clamped to `0...1`; what schedules read.
    public var fraction: Double { min(1, max(0, elapsed / budget.amount)) }

    /// Whether the budget is used up.
    public var isExhausted: Bool { elapsed >= budget.amount }

    /// The stop rule: a new step may start only while the budget is not used up. A started step is
    /// completed and counted even if it crosses the budget (see the type's documentation).
    public func canStartStep() -> Bool { !isExhausted }

    /// Per-kind totals for reporting: charged seconds and, for free kinds, what they would have cost.
    public func totals() -> [(kind: ChargeKind, charged: Double, wouldHaveCost: Double)] {
        ChargeKind.allCases.map { ($0, charged[$0] ?? 0, wouldHaveCost[$0] ?? 0) }
    }

    // MARK: - Codable

    private enum CodingKeys: String, CodingKey {
        case budget, profile, freeKinds, rstSeconds, charged, wouldHaveCost, steps, sequences, tokens, wallSeconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        budget = try c.decode(Budget.self, forKey: .budget)
        profile = try c.decode(ReferenceProfile.self, forKey: .profile)
        freeKinds = Set(try c.decode([ChargeKind].self, forKey: .freeKinds))
        rstSeconds = try c.decode(Double.self, forKey: .rstSeconds)
        charged = try Self.byKind(c.decode([String: Double].self, forKey: .charged))
        wouldHaveCost = try Self.byKind(c.decode([String: Double].self, forKey: .wouldHaveCost))
        steps = try c.decode(Int.self, forKey: .steps)
        sequences = try c.decode(Int.self, forKey: .sequences)
        tokens = try c.decode(Int.self, forKey: .tokens)
        wallSecondsBefore = try c.decode(Double.self, forKey: .wallSeconds)
        monotonicNow = RSTClock.monotonicNanoseconds
        monotonicStart = monotonicNow()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(budget, forKey: .budget)
        try c.encode(profile, forKey: .profile)
        try c.encode(freeKinds.sorted(), forKey: .freeKinds)
        try c.encode(rstSeconds, forKey: .rstSeconds)
        try c.encode(Self.byName(charged), forKey: .charged)
        try c.encode(Self.byName(wouldHaveCost), forKey: .wouldHaveCost)
        try c.encode(steps, forKey: .steps)
        try c.encode(sequences, forKey: .sequences)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(wallSeconds, forKey: .wallSeconds)
    }

    // Dictionaries keyed by an enum encode as arrays; string keys keep the JSON readable.
    private static func byName(_ totals: [ChargeKind: Double]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: totals.map { ($0.key.rawValue, $0.value) })
    }

    private static func byKind(_ totals: [String: Double]) throws -> [ChargeKind: Double] {
        var result: [ChargeKind: Double] = [:]
        for (name, value) in totals {
            guard let kind = ChargeKind(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unknown charge kind \"\(name)\""))
            }
            result[kind] = value
        }
        return result
    }

    /// Encodes the clock as JSON, e.g. for a checkpoint's metadata.
    public func jsonString() throws -> String {
        let encoder = ReferenceProfile.makeEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Restores a clock from ``jsonString()``.
    public static func fromJSON(_ string: String) throws -> RSTClock {
        try ReferenceProfile.makeDecoder().decode(RSTClock.self, from: Data(string.utf8))
    }

    /// CLOCK_MONOTONIC in nanoseconds (unaffected by wall-clock adjustments).
    static let monotonicNanoseconds: @Sendable () -> UInt64 = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

extension ChargeKind {
    /// Parses a `--free` argument (`scoring`, `curvature`, `optimizer`, `plugin`); `training` is refused.
    public static func parseFree(_ text: String) throws -> ChargeKind {
        let name = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let kind = ChargeKind(rawValue: name), kind != .training else {
            throw FreeKindError(text: text)
        }
        return kind
    }
}

/// An unknown or forbidden `--free` kind.
public struct FreeKindError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The rejected text.
    public let text: String
    public var description: String {
        "cannot make \"\(text)\" free: valid kinds are "
            + ChargeKind.allCases.filter { $0 != .training }.map(\.rawValue).joined(separator: ", ")
            + " (training is always charged)"
    }
    public var errorDescription: String? { description }
}
