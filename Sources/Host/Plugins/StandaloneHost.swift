import Corpus
import Foundation
import Models
import TensorCore
import Storage
import Clock
import PluginHost

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
    public init(settings: RunSettings, batches: TrainingBatches, profile: ReferenceProfile, vocabularySize: Int? = nil) throws {
        let config = try settings.modelConfig(vocabularySize: vocabularySize)
        let model = try MaskedLanguageModel(config: config, seed: settings.seed)
        runSeed = settings.seed
        let recipe = try TrainingRecipe(settings: settings, config: config)
        batchSize = recipe.accumulation * config.microBatch
        super.init(model: model, optimizer: AdamW(parameterCount: model.parameters.count, settings: settings.hyperparameters.adamW),
                   clock: RSTClock(budget: settings.budget, profile: profile, freeKinds: Set(settings.free)),
                   recipe: recipe, batches: batches, maxLayers: config.layers)
        pluginLog = { _ in }
    }

    /// Costs proportional to FLOPs at 1 GFLOP/s: enough for relative charges in checks.
    public static func syntheticProfile(_ c: ModelConfig) -> ReferenceProfile {
        let masked = c.maxMaskedPerSequence
        let fb = (0...c.layers).map { c.trainingFLOPs(sequences: 1, masked: masked, activeLayers: $0) / 1e9 }
        return ReferenceProfile(
            name: "standalone-\(c.name)", preset: c.name,
            shape: ModelShape(layers: c.layers, hidden: c.hidden, heads: c.heads, ffn: c.ffn, vocab: c.vocabularySize,
                              seqLen: c.sequenceLength, microBatch: c.microBatch),
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
        depths.append(model.config.layers)
    }

    /// SHA-256 of the parameter values' bit patterns (for determinism checks).
    public func parameterDigest() -> String { Self.digest(model.parameters) }

    /// SHA-256 of `store`'s values' bit patterns.
    public static func digest(_ store: ParameterStore) -> String {
        SHA256Digest.hex(UnsafeRawBufferPointer(start: store.values, count: store.count * 4))
    }
}

/// Learnable synthetic sequences: each is an arithmetic run of tokens (`5 + (start + i) mod 40`),
/// so masked tokens are predictable from their neighbours and the loss can fall. Micro-batch k
/// holds example ids first + k·B ..< first + (k+1)·B; every sequence is a pure function of
/// (seed, id).
public final class SyntheticBatches: TrainingBatches {
    let config: ModelConfig
    let seed: UInt64
    let firstID: UInt64

    public init(config: ModelConfig, seed: UInt64, firstID: UInt64 = 0) {
        self.config = config
        self.seed = seed
        self.firstID = firstID
    }

    public var microBatchesAvailable: Int? { nil }

    public func examples(microBatch k: Int) -> [MaskedExample] {
        (0..<config.microBatch).map { example(id: firstID + UInt64(k * config.microBatch + $0)) }
    }

    /// Sequence `id`: full length, about 15 % of its positions masked (token 4).
    public func example(id: UInt64) -> MaskedExample {
        let s = config.sequenceLength
        let span = UInt64(Swift.max(2, Swift.min(40, config.vocabularySize - 5)))
        let perSequence = Swift.max(1, Swift.min(config.maxMaskedPerSequence, Int((Double(s) * 0.15).rounded())))
        var rng = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5EED ^ SplitMix64.mix(id)))
        let start = rng.next() % span
        var tokens = (0..<s).map { Int32(5 + (start + UInt64($0)) % span) }
        var chosen = Set<Int>()
        while chosen.count < Swift.min(perSequence, s) { chosen.insert(Int(rng.next() % UInt64(s))) }
        let positions = chosen.sorted()
        let labels = positions.map { tokens[$0] }
        for i in positions { tokens[i] = 4 }
        return MaskedExample(exampleId: id, inputTokens: tokens, length: s, maskedPositions: positions.map(Int32.init), labels: labels)
    }
}
