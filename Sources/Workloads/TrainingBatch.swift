import Corpus
import Models

/// One batch of a workload's input, opaque to the training step: a micro-batch, or the candidate
/// pool a selecting method picks rows from. The step counts sequences and target tokens and moves
/// rows; only the workload that made a batch looks inside it.
public protocol TrainingBatch: Sendable {
    /// Rows of the batch.
    var sequences: Int { get }
    /// The tokens the loss is taken over (the masked tokens of a masked LM).
    var targetTokens: Int { get }
    /// Stable id of each row (batch-selection methods key on it).
    var exampleIds: [UInt64] { get }
    /// The sub-batch of `rows`, in that order (rows may not repeat).
    func selecting(rows: [Int]) -> Self
}

extension MaskedLMBatch: TrainingBatch {
    public var targetTokens: Int { maskedCount }
}

/// Where a host's training batches come from: micro-batch `k` of a deterministic stream.
///
/// A run reads its corpus's seeded stream (``MLMBatchSource``), RHO-LOSS's proxy cycles over its
/// split epoch by epoch, `ntng plugin check` and `ntng bench` use synthetic batches.
public protocol TrainingBatches: AnyObject {
    /// Micro-batches the stream holds (one epoch); nil when it never runs out.
    var microBatchesAvailable: Int? { get }
    /// Micro-batches `range` of the stream as one batch, rows in stream order: one micro-batch,
    /// or the candidate pool of a selecting method.
    func batch(microBatches range: Range<Int>) throws -> any TrainingBatch
}

/// A run's corpus stream: training batches, plus what a recorded run needs of its corpus.
public protocol CorpusBatches: TrainingBatches {
    /// Throws an error naming the corpus and the fix when one epoch holds fewer than `count`
    /// micro-batches.
    func requireMicroBatches(_ count: Int) throws
    /// The fixed validation set (at most `maxSequences` rows), in micro-batches.
    func validationBatches(maxSequences: Int) -> [any TrainingBatch]
    /// What context-free predictors score on that validation set's targets (stored with the
    /// corpus, computed on first use).
    func referenceLines(validationSequences: Int) throws -> ReferenceLines
}

/// A stream of masked-LM examples, micro-batch by micro-batch: what the masked-LM workload's
/// sources implement; they get ``TrainingBatches/batch(microBatches:)`` from it.
public protocol MaskedExampleBatches: TrainingBatches {
    var sequenceLength: Int { get }
    /// The examples of micro-batch `index`.
    func examples(microBatch index: Int) throws -> [MaskedExample]
}

extension MaskedExampleBatches {
    public func batch(microBatches range: Range<Int>) throws -> any TrainingBatch {
        MaskedLMBatch(examples: try range.flatMap { try examples(microBatch: $0) }, sequenceLength: sequenceLength)
    }
}

extension MLMBatchSource: CorpusBatches, MaskedExampleBatches {
    public var microBatchesAvailable: Int? { stream.batchesAvailable }
    public func examples(microBatch index: Int) -> [MaskedExample] { batch(index) }
    public func requireMicroBatches(_ count: Int) throws { try requireBatches(count) }

    public func validationBatches(maxSequences: Int) -> [any TrainingBatch] {
        let examples = validationExamples(maxCount: maxSequences)
        return stride(from: 0, to: examples.count, by: batchSize).map {
            MaskedLMBatch(examples: Array(examples[$0 ..< Swift.min($0 + batchSize, examples.count)]), sequenceLength: sequenceLength)
        }
    }
}
