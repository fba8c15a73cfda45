import Foundation
import Models
import TensorCore
import Clock
import Records
import PluginHost
import Workloads

/// The optimisation recipe of one run as the step applies it.
public struct TrainingRecipe: Sendable {
    public var schedule: LearningRateSchedule
    public var clipNorm: Double
    /// Micro-batches per optimizer step (the batch over the micro-batch).
    public var accumulation: Int
    /// The run seed, from which every step's seed is derived.
    public var seed: UInt64
    /// The method's name, for error messages.
    public var method: String
    /// The peak rate, for the advice a diverged run gives.
    public var peakLearningRate: Double

    /// The recipe `settings` define for a model of shape `config`.
    public init(settings: RunSettings, config: ModelConfig) throws {
        try self.init(hyperparameters: settings.hyperparameters, seed: settings.seed, method: settings.method, config: config)
    }

    /// The recipe of `hp` for a model of shape `config`, seeded with `seed`.
    public init(hyperparameters hp: Hyperparameters, seed: UInt64, method: String, config: ModelConfig) throws {
        let batch = hp.batchSequences ?? config.microBatch
        guard batch % config.microBatch == 0 else {
            throw RunSettingsError.invalid("batch (\(batch)) must be a multiple of the micro-batch (\(config.microBatch)); set both with --set batch=N micro-batch=M")
        }
        schedule = hp.learningRateSchedule
        clipNorm = hp.clipNorm
        accumulation = batch / config.microBatch
        self.seed = seed
        self.method = method
        peakLearningRate = hp.peakLearningRate
    }
}

/// What one step did.
public struct StepResult: Sendable {
    /// Mean training loss per masked token.
    public var loss: Double
    /// The rate the update used (schedule × the plugins' LR scale).
    public var learningRate: Double
    /// Wall seconds of the forward/backward passes and of the optimizer phase (clip + update).
    public var forwardBackwardSeconds: Double
    public var optimizerSeconds: Double
}

/// The one training step of every host, with the state it advances: `ntng run` (``Trainer``),
/// `ntng plugin check` and `ntng calibrate --plugin` (``StandaloneHost``), RHO-LOSS's proxy and
/// `ntng bench` all step through this class, so they train with the same recipe.
///
/// One step (``take()``), llm.c style:
///
///     plan      = planStep(step)          // resize_model, then the composed on_step
///     batches   = drawBatches(step)       // the stream's micro-batches, or a plugin's selection
///     loss      = forwardBackward(...)    // every micro-batch, charged per sequence and depth
///     optimize(...)                       // clip, then AdamW or the plugin's optimizer_step
///     clock.completeStep(...)
///
/// The clock is charged here and in the host services below (scoring, curvature), nowhere else.
/// This object is the ``PluginHostServices`` of its plugins; each service gets the
/// ``StepContext`` of the step it serves. (Not final: ``StandaloneHost`` is a `TrainingStep` on
/// synthetic data that also keeps every step's loss.)
public class TrainingStep {
    /// The model, its objective and its batches (``Workload``).
    public let workload: any Workload
    public let optimizer: AdamW
    public private(set) var clock: RSTClock
    public let recipe: TrainingRecipe
    let batches: TrainingBatches
    /// The next micro-batch of the stream to draw.
    public internal(set) var dataPosition: Int
    /// The method's plugins; nil for the baseline.
    public var plugins: PluginStack?
    /// The depth of the run's preset: the most layers a resize may ask for.
    public var maxLayers: Int { workload.maxLayers }
    /// Diagnostics and plugin log lines recorded since the owner last took them (``takeRecords()``).
    public private(set) var diagnostics: [Diagnostic] = []
    public private(set) var logLines: [RunLogLine] = []
    /// Where plugin log lines are echoed (stderr by default).
    public var pluginLog: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Log lines kept so far: a plugin logging in a loop cannot flood the results store.
    private var keptLogLines = 0
    static let maxLogLines = 1000
    static let maxLogCharacters = 4000
    /// Plugin-reported diagnostics kept, in all and in the step being taken.
    private var keptDiagnostics = 0, diagnosticsThisStep = 0, diagnosticsStep = -1
    private var diagnosticsCapLogged = false
    static let maxDiagnosticsPerStep = 64
    static let maxDiagnosticsPerRun = 200_000
    /// The conformance checker's own change to each step's composed plan (`ntng plugin check
    /// gradients` drops and freezes layers a plugin did not ask for); nil in runs.
    var adjustPlan: ((_ step: Int, _ plan: PluginStepPlan, _ depth: Int) -> PluginStepPlan)?
    /// Reference-over-local speed ratio, measured once if a plugin optimizer is uncalibrated.
    lazy var referenceOverLocal: Double = Self.referenceOverLocal(profile: clock.profile, parameterCount: workload.parameters.parameterCount)

