import Foundation
import Clock
import Records
import Storage
import Host

/// A small line chart rendered as inline SVG text (no scripts, no fonts to fetch), for the report.
struct SVGChart {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        /// Optional ± half-widths drawn as error bars (same count as points).
        var errors: [Double]? = nil
        /// Draw markers at the points (for sparse series such as loss vs budget).
        var markers = false
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var width = 640.0  // two charts side by side in a 1400-pixel window
    var height = 340.0
    /// Fixed y-range (nil: from the data).
    var yRange: ClosedRange<Double>?
    /// The x range the axis covers at least (RST charts: 0 … budget, whatever the bins span).
    var xDomain: ClosedRange<Double>?
    /// x is seconds: ticks fall on round durations (15 s, 30 s, 1 m, 2 m, …), not on 25 s or 1m15s.
    var xIsDuration = false
    /// Tick labels for the x axis (nil: numeric ticks formatted by `xFormat`).
    var xTicks: [(x: Double, label: String)]?
    var xFormat: (Double) -> String = { SVGChart.short($0) }
    /// Draw the y axis from 0 when the data allow (counts, depths, rates).
    var yFromZero = false
    /// Unique within the page (names the clip path).
    var id = "chart"
    /// Horizontal reference lines (the unigram and uniform losses), drawn grey and dashed with
    /// their labels. Those that `widen` the y-range are always in view; the others only if the
    /// data's range reaches them.
    var references: [(y: Double, label: String, widen: Bool)] = []

    private let left = 62.0, right = 180.0, top = 34.0, bottom = 46.0

