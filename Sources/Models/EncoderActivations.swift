import TensorCore

/// Every buffer one forward and backward pass of the encoder needs, laid out once for a model
/// shape and micro-batch (llm.c style): the step itself allocates nothing.
struct EncoderActivations {
    /// Buffers kept from the forward pass for one run layer (slot k = the k-th active layer).
    struct Layer {
        let norm1, norm1Mean, norm1Rstd: Tensor
        let qkv, probabilities, context: Tensor
        /// Residual stream after attention.
        let middle: Tensor
        let norm2, norm2Mean, norm2Rstd: Tensor
        let ffnUp, ffnActivation: Tensor
    }

    let embeddingSum, embeddingMean, embeddingRstd: Tensor
    /// `residual[k]` is the input of the k-th run layer; `residual[n]` the encoder output.
    let residual: [Tensor]
    let layers: [Layer]

    // Head, on masked rows only.
    let maskedHidden, headNorm, headNormMean, headNormRstd, headDense, logits, rowLosses: Tensor
    let perExampleLoss, perExampleCount: Tensor

    // Backward scratch, shared by all layers.
    let dResidual, dHidden, dQKV, dProbabilities, dFfnUp, dFfnActivation: Tensor
    let dMaskedHidden, dHeadNorm, dHeadDense: Tensor

    /// The fixed sinusoid table `[sequence, hidden]`.
    let sinusoids: Tensor

    init(config c: ModelConfig, arena: TensorArena) {
        let t = c.microBatch * c.sequenceLength, h = c.hidden, f = c.ffn, f2 = c.ffnOutputWidth
        let probs = [c.microBatch, c.heads, c.sequenceLength, c.sequenceLength]
        let m = c.microBatch * c.maxMaskedPerSequence
        embeddingSum = arena.allocate([t, h])
        embeddingMean = arena.allocate([t])
        embeddingRstd = arena.allocate([t])
        residual = (0...c.layers).map { _ in arena.allocate([t, h]) }
        layers = (0..<c.layers).map { _ in
            Layer(norm1: arena.allocate([t, h]), norm1Mean: arena.allocate([t]), norm1Rstd: arena.allocate([t]),
                  qkv: arena.allocate([t, 3 * h]), probabilities: arena.allocate(probs),
                  context: arena.allocate([t, h]), middle: arena.allocate([t, h]),
                  norm2: arena.allocate([t, h]), norm2Mean: arena.allocate([t]), norm2Rstd: arena.allocate([t]),
                  ffnUp: arena.allocate([t, f]), ffnActivation: arena.allocate([t, f2]))
        }
        maskedHidden = arena.allocate([m, h])
        headNorm = arena.allocate([m, h])
        headNormMean = arena.allocate([m])
        headNormRstd = arena.allocate([m])
        headDense = arena.allocate([m, h])
        logits = arena.allocate([m, c.vocabularySize])
        rowLosses = arena.allocate([m])
        perExampleLoss = arena.allocate([c.microBatch])
        perExampleCount = arena.allocate([c.microBatch])
        dResidual = arena.allocate([t, h])
        dHidden = arena.allocate([t, h])
        dQKV = arena.allocate([t, 3 * h])
        dProbabilities = arena.allocate(probs)
        dFfnUp = arena.allocate([t, f])
        dFfnActivation = arena.allocate([t, f2])
        dMaskedHidden = arena.allocate([m, h])
        dHeadNorm = arena.allocate([m, h])
        dHeadDense = arena.allocate([m, h])
        sinusoids = arena.allocate([c.sequenceLength, h])
    }
}
