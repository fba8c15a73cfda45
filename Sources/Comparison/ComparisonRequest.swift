import Foundation
import Clock
import Records
import Storage
import Host

/// What `ntng compare` was asked to do: methods × budgets × seeds on one model and corpus, and how
/// to run the trials. ``validated()`` turns command-line text into checked values.
public struct ComparisonRequest: Sendable {
    /// Methods in the order given (`baseline`, plugin names or ids, paths, `a+b` stacks).
    public var methods: [String]
    /// RST budgets as the user wrote them (`5m`); the child gets the same text, so it parses the
    /// same amount.
    public var budgets: [String]
    /// Number of seeds; the seeds are `firstSeed …< firstSeed + seeds`.
    public var seeds: Int
    public var firstSeed: UInt64 = 0
    public var model = "small"
    public var corpus = "books"
    /// `--set KEY=VALUE` for every trial; `PLUGIN.KEY` settings go only to trials whose method
    /// includes that plugin.
    public var settings: [String] = []
    /// `--grid KEY=v1,v2,…`: settings swept over values. The trials run the cross product of every
    /// grid (each point with the same seeds and budgets), and the table groups them by point.
    public var grid: [String] = []
    /// Charge kinds not charged (`--free scoring`), for every trial.
    public var free: [String] = []
    /// Reference profiles, names or paths: one per precision the rows compute in (none:
    /// `default-<model>`, `default-<model>-bf16`).
    public var profiles: [String] = []
    /// Extra plugin folders.
    public var pluginPaths: [String] = []
    /// Trials run at once; the cores are split between them.
    public var jobs = 1
    /// Cores to split between the jobs.
    public var cores = ProcessInfo.processInfo.activeProcessorCount
    /// Watchdog: a trial is killed after `timeoutFactor × expected wall time` (at least ``timeoutFloor``).
    public var timeoutFactor = 4.0
    /// The shortest watchdog timeout in seconds (start-up and validation take time at any budget).
    public var timeoutFloor = 120.0
    /// Seconds a trial needs beyond its budget (process start, corpus, validation), for the
    /// watchdog's expected wall time.
    public var startupAllowance = 15.0
    /// Accept methods whose plugin optimizer is charged by an estimate (no calibration in the
    /// profile); their trials are marked.
    public var allowEstimated = false
    /// The method the others are compared with (nil: `baseline` if listed, else the first method).
    public var reference: String?

    public init(methods: [String], budgets: [String], seeds: Int) {
        self.methods = methods
        self.budgets = budgets
        self.seeds = seeds
    }

    /// The rows, parsed (`baseline@bf16` pins a precision).
    public var comparedMethods: [ComparedMethod] {
        get throws { try methods.map(ComparedMethod.init) }
    }

    /// The checked budgets, in the order given (ascending order is not required).
    public func parsedBudgets() throws -> [Budget] {
        guard !budgets.isEmpty else { throw CompareError.noBudgets }
        var seen = Set<Double>()
        return try budgets.map { text in
            let budget: Budget
            do { budget = try Budget.parse(text, kind: .rst) } catch let error as BudgetError {
                throw CompareError.badBudget(text, detail: error.reason + " (examples: 90s, 5m, 1h30m)")
            }
            guard seen.insert(budget.amount).inserted else { throw CompareError.duplicateBudget(text) }
            return budget
        }
    }

    /// Checks everything that can be checked without the store, the corpus or the plugins.
    public func validate() throws {
        guard !methods.isEmpty else { throw CompareError.noMethods }
        var seen = Set<String>()
        for m in methods {
            if m.trimmingCharacters(in: .whitespaces).isEmpty { throw CompareError.unknownMethod(m, detail: "an empty name") }
            guard seen.insert(m).inserted else { throw CompareError.duplicateMethod(m) }
        }
        _ = try comparedMethods
        _ = try parsedBudgets()
        _ = try gridPoints()
        guard seeds >= 1 else { throw CompareError.badSeeds(seeds) }
        guard jobs >= 1 else { throw CompareError.badJobs(jobs) }
        guard timeoutFactor.isFinite, timeoutFactor >= 1 else { throw CompareError.badTimeoutFactor(timeoutFactor) }
    }

    /// The `ntng compare` command that asks for the same trials (everything that enters a trial's
    /// identity; how they run — jobs, watchdog — is left out). Shell-quoted where needed.
    public var commandLine: String {
        let quoted = ShellWord.quoted
        var a = ["ntng", "compare", "--methods", methods.joined(separator: ","), "--budgets", budgets.joined(separator: ","),
                 "--seeds", String(seeds), "--model", model, "--corpus", corpus]
        for s in settings { a += ["--set", s] }
        for g in grid { a += ["--grid", g] }
        for f in free { a += ["--free", f] }
        for profile in profiles { a += ["--profile", profile] }
        for p in pluginPaths { a += ["--plugin-path", p] }
        if let reference { a += ["--reference", reference] }
        if allowEstimated { a.append("--allow-estimated") }
        return a.map(quoted).joined(separator: " ")
    }

    /// The grid's points, each a list of `KEY=VALUE` settings (the first grid varies slowest); one
    /// empty point without a grid. Keys of the model's shape are refused (a shape has its own
    /// profile: compare shapes in separate comparisons), as are precision and backend (a row pins a
    /// precision) and keys also given with --set.
    public func gridPoints() throws -> [[String]] {
        var points: [[String]] = [[]]
        var keys = Set<String>()
        for entry in grid {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw CompareError.badGrid(entry, detail: "write KEY=v1,v2,… (e.g. --grid dropping.gamma_f=20,100 or --grid lr=5e-4,1e-3)")
            }
            let key = entry[..<eq].trimmingCharacters(in: .whitespaces)
            let values = Self.list(String(entry[entry.index(after: eq)...]))
            if values.contains(where: \.isEmpty) { throw CompareError.badGrid(entry, detail: "a value is empty; separate values by single commas") }
            if Set(values).count != values.count { throw CompareError.badGrid(entry, detail: "a value is listed twice") }
            if !keys.insert(key).inserted { throw CompareError.badGrid(entry, detail: "\(key) has two grids; list all its values in one") }
            if key.hasPrefix("model.") {
                throw CompareError.badGrid(entry, detail: "a model shape key: each shape is priced by its own profile, so compare shapes in separate comparisons")
            }
            if key == "precision" || key == "backend" {
                throw CompareError.badGrid(entry, detail: "to compare precisions, pin rows to them (--methods baseline,baseline@bf16)")
            }
            if settings.contains(where: { $0.hasPrefix(key + "=") }) {
                throw CompareError.badGrid(entry, detail: "\(key) is also given with --set; give it in one place")
            }
            points = points.flatMap { point in values.map { point + ["\(key)=\($0)"] } }
        }
        return points
    }

    /// The seeds of the comparison.
    public var seedList: [UInt64] { (0..<UInt64(max(seeds, 0))).map { firstSeed + $0 } }

    /// The method every other one is compared with.
    public var referenceMethod: String {
        reference ?? (methods.contains("baseline") ? "baseline" : methods.first ?? "baseline")
    }

    /// Compute threads for each trial: the cores split evenly between the jobs, at least one.
    public var threadsPerTrial: Int { max(1, cores / max(jobs, 1)) }

    /// Splits a comma-separated option value (`baseline,lion`), trimming blanks.
    public static func list(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }
}
