import Corpus
import Foundation
import Models
import TensorCore

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
/// One step: read the budget fraction → learning rate from the schedule → draw the step's
/// micro-batches from the data stream → forward + backward each (charged per sequence at the
/// profile's cost for the layers run) → clip → AdamW (charged per parameter) → record.
/// Checkpoints are written every `checkpoint-every` percent of the budget and at the end;
/// validation runs at the end (and every `eval-every` percent), uncharged, with the full model.
public final class Trainer {
    public private(set) var runID: String
    public let settings: RunSettings
    public internal(set) var model: MaskedLanguageModel
    var optimizer: AdamW
    let source: MLMBatchSource
    public internal(set) var clock: RSTClock
    private let store: ResultsStore
    private var checkpointURL: URL { Self.checkpointURL(runID: runID) }
    private let schedule: LearningRateSchedule
    let accumulation: Int
    var state: Checkpoint
    private var pendingPoints: [LossPoint] = []
    var pendingDiagnostics: [Diagnostic] = []
    /// Plugin log lines not yet stored, and how many this process has stored for the run.
    var pendingLog: [RunLogLine] = []
    var loggedLines = 0
    static let maxStoredLogLines = 1000
    static let maxStoredLogCharacters = 4000
    private lazy var validationBatches: [MaskedLMBatch] = makeValidationBatches()
    /// The method's plugins; nil for the baseline.
    public internal(set) var plugins: PluginStack?
    /// The depth of the run's preset: the most layers a resize may ask for.
    public let maxLayers: Int
    /// The step's micro-batches, for the sampled-label service.
    var currentBatches: [MaskedLMBatch] = []
    /// The candidate pool while a plugin selects from it.
    var currentPool: [MaskedExample] = []
    /// The 1-based number of the step being taken (diagnostics are filed under it).
    var stepInProgress = 0
    /// Reference-over-local speed ratio, measured once if a plugin optimizer is uncalibrated.
    lazy var referenceOverLocal: Double = PluginCharging.referenceOverLocal(profile: clock.profile, parameterCount: model.parameters.parameterCount)
    /// Where plugin log lines go (stderr by default).
    public var pluginLog: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    /// Where run checkpoints live: `$NTNG_HOME/checkpoints/<run id>/latest.safetensors`.
    public static func checkpointURL(runID: String) -> URL {
        NTNGHome.directory().appendingPathComponent("checkpoints").appendingPathComponent(runID)
            .appendingPathComponent("latest.safetensors")
    }

    /// Opens the corpus and profile, builds the model and records a new run.
    public static func start(settings: RunSettings, data: DataLocation, store: ResultsStore,
                             profile profileName: String?) throws -> Trainer {
        let corpus = try PreparedCorpus(corpus: settings.corpus, location: data)
        let config = try settings.modelConfig(vocabularySize: corpus.vocabSize)
        let profile = try ProfileCatalog.load(profileName, preset: settings.model, shape: ProfileCatalog.shape(of: config))
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: config.sequenceLength,
                                        batchSize: config.microBatch, seed: settings.seed)
        let model = try MaskedLanguageModel(config: config, seed: settings.seed)
        let accumulation = try Self.accumulation(settings, config)
        let clock = RSTClock(budget: settings.budget, profile: profile, freeKinds: Set(settings.free))
        try source.requireBatches(Self.estimatedSteps(clock: clock, config: config, accumulation: accumulation) * accumulation)

        let state = Checkpoint(step: 0, dataPosition: 0, clock: clock, modelConfig: config, lastTrainLoss: nil,
                               nextCheckpointFraction: Self.nextMark(after: 0, every: settings.hyperparameters.checkpointEveryPercent),
                               nextEvaluationFraction: Self.nextMark(after: 0, every: settings.hyperparameters.evaluateEveryPercent))
        let trainer = Trainer(runID: "", settings: settings, model: model,
                              optimizer: AdamW(parameterCount: model.parameters.count, settings: settings.hyperparameters.adamW),
                              source: source, state: state, store: store, accumulation: accumulation, maxLayers: config.layers)
        // Plugins are opened (and their settings checked) before anything is stored.
        try trainer.openPlugins()
        if let factor = trainer.plugins?.poolFactor {
            // A selecting method draws a pool of factor × batch sequences per step.
            try source.requireBatches(Self.estimatedSteps(clock: clock, config: config, accumulation: accumulation) * accumulation * factor)
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let run = try store.createRun(NewRun(
            method: settings.method, model: settings.model, corpus: settings.corpus, seed: Int(settings.seed),
            budget: settings.budget, configJSON: String(decoding: try encoder.encode(settings), as: UTF8.self),
            profileJSON: String(decoding: try profile.jsonData(), as: UTF8.self), codeVersion: NTNGVersion.string,
            pluginsJSON: try trainer.plugins?.provenanceJSON()))
        trainer.runID = run.id
        return trainer
    }

