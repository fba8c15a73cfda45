import ArgumentParser
import Evaluation
import Foundation

extension EvalCommand {
    /// `ntng eval score`: SNI's ROUGE-L and exact match of a user's own predictions.
    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score generated text against references as SNI's evaluation does (ROUGE-L, exact match).",
            discussion: """
                PRED holds one prediction a line; REF the references of the same example on the same line, \
                several separated by a tab. ROUGE-L is rouge-score's F-measure with its English tokenisation \
                and Porter stemming, the best over an example's references; exact match compares after SNI's \
                normalisation (lower case, no punctuation, single spaces). With --tasks (one task name a \
                line) scores are averaged per task, then over tasks; without, all lines are one task. \
                Scores are percentages, as SNI's script prints them.
                """)

        @Option(help: "Metric to print: rouge-l or exact-match (--json prints both).") var metric: Metric = .rougeL
        @Option(help: "File of predictions, one a line.") var predictions: String
        @Option(help: "File of references, one line per prediction, several separated by a tab.") var references: String
        @Option(help: "File of task names, one line per prediction (default: one task).") var tasks: String?
        @Flag(help: "Print every score, per task and averaged, as JSON.") var json = false

        enum Metric: String, ExpressibleByArgument, CaseIterable {
            case rougeL = "rouge-l", exactMatch = "exact-match"
        }

        func run() throws {
            let predictionLines = try lines(predictions, "--predictions")
            let referenceLines = try lines(references, "--references")
            let taskLines = try tasks.map { try lines($0, "--tasks") }
            guard predictionLines.count == referenceLines.count else {
                throw ValidationError("\(predictions) has \(predictionLines.count) lines but \(references) has \(referenceLines.count): give one line of references per prediction")
            }
            if let taskLines, taskLines.count != predictionLines.count {
                throw ValidationError("\(tasks!) has \(taskLines.count) lines for \(predictionLines.count) predictions: give one task name per prediction")
            }
            guard !predictionLines.isEmpty else { throw ValidationError("\(predictions) has no prediction to score") }
            var instances: [GenerationScores.Instance] = []
            for (i, prediction) in predictionLines.enumerated() {
                let refs = referenceLines[i].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                instances.append(.init(task: taskLines?[i] ?? "all", prediction: prediction, references: refs))
            }
            let scores = GenerationScores(instances)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(scores), as: UTF8.self))
                return
            }
            if scores.tasks.count > 1 {
                for task in scores.tasks {
                    print(String(format: "%@ %8.4f  (%d)", task.task.padding(toLength: max(24, task.task.count), withPad: " ", startingAt: 0),
                                 value(task.rougeL, task.exactMatch), task.instances))
                }
            }
            let other = metric == .rougeL ? String(format: "exact-match %.4f", scores.exactMatch) : String(format: "rouge-l %.4f", scores.rougeL)
            print(String(format: "%@ %.4f  (%@; %d examples, %d task%@)", metric.rawValue, value(scores.rougeL, scores.exactMatch), other,
                         instances.count, scores.tasks.count, scores.tasks.count == 1 ? "" : "s"))
        }

        private func value(_ rouge: Double, _ exact: Double) -> Double { metric == .rougeL ? rouge : exact }

        /// The file's lines, without a final empty line; a clear error for a missing or non-UTF-8 file.
        private func lines(_ path: String, _ option: String) throws -> [String] {
            let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw ValidationError("\(option): cannot read \(path) (no such file, or not readable)")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("\(option): \(path) is not UTF-8 text")
            }
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            }
            if lines.last == "" { lines.removeLast() }
            return lines
        }
    }
}
