import ArgumentParser
import Corpus
import Tasks
import Foundation
import Host
import Storage
import Records
import Evaluation

/// `ntng eval …`: downstream evaluation. `ntng eval RUN_ID` fine-tunes a run's checkpoint (the
/// default subcommand); `ntng eval score` scores a user's own generated text.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Fine-tune a run's checkpoint on downstream tasks, or score generated text.",
        subcommands: [FineTune.self, Score.self],
        defaultSubcommand: FineTune.self)
}

extension EvalCommand {
    /// `ntng eval [finetune] RUN_ID`: downstream evaluation of a run's final checkpoint.
    struct FineTune: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "finetune",
            abstract: "Fine-tune a run's checkpoint on downstream tasks and store the scores with the run (the default).",
            discussion: """
                Tasks are the Debian suite (`ntng data prepare --tasks`): \(TaskCatalog.names.joined(separator: ", ")). \
                --tasks-dir reads a folder of GLUE (TSV) or SuperGLUE (JSONL) task folders instead. \
                Scores are the final epoch's on the dev split; --best-epoch also stores the best epoch's, \
                labelled downstream_best_epoch.* (optimistic: chosen on the split it reports). \
                The same fine-tuning settings and seeds are used for every method; no budget is charged. \
                Fine-tuning computes with the run's own precision and matrix library unless --precision or \
                --backend says otherwise.
                """)

        @Argument(help: "Run id (or a unique prefix).") var runID: String
        @Option(help: "Comma-separated task names (default: all).") var tasks: String?
        @Option(help: "Folder of task folders in ntng, GLUE or SuperGLUE layout (default: $NTNG_HOME/data/tasks).") var tasksDir: String?
        @OptionGroup var storage: StoreOptions
        @Option(parsing: .unconditional, help: "Fine-tuning epochs per task.") var epochs = FineTuningSettings().epochs
        @Option(parsing: .unconditional, help: "Peak fine-tuning learning rate.") var lr = FineTuningSettings().learningRate
        @Option(parsing: .unconditional, help: "Training examples per task at most.") var maxTrain = FineTuningSettings().maxTrainExamples
        @Option(parsing: .unconditional, help: "Evaluation examples per task at most.") var maxEval = FineTuningSettings().maxEvaluationExamples
        @Option(parsing: .unconditional, help: "Tokens per example at most.") var maxLength = FineTuningSettings().maxLength
        @Option(help: "Split to score: dev or test.") var split = "dev"
        @Option(parsing: .unconditional, help: "Fine-tuning seed (head initialisation and shuffling).") var seed = 0
        @OptionGroup var compute: ThreadOptions
        @OptionGroup var computeChoice: ComputeChoiceOptions
        @Flag(help: "Also store the best epoch's scores (labelled downstream_best_epoch.*).") var bestEpoch = false
        @Flag(help: "Print the report as JSON.") var json = false

        func validate() throws {
            try OptionRange.check(epochs, "--epochs", 1...1000)
            try OptionRange.check(maxTrain, "--max-train", 1...10_000_000)
            try OptionRange.check(maxEval, "--max-eval", 1...10_000_000)
            try OptionRange.check(maxLength, "--max-length", 8...4096)
            if !(lr > 0 && lr <= 10) { throw ValidationError("--lr must be a number in (0, 10] (got \(lr))") }
            _ = try OptionRange.seed(seed)
            if TaskSplit(rawValue: split) == nil || split == "train" { throw ValidationError("--split must be dev or test") }
        }

        func run() throws {
            let store = try storage.existingStore()
            var options = DownstreamOptions()
            options.tasks = tasks.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } } ?? []
            options.tasksDirectory = tasksDir.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
            options.settings.epochs = epochs
            options.settings.learningRate = lr
            options.settings.maxTrainExamples = maxTrain
            options.settings.maxEvaluationExamples = maxEval
            options.settings.maxLength = maxLength
            options.settings.evaluationSplit = TaskSplit(rawValue: split)!
            options.settings.seed = UInt64(seed)
            options.bestEpoch = bestEpoch
            options.threads = compute.threads
            options.precision = computeChoice.precision
            options.matrixLibrary = computeChoice.backend
            let report = try DownstreamEvaluation.run(runID: runID, store: store, data: storage.data,
                                                      options: options) { line in
                FileHandle.standardError.write(Data(("ntng eval: " + line + "\n").utf8))
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                struct Output: Encodable {
                    let run: String, backend: String, average: Double, majorityAverage: Double, bestEpochAverage: Double?, seconds: Double
                    let settings: FineTuningSettings, tasks: [TaskResult]
                }
                let out = Output(run: report.runID, backend: report.backend, average: report.average, majorityAverage: report.majorityAverage,
                                 bestEpochAverage: bestEpoch ? report.bestEpochAverage : nil, seconds: report.seconds,
                                 settings: options.settings, tasks: report.results)
                print(String(decoding: try encoder.encode(out), as: UTF8.self))
                return
            }
            print(table(report))
        }

        /// One line per task: headline score, majority baseline, data.md's reference baselines.
        func table(_ report: DownstreamReport) -> String {
            let split = self.split
            var lines = ["run \(report.runID): downstream scores on \(split) (final epoch of \(epochs), fine-tuned on \(report.backend))" + (bestEpoch ? "; best epoch shown separately (optimistic)" : "")]
            var header = "task             metric     score  majority    acc"
            if bestEpoch { header += "  best-epoch" }
            header += "   data.md maj / BoW (test acc)   train   eval  len    time"
            lines.append(header)
            for r in report.results {
                let reference = (try? TaskCatalog.task(named: r.task)).map { String(format: "%.3f / %.3f", $0.referenceMajority, $0.referenceBagOfWords) } ?? "–"
                var line = String(format: "%@ %@ %6.3f %9.3f %6.3f", pad(r.task, 16), pad(r.metric.rawValue, 8), r.score,
                                  r.majorityScore, r.final.accuracy)
                if bestEpoch { line += String(format: "  %6.3f (%d)", r.bestEpoch.scores.value(r.metric), r.bestEpoch.epoch) }
                line += String(format: "   %@ %7d %6d %4d %6.0fs", pad(reference, 28), r.trainExamples, r.evaluationExamples,
                               r.sequenceLength, r.seconds)
                lines.append(line)
            }
            let beaten = report.results.filter { $0.score > $0.majorityScore }.count
            var summary = String(format: "average          %@ %6.3f %9.3f", pad("", 8), report.average, report.majorityAverage)
            if bestEpoch { summary += String(format: "         %6.3f", report.bestEpochAverage) }
            lines.append(summary)
            lines.append(String(format: "beats the majority class on %d of %d tasks; %.0f s in all", beaten, report.results.count, report.seconds))
            let sanity = report.results.map(\.task).filter { (try? TaskCatalog.task(named: $0))?.isSanityTask == true }
            if !sanity.isEmpty {
                lines.append("sanity task\(sanity.count == 1 ? "" : "s") (near the bag-of-words ceiling; worth less as a headline): \(sanity.joined(separator: ", "))")
            }
            return lines.joined(separator: "\n")
        }

        private func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
    }
}
