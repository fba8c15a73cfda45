import Corpus
import ArgumentParser
import Foundation
import Host
import Storage
import Clock
import Records

/// `ntng runs list|show`.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List and inspect stored runs.",
                                                    subcommands: [List.self, Show.self])

    struct Options: ParsableArguments {
        @Option(help: "Results database (default: $NTNG_HOME/results.sqlite).") var results: String?
        func open() throws -> ResultsStore {
            try ResultsStore(url: results.map { URL(fileURLWithPath: $0) } ?? NTNGHome.resultsDatabase(), existingOnly: true)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per run, newest first.")
        @OptionGroup var options: Options
        @Option(help: "Only this method.") var method: String?
        @Option(parsing: .unconditional, help: "At most this many runs.") var limit = 50
        func validate() throws { try OptionRange.check(limit, "--limit", 1...1_000_000) }
        func run() throws {
            let runs = try options.open().runs(matching: RunFilter(method: method, limit: limit))
            let widths = [9, 12, 19, 8, 8, 4, 12, 7, 10, 8]
            func row(_ cells: [String]) -> String {
                zip(cells, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " ")
            }
            print(row(["id", "status", "method", "model", "corpus", "seed", "budget", "steps", "train loss", "val loss"]))
            for r in runs {
                func loss(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "–" }
                let cells = [r.id, r.effectiveStatus.rawValue, r.method, r.model, r.corpus, String(r.seed),
                             r.budget?.description ?? "?", String(r.steps), loss(r.finalTrainLoss), loss(r.valLoss)]
                print(row(cells))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A run's settings, summary, curve, diagnostics and plugin log.")
        @OptionGroup var options: Options
        @Argument(help: "Run id (or a unique prefix).") var id: String
        @Flag(help: "Print JSON: the summary, every evaluation and the whole training curve.") var json = false
        func run() throws {
            let details = try options.open().details(runID: id)
            if json { print(try RunReport(details: details).json()); return }
            let report = RunReport(record: details.run, evaluations: details.evaluations)
            print(report.text)
            print("  settings        \(details.run.configJSON)")
            let curve = details.lossCurve
            if !curve.isEmpty {
                print("  loss curve (\(curve.count) points):")
                let every = max(1, curve.count / 10)
                for (i, p) in curve.enumerated() where i % every == 0 || i == curve.count - 1 {
                    print(String(format: "    step %6d  RST %@  loss %@  lr %.2e", p.step, Budget.formatReadable(p.rstSeconds),
                                 p.trainLoss.map { String(format: "%.4f", $0) } ?? "NaN", p.learningRate))
                }
            }
            for e in details.evaluations where !ReferenceLines.isReference(e.name) {
                print(String(format: "  eval %@ = %.4f at step %d (RST %@)", e.name, e.value, e.step, Budget.formatReadable(e.rstSeconds)))
            }
            print(DiagnosticsSummary(details.diagnostics, budgetRST: details.run.rstSeconds).text, terminator: "")
            if !details.log.isEmpty {
                print("  plugin log (\(details.log.count) lines):")
                for l in details.log {
                    print("    step \(l.step) [\(l.source)] \(l.level == "info" ? "" : l.level + ": ")\(l.message)")
                }
            }
        }
    }
}