    /// Opens the method's plugins (nil for the baseline) with this trainer as their host.
    func openPlugins() throws {
        plugins = try PluginStack.open(method: settings.method, settings: settings.hyperparameters.pluginSettings,
                                       searchPath: .standard(extra: settings.pluginPaths), services: self)
    }

    /// Continues an interrupted run from its latest checkpoint. The remaining steps reproduce
    /// those of an uninterrupted run exactly.
    public static func resume(runID: String, data: DataLocation, store: ResultsStore) throws -> Trainer {
        let record = try store.run(id: runID)
        let settings = try JSONDecoder().decode(RunSettings.self, from: Data(record.configJSON.utf8))
        let url = checkpointURL(runID: record.id)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missing(runID: record.id, path: url.path) }
        let (checkpoint, model, optimizer) = try Checkpoint.load(from: url, adamW: settings.hyperparameters.adamW)
        let corpus = try PreparedCorpus(corpus: settings.corpus, location: data)
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: checkpoint.modelConfig.sequenceLength,
                                        batchSize: checkpoint.modelConfig.microBatch, seed: settings.seed)
        let trainer = Trainer(runID: record.id, settings: settings, model: model, optimizer: optimizer, source: source,
                              state: checkpoint, store: store, accumulation: try accumulation(settings, checkpoint.modelConfig),
                              maxLayers: try settings.modelConfig(vocabularySize: corpus.vocabSize).layers)
        try trainer.openPlugins()
        if let plugins = trainer.plugins, let saved = checkpoint.plugins { try plugins.restore(saved) }
        _ = try store.resumeRun(id: record.id, checkpointStep: checkpoint.step, summary: Self.summary(checkpoint.clock, loss: checkpoint.lastTrainLoss, val: nil))
        return trainer
    }

    private init(runID: String, settings: RunSettings, model: MaskedLanguageModel, optimizer: AdamW,
                 source: MLMBatchSource, state: Checkpoint, store: ResultsStore, accumulation: Int, maxLayers: Int) {
        self.runID = runID
        self.maxLayers = maxLayers
        self.settings = settings
        self.model = model
        self.optimizer = optimizer
        self.source = source
        self.state = state
        self.clock = state.clock
        self.store = store
        self.accumulation = accumulation
        self.schedule = .oneCycle(peak: settings.hyperparameters.peakLearningRate,
                                  warmupFraction: settings.hyperparameters.warmupFraction)
    }

    static func accumulation(_ settings: RunSettings, _ config: ModelConfig) throws -> Int {
        let batch = settings.hyperparameters.batchSequences ?? config.microBatch
        guard batch % config.microBatch == 0 else {
            throw RunSettingsError.invalid("batch (\(batch)) must be a multiple of the micro-batch (\(config.microBatch)); set both with --set batch=N micro-batch=M")
        }
        return batch / config.microBatch
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
            stepInProgress = clock.steps  // on_run_start's diagnostics and log lines belong to where the run (re)starts
            try plugins?.runStart()
            while clock.canStartStep() {
                if shouldStop() {
                    try flush()
                    try saveCheckpoint()
                    let summary = Self.summary(clock, loss: state.lastTrainLoss, val: nil)
                    try store.markInterrupted(id: runID, reason: "stopped by signal", summary: summary)
                    return .interrupted(summary)
                }
                let loss = try step()
                progress(TrainingProgress(
                    step: clock.steps, rstSeconds: clock.rstSeconds, budgetFraction: clock.fraction, budget: clock.budget,
                    trainLoss: loss, learningRate: pendingPoints.last?.learningRate ?? 0,
                    tokensPerSecond: Double(clock.tokens) / max(clock.wallSeconds, 1e-9), wallSeconds: clock.wallSeconds))
                try periodicWork()
            }
            try plugins?.runEnd()
            try flush()
            let validation = evaluate()
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

    /// One optimizer step; returns its training loss.
    private func step() throws -> Double {
        stepInProgress = clock.steps + 1
        let lr = schedule.learningRate(atFraction: clock.fraction)
        var lrScale: Float = 1
        var activeLayers: [[Int]]?
        if let plugins {
            if let plan = try plugins.resizePlan() { try resize(to: plan, plugins: plugins) }
            let plan = try plugins.stepPlan(microBatches: accumulation)
            lrScale = plan.lrScale
            activeLayers = plan.activeLayers
        }
        let batches = try drawBatches()
        currentBatches = batches
        let masked = batches.reduce(0) { $0 + $1.maskedCount }
        model.parameters.zeroGradients()
        var lossSum = 0.0, depthSum = 0
        for (i, batch) in batches.enumerated() {
            let layers = activeLayers?[i]
            lossSum += model.forwardBackward(batch, activeLayers: layers, gradientScale: 1 / Float(max(masked, 1))).sum
            clock.chargeTraining(activeLayers: layers?.count ?? model.config.layers, sequences: batch.sequences)
            depthSum += layers?.count ?? model.config.layers
        }
        let loss = lossSum / Double(max(masked, 1))
        guard loss.isFinite else {
            throw TrainingFailure(step: clock.steps + 1, description:
                "training loss became \(loss.isNaN ? "NaN" : "infinite") at step \(clock.steps + 1) (RST \(Budget.formatReadable(clock.rstSeconds))); the run is stored as failed. Try a lower learning rate (--set lr=\(settings.hyperparameters.peakLearningRate / 2)) or a tighter clip (--set clip=0.25)")
        }
        GradientClipping.clip(model.parameters, maxNorm: settings.hyperparameters.clipNorm)
        let sequences = batches.reduce(0) { $0 + $1.sequences }
        let rate = lr * Double(lrScale)
        if let outcome = try plugins?.optimizerStep(learningRate: Float(rate), batchSequences: sequences, batchTokens: masked) {
            let profile = clock.profile
            let needsRatio = profile.pluginCostPerParameter[outcome.pluginID] == nil
            let charge = plugins!.optimizerCharge(outcome, profile: profile, referenceOverLocal: needsRatio ? referenceOverLocal : nil)
            clock.charge(.plugin, seconds: charge.seconds)
        } else {
            // Layers no micro-batch ran (layer dropping) have no gradient this step: skip them.
            let ran = Set((activeLayers ?? [Array(0..<model.config.layers)]).joined())
            let skipped = Set(0..<model.config.layers).subtracting(ran)
            optimizer.update(model.parameters, learningRate: Float(rate), skippedLayers: skipped)
            clock.chargeOptimizer(parameters: model.parameters.parameterCount)
        }
        clock.completeStep(sequences: sequences, tokens: sequences * model.config.sequenceLength)
        state.lastTrainLoss = loss
        pendingPoints.append(LossPoint(step: clock.steps, rstSeconds: clock.rstSeconds, wallSeconds: clock.wallSeconds,
                                       tokens: clock.tokens, trainLoss: loss, learningRate: rate))
        if plugins != nil {
            record("active_depth", Double(depthSum) / Double(batches.count))
            record("depth", Double(model.config.layers))
        }
        return loss
    }

    /// The step's micro-batches: the next ones of the stream, or those a selecting plugin picked
    /// from a pool of `pool factor × batch` stream sequences.
    private func drawBatches() throws -> [MaskedLMBatch] {
        let s = model.config.sequenceLength, b = model.config.microBatch
        guard let plugins, let factor = plugins.poolFactor else {
            guard state.dataPosition + accumulation <= source.batchesPerEpoch else {
                throw TrainingFailure(step: clock.steps + 1, description:
                    "the data stream ran out at step \(clock.steps + 1) (one epoch = \(source.batchesPerEpoch) batches); use a larger corpus (--corpus all) or a smaller budget")
            }
            defer { state.dataPosition += accumulation }
            return (0..<accumulation).map { MaskedLMBatch(examples: source.batch(state.dataPosition + $0), sequenceLength: s) }
        }
        let poolBatches = accumulation * factor
        guard state.dataPosition + poolBatches <= source.batchesPerEpoch else {
            throw TrainingFailure(step: clock.steps + 1, description:
                "the data stream ran out at step \(clock.steps + 1): \(settings.method) draws \(poolBatches) batches per step and one epoch holds \(source.batchesPerEpoch); use a larger corpus (--corpus all), a smaller budget or a smaller pool factor")
        }
        currentPool = (0..<poolBatches).flatMap { source.batch(state.dataPosition + $0) }
        state.dataPosition += poolBatches
        defer { currentPool = [] }
        let selection = try plugins.selectBatch(exampleIDs: currentPool.map(\.exampleId), batch: accumulation * b, sequenceLength: s)
        record("scored_sequences", Double(selection.rowsScored))
        let chosen = selection.rows.map { currentPool[$0] }
        return stride(from: 0, to: chosen.count, by: b).map { MaskedLMBatch(examples: Array(chosen[$0 ..< $0 + b]), sequenceLength: s) }
    }

    /// Carries out a plugin's resize plan: new layers start with empty optimizer state.
    private func resize(to plan: [LayerSource], plugins: PluginStack) throws {
        let old = model.parameters, previous = model.config.layers
        try model.resize(to: plan, seed: stepSeed)
        optimizer.remap(from: old, to: model.parameters, reset: LayerSource.parametersStartingAfresh(after: plan, in: model.parameters))
        clock.charge(.plugin, seconds: PluginCharging.resizeCost(clock.profile, parameters: model.parameters.parameterCount))
        try plugins.modelResized(plan: plan, from: old, previousLayers: previous)
    }

    /// Records a number for the current step (the one being taken).
    func record(_ key: String, _ value: Double) {
        pendingDiagnostics.append(Diagnostic(step: stepInProgress, rstSeconds: clock.rstSeconds, key: key, value: value))
    }

    private func periodicWork() throws {
        if pendingPoints.count >= 50 { try flush() }
        let fraction = clock.fraction
        if fraction >= state.nextEvaluationFraction && clock.canStartStep() {
            let value = evaluate()
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
        guard !pendingPoints.isEmpty || !pendingDiagnostics.isEmpty || !pendingLog.isEmpty else { return }
        try store.record(runID: runID, lossPoints: pendingPoints, diagnostics: pendingDiagnostics, log: pendingLog,
                         summary: Self.summary(clock, loss: state.lastTrainLoss, val: nil))
        pendingPoints.removeAll(keepingCapacity: true)
        pendingDiagnostics.removeAll(keepingCapacity: true)
        pendingLog.removeAll(keepingCapacity: true)
    }

    private func saveCheckpoint() throws {
        state.step = clock.steps
        state.clock = clock
        state.modelConfig = model.config
        state.plugins = try plugins?.checkpoint()
        try Checkpoint.save(state, model: model, optimizer: optimizer, to: checkpointURL)
    }

    // MARK: - Evaluation (never charged, always the full model)

    private func makeValidationBatches() -> [MaskedLMBatch] {
        let examples = source.validationExamples(maxCount: settings.hyperparameters.validationSequences)
        let b = model.config.microBatch
        return stride(from: 0, to: examples.count, by: b).map {
            MaskedLMBatch(examples: Array(examples[$0 ..< min($0 + b, examples.count)]), sequenceLength: model.config.sequenceLength)
        }
    }

    /// Mean masked-LM loss over the fixed validation set.
    public func evaluate() -> Double {
        var sum = 0.0, count = 0
        for batch in validationBatches {
            let loss = model.forward(batch)
            sum += loss.sum
            count += loss.maskedCount
        }
        return count == 0 ? .nan : sum / Double(count)
    }
}

/// A run that had to stop: the step and a message saying what happened and what to do.
public struct TrainingFailure: Error, CustomStringConvertible {
    public var step: Int
    public var description: String
}

/// The version recorded with every run.
public enum NTNGVersion {
    public static let string = "ntng 0.1.0"
}
