import Foundation
import Corpus
import Clock
import Records
import Storage
import Host

/// The comparison table as terminal text, Markdown, CSV or JSON.
public struct ComparisonTable {
    public enum Format: String, CaseIterable, Sendable {
        case text, markdown, csv, json
    }

    public let result: ComparisonSummary

    public init(_ result: ComparisonSummary) { self.result = result }

    public func render(_ format: Format) -> String {
        switch format {
        case .text: return text
        case .markdown: return markdown
        case .csv: return csv
        case .json: return json
        }
    }

    // MARK: - Cells

    /// `4.8123 ± 0.0210`, `4.8123` for one seed, `–` for none.
    static func meanStd(_ s: SampleSummary?, digits: Int = 4) -> String {
        guard let s, let mean = s.mean else { return "–" }
        guard let sd = s.standardDeviation else { return fmt(mean, digits) }
        return "\(fmt(mean, digits)) ± \(fmt(sd, digits))"
    }

    /// `-0.0123 [-0.0300, +0.0050] n.s.`, or `-0.0123 (1 seed: no CI)`.
    static func difference(_ d: PairedDifference?, digits: Int = 4) -> String {
        guard let d, let mean = d.summary.mean else { return "–" }
        guard let ci = d.interval else { return "\(signed(mean, digits)) (\(d.summary.count) seed: no CI, n/a)" }
        let verdict: String
        switch d.verdict {
        case .better: verdict = "better"
        case .worse: verdict = "worse"
        case .notSignificant: verdict = "n.s."
        case .notAvailable: verdict = "n/a"
        }
        return "\(signed(mean, digits)) [\(signed(ci.lowerBound, digits)), \(signed(ci.upperBound, digits))] \(verdict)"
    }

    static func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
    static func signed(_ x: Double, _ digits: Int) -> String { String(format: "%+.\(digits)f", x) }
    static func duration(_ s: Double?) -> String { s.map(Budget.formatReadable) ?? "–" }

    /// The metrics whose difference the text and Markdown tables show (validation loss and any
    /// evaluation beyond the two losses; the training-loss difference is in CSV and JSON too).
    var differenceMetrics: [ComparisonMetric] { result.metrics.filter { $0.key != ComparisonMetric.trainLoss.key } }

    func cells(_ row: MethodRow, markdown: Bool) -> [String] {
        let finished = row.finishedCount, total = row.outcomes.count
        let mark = result.estimatedMethods[row.method] == nil ? "" : " †"
        let name = result.label(row.method)
        var cells = [(markdown ? "`\(name)`" : name) + mark, "\(finished)/\(total)"]
        for m in result.metrics {
            let value = Self.meanStd(row.summaries[m.key])
            cells.append(row.best.contains(m.key) ? (markdown ? "**\(value)** ★" : value + " *") : value)
        }
        for m in differenceMetrics {
            cells.append(row.method == result.reference ? "(reference)" : Self.difference(row.differences?[m.key]))
        }
        cells += [Self.duration(row.meanRSTSeconds), Self.duration(row.meanWallSeconds)]
        return cells
    }

    var headers: [String] {
        ["method", "finished"] + result.metrics.map(\.title)
            + differenceMetrics.map { "Δ \($0.title) vs \(result.reference) (95% CI)" } + ["RST/trial", "wall/trial"]
    }

    // MARK: - Text