    var svg: String {
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        guard !all.isEmpty else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"60\" role=\"img\"><text x=\"8\" y=\"30\" class=\"note\">\(Self.escape(title)): no data</text></svg>"
        }
        var x0 = all.map(\.x).min()!, x1 = all.map(\.x).max()!
        if let ticks = xTicks, !ticks.isEmpty { x0 = min(x0, ticks.map(\.x).min()!); x1 = max(x1, ticks.map(\.x).max()!) }
        if let xDomain { x0 = min(x0, xDomain.lowerBound); x1 = max(x1, xDomain.upperBound) }
        if x1 == x0 { x0 -= 1; x1 += 1 }
        var y0: Double, y1: Double
        if let yRange { (y0, y1) = (yRange.lowerBound, yRange.upperBound) } else {
            let ys = series.flatMap { s in s.points.indices.flatMap { i -> [Double] in
                let e = s.errors?[i] ?? 0
                return [s.points[i].y - e, s.points[i].y + e]
            } }.filter(\.isFinite)
            y0 = ys.min()!
            y1 = ys.max()!
            if yFromZero && y0 > 0 { y0 = 0 }
            let pad = (y1 - y0) * 0.06
            if pad == 0 { y0 -= 0.5; y1 += 0.5 } else { y0 -= yFromZero && y0 == 0 ? 0 : pad; y1 += pad }
        }
        for r in references where r.widen && r.y.isFinite {
            let pad = (y1 - y0) * 0.06
            if r.y < y0 { y0 = r.y - pad }
            if r.y > y1 { y1 = r.y + pad }
        }
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (min(max(y, y0), y1) - y0) / (y1 - y0)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(Self.escape(title))\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#fff\"/>\n"
        s += "<text x=\"\(f(left))\" y=\"20\" class=\"title\">\(Self.escape(title))</text>\n"
        // Grid and ticks.
        let yTicks = Self.niceTicks(y0, y1)
        // One number of decimals for every label of the axis, enough for the tick spacing.
        let spacing = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        let decimals = Self.decimals(forStep: spacing)
        for t in yTicks {
            s += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" class=\"grid\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" class=\"tick\" text-anchor=\"end\">\(String(format: "%.\(decimals)f", t))</text>\n"
        }
        let xt = xTicks ?? (xIsDuration ? Self.durationTicks(x0, x1) : Self.niceTicks(x0, x1)).map { ($0, xFormat($0)) }
        for t in xt {
            s += "<line x1=\"\(f(px(t.x)))\" x2=\"\(f(px(t.x)))\" y1=\"\(f(top))\" y2=\"\(f(top + plotH))\" class=\"grid\"/>"
            s += "<text x=\"\(f(px(t.x)))\" y=\"\(f(top + plotH + 16))\" class=\"tick\" text-anchor=\"middle\">\(Self.escape(t.label))</text>\n"
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" class=\"frame\"/>\n"
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 8))\" class=\"label\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        s += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" class=\"label\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"
        // Series, clipped to the plot area.
        let clip = "clip-\(id)"
        s += "<clipPath id=\"\(clip)\"><rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\"/></clipPath>\n<g clip-path=\"url(#\(clip))\">\n"
        for series in self.series {
            let pts = series.points.filter { $0.x.isFinite && $0.y.isFinite }
            guard !pts.isEmpty else { continue }
            if pts.count > 1 {
                let d = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                s += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\"\(series.dashed ? " stroke-dasharray=\"6 4\"" : "") stroke-linejoin=\"round\"/>\n"
            }
            if let errors = series.errors {
                for (i, p) in series.points.enumerated() where i < errors.count && errors[i] > 0 && p.y.isFinite {
                    s += "<line x1=\"\(f(px(p.x)))\" x2=\"\(f(px(p.x)))\" y1=\"\(f(py(p.y - errors[i])))\" y2=\"\(f(py(p.y + errors[i])))\" stroke=\"\(series.color)\" stroke-width=\"1.5\"/>"
                }
            }
            if series.markers || pts.count == 1 {
                for p in pts { s += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3.5\" fill=\"\(series.color)\"/>" }
                s += "\n"
            }
        }
        for r in references where r.y.isFinite && r.y >= y0 && r.y <= y1 {
            s += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(r.y)))\" y2=\"\(f(py(r.y)))\" stroke=\"#777\" stroke-width=\"1.5\" stroke-dasharray=\"3 3\"/>"
            s += "<text x=\"\(f(left + 6))\" y=\"\(f(py(r.y) - 4))\" class=\"tick\">\(Self.escape(r.label))</text>\n"
        }
        s += "</g>\n"
        // Legend on the right.
        for (i, series) in self.series.enumerated() {
            let y = top + 8 + Double(i) * 18
            s += "<line x1=\"\(f(width - right + 12))\" x2=\"\(f(width - right + 32))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"\(series.color)\" stroke-width=\"3\"\(series.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            s += "<text x=\"\(f(width - right + 38))\" y=\"\(f(y + 4))\" class=\"legend\">\(Self.escape(series.name))</text>\n"
        }
        s += "</svg>"
        return s
    }

    /// About five round tick values covering `a…b`.
    static func niceTicks(_ a: Double, _ b: Double, count: Int = 5) -> [Double] {
        guard b > a, a.isFinite, b.isFinite else { return [a] }
        let raw = (b - a) / Double(count)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var ticks: [Double] = []
        var t = (a / step).rounded(.up) * step
        while t <= b + step * 1e-9 { ticks.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return ticks
    }

    /// Ticks on round durations in seconds, at most five intervals over `a…b`.
    static func durationTicks(_ a: Double, _ b: Double) -> [Double] {
        guard b > a, a.isFinite, b.isFinite else { return [a] }
        let steps: [Double] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
        guard let step = steps.first(where: { (b - a) / $0 <= 5 + 1e-9 }) else { return niceTicks(a, b) }
        var ticks: [Double] = []
        var t = (a / step).rounded(.up) * step
        while t <= b + step * 1e-9 { ticks.append(t); t += step }
        return ticks
    }

    /// The fewest decimals that write every multiple of `step` exactly (0.05 → 2, 0.5 → 1, 2 → 0).
    static func decimals(forStep step: Double) -> Int {
        for d in 0...6 {
            let scaled = step * pow(10, Double(d))
            if abs(scaled - scaled.rounded()) < 1e-6 * max(1, scaled) { return d }
        }
        return 6
    }

    /// Compact number text for ticks.
    static func short(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        let a = abs(v)
        return String(format: a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3g", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