    public init(workload: any Workload, optimizer: AdamW, clock: RSTClock, recipe: TrainingRecipe,
                batches: TrainingBatches, dataPosition: Int = 0) {
        self.workload = workload
        self.optimizer = optimizer
        self.clock = clock
        self.recipe = recipe
        self.batches = batches
        self.dataPosition = dataPosition
    }

    /// Derived from the run seed and the steps completed, so reruns and resumed runs draw the
    /// same numbers; constant through a step (the clock counts the step at its end).
    public var stepSeed: UInt64 { SplitMix64.mix(recipe.seed ^ SplitMix64.mix(UInt64(clock.steps) &+ 0x5354_4550)) }

    /// Hands over (and forgets) the diagnostics and log lines recorded so far.
    public func takeRecords() -> (diagnostics: [Diagnostic], log: [RunLogLine]) {
        defer { (diagnostics, logLines) = ([], []) }
        return (diagnostics, logLines)
    }

    // MARK: - The step

    /// Takes one optimizer step.
    public func take() throws -> StepResult {
        let step = StepContext(number: clock.steps + 1)
        let fraction = clock.fraction
        let lr = recipe.schedule.learningRate(atFraction: fraction)
        let plan = try planStep(step)
        let rowWeights: [[Float]]?
        (step.batches, rowWeights) = try drawBatches(step)
        let sequences = step.batches.reduce(0) { $0 + $1.sequences }
        let masked = step.batches.reduce(0) { $0 + $1.targetTokens }
        let started = DispatchTime.now().uptimeNanoseconds
        let (loss, depthSum) = try forwardBackward(step, plan: plan, rowWeights: rowWeights, masked: masked)
        let optimizerStarted = DispatchTime.now().uptimeNanoseconds
        let rate = lr * Double(plan.lrScale)
        let context = OptimizerContext(learningRate: Float(rate), scheduleLR: lr, lrScale: Double(plan.lrScale),
                                       peakLR: recipe.peakLearningRate, scheduleFraction: fraction,
                                       batchSequences: sequences, batchTokens: masked)
        try optimize(step, context, plan: plan)
        let ended = DispatchTime.now().uptimeNanoseconds
        clock.completeStep(sequences: sequences, tokens: sequences * workload.config.sequenceLength)
        if plugins != nil {
            record("active_depth", Double(depthSum) / Double(step.batches.count), in: step)
            record("depth", Double(workload.depth), in: step)
        }
        return StepResult(loss: loss, learningRate: reportedRate(in: step) ?? rate, forwardBackwardSeconds: Double(optimizerStarted - started) / 1e9,
                          optimizerSeconds: Double(ended - optimizerStarted) / 1e9)
    }

