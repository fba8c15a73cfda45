import Corpus
import Foundation
import Host
import Models
import Records
import Tasks
import TensorCore
import Workloads

/// `ntng eval RUN_ID` for a T5 run: the paper's SNI protocol (``InstructionTuning``) on an
/// instruction suite in SNI's layout, the scores stored with the run under the names the
/// classification suite uses, so `ntng compare` shows them as columns and charts:
/// `downstream.<task>` (ROUGE-L, percent), `downstream.<task>.exact_match`,
/// `downstream.<task>.copy_input` (the copy-the-input baseline), `downstream.average` (mean
/// ROUGE-L over the test tasks), with `downstream.average.exact_match` and
/// `downstream.average.copy_input` beside it.
extension DownstreamEvaluation {
    /// Whether the run trained an encoder–decoder, which `ntng eval` evaluates by generation.
    public static func trainedEncoderDecoder(runID: String, store: ResultsStore) throws -> Bool {
        let settings = try JSONDecoder().decode(RunSettings.self, from: Data(try store.run(id: runID).configJSON.utf8))
        return (try? ModelConfig.preset(settings.model, overrides: settings.modelOverrides))?.encoderDecoder != nil
    }

    /// Fine-tunes a T5 run's final checkpoint on `suiteDirectory` (`tasks/` and
    /// `splits/default/`; nil: the prepared Debian instruction suite) and stores the scores.
    @discardableResult
    public static func runInstructions(runID: String, store: ResultsStore, data: DataLocation, suiteDirectory: URL?,
                                       settings: InstructionTuningSettings = InstructionTuningSettings(), threads: Int = 2,
                                       precision: Precision? = nil, matrixLibrary: MatrixLibrary? = nil,
                                       progress: (String) -> Void = { _ in }) throws -> InstructionTuningReport {
        let (record, workload, tokenizer, backend) = try pretrained(runID: runID, store: store, data: data,
                                                                    precision: precision, matrixLibrary: matrixLibrary)
        guard let model = (workload as? SpanCorruptionWorkload)?.model else {
            throw TaskError.unsupported(task: "*", reason: "run \(record.id) trained a \(workload.kind) model; instruction tuning needs a T5 run")
        }
        let root = suiteDirectory ?? data.instructionsDirectory
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent("tasks").path) else {
            throw TaskError.notPrepared(task: "instructions", directory: root.path + " (no tasks/ folder; run `ntng data prepare --instructions`, or give --tasks-dir an SNI checkout)")
        }
        let suite = try InstructionSuite.load(tasksDirectory: root.appendingPathComponent("tasks"),
                                              splitDirectory: root.appendingPathComponent("splits/default"),
                                              caps: .init(trainInstances: settings.trainInstancesPerTask, testInstances: settings.testInstancesPerTask),
                                              seed: settings.seed)
        let savedThreads = ComputeThreads.count
        ComputeThreads.set(threads)
        defer { ComputeThreads.set(savedThreads) }
        let report = try InstructionTuning.run(suite: suite, pretrained: model, tokenizer: tokenizer, settings: settings,
                                               backend: backend, progress: progress)
        var list = [Evaluation]()
        func add(_ name: String, _ value: Double) {
            list.append(Evaluation(step: record.steps, rstSeconds: record.rstSeconds, name: name, value: value))
        }
        for r in report.results {
            add(prefix + r.task, r.rougeL)
            add(prefix + r.task + ".exact_match", r.exactMatch)
            add(prefix + r.task + ".copy_input", r.copyInputRougeL)
        }
        add(prefix + "average", report.rougeL)
        add(prefix + "average.exact_match", report.exactMatch)
        add(prefix + "average.copy_input", report.copyInputRougeL)
        try store.record(runID: record.id, evaluations: list)
        return report
    }
}
