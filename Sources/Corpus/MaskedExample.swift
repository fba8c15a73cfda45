/// One masked training or validation sequence.
public struct MaskedExample: Sendable, Equatable {
    /// Index of the sequence in its packed split (stable for a given corpus, tokenizer and S).
    public var exampleId: UInt64
    /// S ids after masking: [CLS] … [SEP] [PAD]…
    public var inputTokens: [Int32]
    /// Ids before padding (positions length ..< S are [PAD]).
    public var length: Int
    /// Masked positions within the sequence, ascending.
    public var maskedPositions: [Int32]
    /// Original ids at `maskedPositions`.
    public var labels: [Int32]

    public init(exampleId: UInt64, inputTokens: [Int32], length: Int, maskedPositions: [Int32], labels: [Int32]) {
        self.exampleId = exampleId
        self.inputTokens = inputTokens
        self.length = length
        self.maskedPositions = maskedPositions
        self.labels = labels
    }
}

/// Flat, reusable buffers for one batch, filled without per-example allocation.
///
/// Row b of `inputTokens` is `inputTokens[b·S ..< (b+1)·S]`. Masked slots are laid out with a
/// fixed stride `maxMasked` = `MLMMasking.maxMaskedPositions(sequenceLength: S)`: row b uses
/// `maskedPositions[b·maxMasked ..< b·maxMasked + maskedCounts[b]]`; unused slots hold −1 and
/// their labels [PAD].
public struct MLMBatchBuffers: Sendable {
    public let batchSize: Int
    public let sequenceLength: Int
    public let maxMasked: Int
    public var exampleIds: [UInt64]
    public var inputTokens: [Int32]
    public var lengths: [Int32]
    public var maskedCounts: [Int32]
    public var maskedPositions: [Int32]
    public var labels: [Int32]

    public init(batchSize: Int, sequenceLength: Int) {
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        maxMasked = MLMMasking.maxMaskedPositions(sequenceLength: sequenceLength)
        exampleIds = Array(repeating: 0, count: batchSize)
        inputTokens = Array(repeating: SpecialTokens.pad, count: batchSize * sequenceLength)
        lengths = Array(repeating: 0, count: batchSize)
        maskedCounts = Array(repeating: 0, count: batchSize)
        maskedPositions = Array(repeating: -1, count: batchSize * maxMasked)
        labels = Array(repeating: SpecialTokens.pad, count: batchSize * maxMasked)
    }

    /// Row b as a `MaskedExample` (allocates; for tests and inspection).
    public func example(_ b: Int) -> MaskedExample {
        let m = Int(maskedCounts[b])
        return MaskedExample(exampleId: exampleIds[b],
                             inputTokens: Array(inputTokens[(b * sequenceLength)..<((b + 1) * sequenceLength)]),
                             length: Int(lengths[b]),
                             maskedPositions: Array(maskedPositions[(b * maxMasked)..<(b * maxMasked + m)]),
                             labels: Array(labels[(b * maxMasked)..<(b * maxMasked + m)]))
    }
}
