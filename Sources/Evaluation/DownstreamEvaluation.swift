import Corpus
import Tasks
import Foundation
import Models
import TensorCore
import Records
import Clock
import Storage
import Host
import Workloads

/// What `ntng eval` evaluates and how.
public struct DownstreamOptions: Sendable, Equatable {
    /// Task names; empty means the whole built-in suite (`TaskCatalog.names`), or every task folder
    /// of `tasksDirectory` when one is given.
    public var tasks: [String] = []
    /// A folder of task folders (ntng, GLUE TSV or SuperGLUE JSONL); nil: the prepared Debian tasks.
    public var tasksDirectory: URL?
    public var settings = FineTuningSettings()
    /// Also store the best epoch's scores (`downstream_best_epoch.*`), labelled as such.
    public var bestEpoch = false
    /// Kernel threads.
    public var threads = 2
    /// The matrix products' precision and library of fine-tuning; nil: those the run trained
    /// with (a bf16 run fine-tunes in bf16, as the paper's BF16 rows did).
    public var precision: Precision?
    public var matrixLibrary: MatrixLibrary?

    public init() {}
}

/// The outcome of evaluating one run on a task suite.
public struct DownstreamReport: Sendable {
    public var runID: String
    public var results: [TaskResult]
    public var seconds: Double
    /// The backend fine-tuning ran on, e.g. "cpu-onednn-bf16".
    public var backend: String
    /// Mean of the tasks' final-epoch headline scores.
    public var average: Double { results.isEmpty ? .nan : results.map(\.score).reduce(0, +) / Double(results.count) }
    /// Mean of the tasks' best-epoch headline scores (optimistic).
    public var bestEpochAverage: Double {
        results.isEmpty ? .nan : results.map { $0.bestEpoch.scores.value($0.metric) }.reduce(0, +) / Double(results.count)
    }
    /// Mean of the majority-class baselines in the same metrics.
    public var majorityAverage: Double {
        results.isEmpty ? .nan : results.map(\.majorityScore).reduce(0, +) / Double(results.count)
    }
}

/// Downstream evaluation of a finished run: load its final checkpoint (weights only, no plugin
/// code), fine-tune a classification head on each task, score the evaluation split, and store the
/// scores with the run. Nothing is charged to any budget.
///
/// Stored evaluation names (``ResultsStore/record(runID:evaluations:)``, at the run's final step):
/// `downstream.<task>` (headline metric, final epoch), `downstream.<task>.accuracy|f1|mcc`,
/// `downstream.<task>.majority` (the majority-class baseline in the headline metric),
/// `downstream.average`; with `bestEpoch` also `downstream_best_epoch.<task>` and
/// `downstream_best_epoch.average`. Re-evaluating appends; readers take the latest value per name.
public enum DownstreamEvaluation {
    public static let prefix = "downstream."
    public static let bestEpochPrefix = "downstream_best_epoch."

    /// Whether a stored evaluation name is a per-task detail (`downstream.wic_wn.f1`, the majority
    /// baseline, the labelled best-epoch scores) rather than a headline score (`downstream.wic_wn`,
    /// `downstream.average`). Comparisons show headlines only.
    public static func isDetail(_ name: String) -> Bool {
        name.hasPrefix(bestEpochPrefix) || (name.hasPrefix(prefix) && name.dropFirst(prefix.count).contains("."))
    }

    /// The latest stored `downstream.<task>` and `downstream.average` values of a run (empty if
    /// it was never evaluated); keys are task names and `"average"`.
    public static func storedScores(runID: String, store: ResultsStore) throws -> [String: Double] {
        var scores = [String: Double]()
        for e in try store.evaluations(runID: try store.run(id: runID).id) where e.name.hasPrefix(prefix) && !isDetail(e.name) {
            scores[String(e.name.dropFirst(prefix.count))] = e.value
        }
        return scores
    }

