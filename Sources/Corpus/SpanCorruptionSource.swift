import Foundation

/// One span-corrupted example: the encoder's inputs and the decoder's targets.
public struct SpanCorruptedExample: Sendable, Equatable {
    public var exampleId: UInt64
    public var inputs: [Int32]
    public var targets: [Int32]

    public init(exampleId: UInt64, inputs: [Int32], targets: [Int32]) {
        self.exampleId = exampleId
        self.inputs = inputs
        self.targets = targets
    }
}

/// A prepared corpus as T5 sees it: each split's token stream (documents joined by [SEP]) cut
/// into raw sequences of ``SpanCorruption/rawLength`` tokens with no framing and no padding (a
/// short last piece is dropped), span-corrupted as a pure function of (seed, example id), drawn
/// in the order of the seeded ``ExampleStream`` (proxy split held out, as for the masked LM).
public final class SpanCorruptionSource: @unchecked Sendable {
    /// Seed of the fixed validation corruption (identical for every method and run).
    public static let validationSeed = MLMBatchSource.validationSeed

    public let corpus: PreparedCorpus
    public let corruption: SpanCorruption
    public let validationCorruption: SpanCorruption
    public let batchSize: Int
    public let stream: ExampleStream
    /// Raw sequences framed as [CLS] body [SEP]: sequence k's body is stream[k·R ..< (k+1)·R].
    private let training: PackedSequences
    private let validation: PackedSequences
    public let trainingSequences: Int
    public let validationSequences: Int

    public init(corpus: PreparedCorpus, inputLength: Int, sentinels: Int, batchSize: Int, seed: UInt64,
                part: StreamPart = .training, proxySplit: ProxySplit = .standard, epochs: Int = 1) throws {
        self.corpus = corpus
        self.batchSize = batchSize
        corruption = try SpanCorruption(inputLength: inputLength, tokenizerVocabulary: corpus.vocabSize, sentinels: sentinels, seed: seed)
        validationCorruption = try SpanCorruption(inputLength: inputLength, tokenizerVocabulary: corpus.vocabSize, sentinels: sentinels,
                                                  seed: Self.validationSeed)
        let raw = corruption.rawLength
        training = try PackedSequences(split: corpus.train, sequenceLength: raw + 2)
        validation = try PackedSequences(split: corpus.validation, sequenceLength: raw + 2)
        trainingSequences = Self.wholeSequences(training)
        validationSequences = Self.wholeSequences(validation)
        stream = try ExampleStream(exampleCount: trainingSequences, batchSize: batchSize, seed: seed, part: part, proxySplit: proxySplit,
                                   epochs: epochs)
    }

    /// Sequences with a full body: all but a short last one.
    private static func wholeSequences(_ packed: PackedSequences) -> Int {
        let body = packed.sequenceLength - 2
        return packed.streamLength / body
    }

    public var inputLength: Int { corruption.inputLength }
    public var targetLength: Int { corruption.targetLength }

    /// Call before training: throws `CorpusError.epochExceeded` (with advice) when the run would
    /// need more batches than the stream holds.
    public func requireBatches(_ batches: Int) throws { try stream.requireBatches(batches, sequenceLength: inputLength) }

    /// Training example `id`, corrupted as in every batch that draws it.
    public func trainingExample(id: UInt64) -> SpanCorruptedExample { Self.example(training, corruption, id: Int(id)) }

    /// The examples of batch `index` of the stream.
    public func batch(_ index: Int) -> [SpanCorruptedExample] {
        (0..<batchSize).map { trainingExample(id: UInt64(stream.exampleId(batch: index, slot: $0))) }
    }

    /// Up to `maxCount` validation sequences spread evenly over the split, corrupted with the
    /// fixed validation seed.
    public func validationExamples(maxCount: Int = 1024) -> [SpanCorruptedExample] {
        let n = validationSequences
        guard n > 0, maxCount > 0 else { return [] }
        let count = min(n, maxCount)
        return (0..<count).map { Self.example(validation, validationCorruption, id: $0 * n / count) }
    }

    private static func example(_ packed: PackedSequences, _ corruption: SpanCorruption, id: Int) -> SpanCorruptedExample {
        var framed = [Int32](repeating: 0, count: packed.sequenceLength)
        var inputs = [Int32](repeating: 0, count: corruption.inputLength), targets = [Int32](repeating: 0, count: corruption.targetLength)
        framed.withUnsafeMutableBufferPointer { f in
            packed.fill(id, into: f.baseAddress!)
            inputs.withUnsafeMutableBufferPointer { i in
                targets.withUnsafeMutableBufferPointer { t in
                    corruption.apply(raw: f.baseAddress! + 1, exampleId: UInt64(id), inputs: i.baseAddress!, targets: t.baseAddress!)
                }
            }
        }
        return SpanCorruptedExample(exampleId: UInt64(id), inputs: inputs, targets: targets)
    }

    /// The reference lines of the fixed validation set of `maxCount` sequences, over every target
    /// position the loss is taken on. The context-free predictor knows the target layout's
    /// frequencies: each of the `spans` sentinels and the EOS fill 1/T of the positions, and the
    /// noise tokens the remaining N/T in proportion to the training split's (add-½ smoothed)
    /// token frequencies. Uniform is ln of the model's vocabulary, sentinels included.
    public func referenceLines(validationSequences maxCount: Int) -> ReferenceLines {
        ReferenceLineStore.lines(corpus: corpus, key: "span-corruption S=\(inputLength) sentinels=\(corruption.sentinels) sequences=\(maxCount)") {
            validationExamples(maxCount: maxCount).flatMap(\.targets)
        } compute: { [corruption] counts, targets in
            Self.targetUnigram(counts: counts, targets: targets, corruption: corruption)
        }
    }

    static func targetUnigram(counts: [Int], targets: [Int32], corruption c: SpanCorruption) -> ReferenceLines {
        let v = c.tokenizerVocabulary, t = Double(c.targetLength)
        var total = 0.0, support = 0.0
        for id in 0..<v where !SpecialTokens.isStructural(Int32(id)) {
            total += Double(counts[id])
            support += 1
        }
        let textShare = Double(c.noiseTokens) / t, denominator = total + 0.5 * support
        let firstSentinel = Int(c.sentinel(c.spans - 1))
        var sum = 0.0
        for target in targets {
            let id = Int(target)
            if target == SpecialTokens.sep || id >= firstSentinel {
                sum -= Foundation.log(1 / t)
            } else {
                sum -= Foundation.log(textShare * (Double(counts[id]) + 0.5) / denominator)
            }
        }
        return ReferenceLines(unigram: targets.isEmpty ? .nan : sum / Double(targets.count),
                              uniform: Foundation.log(Double(v + c.sentinels)), targets: targets.count)
    }
}
