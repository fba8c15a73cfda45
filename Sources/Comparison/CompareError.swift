import Foundation
import Clock
import Records
import Storage
import Host

/// Why a comparison cannot start. Every message says what was wrong and what to write instead.
public enum CompareError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    case noMethods
    case duplicateMethod(String)
    case unknownMethod(String, detail: String)
    case noBudgets
    case badBudget(String, detail: String)
    case duplicateBudget(String)
    case badSeeds(Int)
    case badJobs(Int)
    case badTimeoutFactor(Double)
    case badSetting(String, detail: String)
    case executableMissing(String)
    case preparationFailed(String)

    public var description: String {
        switch self {
        case .noMethods:
            return "--methods is empty; list the methods to compare, e.g. --methods baseline,lion"
        case .duplicateMethod(let m):
            return "method '\(m)' is listed twice in --methods; list each method once"
        case .unknownMethod(let m, let detail):
            return "unknown method '\(m)' in --methods: \(detail)"
        case .noBudgets:
            return "--budgets is empty; give one or more RST budgets, e.g. --budgets 5m,10m"
        case .badBudget(let text, let detail):
            return "budget '\(text)' in --budgets is not valid: \(detail)"
        case .duplicateBudget(let text):
            return "budget '\(text)' is listed twice in --budgets; list each budget once"
        case .badSeeds(let n):
            return "--seeds must be at least 1 (got \(n)); it is the number of seeds, 0, 1, … n−1"
        case .badJobs(let n):
            return "--jobs must be at least 1 (got \(n))"
        case .badTimeoutFactor(let x):
            return "--timeout-factor must be a finite number ≥ 1 (got \(x))"
        case .badSetting(let s, let detail):
            return "--set \(s): \(detail)"
        case .preparationFailed(let detail):
            return "preparing the trial failed: \(detail)"
        case .executableMissing(let path):
            return "cannot run trials: the ntng executable \(path) does not exist"
        }
    }

    public var errorDescription: String? { description }
}
