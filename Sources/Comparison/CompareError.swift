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
    case badGrid(String, detail: String)
    case executableMissing(String)
    case preparationFailed(String)
    case ambiguousSetting(method: String, String)
    /// Methods whose plugin optimizer has no calibrated cost in the profile.
    case estimatedCharges(methods: [String: String], profile: String, model: String)
    /// The Slurm executor could not go on; the text names the file or command and the fix.
    case slurm(String)

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
        case .badGrid(let g, let detail):
            return "--grid \(g): \(detail)"
        case .ambiguousSetting(let method, let problem):
            return "\(problem) (method \(method))"
        case .preparationFailed(let detail):
            return "preparing the trial failed: \(detail)"
        case .estimatedCharges(let methods, let profile, let model):
            let list = methods.sorted(by: { $0.key < $1.key }).map { "\($0.key) (plugin \($0.value))" }.joined(separator: ", ")
            let first = methods.sorted(by: { $0.key < $1.key }).first?.value ?? "PLUGIN"
            return "the optimizer of \(list) has no calibrated cost in profile \(profile): its charges would be estimated from wall time on this machine, so steps would differ from run to run. Calibrate it (`ntng calibrate --model \(model) --plugin \(first) --name \(profile)`) or pass --allow-estimated to compare with estimated charges (marked in the table and report)"
        case .slurm(let detail):
            return detail
        case .executableMissing(let path):
            return "cannot run trials: the ntng executable \(path) does not exist"
        }
    }

    public var errorDescription: String? { description }
}
