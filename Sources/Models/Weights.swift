import TensorCore

/// Named tensor views into a `ParameterStore`'s values and gradients, resolved once so the
/// forward and backward passes never look names up.
struct Weights {
    struct Layer {
        let norm1Gain, norm1Bias, qkv, attentionOutput, norm2Gain, norm2Bias, ffnInput, ffnOutput: Tensor

        init(_ view: (String) -> Tensor, prefix p: String) {
            norm1Gain = view(p + "attention_norm.gain")
            norm1Bias = view(p + "attention_norm.bias")
            qkv = view(p + "attention.qkv.weight")
            attentionOutput = view(p + "attention.output.weight")
            norm2Gain = view(p + "ffn_norm.gain")
            norm2Bias = view(p + "ffn_norm.bias")
            ffnInput = view(p + "ffn.input.weight")
            ffnOutput = view(p + "ffn.output.weight")
        }
    }

    let token, positionScale, embeddingNormGain, embeddingNormBias: Tensor
    let finalNormGain, finalNormBias, headDense: Tensor
    let dToken, dPositionScale, dEmbeddingNormGain, dEmbeddingNormBias: Tensor
    let dFinalNormGain, dFinalNormBias, dHeadDense: Tensor
    let layers: [Layer]
    let layerGradients: [Layer]

    init(_ store: ParameterStore, layers depth: Int) {
        let v = store.value, g = store.gradient
        token = v("embedding.token"); dToken = g("embedding.token")
        positionScale = v("embedding.position_scale"); dPositionScale = g("embedding.position_scale")
        embeddingNormGain = v("embedding.norm.gain"); dEmbeddingNormGain = g("embedding.norm.gain")
        embeddingNormBias = v("embedding.norm.bias"); dEmbeddingNormBias = g("embedding.norm.bias")
        finalNormGain = v("final_norm.gain"); dFinalNormGain = g("final_norm.gain")
        finalNormBias = v("final_norm.bias"); dFinalNormBias = g("final_norm.bias")
        headDense = v("head.dense.weight"); dHeadDense = g("head.dense.weight")
        layers = (0..<depth).map { Layer(v, prefix: MaskedLanguageModel.layerPrefix($0)) }
        layerGradients = (0..<depth).map { Layer(g, prefix: MaskedLanguageModel.layerPrefix($0)) }
    }
}