    /// A plugin's resize plan, carried out, then the composed `on_step` plan.
    private func planStep(_ step: StepContext) throws -> PluginStepPlan {
        guard let plugins else { return PluginStepPlan(lrScale: 1, activeLayers: nil) }
        if let plan = try plugins.resizePlan(in: step) {
            // New layers start with empty optimizer state; the copy is charged like one AdamW pass.
            let old = workload.parameters, previous = workload.depth
            try workload.resize(to: plan, seed: stepSeed)
            optimizer.remap(from: old, to: workload.parameters, reset: LayerSource.parametersStartingAfresh(after: plan, in: workload.parameters))
            clock.charge(.plugin, seconds: PluginCharging.resizeCost(clock.profile, parameters: workload.parameters.parameterCount))
            try plugins.modelResized(plan: plan, from: old, previousLayers: previous, in: step)
        }
        let plan = try plugins.stepPlan(microBatches: recipe.accumulation, in: step)
        if plan.frozenBelow > 0 && !workload.supportsFrozenLayers {
            throw TrainingFailure(step: step.number, description:
                "\(recipe.method) freezes the bottom \(plan.frozenBelow) block(s), which the \(workload.kind) workload cannot do: its encoder's gradient runs through every decoder block; run the method without freezing")
        }
        return adjustPlan.map { $0(step.number, plan, workload.depth) } ?? plan
    }

    /// The step's micro-batches: the next ones of the stream, or those a selecting plugin picked
    /// from a pool of `pool factor × batch` stream sequences, with its row weights per micro-batch
    /// (nil when all are 1).
    private func drawBatches(_ step: StepContext) throws -> ([any TrainingBatch], [[Float]]?) {
        let b = workload.config.microBatch, k = recipe.accumulation
        guard let plugins, let factor = plugins.poolFactor else {
            if let available = batches.microBatchesAvailable, dataPosition + k > available {
                throw TrainingFailure(step: step.number, description:
                    "the data stream ran out at step \(step.number) (one epoch = \(available) batches); use a larger corpus (--corpus all) or a smaller budget")
            }
            defer { dataPosition += k }
            return (try (0..<k).map { try batches.batch(microBatches: dataPosition + $0 ..< dataPosition + $0 + 1) }, nil)
        }
        let poolBatches = k * factor
        if let available = batches.microBatchesAvailable, dataPosition + poolBatches > available {
            throw TrainingFailure(step: step.number, description:
                "the data stream ran out at step \(step.number): \(recipe.method) draws \(poolBatches) batches per step and one epoch holds \(available); use a larger corpus (--corpus all), a smaller budget or a smaller pool factor")
        }
        let pool = try batches.batch(microBatches: dataPosition ..< dataPosition + poolBatches)
        dataPosition += poolBatches
        step.pool = pool
        defer { step.pool = nil }
        let selection = try plugins.selectBatch(exampleIDs: pool.exampleIds, batch: k * b,
                                                sequenceLength: workload.config.sequenceLength, in: step)
        record("scored_sequences", Double(selection.rowsScored), in: step)
        // Each micro-batch straight from the pool: no intermediate batch of all chosen rows.
        let starts = stride(from: 0, to: selection.rows.count, by: b)
        return (starts.map { pool.selecting(rows: Array(selection.rows[$0 ..< $0 + b])) },
                selection.weights.map { w in starts.map { Array(w[$0 ..< $0 + b]) } })
    }

    /// Forward and backward of every micro-batch into fresh gradients, each charged at the
    /// profile's cost for the layers it ran; returns the mean loss per masked token (`masked`
    /// masked tokens in the step) and the summed depth.
    private func forwardBackward(_ step: StepContext, plan: PluginStepPlan, rowWeights: [[Float]]?, masked: Int) throws -> (loss: Double, depthSum: Int) {
        workload.parameters.zeroGradients()
        var lossSum = 0.0, depthSum = 0
        for (i, batch) in step.batches.enumerated() {
            let layers = plan.activeLayers?[i]
            let controls = PassControls(outputScales: plan.outputScales?[i], frozenBelow: plan.frozenBelow, rowWeights: rowWeights?[i])
            lossSum += workload.forwardBackward(batch, activeLayers: layers, targets: .labels, gradientScale: 1 / Float(max(masked, 1)),
                                                controls: controls).sum
            let depth = layers?.count ?? workload.depth
            let frozen = plan.frozenBelow == 0 ? 0 : (layers ?? Array(0..<workload.depth)).filter { $0 < plan.frozenBelow }.count
            clock.chargeTraining(activeLayers: depth, frozenLayers: frozen, sequences: batch.sequences)
            depthSum += depth
        }
        let loss = lossSum / Double(max(masked, 1))
        guard loss.isFinite else {
            throw TrainingFailure(step: step.number, description:
                "training loss became \(loss.isNaN ? "NaN" : "infinite") at step \(step.number) (RST \(Budget.formatReadable(clock.rstSeconds))); the run is stored as failed. Try a lower learning rate (--set lr=\(recipe.peakLearningRate / 2)) or a tighter clip (--set clip=0.25)")
        }
        return (loss, depthSum)
    }

