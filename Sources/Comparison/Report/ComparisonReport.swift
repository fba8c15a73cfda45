import Corpus
import Foundation
import Storage
import Clock
import Records
import Host
import Evaluation

/// The comparison as one self-contained HTML page: inline CSS and inline SVG, no scripts, no
/// fonts or images to fetch, so it opens offline and can be mailed as one file.
///
/// Contents: the table (with its notes and failed trials), training loss vs RST per budget
/// (binned, averaged over seeds and smoothed, like the seed paper's Figures 1 and 5), validation
/// loss vs budget (mean ± std), per-method diagnostics over the run (depth timeline, active depth,
/// selection rate, Sophia's win rate, whatever the plugins recorded), and the list of trials.
public struct ComparisonReport {
    public let result: ComparisonSummary
    let store: ResultsStore
    /// Bins of the loss-vs-RST curves.
    var bins = 100
    /// Exponential smoothing across bins (weight of the new bin).
    var smoothing = 0.3

    public init(result: ComparisonSummary, store: ResultsStore) {
        self.result = result
        self.store = store
    }

    /// A fixed colour per method, in the order of `--methods` (the reference in black).
    func color(_ method: String) -> String {
        if method == result.reference { return "#222222" }
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
        let others = result.methods.filter { $0 != result.reference }
        return palette[(others.firstIndex(of: method) ?? 0) % palette.count]
    }

    /// Writes the page atomically.
    public func write(to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(Data(try html().utf8), to: url)
    }

