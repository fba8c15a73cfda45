import TensorCore

/// A sequence-classification head on the crammed-BERT encoder, for downstream fine-tuning:
/// the first token's final hidden state (after the final LayerNorm) → pooler (dense H→H + bias,
/// tanh, as crammed BERT's "zero_index" pooler) → classifier (H→C + bias) → softmax cross-entropy.
///
/// The head's parameters live in their own small `ParameterStore` (`head`), so an optimizer can
/// update the encoder's store and the head's store side by side; gradients of both accumulate
/// (`+=`) like `MaskedLanguageModel.forwardBackward`. No dropout: fine-tuning here is
/// deterministic (crammed BERT's classifier dropout 0.1 is left out).
public final class SequenceClassifier {
    /// The encoder being fine-tuned (its MLM head's parameters get no gradient).
    public let encoder: MaskedLanguageModel
    /// Pooler and classifier parameters.
    public let head: ParameterStore
    public let classes: Int
    private let arena: TensorArena
    private let buffers: Buffers
    private let w: HeadWeights
    /// Flat encoder-output row of each sequence's first token (b · sequenceLength).
    private var firstTokenRows: [Int32]
    /// Arg-max class of each sequence in the last pass.
    private var predicted: [Int32]
    /// Rows of the last pass.
    private var rows = 0
    /// The last pass's normalized first-token states (a view into the encoder's buffers).
    private var normalized: Tensor?

    private struct Buffers {
        let preActivation, pooled, logits, losses, dPooled, dPreActivation, dNormalized: Tensor

        init(batch b: Int, hidden h: Int, classes c: Int, arena: TensorArena) {
            preActivation = arena.allocate([b, h])
            pooled = arena.allocate([b, h])
            logits = arena.allocate([b, c])
            losses = arena.allocate([b])
            dPooled = arena.allocate([b, h])
            dPreActivation = arena.allocate([b, h])
            dNormalized = arena.allocate([b, h])
        }
    }

    private struct HeadWeights {
        let poolerWeight, poolerBias, classifierWeight, classifierBias: Tensor
        let dPoolerWeight, dPoolerBias, dClassifierWeight, dClassifierBias: Tensor

        init(_ s: ParameterStore) {
            poolerWeight = s.value("pooler.dense.weight"); dPoolerWeight = s.gradient("pooler.dense.weight")
            poolerBias = s.value("pooler.dense.bias"); dPoolerBias = s.gradient("pooler.dense.bias")
            classifierWeight = s.value("classifier.weight"); dClassifierWeight = s.gradient("classifier.weight")
            classifierBias = s.value("classifier.bias"); dClassifierBias = s.gradient("classifier.bias")
        }
    }

    /// Loss figures of one pass.
    public struct Loss: Sendable, Equatable {
        /// Sum of cross-entropy over the sequences.
        public var sum: Double
        public var count: Int
        public var mean: Double { count == 0 ? 0 : sum / Double(count) }
    }

    /// A head for `classes` classes on `encoder`, its weights ~ N(0, initStd²) (each tensor from
    /// its own stream keyed by `seed` and its name), biases 0. Buffers are laid out for the
    /// encoder's micro-batch.
    public init(encoder: MaskedLanguageModel, classes: Int, seed: UInt64) {
        precondition(classes >= 2, "a classifier needs at least two classes")
        let c = encoder.config
        self.encoder = encoder
        self.classes = classes
        // Biases use the `.normBias` kind: it means "not decayed" to the optimizer, which is what
        // a bias needs (fine-tuning uses no weight decay anyway).
        head = ParameterStore([
            ("pooler.dense.weight", [c.hidden, c.hidden], nil, .matrix),
            ("pooler.dense.bias", [c.hidden], nil, .normBias),
            ("classifier.weight", [classes, c.hidden], nil, .matrix),
            ("classifier.bias", [classes], nil, .normBias),
        ])
        for e in head.entries { MaskedLanguageModel.initialise(e, in: head, config: c, seed: seed) }
        (arena, buffers) = encoder.backend.layout { Buffers(batch: c.microBatch, hidden: c.hidden, classes: classes, arena: $0) }
        w = HeadWeights(head)
        firstTokenRows = (0..<c.microBatch).map { Int32($0 * c.sequenceLength) }
        predicted = Array(repeating: 0, count: c.microBatch)
    }

    /// Forward pass only; `labels` (one per sequence) give the loss. Predictions and class
    /// probabilities are readable afterwards.
    @discardableResult
    public func forward(_ batch: MaskedLMBatch, labels: [Int32]) -> Loss {
        runForward(batch, labels: labels, gradientScale: nil)
    }