    /// Clipping, then the plugin's `optimizer_step` (charged from its calibration, or estimated) or
    /// the host's AdamW (charged per parameter), then every plugin's `after_optimizer_step`.
    private func optimize(_ step: StepContext, _ context: OptimizerContext, plan: PluginStepPlan) throws {
        let hasGradient = gradientPresence(plan)
        let update: Int, hostUpdates: [String: Int]?
        if let plugins, plugins.replacesOptimizer {
            GradientClipping.clip(workload.parameters, maxNorm: recipe.clipNorm)
            let outcome = try plugins.optimizerStep(context, hasGradient: hasGradient, in: step)!
            clock.charge(.plugin, seconds: plugins.optimizerCharge(outcome, profile: clock.profile, referenceOverLocal: ratioIfEstimated(outcome.pluginID)).seconds)
            (update, hostUpdates) = (plugins.optimizerUpdates, nil)
        } else {
            Self.hostOptimizerUpdate(workload.parameters, optimizer, clipNorm: recipe.clipNorm, learningRate: context.learningRate,
                                     hasGradient: hasGradient)
            clock.chargeOptimizer(parameters: workload.parameters.parameterCount)
            (update, hostUpdates) = (optimizer.step, optimizer.parameterSteps)
        }
        guard let plugins else { return }
        for outcome in try plugins.afterOptimizerStep(context, update: update, hostUpdates: hostUpdates, hasGradient: hasGradient, in: step) {
            let key = PluginCharging.afterOptimizerKey(outcome.pluginID)
            clock.charge(.plugin, seconds: plugins.afterOptimizerCharge(outcome, profile: clock.profile, referenceOverLocal: ratioIfEstimated(key)).seconds)
        }
    }

    /// The rate a plugin optimizer with its own schedule says it used this step (diagnostic key
    /// ``reportedRateKey``), which the loss point and progress line then show instead of the host
    /// schedule's.
    private func reportedRate(in step: StepContext) -> Double? {
        guard plugins != nil else { return nil }
        // Diagnostics are appended in step order: only this step's tail needs looking at.
        for d in diagnostics.reversed() {
            guard d.step == step.number else { return nil }
            if d.key == Self.reportedRateKey { return d.value }
        }
        return nil
    }
    /// The diagnostics key of ``reportedRate(in:)``.
    public static let reportedRateKey = "lr"

    /// The measured machine-speed ratio when `key` has no calibrated cost in the profile.
    private func ratioIfEstimated(_ key: String) -> Double? {
        clock.profile.chargesByEstimate(plugin: key) ? referenceOverLocal : nil
    }

    /// Per parameter tensor, whether it has a gradient this step; nil when all do (the common
    /// step builds nothing). Layers no micro-batch ran (layer dropping) and frozen layers have
    /// none, nor, below a frozen layer, what only the stack's bottom reaches.
    func gradientPresence(_ plan: PluginStepPlan) -> [Bool]? {
        guard plan.activeLayers != nil || plan.frozenBelow > 0 else { return nil }
        let ran = plan.activeLayers.map { Set($0.joined()) } ?? Set(0..<workload.depth)
        let below = plan.frozenBelow > 0 ? workload.parametersBelowStack : []
        return workload.parameters.entries.map { e in
            if let layer = e.layer { return ran.contains(layer) && layer >= plan.frozenBelow }
            return !below.contains(e.name)
        }
    }