    public var text: String {
        var out = "ntng compare — model \(result.model), corpus \(result.corpus), seeds \(result.seeds.map(String.init).joined(separator: " ")), "
            + "profile \(result.profileDescription)\n"
        for section in result.sections {
            out += "\nbudget \(section.title)\n"
            let rows = [headers] + section.rows.map { cells($0, markdown: false) }
            let widths = headers.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
            for (i, row) in rows.enumerated() {
                out += "  " + row.enumerated().map { c, cell in
                    c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                }.joined(separator: "  ") + "\n"
                if i == 0 { out += "  " + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
            }
        }
        out += "\n" + (notes + pluginLines).joined(separator: "\n") + "\n"
        return out
    }

    /// Which code each method ran: one line per plugin (the HTML report shows them as a table).
    var pluginLines: [String] {
        result.methods.flatMap { method in
            (result.methodPlugins[method] ?? []).map { "\(result.label(method)): plugin \($0.summary), \($0.path)" }
        }
    }

    /// What the marks mean, what was checked, and what failed.
    var notes: [String] {
        var lines = [
            "mean ± sample std over seeds; * = best mean at that budget.",
            "Δ = method − \(result.reference) on the same seeds: mean [95 % t-interval]; better/worse only when the interval excludes 0, n.s. when it contains 0.",
        ]
        if !result.estimatedMethods.isEmpty {
            let list = result.estimatedMethods.sorted(by: { $0.key < $1.key }).map { "\($0.key) (plugin \($0.value))" }.joined(separator: ", ")
            lines.append("† charged by estimate (--allow-estimated): the optimizer of \(list) has no calibrated cost in \(result.profileName), so its steps depend on this machine's load and are not reproducible.")
        }
        if let lines0 = result.referenceLines {
            lines.append("reference lines on the validation targets: \(lines0.text()). " + referenceVerdict(lines0))
        }
        if result.seeds.count == 1 {
            lines.append("one seed: no spread and no confidence interval (n/a) — differences of one seed may be noise; use --seeds 3 for intervals.")
        }
        if result.consistencyProblems.isEmpty {
            lines.append("shared per seed (checked in the stored configs of \(result.consistencyChecked) finished trials): model, corpus, seed → initial weights, data order, masks, validation set; budget, recipe and profile \(result.profileName)\(result.otherProfiles.isEmpty ? "" : " (per precision: the precision is a compared variable)").")
        } else {
            lines.append("WARNING: trials of a seed do not share everything but the method:")
            lines += result.consistencyProblems.map { "  " + $0 }
        }
        let failed = result.failedOutcomes
        if !failed.isEmpty {
            lines.append("\(failed.count) of \(result.outcomes.count) trials did not finish (left out of the statistics):")
            for o in failed {
                lines.append("  \(o.trial.label)\(o.runID.map { " (run \($0))" } ?? ""): \(o.status.rawValue) — \(o.error ?? "?")")
            }
        }
        return lines
    }

    /// Which rows end below the unigram line (mean val loss), per budget: a row above it has not
    /// shown that it uses context, whatever its rank.
    func referenceVerdict(_ lines: ReferenceLines) -> String {
        var above: [String] = []
        for section in result.sections {
            for row in section.rows {
                guard let mean = row.summaries[ComparisonMetric.valLoss.key]?.mean, mean >= lines.unigram else { continue }
                above.append(result.sections.count > 1 ? "\(result.label(row.method)) at \(section.title)" : result.label(row.method))
            }
        }
        if above.isEmpty { return "Every row's mean val loss is below the unigram line." }
        return "At or above the unigram line (no use of context shown): \(above.joined(separator: ", "))."
    }

    // MARK: - Markdown

    public var markdown: String {
        var out = "## ntng compare: model `\(result.model)`, corpus `\(result.corpus)`, seeds \(result.seeds.map(String.init).joined(separator: ", "))\n\n"
        out += "Profile \(result.profileDescription).\n"
        for section in result.sections {
            out += "\n### Budget \(section.title)\n\n"
            out += "| " + headers.joined(separator: " | ") + " |\n"
            out += "|" + headers.map { _ in "---" }.joined(separator: "|") + "|\n"
            for row in section.rows {
                out += "| " + cells(row, markdown: true).map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n"
            }
        }
        out += "\n" + (notes + pluginLines).map { $0.hasPrefix("  ") ? "    " + $0.dropFirst(2) : "- " + $0 }.joined(separator: "\n") + "\n"
        return out
    }

    // MARK: - CSV

    public var csv: String {
        var header = ["budget", "budget_rst_s", "setting", "method", "finished", "trials"]
        for m in result.metrics { header += ["\(m.key)_mean", "\(m.key)_std", "\(m.key)_n", "\(m.key)_best"] }
        for m in result.metrics {
            header += ["d_\(m.key)_mean", "d_\(m.key)_ci_low", "d_\(m.key)_ci_high", "d_\(m.key)_n", "d_\(m.key)_verdict"]
        }
        header += ["rst_s_mean", "wall_s_mean", "run_ids"]
        var lines = [header.joined(separator: ",")]
        func num(_ x: Double?) -> String { x.map { String($0) } ?? "" }
        for section in result.sections {
            for row in section.rows {
                var f = [section.budgetText, num(section.budget.amount), section.setting, row.method, String(row.finishedCount), String(row.outcomes.count)]
                for m in result.metrics {
                    let s = row.summaries[m.key]
                    f += [num(s?.mean), num(s?.standardDeviation), String(s?.count ?? 0), row.best.contains(m.key) ? "1" : "0"]
                }
                for m in result.metrics {
                    let d = row.differences?[m.key]
                    f += [num(d?.summary.mean), num(d?.interval?.lowerBound), num(d?.interval?.upperBound),
                          d.map { String($0.summary.count) } ?? "", d?.verdict.rawValue ?? ""]
                }
                f += [num(row.meanRSTSeconds), num(row.meanWallSeconds), row.outcomes.compactMap(\.runID).joined(separator: " ")]
                lines.append(f.map(Self.csvField).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    // MARK: - JSON

    public var json: String {
        func summary(_ s: SampleSummary?) -> Any {
            guard let s else { return NSNull() }
            return ["n": s.count, "mean": s.mean ?? NSNull(), "std": s.standardDeviation ?? NSNull()] as [String: Any]
        }
        func difference(_ d: PairedDifference?) -> Any {
            guard let d else { return NSNull() }
            return ["n": d.summary.count, "mean": d.summary.mean ?? NSNull(), "std": d.summary.standardDeviation ?? NSNull(),
                    "ci95_low": d.interval?.lowerBound ?? NSNull(), "ci95_high": d.interval?.upperBound ?? NSNull(),
                    "significant": d.isSignificant, "verdict": d.verdict.rawValue, "per_seed": d.differences] as [String: Any]
        }
        let budgets: [[String: Any]] = result.sections.map { section in
            ["budget": section.budgetText, "budget_rst_s": section.budget.amount, "setting": section.setting,
             "methods": section.rows.map { row -> [String: Any] in
                 var metrics: [String: Any] = [:]
                 for m in result.metrics {
                     metrics[m.key] = [
                         "summary": summary(row.summaries[m.key]),
                         "best": row.best.contains(m.key),
                         "per_seed": Dictionary(uniqueKeysWithValues: (row.values[m.key] ?? [:]).map { (String($0.key), $0.value) }),
                         "vs_reference": row.method == result.reference ? NSNull() : difference(row.differences?[m.key]),
                     ] as [String: Any]
                 }
                 return [
                     "method": row.method, "finished": row.finishedCount, "trials": row.outcomes.count, "metrics": metrics,
                    "charges": result.estimatedMethods[row.method] == nil ? "profile" : "estimated",
                     "label": result.label(row.method),
                     "plugins": (result.methodPlugins[row.method] ?? []).map { p -> [String: Any] in
                         ["id": p.id, "version": p.version, "sha256": p.sha256, "path": p.path, "charge": p.charge]
                     },
                     "rst_s_mean": row.meanRSTSeconds ?? NSNull(), "wall_s_mean": row.meanWallSeconds ?? NSNull(),
                     "runs": row.outcomes.map { o -> [String: Any] in
                         ["seed": Int(o.trial.seed), "run_id": o.runID ?? NSNull(), "status": o.status.rawValue,
                          "source": o.source.rawValue, "error": o.error ?? NSNull()]
                     },
                 ]
             }]
        }
        let object: [String: Any] = [
            "model": result.model, "corpus": result.corpus, "seeds": result.seeds.map { Int($0) }, "methods": result.methods,
            "reference": result.reference, "profile": ["name": result.profileName, "sha256": result.profileSHA256],
            "other_profiles": result.otherProfiles.map { ["precision": $0.precision, "name": $0.name, "sha256": $0.sha256] },
            "metrics": result.metrics.map { ["key": $0.key, "title": $0.title, "lower_is_better": $0.lowerIsBetter] },
            "confidence": 0.95, "budgets": budgets,
            "shared_per_seed": ["checked_trials": result.consistencyChecked, "problems": result.consistencyProblems] as [String: Any],
            "failed_trials": result.failedOutcomes.count,
            "reference_lines": result.referenceLines.map { ["unigram": $0.unigram, "uniform": $0.uniform] as [String: Any] } ?? NSNull(),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
