import Corpus
import Foundation
import Models
import TensorCore
import Storage
import Clock
import PluginHost
import Workloads

/// A small, complete plugin host: a real model, synthetic learnable batches, a step budget, and
/// the very step `ntng run` takes (it is a ``TrainingStep``, with the run recipe's defaults: the
/// one-cycle schedule, `clip`, skipped layers, step seeds, charging). It is the "null host" of the
/// author kit: `ntng plugin check` and `ntng calibrate --plugin` run plugins through it, and tests
/// use it to train with a plugin without the corpus pipeline. Charges go to a real ``RSTClock``
/// with a synthetic profile unless another is given.
public final class StandaloneHost: TrainingStep {
    public let runSeed: UInt64
    /// Sequences per step (split into ``microBatches`` forward passes).
    public let batchSize: Int
    public var microBatches: Int { recipe.accumulation }
    /// Training loss (mean per masked token) of each completed step.
    public private(set) var losses: [Double] = []
    /// Model depth after each completed step.
    public private(set) var depths: [Int] = []

    /// A host for `preset` (default `tiny`) with a budget of `steps` optimizer steps on synthetic
    /// batches: one batch of the preset's micro-batch per step, split into `microBatches` passes,
    /// trained with the run recipe (`settings`: `--set` texts such as `lr=3e-3`).
    public convenience init(preset: String = "tiny", steps: Int = 8, seed: UInt64 = 1, microBatches: Int = 2,
                            settings: [String] = []) throws {
        var run = RunSettings(budget: try .steps(steps))
        run.model = preset
        run.seed = seed
        let preset = try ModelConfig.preset(preset)
        let parts = Swift.max(1, Swift.min(microBatches, preset.microBatch))
        let perPass = (preset.microBatch + parts - 1) / parts
        run.hyperparameters.microBatch = perPass
        run.hyperparameters.batchSequences = perPass * ((preset.microBatch + perPass - 1) / perPass)
        for text in settings { try run.apply(setting: text) }
        let config = try run.modelConfig()
        try self.init(settings: run, batches: SyntheticBatches(config: config, seed: seed), profile: Self.syntheticProfile(config))
    }

    /// A host that trains `settings`' model with `settings`' recipe on `batches`, priced by `profile`.
    /// Its model computes with the library a run with these settings would (``Hyperparameters/chooseMatrixLibrary()``).
    public init(settings requested: RunSettings, batches: TrainingBatches, profile: ReferenceProfile, vocabularySize: Int? = nil) throws {
        var settings = requested
        settings.hyperparameters.chooseMatrixLibrary()
        let config = try settings.modelConfig(vocabularySize: vocabularySize)
        let workload = try Workloads.make(config: config, seed: settings.seed, backend: try settings.hyperparameters.backend)
        runSeed = settings.seed
        let recipe = try TrainingRecipe(settings: settings, config: config)
        batchSize = recipe.accumulation * config.microBatch
        super.init(workload: workload, optimizer: AdamW(parameterCount: workload.parameters.count, settings: settings.hyperparameters.adamW),
                   clock: RSTClock(budget: settings.budget, profile: profile, freeKinds: Set(settings.free)),
                   recipe: recipe, batches: batches)
        pluginLog = { _ in }
    }

    /// Costs proportional to FLOPs at 1 GFLOP/s: enough for relative charges in checks.
    public static func syntheticProfile(_ c: ModelConfig) -> ReferenceProfile {
        let masked = c.maxMaskedPerSequence
        let fb = (0...c.layers).map { c.trainingFLOPs(sequences: 1, masked: masked, activeLayers: $0) / 1e9 }
        return ReferenceProfile(
            name: "standalone-\(c.name)", preset: c.name,
            shape: Workloads.profileShape(c),
            toolchain: "n/a", blas: "n/a", threads: 1,
            forwardBackwardPerSequence: fb, forwardOnlyPerSequence: fb.map { $0 / 3 },
            sampledLabelPassPerSequence: fb, optimizerUpdatePerParameter: 1e-9,
            notes: "synthetic profile of the standalone plugin host")
    }

    // MARK: - Training

    /// Runs `on_run_start`, steps until the budget is spent, then `on_run_end`.
    public func train(_ stack: PluginStack?) throws {
        plugins = stack
        try stack?.runStart(in: runContext())
        while clock.canStartStep() { try step(stack) }
        try stack?.runEnd(in: runContext())
    }

    /// One training step with `stack` as the method's plugins.
    public func step(_ stack: PluginStack?) throws {
        plugins = stack
        losses.append(try take().loss)
        depths.append(workload.depth)
    }

    /// SHA-256 of the parameter values' bit patterns (for determinism checks).
    public func parameterDigest() -> String { Self.digest(workload.parameters) }

    /// SHA-256 of `store`'s values' bit patterns.
    public static func digest(_ store: ParameterStore) -> String {
        SHA256Digest.hex(UnsafeRawBufferPointer(start: store.values, count: store.count * 4))
    }
}