    /// Forward and backward: accumulates into `head.gradients` and `encoder.parameters.gradients`
    /// the gradient of `gradientScale × Σ losses` (nil: this batch's mean).
    @discardableResult
    public func forwardBackward(_ batch: MaskedLMBatch, labels: [Int32], gradientScale: Float? = nil) -> Loss {
        let scale = gradientScale ?? 1 / Float(Swift.max(batch.sequences, 1))
        let loss = runForward(batch, labels: labels, gradientScale: scale)
        runBackward(batch)
        return loss
    }

    /// Arg-max class of each sequence of the last pass.
    public var predictions: ArraySlice<Int32> { predicted[0..<rows] }

    /// Softmax probabilities `[rows, classes]` of the last `forward` (not valid after `forwardBackward`,
    /// whose pass overwrites them with gradients).
    public var probabilities: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: buffers.logits.base, count: rows * classes)
    }

    private func runForward(_ batch: MaskedLMBatch, labels: [Int32], gradientScale: Float?) -> Loss {
        let b = batch.sequences, h = encoder.config.hidden, c = classes, a = buffers
        precondition(labels.count == b, "\(labels.count) labels for \(b) sequences")
        precondition(labels.allSatisfy { $0 >= 0 && Int($0) < c }, "labels must be class ids below \(c)")
        rows = b
        encoder.encode(batch, activeLayers: nil)
        let x = firstTokenRows.withUnsafeBufferPointer { encoder.finalNormRows($0.baseAddress!, count: b) }
        normalized = x
        // Pooler: tanh(x·Wpᵀ + bp).
        linear(x, w.poolerWeight, bias: w.poolerBias, into: a.preActivation, rows: b)
        let pre = a.preActivation.base, pooled = a.pooled.base
        for i in 0..<(b * h) { pooled[i] = FastMath.tanh(pre[i]) }
        // Classifier.
        linear(a.pooled, w.classifierWeight, bias: w.classifierBias, into: a.logits, rows: b)
        let z = a.logits.base
        for r in 0..<b {
            var best = 0
            for j in 1..<c where z[r * c + j] > z[r * c + best] { best = j }
            predicted[r] = Int32(best)
        }
        labels.withUnsafeBufferPointer { l in
            encoder.backend.softmaxCrossEntropy(logits: a.logits.prefixRows(b), rows: b, labels: .given(l.baseAddress!),
                                    losses: a.losses.base, gradientScale: gradientScale)
        }
        var sum = 0.0
        for r in 0..<b { sum += Double(a.losses.base[r]) }
        return Loss(sum: sum, count: b)
    }

    private func runBackward(_ batch: MaskedLMBatch) {
        let b = rows, h = encoder.config.hidden, a = buffers
        guard let x = normalized else { preconditionFailure("backward without a forward pass") }
        // The logits buffer now holds dLoss/dlogits.
        linearBackward(dy: a.logits, input: a.pooled, weight: w.classifierWeight, dWeight: w.dClassifierWeight,
                       dBias: w.dClassifierBias, dInput: a.dPooled, rows: b)
        let pooled = a.pooled.base, dPooled = a.dPooled.base, dPre = a.dPreActivation.base
        for i in 0..<(b * h) { dPre[i] = dPooled[i] * (1 - pooled[i] * pooled[i]) }
        linearBackward(dy: a.dPreActivation, input: x, weight: w.poolerWeight, dWeight: w.dPoolerWeight,
                       dBias: w.dPoolerBias, dInput: a.dNormalized, rows: b)
        firstTokenRows.withUnsafeBufferPointer { positions in
            encoder.finalNormRowsBackward(a.dNormalized.prefixRows(b), positions.baseAddress!, count: b)
        }
        encoder.encodeBackward(batch)
    }

    // MARK: - Linear layers (y = x·Wᵀ + bias, W stored [out, in])

    private func linear(_ x: Tensor, _ weight: Tensor, bias: Tensor, into y: Tensor, rows: Int) {
        let n = weight.shape[0]
        let out = y.base, bb = bias.base
        for r in 0..<rows { (out + r * n).update(from: bb, count: n) }
        encoder.backend.linear(x, weight, into: y, rows: rows, accumulate: true)
    }

    /// dW += dYᵀ·X, dBias += Σ_rows dY, dX = dY·W (overwrites).
    private func linearBackward(dy: Tensor, input x: Tensor, weight: Tensor, dWeight: Tensor, dBias: Tensor,
                                dInput: Tensor, rows: Int) {
        let n = weight.shape[0]
        encoder.backend.linearBackwardWeight(dy, x, into: dWeight, rows: rows)
        let g = dy.base, db = dBias.base
        for r in 0..<rows { for j in 0..<n { db[j] += g[r * n + j] } }
        encoder.backend.linearBackwardInput(dy, weight, into: dInput, rows: rows)
    }
}
