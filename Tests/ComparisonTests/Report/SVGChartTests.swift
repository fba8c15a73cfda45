import Testing
@testable import Host
@testable import Clock
@testable import Comparison

/// The report's hand-written SVG charts (`Sources/Comparison/Report/SVGChart.swift`).
@Suite struct SVGChartTests {
    /// The x-axis labels of a chart, in order.
    func xLabels(_ svg: String) -> [String] {
        svg.split(separator: "\n").filter { $0.contains("text-anchor=\"middle\">") && $0.contains("class=\"tick\"") }.compactMap { line in
            guard let close = line.range(of: "</text>", options: .backwards),
                  let open = line[..<close.lowerBound].range(of: ">", options: .backwards) else { return nil }
            return String(line[open.upperBound ..< close.lowerBound])
        }
    }

    @Test func niceTicksAreRoundAndCoverTheRange() {
        #expect(SVGChart.niceTicks(0, 60) == [0, 20, 40, 60])
        let fine = SVGChart.niceTicks(6.79, 6.89)
        #expect(fine.count == 5 && zip(fine, [6.8, 6.82, 6.84, 6.86, 6.88]).allSatisfy { abs($0 - $1) < 1e-9 }, "\(fine)")
        #expect(SVGChart.niceTicks(0.3, 59.7) == [20, 40])
        #expect(SVGChart.decimals(forStep: 0.05) == 2 && SVGChart.decimals(forStep: 0.5) == 1 && SVGChart.decimals(forStep: 2) == 0)
    }

    /// RST charts span 0 … budget, so the axis shows where the budget ends even though the data
    /// are bin centres that stop short of it.
    @Test func anRSTAxisCoversTheWholeBudget() {
        let points = stride(from: 0.3, through: 59.7, by: 0.6).map { (x: $0, y: 7 - $0 / 100) }
        var chart = SVGChart(title: "t", xLabel: "RST", yLabel: "loss", series: [.init(name: "baseline", color: "#000", points: points)])
        chart.xFormat = { $0 <= 0 ? "0" : Budget.formatDuration($0) }
        #expect(xLabels(chart.svg) == ["20s", "40s"])
        chart.xDomain = 0...60
        #expect(xLabels(chart.svg) == ["0", "20s", "40s", "1m"])
        chart.xIsDuration = true
        #expect(xLabels(chart.svg) == ["0", "15s", "30s", "45s", "1m"])
    }

    @Test func durationTicksFallOnRoundDurations() {
        #expect(SVGChart.durationTicks(0, 120) == [0, 30, 60, 90, 120])
        #expect(SVGChart.durationTicks(0, 300) == [0, 60, 120, 180, 240, 300])
        #expect(SVGChart.durationTicks(0, 600) == [0, 120, 240, 360, 480, 600])
        #expect(SVGChart.durationTicks(0, 6 * 3600) == [0, 7200, 14400, 21600])
        #expect(SVGChart.durationTicks(0.3, 59.7) == [15, 30, 45])
    }

    @Test func textIsEscaped() {
        let chart = SVGChart(title: "a < b & \"c\"", xLabel: "x", yLabel: "y", series: [.init(name: "<m>", color: "#000", points: [(x: 0, y: 1), (x: 1, y: 2)])])
        #expect(chart.svg.contains("a &lt; b &amp; &quot;c&quot;") && chart.svg.contains("&lt;m&gt;") && !chart.svg.contains("<m>"))
    }
}
