import Foundation

/// How much compute a run may spend, and in which unit.
///
/// The comparison protocol (docs/clock.md) gives every method the same budget. The normal unit is
/// **reference system time** (RST): seconds of a named reference profile, charged per unit of work,
/// so that the same seed, budget and profile always give the same number of steps. Wall time and
/// step counts exist for comparison only.
///
/// ```swift
/// let budget = try Budget.parse("1h30m")            // 5400 s of RST
/// let wall = try Budget.parse("10m", kind: .wall)   // 600 s of wall time
/// let steps = try Budget.parse("2000", kind: .steps)
/// ```
public struct Budget: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The unit a budget is measured in.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Reference system time: seconds charged from a reference profile (the default).
        case rst
        /// Monotonic wall-clock seconds on the machine the run happens to use (not reproducible).
        case wall
        /// Optimizer steps.
        case steps
    }

    /// Seconds for `.rst` and `.wall` budgets; a whole number of optimizer steps for `.steps`.
    public let amount: Double
    /// The unit of `amount`.
    public let kind: Kind

    /// The largest time budget: a year of reference time is far beyond any study, and every count
    /// derived from a budget (steps, batches, evaluations) stays a small integer.
    public static let maximumSeconds: Double = 366 * 24 * 3600
    /// The largest step budget.
    public static let maximumSteps = 1_000_000_000

    /// Creates a budget, checking that `amount` is finite, positive and at most the maximum of its
    /// kind (and whole for `.steps`).
    public init(amount: Double, kind: Kind) throws {
        guard amount.isFinite, amount > 0 else {
            throw BudgetError(text: Budget.format(amount: amount, kind: kind), kind: kind,
                              reason: "a budget must be greater than zero")
        }
        if kind == .steps, amount.rounded() != amount {
            throw BudgetError(text: "\(amount)", kind: kind, reason: "a step budget must be a whole number")
        }
        if kind == .steps, amount > Double(Budget.maximumSteps) {
            throw BudgetError(text: "\(amount)", kind: kind, reason: "a step budget may be at most \(Budget.maximumSteps) steps")
        }
        if kind != .steps, amount > Budget.maximumSeconds {
            throw BudgetError(text: "\(amount)s", kind: kind, reason: "a time budget may be at most 366 days (8784h)")
        }
        self.amount = amount
        self.kind = kind
    }

    /// A time budget of `seconds` (RST by default).
    public static func seconds(_ seconds: Double, kind: Kind = .rst) throws -> Budget {
        precondition(kind != .steps, "use Budget.steps(_:) for step budgets")
        return try Budget(amount: seconds, kind: kind)
    }

    /// A budget of `count` optimizer steps.
    public static func steps(_ count: Int) throws -> Budget {
        try Budget(amount: Double(count), kind: .steps)
    }

    /// Parses command-line budget text.
    ///
    /// Time budgets (`.rst`, `.wall`) are one or more `<number><unit>` parts with units `h`, `m`, `s`
    /// in that order, each at most once: `"90s"`, `"10m"`, `"2h"`, `"1h30m"`, `"0.5h"`. A number
    /// without a unit is rejected because it is ambiguous. Step budgets are a plain positive
    /// integer, e.g. `"2000"`. Zero, negative or unparsable text throws a ``BudgetError`` whose
    /// message quotes the text and shows valid examples.
    public static func parse(_ text: String, kind: Kind = .rst) throws -> Budget {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func fail(_ reason: String) -> BudgetError { BudgetError(text: text, kind: kind, reason: reason) }
        if trimmed.hasPrefix("-") { throw fail("a budget must be greater than zero") }

        switch kind {
        case .steps:
            guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw fail("expected a whole number of steps")
            }
            guard let count = Int(trimmed), count <= Budget.maximumSteps else {
                throw fail("a step budget may be at most \(Budget.maximumSteps) steps")
            }
            guard count > 0 else { throw fail("a budget must be greater than zero") }
            return try Budget(amount: Double(count), kind: .steps)

        case .rst, .wall:
            let seconds = try parseDuration(trimmed.lowercased(), fail: fail)
            guard seconds > 0 else { throw fail("a budget must be greater than zero") }
            guard seconds.isFinite, seconds <= Budget.maximumSeconds else { throw fail("a time budget may be at most 366 days (8784h)") }
            return try Budget(amount: seconds, kind: kind)
        }
    }

    /// Parses `<number><unit>` parts (units h, m, s in decreasing order, each at most once).
    private static func parseDuration(_ text: String, fail: (String) -> BudgetError) throws -> Double {
        let unitSeconds: [Character: Double] = ["h": 3600, "m": 60, "s": 1]
        let unitOrder: [Character] = ["h", "m", "s"]
        var total = 0.0
        var number = ""
        var lastUnitIndex = -1
        var sawPart = false
        for character in text {
            if character.isASCII && (character.isNumber || character == ".") {
                number.append(character)
            } else if let perUnit = unitSeconds[character] {
                // Double("") and Double(".") are nil; Double also rejects "1.2.3".
                guard !number.isEmpty, number != ".", let value = Double(number) else {
                    throw fail("expected a number before '\(character)'")
                }
                let unitIndex = unitOrder.firstIndex(of: character)!
                guard unitIndex > lastUnitIndex else {
                    throw fail("units must appear once each, in the order h, m, s")
                }
                lastUnitIndex = unitIndex
                total += value * perUnit
                number = ""
                sawPart = true
            } else {
                throw fail("unexpected character '\(character)'")
            }
        }
        guard number.isEmpty else {
            throw fail(sawPart ? "'\(number)' has no unit" : "a duration needs a unit (h, m or s)")
        }
        guard sawPart else { throw fail("expected a duration") }
        return total
    }

    /// Budget in seconds for time budgets, `nil` for step budgets.
    public var seconds: Double? { kind == .steps ? nil : amount }

    /// Budget in steps for step budgets, `nil` for time budgets.
    public var steps: Int? { kind == .steps ? Int(amount) : nil }

    /// Human-readable form, e.g. `"1h30m RST"`, `"90s wall"`, `"2000 steps"`.
    public var description: String { Budget.format(amount: amount, kind: kind) }

    private static func format(amount: Double, kind: Kind) -> String {
        switch kind {
        case .steps:
            return amount.isFinite && amount.rounded() == amount ? "\(Int(amount)) steps" : "\(amount) steps"
        case .rst, .wall:
            return "\(formatDuration(amount)) \(kind == .rst ? "RST" : "wall")"
        }
    }

    /// Formats seconds as `1h30m`, `10m`, `90s`-style text (fractional seconds kept when present).
    /// A duration for people to read: tenths of a second under a minute, whole seconds above.
    public static func formatReadable(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "\(seconds)s" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        return formatDuration(seconds.rounded())
    }

    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds > 0 else { return "\(seconds)s" }
        let whole = seconds.rounded(.down)
        let fraction = seconds - whole
        guard whole < Double(Int.max) else { return "\(seconds)s" }
        let total = Int(whole)
        let h = total / 3600, m = (total % 3600) / 60, s = total % 60
        var text = ""
        if h > 0 { text += "\(h)h" }
        if m > 0 { text += "\(m)m" }
        if fraction > 0 {
            text += "\(Double(s) + fraction)s"
        } else if s > 0 || text.isEmpty {
            text += "\(s)s"
        }
        return text
    }
}

/// A budget that is zero, negative or cannot be parsed.
public struct BudgetError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The text that was rejected, exactly as given.
    public let text: String
    /// The budget kind the text was parsed for.
    public let kind: Budget.Kind
    /// Why the text was rejected.
    public let reason: String

    public var description: String {
        let examples = kind == .steps
            ? "give a positive whole number of steps, e.g. 500 or 20000"
            : "give a positive duration, e.g. 90s, 10m, 2h, 1h30m or 0.5h"
        return "invalid \(kind.rawValue) budget \"\(text)\": \(reason); \(examples)"
    }

    public var errorDescription: String? { description }
}
