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
                --backend says otherwise. \
                A T5 run is evaluated as the paper does, by instruction tuning: fine-tuned on the training tasks \
                of an instruction suite in SNI's layout (default: `ntng data prepare --instructions`; --tasks-dir: \
                an SNI checkout with tasks/ and splits/default/), then generating on its unseen test tasks, scored \
                by ROUGE-L (docs/evaluation.md). Its defaults are nanoT5's recipe scaled for CPU: 2 epochs, lr 5e-5, \
                100 instances per task, 256 source and 32 target tokens.
                """)

        @Argument(help: "Run id (or a unique prefix).") var runID: String
        @Option(help: "Comma-separated task names (default: all).") var tasks: String?
        @Option(help: "Folder of task folders in ntng, GLUE or SuperGLUE layout (default: $NTNG_HOME/data/tasks).") var tasksDir: String?
        @OptionGroup var storage: StoreOptions
        @Option(parsing: .unconditional, help: "Fine-tuning epochs per task (default: \(FineTuningSettings().epochs); T5: \(InstructionTuningSettings().epochs)).") var epochs: Int?
        @Option(parsing: .unconditional, help: "Peak fine-tuning learning rate (default: \(FineTuningSettings().learningRate); T5: \(InstructionTuningSettings().learningRate), constant).") var lr: Double?
        @Option(parsing: .unconditional, help: "Training examples per task at most (default: \(FineTuningSettings().maxTrainExamples); T5: \(InstructionTuningSettings().trainInstancesPerTask)).") var maxTrain: Int?
        @Option(parsing: .unconditional, help: "Evaluation examples per task at most (default: \(FineTuningSettings().maxEvaluationExamples); T5: the first \(InstructionTuningSettings().testInstancesPerTask) of each test task).") var maxEval: Int?
        @Option(parsing: .unconditional, help: "Tokens per example at most (default: \(FineTuningSettings().maxLength); T5: source tokens, \(InstructionTuningSettings().maxSourceLength)).") var maxLength: Int?
        @Option(parsing: .unconditional, help: "T5 only: target tokens at most, in training and generation (default: \(InstructionTuningSettings().maxTargetLength)).") var maxTargetLength: Int?
        @Option(help: "Split to score: dev or test.") var split = "dev"
        @Option(parsing: .unconditional, help: "Fine-tuning seed (head initialisation and shuffling).") var seed = 0
        @OptionGroup var compute: ThreadOptions
        @OptionGroup var computeChoice: ComputeChoiceOptions
        @Flag(help: "Also store the best epoch's scores (labelled downstream_best_epoch.*).") var bestEpoch = false
        @Flag(help: "Print the report as JSON.") var json = false

        func validate() throws {
            if let epochs { try OptionRange.check(epochs, "--epochs", 1...1000) }
            if let maxTrain { try OptionRange.check(maxTrain, "--max-train", 1...10_000_000) }
            if let maxEval { try OptionRange.check(maxEval, "--max-eval", 1...10_000_000) }
            if let maxLength { try OptionRange.check(maxLength, "--max-length", 8...4096) }
            if let maxTargetLength { try OptionRange.check(maxTargetLength, "--max-target-length", 2...1024) }
            if let lr, !(lr > 0 && lr <= 10) { throw ValidationError("--lr must be a number in (0, 10] (got \(lr))") }
            _ = try OptionRange.seed(seed)
            if TaskSplit(rawValue: split) == nil || split == "train" { throw ValidationError("--split must be dev or test") }
        }

        func run() throws {
            let store = try storage.existingStore()
            if try DownstreamEvaluation.trainedEncoderDecoder(runID: try store.run(id: runID).id, store: store) {
                try runInstructionTuning(store)
                return
            }
            if maxTargetLength != nil { throw ValidationError("--max-target-length is for T5 runs; run \(runID) trained an encoder") }
            var options = DownstreamOptions()
            options.tasks = tasks.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } } ?? []
            options.tasksDirectory = tasksDir.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
            options.settings.epochs = epochs ?? options.settings.epochs
            options.settings.learningRate = lr ?? options.settings.learningRate
            options.settings.maxTrainExamples = maxTrain ?? options.settings.maxTrainExamples
            options.settings.maxEvaluationExamples = maxEval ?? options.settings.maxEvaluationExamples
            options.settings.maxLength = maxLength ?? options.settings.maxLength
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

        /// SNI's protocol for a T5 run: instruction tuning, generation, ROUGE-L per test task.
        private func runInstructionTuning(_ store: ResultsStore) throws {
            if bestEpoch || split != "dev" || tasks != nil {
                throw ValidationError("--best-epoch, --split and --tasks are for encoder runs; a T5 run is scored on its suite's test tasks (splits/default/test_tasks.txt)")
            }
            var settings = InstructionTuningSettings()
            settings.epochs = epochs ?? settings.epochs
            settings.learningRate = lr ?? settings.learningRate
            settings.trainInstancesPerTask = maxTrain ?? settings.trainInstancesPerTask
            settings.testInstancesPerTask = maxEval ?? settings.testInstancesPerTask
            settings.maxSourceLength = maxLength ?? settings.maxSourceLength
            settings.maxTargetLength = maxTargetLength ?? settings.maxTargetLength
            settings.seed = UInt64(seed)
            let suite = tasksDir.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
            let report = try DownstreamEvaluation.runInstructions(
                runID: runID, store: store, data: storage.data, suiteDirectory: suite, settings: settings, threads: compute.threads,
                precision: computeChoice.precision, matrixLibrary: computeChoice.backend) { line in
                FileHandle.standardError.write(Data(("ntng eval: " + line + "\n").utf8))
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            print("run \(runID): instruction tuning on \(report.trainTasks.count) training tasks (\(report.trainInstances) instances, \(settings.epochs) epochs), ROUGE-L on unseen test tasks")
            print("task                    ROUGE-L  exact match  copy input  instances")
            for r in report.results {
                print(String(format: "%@ %7.2f %12.2f %11.2f %10d", pad(r.task, 22), r.rougeL, r.exactMatch, r.copyInputRougeL, r.instances))
            }
            print(String(format: "%@ %7.2f %12.2f %11.2f", pad("average", 22), report.rougeL, report.exactMatch, report.copyInputRougeL))
            print(String(format: "%d prompts cut at %d tokens, %d references at %d; %.0f s in all", report.truncatedSources,
                         settings.maxSourceLength, report.truncatedTargets, settings.maxTargetLength, report.seconds))
        }

        /// One line per task: headline score, majority baseline, data.md's reference baselines.
        func table(_ report: DownstreamReport) -> String {
            let split = self.split
            var lines = ["run \(report.runID): downstream scores on \(split) (final epoch of \(epochs ?? FineTuningSettings().epochs), fine-tuned on \(report.backend))" + (bestEpoch ? "; best epoch shown separately (optimistic)" : "")]
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
