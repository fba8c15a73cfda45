import Foundation
import Storage
import Clock
import Records
import Host
import Evaluation
import PluginHost
import Corpus

/// A number compared across methods: final training loss, validation loss, or any other
/// evaluation stored with the runs (downstream scores from `ntng eval`: each headline
/// `downstream.<task>` and `downstream.average` shows up as a column by itself, per-task details do
/// not; names ending in `loss` count lower as better).
public struct ComparisonMetric: Sendable, Hashable, Codable {
    /// Key in exports (`train_loss`, `val_loss`, or the evaluation's name).
    public var key: String
    /// Column title.
    public var title: String
    public var lowerIsBetter: Bool

    public static let trainLoss = ComparisonMetric(key: "train_loss", title: "train loss", lowerIsBetter: true)
    public static let valLoss = ComparisonMetric(key: "val_loss", title: "val loss", lowerIsBetter: true)

    /// The metric for an evaluation name stored with the runs.
    public static func evaluation(_ name: String) -> ComparisonMetric {
        ComparisonMetric(key: name, title: name.replacingOccurrences(of: "_", with: " "), lowerIsBetter: name.hasSuffix("loss"))
    }
}

/// One method at one budget: its trials over the seeds and their statistics.
public struct MethodRow: Sendable {
    public var method: String
    public var outcomes: [TrialOutcome]
    /// Metric key → value per seed (finished trials only).
    public var values: [String: [UInt64: Double]]
    /// Metric key → mean ± std over seeds.
    public var summaries: [String: SampleSummary]
    /// Metric key → paired difference against the reference method (nil for the reference itself).
    public var differences: [String: PairedDifference]?
    /// Metric keys for which this row is the best at its budget.
    public var best: Set<String>
    /// Mean RST and wall seconds per finished trial.
    public var meanRSTSeconds: Double?
    public var meanWallSeconds: Double?

    public var finishedCount: Int { outcomes.filter(\.isFinished).count }
}

/// One budget's part of the table (at one grid point: the paired statistics are per setting and
/// budget).
public struct BudgetSection: Sendable {
    public var budgetText: String
    public var budget: Budget
    /// The grid point (`KEY=VALUE, …`; empty without --grid).
    public var setting = ""
    /// "5m RST" or "5m RST, dropping.gamma_f=20".
    public var title: String { setting.isEmpty ? budget.description : "\(budget), \(setting)" }
    public var rows: [MethodRow]
}

/// Everything the table and the report show, computed from the outcomes and the store.
public struct ComparisonSummary: Sendable {
    public var model: String
    public var corpus: String
    public var seeds: [UInt64]
    public var methods: [String]
    public var reference: String
    public var profileName: String
    public var profileSHA256: String
    /// The profiles of precisions other than the first row's (when a row pins a precision):
    /// precision, name, SHA-256.
    public var otherProfiles: [(precision: String, name: String, sha256: String)] = []
    /// "default-small (sha256 0123456789ab)", then each other precision's profile.
    public var profileDescription: String {
        ([ "\(profileName) (sha256 \(profileSHA256.prefix(12)))" ]
         + otherProfiles.map { "\($0.precision) rows: \($0.name) (sha256 \($0.sha256.prefix(12)))" }).joined(separator: "; ")
    }
    public var metrics: [ComparisonMetric]
    public var sections: [BudgetSection]
    public var outcomes: [TrialOutcome]
    /// Problems found when checking that the trials of each seed share everything but the method;
    /// empty when the check passed.
    public var consistencyProblems: [String]
    /// How many finished trials the check covered.
    public var consistencyChecked: Int
    /// The `ntng compare` command that asks for the same trials (the report's "reproduce" line).
    public var commandLine: String

