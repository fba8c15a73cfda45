import Clock
import Corpus
import Models
import TensorCore

/// T5 v1.1 pre-trained with span corruption (``T5Model``, ``SpanCorruption``): the second
/// ``Workload``. Its batches are ``SpanCorruptionBatch``es; the loss is the cross-entropy over
/// every target token.
///
/// Its two stacks, "encoder" and "decoder", are resized and masked together, block `l` being
/// encoder layer `l` and decoder layer `l`, as the paper's T5 code applies one index set to both
/// (stacking grows both, dropping skips the same blocks). A frozen bottom block is refused
/// (``supportsFrozenLayers``).
public final class SpanCorruptionWorkload: Workload {
    public static let kind = "span-corruption"
    public var kind: String { Self.kind }
    public let model: T5Model
    public let maxLayers: Int

    public init(config: ModelConfig, seed: UInt64, maxLayers: Int? = nil, backend: any ComputeBackend = CPUBackend.shared) throws {
        model = try T5Model(config: config, seed: seed, backend: backend)
        self.maxLayers = maxLayers ?? config.layers
    }

    public var config: ModelConfig { model.config }
    public var parameters: ParameterStore { model.parameters }
    public var backend: any ComputeBackend { model.backend }
    public var activationBytes: Int { model.activationBytes }
    public var stacks: [ModelStack] {
        [ModelStack(name: "encoder", layers: config.layers, maxLayers: maxLayers, firstLayer: 0, resizable: true),
         ModelStack(name: "decoder", layers: config.layers, maxLayers: maxLayers, firstLayer: 0, resizable: true)]
    }
    public var supportsFrozenLayers: Bool { false }

    public var profileKey: (preset: String, shape: ModelShape) { (config.name, Self.profileShape(config)) }

    /// The shape a reference profile of this model was measured at (the target length in `extra`).
    public static func profileShape(_ c: ModelConfig) -> ModelShape {
        ModelShape(layers: c.layers, hidden: c.hidden, heads: c.heads, ffn: c.ffn, vocab: c.vocabularySize,
                   seqLen: c.sequenceLength, microBatch: c.microBatch, targetLength: c.encoderDecoder?.targetLength)
    }

    @inline(__always)
    private func corrupted(_ batch: any TrainingBatch) -> SpanCorruptionBatch {
        guard let b = batch as? SpanCorruptionBatch else {
            preconditionFailure(WorkloadError.foreignBatch(workload: kind, batch: "\(type(of: batch))").description)
        }
        return b
    }

    public func forwardBackward(_ batch: any TrainingBatch, activeLayers: [Int]?, targets: LossTargets, gradientScale: Float,
                                controls: PassControls) -> PassLoss {
        model.forwardBackward(corrupted(batch), activeLayers: activeLayers, targets: targets, gradientScale: gradientScale, controls: controls)
    }

    public func forward(_ batch: any TrainingBatch, activeLayers: [Int]?) -> PassLoss {
        model.forward(corrupted(batch), activeLayers: activeLayers)
    }

    public var exampleLosses: (sums: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Float>) {
        (model.perExampleLoss, model.perExampleTargetCount)
    }

    public func resize(to plan: [LayerSource], seed: UInt64) throws { try model.resize(to: plan, seed: seed) }

    public func trainingBatches(corpus: PreparedCorpus, seed: UInt64, epochs: Int) throws -> any CorpusBatches {
        try corpus.requireVocabulary(config.vocabularySize)
        let shape = config.encoderDecoder!
        let source = try SpanCorruptionSource(corpus: corpus, inputLength: config.sequenceLength, sentinels: shape.sentinels,
                                              batchSize: config.microBatch, seed: seed, epochs: epochs)
        guard source.targetLength == shape.targetLength else {
            throw WorkloadError.invalidShape("span corruption of \(config.sequenceLength) input tokens makes \(source.targetLength) targets, but model.target is \(shape.targetLength); set --set model.target=\(source.targetLength)")
        }
        return SpanCorruptionBatches(source: source)
    }

    public func syntheticBatches(seed: UInt64, firstID: UInt64) -> any TrainingBatches {
        SyntheticSpanCorruptionBatches(config: config, seed: seed, firstID: firstID)
    }

    /// Nothing: a frozen bottom block is refused on T5.
    public var parametersBelowStack: Set<String> { [] }

    public func trainingFLOPs(_ batch: any TrainingBatch, activeLayers: Int?) -> Double {
        config.trainingFLOPs(sequences: batch.sequences, masked: batch.targetTokens, activeLayers: activeLayers)
    }
}

