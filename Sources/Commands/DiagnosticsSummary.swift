import Foundation
import Host
import Clock
import Records

/// What `ntng runs show` prints of a run's per-step diagnostics: the depth timeline as the steps
/// where it changed, every other number as its mean over each tenth of the run.
struct DiagnosticsSummary {
    let diagnostics: [Diagnostic]
    let budgetRST: Double

    init(_ diagnostics: [Diagnostic], budgetRST: Double) {
        self.diagnostics = diagnostics
        self.budgetRST = budgetRST
    }

    var text: String {
        var out = ""
        let byKey = Dictionary(grouping: diagnostics, by: \.key)
        if let depth = byKey["depth"] {
            var changes: [Diagnostic] = []
            for d in depth where changes.last?.value != d.value { changes.append(d) }
            out += "  depth timeline: " + changes.map {
                String(format: "%d layers from step %d (RST %@)", Int($0.value), $0.step, Budget.formatReadable($0.rstSeconds))
            }.joined(separator: ", ") + "\n"
        }
        for key in byKey.keys.sorted() where key != "depth" {
            let values = byKey[key]!
            let mean = values.reduce(0) { $0 + $1.value } / Double(values.count)
            var deciles = [[Double]](repeating: [], count: 10)
            for d in values {
                let i = budgetRST > 0 ? min(9, Int(d.rstSeconds / budgetRST * 10)) : 0
                deciles[i].append(d.value)
            }
            let trend = deciles.map { $0.isEmpty ? "–" : String(format: "%.3g", $0.reduce(0, +) / Double($0.count)) }
            out += String(format: "  %@: mean %.4g over %d steps; by tenth of the run: %@\n",
                          key, mean, values.count, trend.joined(separator: " "))
        }
        return out
    }
}
