import Corpus
import Foundation
import Storage
import Models
import TensorCore
import Clock
import Records
import PluginHost
import Workloads

/// Progress of a run, reported after every step.
public struct TrainingProgress: Sendable {
    public var step: Int
    public var rstSeconds: Double
    public var budgetFraction: Double
    public var budget: Budget
    public var trainLoss: Double
    public var learningRate: Double
    public var tokensPerSecond: Double
    public var wallSeconds: Double
}

/// How a run ended.
public enum RunOutcome: Sendable, Equatable {
    case finished(RunSummary)
    /// Stopped on request (SIGINT/SIGTERM) at a step boundary, with a checkpoint to resume from.
    case interrupted(RunSummary)
}

/// Trains one model on one corpus under one budget and records everything in the results store.
///
/// The steps themselves are ``TrainingStep``'s (the same step `ntng plugin check`, calibration,
/// RHO-LOSS's proxy and `ntng bench` take); the trainer adds what a recorded run needs: the run
/// record, loss points, checkpoints every `checkpoint-every` percent of the budget and at the end,
/// and validation at the end (and every `eval-every` percent), uncharged, with the full model.
public final class Trainer {
    public private(set) var runID: String
    public let settings: RunSettings
    /// The model, optimizer, clock, data position and plugins, advanced one step at a time.
    public let training: TrainingStep
    public var workload: any Workload { training.workload }
    public var clock: RSTClock { training.clock }
    public var plugins: PluginStack? { training.plugins }
    let source: any CorpusBatches
    private let store: ResultsStore
    private var checkpointURL: URL { store.checkpointURL(runID: runID) }
    var state: Checkpoint
    /// SHA-256 of the recorded settings JSON, bound into every checkpoint.
    let settingsSHA256: String
    private var pendingPoints: [LossPoint] = []
    private lazy var validationBatches: [any TrainingBatch] = source.validationBatches(maxSequences: settings.hyperparameters.validationSequences)
    /// Where plugin log lines are echoed (stderr by default).
    public var pluginLog: (String) -> Void {
        get { training.pluginLog }
        set { training.pluginLog = newValue }
    }
    /// At most this many plugin log lines are stored per run.
    public static var maxStoredLogLines: Int { TrainingStep.maxLogLines }