    /// Evaluates a run and stores its scores; `progress` receives one line per task epoch.
    @discardableResult
    public static func run(runID: String, store: ResultsStore, data: DataLocation, options: DownstreamOptions = DownstreamOptions(),
                           progress: (String) -> Void = { _ in }) throws -> DownstreamReport {
        let start = Date()
        let (record, workload, tokenizer, backend) = try pretrained(runID: runID, store: store, data: data,
                                                                    precision: options.precision, matrixLibrary: options.matrixLibrary)
        // Fine-tuning puts a classifier head on an encoder; T5 runs get `runInstructions`.
        guard let model = (workload as? MaskedLMWorkload)?.model else {
            throw TaskError.unsupported(task: "*", reason: "run \(record.id) trained a \(workload.kind) model; `ntng eval` fine-tunes masked-LM encoders only")
        }
        let tasks = try loadTasks(options, data: data)
        let savedThreads = ComputeThreads.count
        ComputeThreads.set(options.threads)
        defer { ComputeThreads.set(savedThreads) }
        var results = [TaskResult]()
        for task in tasks {
            progress("\(task.info.name): \(task.examples(.train).count) train / \(task.examples(options.settings.evaluationSplit).count) \(options.settings.evaluationSplit.rawValue) examples, \(task.info.labels.count) labels, metric \(task.info.metric.rawValue)")
            results.append(try FineTuning.run(task: task, pretrained: model, tokenizer: tokenizer, settings: options.settings,
                                              backend: backend, progress: progress))
        }
        let report = DownstreamReport(runID: record.id, results: results, seconds: Date().timeIntervalSince(start),
                                      backend: backend.name)
        try store.record(runID: record.id, evaluations: evaluations(report, bestEpoch: options.bestEpoch,
                                                                    step: record.steps, rstSeconds: record.rstSeconds))
        return report
    }

    /// What both evaluations start from: the run's record, its final weights (evaluation weights
    /// where a plugin served them; no plugin code runs), the tokenizer of its corpus (checked
    /// against the model's vocabulary) and the backend to fine-tune on (the run's own precision and
    /// matrix library unless given).
    static func pretrained(runID: String, store: ResultsStore, data: DataLocation, precision: Precision?,
                           matrixLibrary: MatrixLibrary?) throws -> (RunRecord, any Workload, Tokenizer, any ComputeBackend) {
        let record = try store.run(id: runID)
        let settings = try JSONDecoder().decode(RunSettings.self, from: Data(record.configJSON.utf8))
        let url = store.checkpointURL(runID: record.id)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missing(runID: record.id, path: url.path) }
        let workload = try Checkpoint.loadForEvaluation(from: url, adamW: settings.hyperparameters.adamW)
        let corpus = try PreparedCorpus(corpus: settings.corpus, vocabSize: ModelConfig.corpusVocabulary(preset: settings.model, overrides: settings.modelOverrides), location: data)
        let tokenizer = try Tokenizer(modelURL: corpus.tokenizerURL)
        guard tokenizer.vocabSize == workload.config.vocabularySize else {
            throw TaskError.unsupported(task: "*", reason: "the run's tokenizer (\(corpus.tokenizerURL.path)) has \(tokenizer.vocabSize) ids but the checkpoint's model \(workload.config.vocabularySize)")
        }
        var compute = settings.hyperparameters
        if let precision { compute.precision = precision }
        if let matrixLibrary { compute.matrixLibrary = matrixLibrary }
        return (record, workload, tokenizer, try compute.backend)
    }

    /// The tasks to evaluate, loaded.
    public static func loadTasks(_ options: DownstreamOptions, data: DataLocation) throws -> [LoadedTask] {
        let directory = options.tasksDirectory ?? data.tasksDirectory
        var names = options.tasks
        if names.isEmpty {
            names = options.tasksDirectory == nil ? TaskCatalog.names : TaskLoader.available(in: directory)
            if names.isEmpty { throw TaskError.notPrepared(task: "*", directory: directory.path) }
        }
        return try names.map { try TaskLoader.load(try TaskLoader.folder(of: $0, in: directory)) }
    }

    /// The evaluation records of a report (see the type's documentation for the names).
    public static func evaluations(_ report: DownstreamReport, bestEpoch: Bool, step: Int, rstSeconds: Double) -> [Evaluation] {
        var list = [Evaluation]()
        func add(_ name: String, _ value: Double) { list.append(Evaluation(step: step, rstSeconds: rstSeconds, name: name, value: value)) }
        for r in report.results {
            add(prefix + r.task, r.score)
            add(prefix + r.task + ".accuracy", r.final.accuracy)
            if let f1 = r.final.f1 { add(prefix + r.task + ".f1", f1) }
            add(prefix + r.task + ".mcc", r.final.mcc)
            add(prefix + r.task + ".majority", r.majorityScore)
            if bestEpoch { add(bestEpochPrefix + r.task, r.bestEpoch.scores.value(r.metric)) }
        }
        add(prefix + "average", report.average)
        if bestEpoch { add(bestEpochPrefix + "average", report.bestEpochAverage) }
        return list
    }
}