    public func html() throws -> String {
        let table = ComparisonTable(result)
        var body = ""
        body += "<h1>ntng compare: \(esc(result.methods.map(result.label).joined(separator: ", ")))</h1>\n"
        body += "<p class=\"meta\">model <b>\(esc(result.model))</b> · corpus <b>\(esc(result.corpus))</b> · seeds \(result.seeds.map(String.init).joined(separator: ", ")) · "
            + "budgets \(result.sections.map { esc($0.budget.description) }.joined(separator: ", ")) · profile \(esc(result.profileDescription)) · \(esc(ISO8601DateFormatter().string(from: Date())))</p>\n"

        body += "<h2>Results</h2>\n"
        for section in result.sections {
            body += "<h3>Budget \(esc(section.title))</h3>\n<table>\n<tr>" + table.headers.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
            for row in section.rows {
                let cells = table.cells(row, markdown: false)
                body += "<tr>" + cells.enumerated().map { i, c in
                    let best = c.hasSuffix(" *")
                    let text = best ? String(c.dropLast(2)) : c
                    var cls = i == 0 ? "method" : "num"
                    if best { cls += " best" }
                    if c.hasSuffix(" better") { cls += " better" } else if c.hasSuffix(" worse") { cls += " worse" }
                    let swatch = i == 0 ? "<span class=\"swatch\" style=\"background:\(color(row.method))\"></span>" : ""
                    return "<td class=\"\(cls)\">\(swatch)\(esc(text))\(best ? " ★" : "")</td>"
                }.joined() + "</tr>\n"
            }
            body += "</table>\n"
        }
        // Which code each method ran: every plugin by id, version, library hash and charge basis.
        body += "<h3>Methods</h3>\n<table><tr><th>method</th><th>plugin</th><th>version</th><th>SHA-256</th><th>own work charged</th><th>library</th></tr>\n"
        for method in result.methods {
            let plugins = result.methodPlugins[method] ?? []
            if plugins.isEmpty {
                body += "<tr><td class=\"method\">\(esc(result.label(method)))</td><td colspan=\"5\">the host's recipe (AdamW, one-cycle schedule), no plugin</td></tr>\n"
            }
            for p in plugins {
                body += "<tr><td class=\"method\">\(esc(result.label(method)))</td><td><code>\(esc(p.id))</code></td><td>\(esc(p.version))</td>"
                    + "<td><code title=\"\(p.sha256)\">\(p.sha256.prefix(16))…</code></td><td>\(esc(p.charge))</td><td><code>\(esc(p.path))</code></td></tr>\n"
            }
        }
        body += "</table>\n"
        body += "<ul class=\"notes\">" + table.notes.filter { !$0.hasPrefix("  ") }.map { "<li>\(esc($0.replacingOccurrences(of: "* = best", with: "★ = best")))</li>" }.joined() + "</ul>\n"
        let failed = result.failedOutcomes
        if !failed.isEmpty {
            body += "<h3>Trials that did not finish</h3>\n<ul class=\"failures\">"
            for o in failed {
                body += "<li><b>\(esc(o.trial.label))</b>\(o.runID.map { " (run <code>\($0)</code>)" } ?? ""): \(esc(o.status.rawValue)) — \(esc(o.error ?? "?"))</li>"
            }
            body += "</ul>\n"
        }

        // The unigram line always in view (a curve above it shows no use of context); ln V only
        // when the curves reach it.
        let references: [(y: Double, label: String, widen: Bool)] = result.referenceLines.map {
            [($0.unigram, String(format: "unigram %.3f (validation targets)", $0.unigram), true),
             ($0.uniform, String(format: "uniform ln V %.3f", $0.uniform), false)]
        } ?? []
        var chartIndex = 0
        func chart(_ c: SVGChart) -> String {
            var c = c
            chartIndex += 1
            c.id = "c\(chartIndex)"
            return "<figure>\(c.svg)</figure>\n"
        }

        body += "<h2>Training loss vs RST</h2>\n<p class=\"caption\">Training loss of every step, averaged into \(bins) RST bins, "
            + "then over the finished seeds, smoothed exponentially. Methods with cheaper steps reach the budget with more steps; "
            + "all schedules decay to zero at the budget.</p>\n<div class=\"charts\">\n"
        var diagnostics: [String: [String: [Diagnostic]]] = [:]  // key → method → values (largest budget, first seed)
        let largest = result.sections.max { $0.budget.amount < $1.budget.amount }
        for section in result.sections {
            var series: [SVGChart.Series] = []
            var late: [Double] = []
            for row in section.rows {
                var perSeed: [[Double?]] = []
                for o in row.outcomes where o.isFinished {
                    guard let id = o.runID else { continue }
                    perSeed.append(binned(try store.lossCurve(runID: id).compactMap { p in p.trainLoss.map { (p.rstSeconds, $0) } },
                                          span: section.budget.amount))
                }
                guard !perSeed.isEmpty else { continue }
                let points = smoothed(averaged(perSeed), span: section.budget.amount)
                // Ignore the first tenth for the y-range: the initial loss would flatten everything else.
                late += points.filter { $0.x >= section.budget.amount * 0.1 }.map(\.y)
                series.append(.init(name: row.method, color: color(row.method), points: points))
            }
            var c = SVGChart(title: "Training loss vs RST, budget \(section.title)", xLabel: "RST (reference system seconds)",
                             yLabel: "training loss (MLM cross-entropy)", series: series)
            if let lo = late.min(), let hi = late.max(), hi > lo { c.yRange = (lo - 0.05 * (hi - lo))...(hi + 0.08 * (hi - lo)) }
            c.xFormat = { $0 <= 0 ? "0" : Budget.formatDuration($0) }
            c.xDomain = 0...section.budget.amount
            c.xIsDuration = true
            c.references = references
            body += chart(c)
        }
        body += "</div>\n"

        // Validation curves (compare --eval-every): each evaluation of the fixed validation set
        // against the RST it was taken at.
        var curves = ""
        for section in result.sections {
            var series: [SVGChart.Series] = []
            for row in section.rows {
                var perSeed: [[(x: Double, y: Double)]] = []
                for o in row.outcomes where o.isFinished {
                    guard let id = o.runID else { continue }
                    let points = try store.evaluations(runID: id).filter { $0.name == ComparisonMetric.valLoss.key && $0.value.isFinite }
                        .map { (x: $0.rstSeconds, y: $0.value) }
                    if points.count > 1 { perSeed.append(points) }
                }
                guard !perSeed.isEmpty else { continue }
                // Seeds evaluate at the same budget fractions: point k is the mean of every seed's k-th.
                let n = perSeed.map(\.count).min()!, seeds = Double(perSeed.count)
                let points = (0..<n).map { k in (x: perSeed.map { $0[k].x }.reduce(0, +) / seeds, y: perSeed.map { $0[k].y }.reduce(0, +) / seeds) }
                series.append(.init(name: row.method, color: color(row.method), points: points, markers: true))
            }
            guard !series.isEmpty else { continue }
            var c = SVGChart(title: "Validation loss vs RST, budget \(section.title)", xLabel: "RST (reference system seconds)",
                             yLabel: "validation loss", series: series)
            c.references = references
            c.xFormat = { $0 <= 0 ? "0" : Budget.formatDuration($0) }
            c.xDomain = 0...section.budget.amount
            c.xIsDuration = true
            curves += chart(c)
        }
        if !curves.isEmpty {
            body += "<h2>Validation loss vs RST</h2>\n<p class=\"caption\">The fixed validation set evaluated during each run (--eval-every; "
                + "uncharged, full model), mean over the finished seeds of each evaluation.</p>\n<div class=\"charts\">\n" + curves + "</div>\n"
        }

        body += "<h2>Validation loss vs budget</h2>\n<p class=\"caption\">Mean over seeds with ± one sample standard deviation (no bar with one seed).</p>\n<div class=\"charts\">\n"
        var valChart = budgetChart(ComparisonMetric.valLoss.key, title: "Validation loss vs budget", yLabel: "validation loss")
        valChart.references = references
        body += chart(valChart) + "</div>\n"

        // Downstream scores stored by `ntng eval` (accuracy/F1/MCC for BERT runs, ROUGE-L for T5
        // runs), each headline a chart as the table has a column for each.
        let downstream = result.metrics.filter { $0.key.hasPrefix(DownstreamEvaluation.prefix) }
        if !downstream.isEmpty {
            body += "<h2>Downstream scores vs budget</h2>\n<p class=\"caption\">The scores `ntng eval` stored with each run (ROUGE-L in percent for "
                + "T5 runs, on unseen test tasks), mean over seeds with ± one sample standard deviation.</p>\n<div class=\"charts\">\n"
            for metric in downstream {
                body += chart(budgetChart(metric.key, title: "\(metric.title) vs budget", yLabel: metric.title))
            }
            body += "</div>\n"
        }

        // Diagnostics of the largest budget, first finished seed of each method.
        if let largest {
            for row in largest.rows {
                guard let o = row.outcomes.first(where: \.isFinished), let id = o.runID else { continue }
                for d in try store.diagnostics(runID: id) { diagnostics[d.key, default: [:]][row.method, default: []].append(d) }
            }
            body += "<h2>Diagnostics</h2>\n<p class=\"caption\">What the methods did over the run (budget \(esc(largest.budget.description)), first finished seed; "
                + "per-step values averaged into \(bins) RST bins). The baseline records none.</p>\n"
            if diagnostics.isEmpty { body += "<p class=\"note\">No method recorded diagnostics.</p>\n" }
            body += "<div class=\"charts\">\n"
            for key in diagnostics.keys.sorted(by: { Self.diagnosticOrder($0) < Self.diagnosticOrder($1) }) {
                let methods = result.methods.filter { diagnostics[key]?[$0] != nil }
                let series = methods.map { m in
                    SVGChart.Series(name: m, color: color(m), points: binned(diagnostics[key]![m]!.map { ($0.rstSeconds, $0.value) },
                                                                            span: largest.budget.amount).enumerated().compactMap { i, v in
                        v.map { (binCenter(i, span: largest.budget.amount), $0) }
                    })
                }
                var c = SVGChart(title: Self.diagnosticTitle(key), xLabel: "RST (reference system seconds)", yLabel: key, series: series)
                c.yFromZero = true
                c.xFormat = { $0 <= 0 ? "0" : Budget.formatDuration($0) }
                c.xDomain = 0...largest.budget.amount
                c.xIsDuration = true
                body += chart(c)
            }
            body += "</div>\n"
        }

        body += "<h2>Trials</h2>\n<table class=\"trials\"><tr><th>budget</th><th>method</th><th>seed</th><th>run</th><th>status</th><th>source</th><th>steps</th><th>RST</th><th>wall</th><th>train loss</th><th>val loss</th></tr>\n"
        for o in result.outcomes {
            let r = o.record
            body += "<tr><td>\(esc(o.trial.budget.description))</td><td class=\"method\">\(esc(o.trial.row))</td><td>\(o.trial.seed)</td>"
                + "<td><code>\(r?.id ?? "–")</code></td><td class=\"\(o.isFinished ? "" : "worse")\">\(o.status.rawValue)</td><td>\(o.source.rawValue)</td>"
                + "<td class=\"num\">\(r.map { String($0.steps) } ?? "–")</td><td class=\"num\">\(ComparisonTable.duration(r?.rstSeconds))</td>"
                + "<td class=\"num\">\(ComparisonTable.duration(r?.wallSeconds))</td>"
                + "<td class=\"num\">\(r?.finalTrainLoss.map { String(format: "%.4f", $0) } ?? "–")</td>"
                + "<td class=\"num\">\(r?.valLoss.map { String(format: "%.4f", $0) } ?? "–")</td></tr>\n"
        }
        body += "</table>\n<p class=\"foot\">Written by \(esc(NTNGVersion.string)). Reproduce: <code>\(esc(result.commandLine))</code> "
            + "(finished trials are reused from the results store).</p>\n"

        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>ntng compare — \(esc(result.model)) on \(esc(result.corpus))</title>
            <style>
            body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; margin: 24px 32px; color: #222; max-width: 1400px; }
            h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
            h3 { font-size: 15px; margin: 16px 0 6px; }
            .meta, .caption, .foot, .note { color: #555; font-size: 13px; }
            table { border-collapse: collapse; font-size: 13px; margin: 4px 0 10px; }
            th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: left; white-space: nowrap; }
            th { background: #f4f4f4; font-weight: 600; }
            td.num { font-variant-numeric: tabular-nums; font-family: "DejaVu Sans Mono", monospace; }
            td.best { font-weight: 700; } td.better { color: #1a7f37; font-weight: 600; } td.worse { color: #b42318; }
            .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
            ul.notes, ul.failures { font-size: 13px; color: #444; padding-left: 20px; } ul.failures li { margin-bottom: 4px; }
            .charts { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; border: 1px solid #eee; }
            svg text { font-family: "DejaVu Sans", Arial, sans-serif; fill: #333; }
            svg .title { font-size: 14px; font-weight: 600; } svg .tick { font-size: 11px; fill: #555; }
            svg .label { font-size: 12px; } svg .legend { font-size: 12px; } svg .note { font-size: 13px; fill: #777; }
            svg .grid { stroke: #eee; stroke-width: 1; } svg .frame { fill: none; stroke: #999; }
            code { font-size: 12px; background: #f6f6f6; padding: 0 3px; }
            </style></head>
            <body>
            \(body)</body></html>

            """
    }

    // MARK: - Curves

    /// One series per method and grid point (a grid's other points dashed) of `metric`'s mean
    /// over seeds at each budget, with ± one standard deviation; methods spread sideways when
    /// there is one budget, so their bars do not overlap.
    func budgetChart(_ metric: String, title: String, yLabel: String) -> SVGChart {
        var series: [SVGChart.Series] = []
        var settings: [String] = []
        for section in result.sections where !settings.contains(section.setting) { settings.append(section.setting) }
        for (k, setting) in settings.enumerated() {
            for method in result.methods {
                var points: [(x: Double, y: Double)] = [], errors: [Double] = []
                for section in result.sections.filter({ $0.setting == setting }).sorted(by: { $0.budget.amount < $1.budget.amount }) {
                    guard let row = section.rows.first(where: { $0.method == method }),
                          let s = row.summaries[metric], let mean = s.mean else { continue }
                    points.append((section.budget.amount, mean))
                    errors.append(s.standardDeviation ?? 0)
                }
                if !points.isEmpty {
                    series.append(.init(name: setting.isEmpty ? method : "\(method) [\(setting)]", color: color(method), points: points,
                                        errors: errors, markers: true, dashed: k % 2 == 1))
                }
            }
        }
        var c = SVGChart(title: title, xLabel: "budget (RST)", yLabel: yLabel, series: series)
        var budgets: [Budget] = []
        for section in result.sections where !budgets.contains(section.budget) { budgets.append(section.budget) }
        c.xTicks = budgets.map { ($0.amount, Budget.formatDuration($0.amount)) }
        if budgets.count == 1, let only = result.sections.first {
            let n = Double(max(series.count, 1))
            for i in series.indices {
                series[i].points = series[i].points.map { (only.budget.amount * (0.8 + 0.4 * (Double(i) + 0.5) / n), $0.y) }
            }
            c.series = series
            c.xTicks = [(only.budget.amount * 0.8, ""), (only.budget.amount, Budget.formatDuration(only.budget.amount)), (only.budget.amount * 1.2, "")]
        }
        return c
    }

    func binCenter(_ i: Int, span: Double) -> Double { (Double(i) + 0.5) / Double(bins) * span }

    /// Mean of the values falling into each of `bins` equal RST bins over `0…span` (nil: empty).
    func binned(_ points: [(Double, Double)], span: Double) -> [Double?] {
        var sums = [Double](repeating: 0, count: bins), counts = [Int](repeating: 0, count: bins)
        for (x, y) in points where y.isFinite && x.isFinite {
            let i = min(bins - 1, max(0, Int(x / max(span, 1e-12) * Double(bins))))
            sums[i] += y
            counts[i] += 1
        }
        return (0..<bins).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : nil }
    }

    /// Per bin, the mean over the seeds that have a value there.
    func averaged(_ perSeed: [[Double?]]) -> [Double?] {
        (0..<bins).map { i in
            let values = perSeed.compactMap { $0[i] }
            return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        }
    }

    /// Exponential smoothing over the non-empty bins, as points at the bin centres.
    func smoothed(_ values: [Double?], span: Double) -> [(x: Double, y: Double)] {
        var out: [(x: Double, y: Double)] = []
        var state: Double?
        for (i, v) in values.enumerated() {
            guard let v else { continue }
            state = state.map { $0 + smoothing * (v - $0) } ?? v
            out.append((binCenter(i, span: span), state!))
        }
        return out
    }

    static func diagnosticOrder(_ key: String) -> String {
        let known = ["depth", "active_depth", "selection_rate", "scored_sequences", "win_rate"]
        return known.firstIndex(of: key).map { "\($0)" } ?? "z" + key
    }

    static func diagnosticTitle(_ key: String) -> String {
        switch key {
        case "depth": return "Depth timeline (layers in the model)"
        case "active_depth": return "Active depth (layers run per micro-batch)"
        case "selection_rate": return "Selection rate (trained / scored)"
        case "scored_sequences": return "Sequences scored per step"
        case "win_rate": return "Sophia win rate (clipped coordinates)"
        default: return key.replacingOccurrences(of: "_", with: " ")
        }
    }

    func esc(_ s: String) -> String { SVGChart.escape(s) }
}