    /// Opens the corpus and profile, builds the model and records a new run, trained by host
    /// build `build` (this process's unless a comparison starts it for another executable).
    public static func start(settings requested: RunSettings, data: DataLocation, store: ResultsStore,
                             profile profileName: String?, build: String = NTNGVersion.string) throws -> Trainer {
        let corpus = try PreparedCorpus(corpus: requested.corpus,
                                        vocabSize: ModelConfig.corpusVocabulary(preset: requested.model, overrides: requested.modelOverrides),
                                        location: data)
        // An explicit model vocabulary must be the corpus's (checked again where batches are made).
        if let vocabulary = requested.modelOverrides["vocab"].flatMap({ Int($0) }) { try corpus.requireVocabulary(vocabulary) }
        var settings = requested
        settings.data = RecordedData(directory: corpus.directory.path, fingerprint: corpus.fingerprint)
        settings.hyperparameters.chooseMatrixLibrary()
        let config = try settings.modelConfig(vocabularySize: corpus.vocabSize)
        let workload = try Workloads.make(config: config, seed: settings.seed, backend: try settings.hyperparameters.backend)
        let profile = try ProfileCatalog.load(profileName, for: workload)
        let source = try workload.trainingBatches(corpus: corpus, seed: settings.seed, epochs: settings.hyperparameters.epochs ?? 1)
        let recipe = try TrainingRecipe(settings: settings, config: config)
        let clock = RSTClock(budget: settings.budget, profile: profile, freeKinds: Set(settings.free))
        try source.requireMicroBatches(Self.estimatedSteps(clock: clock, config: config, accumulation: recipe.accumulation) * recipe.accumulation)

        let state = Checkpoint(step: 0, dataPosition: 0, clock: clock, modelConfig: config, lastTrainLoss: nil,
                               nextCheckpointFraction: Self.nextMark(after: 0, every: settings.hyperparameters.checkpointEveryPercent),
                               nextEvaluationFraction: Self.nextMark(after: 0, every: settings.hyperparameters.evaluateEveryPercent))
        let training = TrainingStep(workload: workload, optimizer: AdamW(parameterCount: workload.parameters.count, settings: settings.hyperparameters.adamW),
                                    clock: clock, recipe: recipe, batches: source)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let configJSON = String(decoding: try encoder.encode(settings), as: UTF8.self)
        let trainer = Trainer(runID: "", settings: settings, training: training, source: source, state: state, store: store,
                              settingsSHA256: SHA256Digest.hex(Array(configJSON.utf8)))
        // Plugins are opened (and their settings checked) before anything is stored.
        try trainer.openPlugins()
        if let factor = trainer.plugins?.poolFactor {
            // A selecting method draws a pool of factor × batch sequences per step.
            try source.requireMicroBatches(Self.estimatedSteps(clock: clock, config: config, accumulation: recipe.accumulation) * recipe.accumulation * factor)
        }

        let run = try store.createRun(NewRun(
            method: settings.method, model: settings.model, corpus: settings.corpus, seed: Int(settings.seed),
            budget: settings.budget, configJSON: configJSON,
            profileJSON: String(decoding: try profile.jsonData(), as: UTF8.self), codeVersion: build,
            pluginsJSON: try trainer.plugins?.provenanceJSON()))
        trainer.runID = run.id
        // The lines a curve must get below to show the model uses context, stored with the run
        // so tables and reports need not reopen the corpus.
        let lines = try source.referenceLines(validationSequences: settings.hyperparameters.validationSequences)
        try store.record(runID: run.id, evaluations: [
            Evaluation(step: 0, rstSeconds: 0, name: ReferenceLines.unigramName, value: lines.unigram),
            Evaluation(step: 0, rstSeconds: 0, name: ReferenceLines.uniformName, value: lines.uniform),
        ])
        return trainer
    }

    /// Opens the method's plugins (nil for the baseline) with the step as their host.
    func openPlugins() throws {
        training.plugins = try PluginStack.open(method: settings.method, settings: settings.hyperparameters.pluginSettings,
                                                searchPath: .standard(extra: settings.pluginPaths), services: training)
    }

