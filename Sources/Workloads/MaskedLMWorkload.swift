import Clock
import Corpus
import Models
import TensorCore

/// The crammed-BERT encoder trained with masked language modelling: the first ``Workload``.
/// Its batches are ``MaskedLMBatch``es made from the corpus's masked examples; the loss is the
/// cross-entropy over masked tokens; one stack, "encoder", is resizable.
public final class MaskedLMWorkload: Workload {
    public static let kind = "masked-lm"
    public var kind: String { Self.kind }
    /// The encoder (downstream fine-tuning puts a classifier head on it).
    public let model: MaskedLanguageModel
    /// The depth of the preset, the bound of resize plans.
    public let maxLayers: Int

    /// A fresh encoder of shape `config` (weights from `seed`) that resizes up to `maxLayers`
    /// (default: its depth).
    public init(config: ModelConfig, seed: UInt64, maxLayers: Int? = nil, backend: any ComputeBackend = CPUBackend.shared) throws {
        model = try MaskedLanguageModel(config: config, seed: seed, backend: backend)
        self.maxLayers = maxLayers ?? config.layers
    }

    public var config: ModelConfig { model.config }
    public var parameters: ParameterStore { model.parameters }
    public var backend: any ComputeBackend { model.backend }
    public var activationBytes: Int { model.activationBytes }
    public var stacks: [ModelStack] {
        [ModelStack(name: "encoder", layers: config.layers, maxLayers: maxLayers, firstLayer: 0, resizable: true)]
    }

    public var profileKey: (preset: String, shape: ModelShape) { (config.name, Self.profileShape(config)) }

    /// The shape a reference profile of this encoder was measured at.
    public static func profileShape(_ c: ModelConfig) -> ModelShape {
        ModelShape(layers: c.layers, hidden: c.hidden, heads: c.heads, ffn: c.ffn, vocab: c.vocabularySize,
                   seqLen: c.sequenceLength, microBatch: c.microBatch)
    }

    /// `batch` as the encoder's layout; any other type is a host error.
    @inline(__always)
    private func masked(_ batch: any TrainingBatch) -> MaskedLMBatch {
        guard let b = batch as? MaskedLMBatch else {
            preconditionFailure(WorkloadError.foreignBatch(workload: kind, batch: "\(type(of: batch))").description)
        }
        return b
    }

    public func forwardBackward(_ batch: any TrainingBatch, activeLayers: [Int]?, targets: LossTargets, gradientScale: Float,
                                controls: PassControls) -> PassLoss {
        model.forwardBackward(masked(batch), activeLayers: activeLayers, targets: targets, gradientScale: gradientScale, controls: controls)
    }

    public func forward(_ batch: any TrainingBatch, activeLayers: [Int]?) -> PassLoss {
        model.forward(masked(batch), activeLayers: activeLayers)
    }

    public var exampleLosses: (sums: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Float>) {
        (model.perExampleLoss, model.perExampleMaskedCount)
    }

    public func resize(to plan: [LayerSource], seed: UInt64) throws { try model.resize(to: plan, seed: seed) }

    public func trainingBatches(corpus: PreparedCorpus, seed: UInt64, epochs: Int) throws -> any CorpusBatches {
        try corpus.requireVocabulary(config.vocabularySize)
        return try MLMBatchSource(corpus: corpus, sequenceLength: config.sequenceLength, batchSize: config.microBatch, seed: seed, epochs: epochs)
    }

    public func syntheticBatches(seed: UInt64, firstID: UInt64) -> any TrainingBatches {
        SyntheticBatches(config: config, seed: seed, firstID: firstID)
    }

    public var parametersBelowStack: Set<String> { ["embedding.position_scale", "embedding.norm.gain", "embedding.norm.bias"] }
    public func trainingFLOPs(_ batch: any TrainingBatch, activeLayers: Int?) -> Double {
        config.trainingFLOPs(sequences: batch.sequences, masked: batch.targetTokens, activeLayers: activeLayers)
    }
}

/// Learnable synthetic sequences: each is an arithmetic run of tokens (`5 + (start + i) mod 40`),
/// so masked tokens are predictable from their neighbours and the loss can fall. Micro-batch k
/// holds example ids first + k·B ..< first + (k+1)·B; every sequence is a pure function of
/// (seed, id).
public final class SyntheticBatches: MaskedExampleBatches {
    let config: ModelConfig
    let seed: UInt64
    let firstID: UInt64

    public init(config: ModelConfig, seed: UInt64, firstID: UInt64 = 0) {
        self.config = config
        self.seed = seed
        self.firstID = firstID
    }

    public var microBatchesAvailable: Int? { nil }
    public var sequenceLength: Int { config.sequenceLength }

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