    public var failedOutcomes: [TrialOutcome] { outcomes.filter { !$0.isFinished } }
    /// What context-free predictors score on the shared validation set (stored with the trials;
    /// nil when none of them has the lines: trials from before they were stored).
    public var referenceLines: ReferenceLines?
    /// Methods charged by estimate (method → plugin id), marked with † in the table and report.
    public var estimatedMethods: [String: String] = [:]
    /// Each method's plugins (id, version, SHA-256, charge basis), in stack order.
    public var methodPlugins: [String: [MethodPlugin]] = [:]

    /// How tables name `method`: as given, except that a library given by path is named by its
    /// plugin id (`./libSFAdamW.so` → `org.example.sf-adamw`).
    public func label(_ method: String) -> String {
        guard let plugins = methodPlugins[method] else { return method }
        let parts = method.split(separator: "+").map(String.init)
        guard parts.count == plugins.count, parts.contains(where: PluginResolver.isPath) else { return method }
        return zip(parts, plugins).map { PluginResolver.isPath($0) ? $1.id : $0 }.joined(separator: "+")
    }

    /// Aggregates the outcomes of `plan`. Extra evaluations are read from `store`.
    public init(plan: ComparisonPlan, outcomes: [TrialOutcome], store: ResultsStore) throws {
        model = plan.request.model
        corpus = plan.request.corpus
        seeds = plan.request.seedList
        methods = plan.request.methods
        commandLine = plan.commandLine
        methodPlugins = plan.methodPlugins
        let reference = plan.request.referenceMethod
        self.reference = reference
        profileName = plan.profile.name
        profileSHA256 = plan.profileSHA256
        otherProfiles = plan.profiles.filter { $0.value.sha256 != plan.profileSHA256 }.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { ($0.key.rawValue, $0.value.profile.name, $0.value.sha256) }
        estimatedMethods = plan.estimatedMethods
        self.outcomes = outcomes

        // Metric columns: the two losses, then any other evaluation the finished runs recorded.
        var extra: [String] = []
        var evaluations: [String: [String: Double]] = [:]  // run id → name → last value
        for o in outcomes where o.isFinished {
            guard let id = o.runID else { continue }
            var last: [String: Double] = [:]
            let stored = try store.evaluations(runID: id)
            if referenceLines == nil {
                referenceLines = ReferenceLines(stored: stored.map { (name: $0.name, value: $0.value) })
            }
            for e in stored where e.name != "val_loss" && e.value.isFinite && !DownstreamEvaluation.isDetail(e.name) && !ReferenceLines.isReference(e.name) {
                last[e.name] = e.value
                if !extra.contains(e.name) { extra.append(e.name) }
            }
            evaluations[id] = last
        }
        let metrics = [ComparisonMetric.trainLoss, .valLoss] + extra.sorted().map(ComparisonMetric.evaluation)
        self.metrics = metrics

        func value(_ metric: ComparisonMetric, _ record: RunRecord) -> Double? {
            switch metric.key {
            case ComparisonMetric.trainLoss.key: return record.finalTrainLoss
            case ComparisonMetric.valLoss.key: return record.valLoss
            default: return evaluations[record.id]?[metric.key]
            }
        }

        var sections: [BudgetSection] = []
        for (text, budget) in zip(plan.request.budgets, plan.budgets) {
            for setting in plan.settingPoints {
                let mine = outcomes.filter { $0.trial.budget == budget && $0.trial.setting == setting }
                sections.append(BudgetSection(budgetText: text, budget: budget, setting: setting,
                                              rows: Self.rows(plan.request.methods, of: mine, reference: reference, metrics: metrics, value: value)))
            }
        }
        self.sections = sections
        (consistencyProblems, consistencyChecked) = Self.checkShared(outcomes)
    }

