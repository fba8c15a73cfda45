import Foundation
import Models
import TensorCore

/// A small, complete plugin host: a real model, synthetic learnable batches, a step budget, and
/// the trainer's per-step call order. It is the "null host" of the author kit: `ntng plugin check`
/// and `ntng calibrate --plugin` run plugins through it, and tests use it to train with a plugin
/// without the corpus pipeline. Charges go to a real ``RSTClock`` with a synthetic profile.
public final class StandaloneHost: PluginHostServices {
    public let model: MaskedLanguageModel
    public let maxLayers: Int
    public private(set) var clock: RSTClock
    public let runSeed: UInt64
    /// Sequences per step (split into ``microBatches`` forward passes).
    public let batchSize: Int
    public let microBatches: Int
    /// Log lines received from plugins.
    public private(set) var logLines: [(level: PluginLogLevel, plugin: String, message: String)] = []
    /// Training loss (mean per masked token) of each completed step.
    public private(set) var losses: [Double] = []
    /// Model depth after each completed step.
    public private(set) var depths: [Int] = []

    private var adamW: AdamW
    private var pool: MaskedLMBatch?
    private var stepBatch: [MaskedLMBatch] = []
    private var nextExample: UInt64 = 0

    /// A host for `preset` (default `tiny`) with a budget of `steps` optimizer steps.
    public init(preset: String = "tiny", steps: Int = 8, seed: UInt64 = 1, microBatches: Int = 2) throws {
        let config = try ModelConfig.preset(preset)
        model = try MaskedLanguageModel(config: config, seed: seed)
        maxLayers = config.layers
        runSeed = seed
        batchSize = config.microBatch
        self.microBatches = Swift.max(1, Swift.min(microBatches, config.microBatch))
        clock = RSTClock(budget: try .steps(steps), profile: Self.syntheticProfile(config))
        adamW = AdamW(parameterCount: model.parameters.count)
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

    // MARK: - PluginHostServices

    public var budget: BudgetSnapshot { BudgetSnapshot(clock) }
    public var parameters: ParameterStore { model.parameters }
    public var modelConfig: ModelConfig { model.config }
    public var stepSeed: UInt64 { SplitMix64.mix(runSeed ^ SplitMix64.mix(UInt64(clock.steps) &+ 1)) }

    public func perExampleLosses(poolRows: [Int]) throws -> [ExampleLoss] {
        guard let pool else { throw PluginError(.hook, plugin: "standalone host", hook: "per_example_loss", "no candidate pool") }
        var result: [ExampleLoss] = []
        var start = 0
        while start < poolRows.count {
            let chunk = Array(poolRows[start..<Swift.min(start + model.config.microBatch, poolRows.count)])
            let batch = pool.selecting(rows: chunk)
            model.forward(batch)
            for i in 0..<chunk.count {
                result.append(ExampleLoss(sum: model.perExampleLoss[i], maskedTokens: Int(model.perExampleMaskedCount[i])))
            }
            clock.chargeScoring(activeLayers: model.config.layers, sequences: chunk.count)
            start += chunk.count
        }
        return result
    }

    public func sampledLabelGradient(into: UnsafeMutablePointer<Float>, count: Int) throws {
        let store = model.parameters
        precondition(count == store.count)
        // Keep the true gradients: the plugin reads them after this pass.
        let saved = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        store.zeroGradients()
        let masked = stepBatch.reduce(0) { $0 + $1.maskedCount }
        for (i, batch) in stepBatch.enumerated() {
            model.forwardBackward(batch, targets: .sampledFromModel(seed: stepSeed &+ UInt64(i)),
                                  gradientScale: 1 / Float(Swift.max(masked, 1)))
            clock.chargeCurvature(activeLayers: model.config.layers, sequences: batch.sequences)
        }
        into.update(from: store.gradients, count: count)
        saved.withUnsafeBufferPointer { store.gradients.update(from: $0.baseAddress!, count: store.count) }
    }

    public func log(_ level: PluginLogLevel, plugin: String, _ message: String) {
        logLines.append((level, plugin, message))
    }

    // MARK: - Training

    /// Runs `runStart`, steps until the budget is spent, then `runEnd`.
    public func train(_ stack: PluginStack?, learningRate: Float = 3e-3) throws {
        try stack?.runStart()
        while clock.canStartStep() { try step(stack, learningRate: learningRate) }
        try stack?.runEnd()
    }

    /// One training step in the trainer's order (see ``PluginStack``).
    public func step(_ stack: PluginStack?, learningRate: Float = 3e-3) throws {
        if let stack, let plan = try stack.resizePlan() {
            let old = model.parameters, oldDepth = model.config.layers
            try model.resize(to: plan, seed: stepSeed)
            adamW.remap(from: old, to: model.parameters, reset: LayerSource.parametersStartingAfresh(after: plan, in: model.parameters))
            clock.charge(.plugin, seconds: PluginCharging.resizeCost(clock.profile, parameters: model.parameters.parameterCount))
            try stack.modelResized(plan: plan, from: old, previousLayers: oldDepth)
        }
        let plan = try stack?.stepPlan(microBatches: microBatches) ?? PluginStepPlan(lrScale: 1, activeLayers: nil)

        var rows = Array(0..<batchSize)
        let factor = stack?.poolFactor ?? 1
        let candidates = makeBatch(rows: batchSize * factor)
        if let stack, stack.poolFactor != nil {
            pool = candidates
            defer { pool = nil }
            rows = try stack.selectBatch(exampleIDs: candidates.exampleIds, batch: batchSize,
                                         sequenceLength: model.config.sequenceLength).rows
        }
        let chosen = candidates.selecting(rows: rows)
        let perMicro = (batchSize + microBatches - 1) / microBatches
        stepBatch = stride(from: 0, to: batchSize, by: perMicro).map {
            chosen.selecting(rows: Array($0..<Swift.min($0 + perMicro, batchSize)))
        }

        let store = model.parameters
        store.zeroGradients()
        let masked = chosen.maskedCount
        var lossSum = 0.0
        for (i, batch) in stepBatch.enumerated() {
            let active = plan.activeLayers?[i]
            let loss = model.forwardBackward(batch, activeLayers: active, gradientScale: 1 / Float(Swift.max(masked, 1)))
            lossSum += loss.sum
            clock.chargeTraining(activeLayers: active?.count ?? model.config.layers, sequences: batch.sequences)
        }
        GradientClipping.clip(store, maxNorm: 1)
        let lr = learningRate * plan.lrScale
        if let stack, let outcome = try stack.optimizerStep(learningRate: lr, batchSequences: chosen.sequences, batchTokens: masked) {
            clock.charge(.plugin, seconds: stack.optimizerCharge(outcome, profile: clock.profile, referenceOverLocal: 1).seconds)
        } else {
            adamW.update(store, learningRate: lr)
            clock.chargeOptimizer(parameters: store.parameterCount)
        }
        losses.append(lossSum / Double(Swift.max(masked, 1)))
        clock.completeStep(sequences: chosen.sequences, tokens: chosen.sequences * model.config.sequenceLength)
        depths.append(model.config.layers)
        stepBatch = []
    }

    /// `rows` fresh synthetic sequences. Each is an arithmetic run of tokens (`5 + (start + i) mod
    /// 40`), so masked tokens are predictable from their neighbours and the loss can fall.
    public func makeBatch(rows: Int) -> MaskedLMBatch {
        let c = model.config, s = c.sequenceLength
        let span = UInt64(Swift.max(2, Swift.min(40, c.vocabularySize - 5)))
        let perSequence = Swift.max(1, Swift.min(c.maxMaskedPerSequence, Int((Double(s) * 0.15).rounded())))
        var tokens: [Int32] = [], positions: [Int32] = [], labels: [Int32] = [], ids: [UInt64] = []
        for row in 0..<rows {
            let id = nextExample
            nextExample += 1
            var rng = SplitMix64(seed: SplitMix64.mix(runSeed ^ 0x5EED ^ SplitMix64.mix(id)))
            let start = rng.next() % span
            for i in 0..<s { tokens.append(Int32(5 + (start + UInt64(i)) % span)) }
            var chosen = Set<Int>()
            while chosen.count < Swift.min(perSequence, s) { chosen.insert(Int(rng.next() % UInt64(s))) }
            for i in chosen.sorted() {
                positions.append(Int32(row * s + i))
                labels.append(tokens[row * s + i])
                tokens[row * s + i] = 4
            }
            ids.append(id)
        }
        return MaskedLMBatch(sequenceLength: s, tokens: tokens, validLengths: Array(repeating: Int32(s), count: rows),
                             maskedPositions: positions, labels: labels, exampleIds: ids)
    }

    /// SHA-256 of the parameter values' bit patterns (for determinism checks).
    public func parameterDigest() -> String {
        let store = model.parameters
        return SHA256Digest.hex(UnsafeRawBufferPointer(start: store.values, count: store.count * 4))
    }
}