    /// The host's optimizer phase: global-norm clipping, then the AdamW update. This is the unit
    /// the profile's `optimizerUpdatePerParameter` prices, so calibration and the machine-speed
    /// ratio of estimated plugin charges time exactly this.
    public static func hostOptimizerUpdate(_ store: ParameterStore, _ optimizer: AdamW, clipNorm: Double,
                                           learningRate: Float, hasGradient: [Bool]? = nil) {
        GradientClipping.clip(store, maxNorm: clipNorm)
        optimizer.update(store, learningRate: learningRate, hasGradient: hasGradient)
    }

    /// The unit the profile's `optimizerUpdatePerParameter` prices, as calibration times it: the
    /// host's optimizer phase with a clip that always applies and a negligible rate. The machine
    /// speed ratio of estimated plugin charges times this same body.
    public static func timedOptimizerUnit(_ store: ParameterStore, _ optimizer: AdamW) {
        hostOptimizerUpdate(store, optimizer, clipNorm: 0.5, learningRate: 1e-6)
    }

    /// Reference machine speed over this machine's, from one measured quantity both know: the
    /// host's optimizer step (clipping + AdamW, ``TrainingStep/timedOptimizerUnit(_:_:)``, exactly
    /// what the profile timed). Measures it on a scratch store of `parameterCount` parameters here
    /// (median of `repeats`) and divides the profile's cost by it. >1 means the reference machine
    /// is slower than this one.
    public static func referenceOverLocal(profile: ReferenceProfile, parameterCount: Int, repeats: Int = 5) -> Double {
        let store = ParameterStore([("scratch", [Swift.max(parameterCount, 1024)], nil, .matrix)])
        for i in 0..<store.count { store.gradients[i] = Float(i % 7) * 1e-3 }
        let adam = AdamW(parameterCount: store.count)
        var samples: [Double] = []
        for _ in 0..<Swift.max(repeats, 1) {
            let start = PluginTiming.now()
            TrainingStep.timedOptimizerUnit(store, adam)
            samples.append(PluginTiming.seconds(since: start) / Double(store.parameterCount))
        }
        let local = Median.of(samples)
        guard local > 0 else { return 1 }
        return profile.optimizerUpdatePerParameter / local
    }

    // MARK: - Evaluation weights

    /// The weights the method chose for evaluation ("ntng.evaluation_weights/1", written by the
    /// plugin between steps, uncharged), or nil when evaluation uses the training weights.
    public func evaluationWeights() throws -> [Float]? {
        guard let plugins, plugins.providesEvaluationWeights else { return nil }
        let store = workload.parameters
        var out = Array(UnsafeBufferPointer(start: store.values, count: store.count))
        let written = try out.withUnsafeMutableBufferPointer {
            try plugins.writeEvaluationWeights(into: $0.baseAddress!, count: $0.count, in: runContext())
        }
        return written ? out : nil
    }

    /// Runs `body` with the evaluation weights in place of the training weights, restoring the
    /// training weights afterwards (the next step and a resume continue from those).
    public func withEvaluationWeights<T>(_ body: () throws -> T) throws -> T {
        guard let weights = try evaluationWeights() else { return try body() }
        let store = workload.parameters
        let training = Array(UnsafeBufferPointer(start: store.values, count: store.count))
        weights.withUnsafeBufferPointer { store.values.update(from: $0.baseAddress!, count: $0.count) }
        defer { training.withUnsafeBufferPointer { store.values.update(from: $0.baseAddress!, count: $0.count) } }
        return try body()
    }

    /// Records a number under `step` at the clock's current RST.
    func record(_ key: String, _ value: Double, in step: StepContext) {
        diagnostics.append(Diagnostic(step: step.number, rstSeconds: clock.rstSeconds, key: key, value: value))
    }
}

// MARK: - Host services

/// The services plugins call during a hook. Every service that runs model work charges the clock
/// at reference cost here, and acts on the ``StepContext`` it is given.
extension TrainingStep: PluginHostServices {
    public var budget: BudgetSnapshot { BudgetSnapshot(clock) }
    public var parameters: ParameterStore { workload.parameters }
    public var modelConfig: ModelConfig { workload.config }
    public var stacks: [ModelStack] { workload.stacks }
    public var decaysEverything: Bool { optimizer.settings.decayEverything }