    /// One section's rows: per method its trials' values and statistics, the paired differences
    /// against `reference` and the best mean of each metric.
    static func rows(_ methods: [String], of outcomes: [TrialOutcome], reference: String, metrics: [ComparisonMetric],
                     value: (ComparisonMetric, RunRecord) -> Double?) -> [MethodRow] {
        var rows: [MethodRow] = methods.map { method in
            let mine = outcomes.filter { $0.trial.row == method }
            var values: [String: [UInt64: Double]] = [:]
            for metric in metrics {
                for o in mine where o.isFinished {
                    if let r = o.record, let v = value(metric, r), v.isFinite { values[metric.key, default: [:]][o.trial.seed] = v }
                }
            }
            let finished = mine.compactMap { $0.isFinished ? $0.record : nil }
            return MethodRow(
                method: method, outcomes: mine, values: values,
                summaries: Dictionary(uniqueKeysWithValues: metrics.map { m in
                    (m.key, SampleSummary((values[m.key] ?? [:]).sorted { $0.key < $1.key }.map(\.value)))
                }),
                differences: nil, best: [],
                meanRSTSeconds: SampleSummary(finished.map(\.rstSeconds)).mean,
                meanWallSeconds: SampleSummary(finished.map(\.wallSeconds)).mean)
        }
        if let refRow = rows.first(where: { $0.method == reference }) {
            for i in rows.indices where rows[i].method != reference {
                rows[i].differences = Dictionary(uniqueKeysWithValues: metrics.map { m in
                    (m.key, PairedDifference(method: rows[i].values[m.key] ?? [:], reference: refRow.values[m.key] ?? [:],
                                             lowerIsBetter: m.lowerIsBetter))
                })
            }
        }
        for m in metrics {
            let candidates = rows.indices.compactMap { i in rows[i].summaries[m.key]?.mean.map { (i, $0) } }
            if let best = candidates.min(by: { m.lowerIsBetter ? $0.1 < $1.1 : $0.1 > $1.1 }) { rows[best.0].best.insert(m.key) }
        }
        return rows
    }

    /// Checks the stored configurations: within each budget and seed, finished trials must agree on
    /// everything but the method and its plugin settings (model, corpus, seed, budget, recipe,
    /// free kinds) and on the profile, so they started from the same weights, saw the same data
    /// in the same order with the same masks, and were validated on the same set. When a row pins a
    /// precision (`baseline@bf16`), the precision is a compared variable: it may differ, and trials
    /// of one precision must share that precision's profile.
    static func checkShared(_ outcomes: [TrialOutcome]) -> ([String], Int) {
        var problems: [String] = []
        var checked = 0
        let precisionCompared = outcomes.contains { $0.trial.row != $0.trial.method }
        let groups = Dictionary(grouping: outcomes.filter(\.isFinished)) { "\($0.trial.budget.amount)|\($0.trial.setting)|\($0.trial.seed)" }
        for key in groups.keys.sorted() {
            var first: (method: String, shared: String)?
            var profiles: [String: (method: String, sha: String)] = [:]  // precision → first trial's profile
            for o in groups[key]!.sorted(by: { $0.trial.row < $1.trial.row }) {
                guard let r = o.record, var s = try? JSONDecoder().decode(RunSettings.self, from: Data(r.configJSON.utf8)) else {
                    problems.append("\(o.trial.label): the stored configuration cannot be read")
                    continue
                }
                s.method = ""
                let precision = s.hyperparameters.precision?.rawValue ?? "fp32"
                if precisionCompared { s.hyperparameters.precision = nil }
                s.threads = 0
                s.pluginPaths = []
                s.hyperparameters.pluginSettings = [:]
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                let shared = (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                let profile = SHA256Digest.hex(Array((r.profileJSON ?? "").utf8))
                checked += 1
                if let p = profiles[precision], p.sha != profile {
                    problems.append("\(o.trial.label): charged from another profile than \(p.method)")
                } else if profiles[precision] == nil {
                    profiles[precision] = (o.trial.row, profile)
                }
                guard let f = first else { first = (o.trial.row, shared); continue }
                if shared != f.shared {
                    problems.append("\(o.trial.label): the stored configuration differs from \(f.method)'s beyond the method (\(shared) vs \(f.shared))")
                }
            }
        }
        return (problems, checked)
    }
}
