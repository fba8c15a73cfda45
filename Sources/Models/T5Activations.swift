import TensorCore

/// Every buffer one forward and backward pass of the T5 encoder–decoder needs, laid out once for
/// a shape and micro-batch: the step allocates nothing. `t` = encoder tokens, `u` = decoder
/// tokens of a full micro-batch.
struct T5Activations {
    /// Kept from the forward pass for one run encoder layer.
    struct EncoderLayer {
        let norm1, norm1Rstd, qkv, probabilities, context: Tensor
        /// Residual stream after attention.
        let middle: Tensor
        let norm2, norm2Rstd, ffnUp, ffnActivation: Tensor
    }

    /// Kept from the forward pass for one run decoder layer.
    struct DecoderLayer {
        let norm1, norm1Rstd, qkv, selfProbabilities, selfContext: Tensor
        /// Residual stream after self-attention, and after cross-attention.
        let afterSelf, afterCross: Tensor
        let norm2, norm2Rstd, query, keysValues, crossProbabilities, crossContext: Tensor
        let norm3, norm3Rstd, ffnUp, ffnActivation: Tensor
    }

    /// `encoderResidual[k]` is the input of the k-th run encoder layer; `[n]` the stack's output.
    let encoderResidual: [Tensor]
    let encoderLayers: [EncoderLayer]
    /// The encoder's final RMS norm: what every cross-attention reads.
    let encoderOutput, encoderOutputRstd: Tensor
    let decoderResidual: [Tensor]
    let decoderLayers: [DecoderLayer]
    let decoderOutput, decoderOutputRstd, logits, rowLosses: Tensor
    let perExampleLoss, perExampleCount: Tensor

    // Backward scratch, shared by all layers.
    let dEncoder, dEncoderOutput, dEncoderHidden, dEncoderQKV, dEncoderProbabilities, dEncoderFfnUp, dEncoderFfnActivation: Tensor
    let dDecoder, dDecoderOutput, dDecoderHidden, dDecoderQKV, dSelfProbabilities, dQuery, dKeysValues, dCrossProbabilities: Tensor
    let dDecoderFfnUp, dDecoderFfnActivation: Tensor

    init(config c: ModelConfig, arena: TensorArena) {
        let shape = c.encoderDecoder!
        let b = c.microBatch, s = c.sequenceLength, tl = shape.targetLength
        let t = b * s, u = b * tl, h = c.hidden, f = c.ffn, f2 = c.ffnOutputWidth, nh = c.heads
        let v = shape.modelVocabulary(c.vocabularySize)
        func a(_ shape: [Int]) -> Tensor { arena.allocate(shape) }
        encoderResidual = (0...c.layers).map { _ in a([t, h]) }
        encoderLayers = (0..<c.layers).map { _ in
            EncoderLayer(norm1: a([t, h]), norm1Rstd: a([t]), qkv: a([t, 3 * h]), probabilities: a([b, nh, s, s]),
                         context: a([t, h]), middle: a([t, h]), norm2: a([t, h]), norm2Rstd: a([t]),
                         ffnUp: a([t, f]), ffnActivation: a([t, f2]))
        }
        encoderOutput = a([t, h]); encoderOutputRstd = a([t])
        decoderResidual = (0...c.layers).map { _ in a([u, h]) }
        decoderLayers = (0..<c.layers).map { _ in
            DecoderLayer(norm1: a([u, h]), norm1Rstd: a([u]), qkv: a([u, 3 * h]), selfProbabilities: a([b, nh, tl, tl]),
                         selfContext: a([u, h]), afterSelf: a([u, h]), afterCross: a([u, h]),
                         norm2: a([u, h]), norm2Rstd: a([u]), query: a([u, h]), keysValues: a([t, 2 * h]),
                         crossProbabilities: a([b, nh, tl, s]), crossContext: a([u, h]),
                         norm3: a([u, h]), norm3Rstd: a([u]), ffnUp: a([u, f]), ffnActivation: a([u, f2]))
        }
        decoderOutput = a([u, h]); decoderOutputRstd = a([u])
        logits = a([u, v]); rowLosses = a([u])
        perExampleLoss = a([b]); perExampleCount = a([b])
        dEncoder = a([t, h]); dEncoderOutput = a([t, h]); dEncoderHidden = a([t, h]); dEncoderQKV = a([t, 3 * h])
        dEncoderProbabilities = a([b, nh, s, s]); dEncoderFfnUp = a([t, f]); dEncoderFfnActivation = a([t, f2])
        dDecoder = a([u, h]); dDecoderOutput = a([u, h]); dDecoderHidden = a([u, h]); dDecoderQKV = a([u, 3 * h])
        dSelfProbabilities = a([b, nh, tl, tl]); dQuery = a([u, h]); dKeysValues = a([t, 2 * h])
        dCrossProbabilities = a([b, nh, tl, s]); dDecoderFfnUp = a([u, f]); dDecoderFfnActivation = a([u, f2])
    }
}

/// Named views of a T5 parameter store's values (or gradients), resolved once.
struct T5Weights {
    struct EncoderLayer {
        let norm1, qkv, relativeBias, output, norm2, ffnInput, ffnOutput: Tensor
        init(_ view: (String) -> Tensor, prefix p: String) {
            norm1 = view(p + "attention_norm.gain")
            qkv = view(p + "attention.qkv.weight")
            relativeBias = view(p + "attention.relative_bias")
            output = view(p + "attention.output.weight")
            norm2 = view(p + "ffn_norm.gain")
            ffnInput = view(p + "ffn.input.weight")
            ffnOutput = view(p + "ffn.output.weight")
        }
    }

    struct DecoderLayer {
        let norm1, qkv, relativeBias, selfOutput, norm2, query, keysValues, crossOutput, norm3, ffnInput, ffnOutput: Tensor
        init(_ view: (String) -> Tensor, prefix p: String) {
            norm1 = view(p + "self_attention_norm.gain")
            qkv = view(p + "self_attention.qkv.weight")
            relativeBias = view(p + "self_attention.relative_bias")
            selfOutput = view(p + "self_attention.output.weight")
            norm2 = view(p + "cross_attention_norm.gain")
            query = view(p + "cross_attention.query.weight")
            keysValues = view(p + "cross_attention.key_value.weight")
            crossOutput = view(p + "cross_attention.output.weight")
            norm3 = view(p + "ffn_norm.gain")
            ffnInput = view(p + "ffn.input.weight")
            ffnOutput = view(p + "ffn.output.weight")
        }
    }

    let token, encoderFinalNorm, decoderFinalNorm, head: Tensor
    let encoder: [EncoderLayer]
    let decoder: [DecoderLayer]

    init(_ view: (String) -> Tensor, layers depth: Int) {
        token = view("embedding.token")
        encoderFinalNorm = view("encoder.final_norm.gain")
        decoderFinalNorm = view("decoder.final_norm.gain")
        head = view("head.weight")
        encoder = (0..<depth).map { EncoderLayer(view, prefix: T5Model.encoderPrefix($0)) }
        decoder = (0..<depth).map { DecoderLayer(view, prefix: T5Model.decoderPrefix($0)) }
    }
}