extension SpanCorruptionBatch: TrainingBatch {
    public var targetTokens: Int { targetCount }

    /// Packs corrupted examples into the model's layout; the decoder reads the targets shifted
    /// right behind the start id ([PAD], T5's `decoder_start_token_id`).
    public init(examples: [SpanCorruptedExample], inputLength: Int, targetLength: Int) {
        var inputs: [Int32] = [], decoderInputs: [Int32] = [], targets: [Int32] = []
        for e in examples {
            inputs += e.inputs
            targets += e.targets
            decoderInputs.append(SpecialTokens.pad)
            decoderInputs += e.targets.dropLast()
        }
        self.init(inputLength: inputLength, targetLength: targetLength, inputs: inputs, decoderInputs: decoderInputs, targets: targets,
                  exampleIds: examples.map(\.exampleId))
    }
}

/// A run's span-corrupted corpus stream.
final class SpanCorruptionBatches: CorpusBatches {
    let source: SpanCorruptionSource
    init(source: SpanCorruptionSource) { self.source = source }

    var microBatchesAvailable: Int? { source.stream.batchesAvailable }
    func batch(microBatches range: Range<Int>) throws -> any TrainingBatch {
        SpanCorruptionBatch(examples: range.flatMap { source.batch($0) }, inputLength: source.inputLength, targetLength: source.targetLength)
    }
    func requireMicroBatches(_ count: Int) throws { try source.requireBatches(count) }
    func validationBatches(maxSequences: Int) -> [any TrainingBatch] {
        let examples = source.validationExamples(maxCount: maxSequences), b = source.batchSize
        return stride(from: 0, to: examples.count, by: b).map {
            SpanCorruptionBatch(examples: Array(examples[$0 ..< Swift.min($0 + b, examples.count)]), inputLength: source.inputLength,
                                targetLength: source.targetLength)
        }
    }
    func referenceLines(validationSequences: Int) throws -> ReferenceLines { source.referenceLines(validationSequences: validationSequences) }
}

/// Learnable synthetic examples for `ntng plugin check` and `ntng bench`: arithmetic runs of
/// tokens (`5 + (start + i) mod 40`) span-corrupted as real text is, so a masked span is
/// predictable from its neighbours. Pure functions of (seed, id).
final class SyntheticSpanCorruptionBatches: TrainingBatches {
    let config: ModelConfig
    let corruption: SpanCorruption?
    let seed: UInt64
    let firstID: UInt64

    init(config: ModelConfig, seed: UInt64, firstID: UInt64) {
        self.config = config
        self.seed = seed
        self.firstID = firstID
        corruption = try? SpanCorruption(inputLength: config.sequenceLength, tokenizerVocabulary: config.vocabularySize,
                                         sentinels: config.encoderDecoder!.sentinels, seed: seed)
    }

    var microBatchesAvailable: Int? { nil }

    func batch(microBatches range: Range<Int>) throws -> any TrainingBatch {
        guard let corruption, corruption.targetLength == config.encoderDecoder!.targetLength else {
            throw WorkloadError.invalidShape("model '\(config.name)' has a target length span corruption of \(config.sequenceLength) tokens does not make")
        }
        let b = config.microBatch, span = UInt64(Swift.max(2, Swift.min(40, config.vocabularySize - 5)))
        let examples = range.flatMap { k in
            (0..<b).map { slot -> SpanCorruptedExample in
                let id = firstID + UInt64(k * b + slot)
                var rng = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5EED ^ SplitMix64.mix(id)))
                let start = rng.next() % span
                let raw = (0..<corruption.rawLength).map { Int32(5 + (start + UInt64($0)) % span) }
                var inputs = [Int32](repeating: 0, count: corruption.inputLength), targets = [Int32](repeating: 0, count: corruption.targetLength)
                raw.withUnsafeBufferPointer { r in
                    inputs.withUnsafeMutableBufferPointer { i in
                        targets.withUnsafeMutableBufferPointer { t in
                            corruption.apply(raw: r.baseAddress!, exampleId: id, inputs: i.baseAddress!, targets: t.baseAddress!)
                        }
                    }
                }
                return SpanCorruptedExample(exampleId: id, inputs: inputs, targets: targets)
            }
        }
        return SpanCorruptionBatch(examples: examples, inputLength: corruption.inputLength, targetLength: corruption.targetLength)
    }
}