    /// Forward-only, full current model, micro-batch by micro-batch; charged as scoring.
    public func perExampleLosses(poolRows: [Int], in step: StepContext) throws -> [ExampleLoss] {
        let b = workload.config.microBatch
        guard let pool = step.pool, poolRows.allSatisfy({ (0..<pool.sequences).contains($0) }) else {
            throw TrainingFailure(step: step.number, description: "host error: per_example_loss rows \(poolRows) are outside the step's pool of \(step.pool?.sequences ?? 0)")
        }
        var losses: [ExampleLoss] = []
        losses.reserveCapacity(poolRows.count)
        for start in stride(from: 0, to: poolRows.count, by: b) {
            let batch = pool.selecting(rows: Array(poolRows[start ..< min(start + b, poolRows.count)]))
            workload.forward(batch, activeLayers: nil)
            let (sums, targets) = workload.exampleLosses
            for (loss, count) in zip(sums, targets) {
                losses.append(ExampleLoss(sum: loss, maskedTokens: Int(count)))
            }
            clock.chargeScoring(activeLayers: workload.depth, sequences: batch.sequences)
        }
        return losses
    }

    /// The gradient against labels sampled from the model's own softmax on the step's batches,
    /// accumulated over its micro-batches (the seed code used only the last one); the parameter
    /// gradients are saved and restored around it. Charged as curvature.
    public func sampledLabelGradient(into output: UnsafeMutablePointer<Float>, count: Int, in step: StepContext) throws {
        let store = workload.parameters
        precondition(count == store.count)
        let saved = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        store.zeroGradients()
        let masked = step.batches.reduce(0) { $0 + $1.targetTokens }
        for (i, batch) in step.batches.enumerated() {
            workload.forwardBackward(batch, activeLayers: nil, targets: .sampledFromModel(seed: stepSeed &+ UInt64(i)),
                                     gradientScale: 1 / Float(max(masked, 1)))
            clock.chargeCurvature(activeLayers: workload.depth, sequences: batch.sequences)
        }
        output.update(from: store.gradients, count: count)
        saved.withUnsafeBufferPointer { store.gradients.update(from: $0.baseAddress!, count: count) }
    }

    /// Plugin log lines go to stderr and the store under the same limits: at most
    /// ``maxLogLines`` per run, each cut at ``maxLogCharacters``; the last kept line says so.
    public func log(_ level: PluginLogLevel, plugin: String, _ message: String, in step: StepContext) {
        guard keptLogLines < Self.maxLogLines else { return }
        keptLogLines += 1
        let text = keptLogLines == Self.maxLogLines
            ? "(further lines of this run are not shown or stored; the limit is \(Self.maxLogLines))"
            : String(message.prefix(Self.maxLogCharacters))
        pluginLog("[\(plugin)] \(text)")
        logLines.append(RunLogLine(step: step.number, rstSeconds: clock.rstSeconds, level: level.name, source: plugin, message: text))
    }

    /// Plugin diagnostics are capped per step and per run, so a plugin reporting in a loop cannot
    /// fill the disk; hitting a cap is logged once.
    public func recordDiagnostic(plugin: String, key: String, value: Double, in step: StepContext) {
        if diagnosticsStep != step.number { (diagnosticsStep, diagnosticsThisStep) = (step.number, 0) }
        guard diagnosticsThisStep < Self.maxDiagnosticsPerStep, keptDiagnostics < Self.maxDiagnosticsPerRun else {
            if !diagnosticsCapLogged {
                diagnosticsCapLogged = true
                log(.warning, plugin: plugin, "diagnostics beyond \(Self.maxDiagnosticsPerStep) per step or \(Self.maxDiagnosticsPerRun) per run are not stored (first dropped: '\(key)' at step \(step.number))", in: step)
            }
            return
        }
        diagnosticsThisStep += 1
        keptDiagnostics += 1
        record(key, value, in: step)
    }
}

/// A run that had to stop: the step and a message saying what happened and what to do.
public struct TrainingFailure: Error, CustomStringConvertible {
    public var step: Int
    public var description: String
}