    /// Continues an interrupted run from its latest checkpoint. The remaining steps reproduce
    /// those of an uninterrupted run exactly.
    public static func resume(runID: String, data: DataLocation, store: ResultsStore) throws -> Trainer {
        let record = try store.run(id: runID)
        let settings = try JSONDecoder().decode(RunSettings.self, from: Data(record.configJSON.utf8))
        let url = store.checkpointURL(runID: record.id)
        AtomicFile.removeOrphans(of: url)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missing(runID: record.id, path: url.path) }
        let corpus = try Self.recordedCorpus(settings, runID: record.id, data: data)
        let binding = settings.data.map {
            Checkpoint.Binding(runID: record.id, settingsSHA256: SHA256Digest.hex(Array(record.configJSON.utf8)), dataFingerprint: $0.fingerprint)
        }
        let (checkpoint, workload, optimizer) = try Checkpoint.load(
            from: url, adamW: settings.hyperparameters.adamW, maxLayers: try settings.modelConfig(vocabularySize: corpus.vocabSize).layers,
            expecting: binding, backend: try settings.hyperparameters.backend)
        let source = try workload.trainingBatches(corpus: corpus, seed: settings.seed, epochs: settings.hyperparameters.epochs ?? 1)
        let training = TrainingStep(workload: workload, optimizer: optimizer, clock: checkpoint.clock,
                                    recipe: try TrainingRecipe(settings: settings, config: checkpoint.modelConfig), batches: source,
                                    dataPosition: checkpoint.dataPosition)
        let trainer = Trainer(runID: record.id, settings: settings, training: training, source: source, state: checkpoint, store: store,
                              settingsSHA256: SHA256Digest.hex(Array(record.configJSON.utf8)))
        try trainer.openPlugins()
        if let plugins = trainer.plugins, let saved = checkpoint.plugins { try plugins.restore(saved) }
        _ = try store.resumeRun(id: record.id, checkpointStep: checkpoint.step, summary: Self.summary(checkpoint.clock, loss: checkpoint.lastTrainLoss, val: nil))
        return trainer
    }

    /// The data a run recorded: its folder if it still holds the same content, else the corpus
    /// of that name under `data` if that does; anything else is refused, never trained on.
    static func recordedCorpus(_ settings: RunSettings, runID: String, data: DataLocation) throws -> PreparedCorpus {
        guard let recorded = settings.data else {
            return try PreparedCorpus(corpus: settings.corpus, location: data)  // recorded before fingerprints
        }
        var found: [String] = []
        for candidate in [{ try PreparedCorpus(directory: URL(fileURLWithPath: recorded.directory)) },
                          { try PreparedCorpus(corpus: settings.corpus, location: data) }] {
            do {
                let corpus = try candidate()
                if corpus.fingerprint == recorded.fingerprint { return corpus }
                found.append("\(corpus.directory.path) holds other data (fingerprint \(corpus.fingerprint))")
            } catch {
                found.append("\(error)")
            }
        }
        throw TrainingFailure(step: 0, description: "run \(runID) trained on the prepared data in \(recorded.directory) (fingerprint \(recorded.fingerprint)), which is not there any more: "
            + Array(Set(found)).sorted().joined(separator: "; ")
            + ". A run resumes only on the data it started with: restore that folder, or pass --data-dir with an identical copy")
    }

    private init(runID: String, settings: RunSettings, training: TrainingStep, source: any CorpusBatches,
                 state: Checkpoint, store: ResultsStore, settingsSHA256: String) {
        self.settingsSHA256 = settingsSHA256
        self.runID = runID
        self.settings = settings
        self.training = training
        self.source = source
        self.state = state
        self.store = store
    }

    /// Steps a full-depth baseline would take within the budget (for the one-epoch check).
    static func estimatedSteps(clock: RSTClock, config: ModelConfig, accumulation: Int) -> Int {
        let budget = clock.budget
        if budget.kind == .steps { return Int(budget.amount) }
        let perStep = clock.profile.forwardBackwardCost(activeLayers: config.layers, sequences: config.microBatch * accumulation)
            + clock.profile.optimizerUpdateCost(parameters: config.parameterCount)
        return Int((budget.amount / max(perStep, 1e-12)).rounded(.up))
    }

    static func nextMark(after fraction: Double, every percent: Double) -> Double {
        guard percent > 0 else { return .infinity }
        let step = percent / 100
        return ((fraction / step).rounded(.down) + 1) * step
    }

    static func summary(_ clock: RSTClock, loss: Double?, val: Double?) -> RunSummary {
        RunSummary(rstSeconds: clock.rstSeconds, wallSeconds: clock.wallSeconds, steps: clock.steps,
                   tokens: clock.tokens, finalTrainLoss: loss, valLoss: val)
    }

    // MARK: - The loop

    /// Trains until the budget is spent or `shouldStop` returns true. A NaN or infinite loss
    /// stops the run, which is stored as failed with the step, and throws.
    public func train(shouldStop: () -> Bool = { false }, progress: (TrainingProgress) -> Void = { _ in }) throws -> RunOutcome {
        ComputeThreads.set(settings.threads)
        do {
            // on_run_start's diagnostics and log lines belong to where the run (re)starts.
            try plugins?.runStart(in: training.runContext())
            while clock.canStartStep() {
                if shouldStop() {
                    try flush()
                    try saveCheckpoint()
                    let summary = Self.summary(clock, loss: state.lastTrainLoss, val: nil)
                    try store.markInterrupted(id: runID, reason: "stopped by signal", summary: summary)
                    return .interrupted(summary)
                }
                let step = try training.take()
                state.lastTrainLoss = step.loss
                pendingPoints.append(LossPoint(step: clock.steps, rstSeconds: clock.rstSeconds, wallSeconds: clock.wallSeconds,
                                               tokens: clock.tokens, trainLoss: step.loss, learningRate: step.learningRate))
                progress(TrainingProgress(
                    step: clock.steps, rstSeconds: clock.rstSeconds, budgetFraction: clock.fraction, budget: clock.budget,
                    trainLoss: step.loss, learningRate: step.learningRate,
                    tokensPerSecond: Double(clock.tokens) / max(clock.wallSeconds, 1e-9), wallSeconds: clock.wallSeconds))
                try periodicWork()
            }
            try plugins?.runEnd(in: training.runContext())
            try flush()
            let validation = try evaluate()
            try store.record(runID: runID, evaluations: [Evaluation(step: clock.steps, rstSeconds: clock.rstSeconds,
                                                                    name: "val_loss", value: validation)])
            state.nextCheckpointFraction = .infinity
            try saveCheckpoint()
            let summary = Self.summary(clock, loss: state.lastTrainLoss, val: validation)
            if let plugins { try store.updatePluginProvenance(id: runID, json: try plugins.provenanceJSON()) }
            try store.finishRun(id: runID, summary: summary)
            return .finished(summary)
        } catch {
            // Whatever stopped the run (a NaN loss, a plugin breaking its contract, a full disk),
            // the run is stored as failed with the step, and never as a result.
            let step = (error as? TrainingFailure)?.step ?? clock.steps + 1
            try? flush()
            if let json = try? plugins?.provenanceJSON() { try? store.updatePluginProvenance(id: runID, json: json) }
            try? store.failRun(id: runID, error: "\(error)", failedStep: step,
                               summary: Self.summary(clock, loss: state.lastTrainLoss, val: nil))
            throw error
        }
    }

    private func periodicWork() throws {
        if pendingPoints.count >= 50 { try flush() }
        let fraction = clock.fraction
        if fraction >= state.nextEvaluationFraction && clock.canStartStep() {
            let value = try evaluate()
            try store.record(runID: runID, evaluations: [Evaluation(step: clock.steps, rstSeconds: clock.rstSeconds, name: "val_loss", value: value)])
            state.nextEvaluationFraction = Self.nextMark(after: fraction, every: settings.hyperparameters.evaluateEveryPercent)
        }
        if fraction >= state.nextCheckpointFraction && clock.canStartStep() {
            try flush()
            state.nextCheckpointFraction = Self.nextMark(after: fraction, every: settings.hyperparameters.checkpointEveryPercent)
            try saveCheckpoint()
        }
    }

    private func flush() throws {
        let records = training.takeRecords()
        guard !pendingPoints.isEmpty || !records.diagnostics.isEmpty || !records.log.isEmpty else { return }
        try store.record(runID: runID, lossPoints: pendingPoints, diagnostics: records.diagnostics, log: records.log,
                         summary: Self.summary(clock, loss: state.lastTrainLoss, val: nil))
        pendingPoints.removeAll(keepingCapacity: true)
    }

    private func saveCheckpoint() throws {
        state.step = clock.steps
        state.dataPosition = training.dataPosition
        state.clock = clock
        state.modelConfig = workload.config
        state.plugins = try plugins?.checkpoint()
        state.evaluationWeights = try training.evaluationWeights()
        let binding = Checkpoint.Binding(runID: runID, settingsSHA256: settingsSHA256, dataFingerprint: settings.data?.fingerprint ?? "")
        try Checkpoint.save(state, workload: workload, optimizer: training.optimizer, binding: binding, to: checkpointURL)
    }

    // MARK: - Evaluation (never charged, always the full model)

    /// The workload's loss over the fixed validation set (mean per target token), at the weights
    /// a plugin chose for evaluation if one does ("ntng.evaluation_weights/1").
    public func evaluate() throws -> Double {
        try training.withEvaluationWeights { workload.evaluationLoss(validationBatches) }
    }

    /// The validation loss at the training weights, whatever a plugin chose for evaluation.
    public func evaluateTrainingWeights() -> Double { workload.evaluationLoss(validationBatches) }
}
