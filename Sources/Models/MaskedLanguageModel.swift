import TensorCore

/// A pre-LayerNorm BERT encoder with a sparse masked-LM head, following crammed BERT: bias-free
/// linears, scaled sinusoidal positions, embedding LayerNorm, final LayerNorm, a bias-free head
/// transform and a decoder tied to the token embedding, computed on masked positions only.
///
/// Controls the training methods need: run only a chosen list of layers (the rest act as the
/// identity), grow the depth by copying layers, per-example losses without a backward pass, and
/// gradients against labels sampled from the model's own softmax.
public final class MaskedLanguageModel {
    public private(set) var config: ModelConfig
    public private(set) var parameters: ParameterStore
    /// The kernels every pass runs on, fixed when the model is built.
    public let backend: any ComputeBackend
    private var arena: TensorArena
    private var buffers: EncoderActivations
    private var weights: Weights
    /// What the last forward pass ran, for the backward pass that follows it.
    private var pass = PassState()

    /// A freshly initialised model: matrices and embeddings ~ N(0, initStd²), norm gains 1,
    /// biases 0, position scale 1/√hidden. The same seed gives the same weights. Passes run on
    /// `backend`.
    public init(config: ModelConfig, seed: UInt64, backend: any ComputeBackend = CPUBackend.shared) throws {
        if config.encoderDecoder != nil {
            throw ModelConfigError.invalid(preset: config.name, "an encoder–decoder (T5) preset is not a masked-LM encoder; it trains with span corruption")
        }
        try config.validate()
        self.config = config
        self.backend = backend
        parameters = ParameterStore(Self.parameterSpecs(config))
        (arena, buffers) = backend.layout { EncoderActivations(config: config, arena: $0) }
        backend.fillSinusoids(buffers.sinusoids)
        weights = Weights(parameters, layers: config.layers)
        pass.sampledLabels = Array(repeating: 0, count: config.microBatch * config.maxMaskedPerSequence)
        for e in parameters.entries { Self.initialise(e, in: parameters, config: config, seed: seed) }
    }

    /// Swaps in a new shape and parameter store, laying out buffers for it.
    func replace(config newConfig: ModelConfig, parameters store: ParameterStore) {
        config = newConfig
        parameters = store
        (arena, buffers) = backend.layout { EncoderActivations(config: newConfig, arena: $0) }
        backend.fillSinusoids(buffers.sinusoids)
        weights = Weights(store, layers: newConfig.layers)
        pass = PassState()
        pass.sampledLabels = Array(repeating: 0, count: newConfig.microBatch * newConfig.maxMaskedPerSequence)
    }

    /// Bytes of activation and scratch memory laid out for the current shape.
    public var activationBytes: Int { arena.bytes }

    // MARK: - Parameters

    static func layerPrefix(_ layer: Int) -> String { "layers.\(layer)." }

    static func parameterSpecs(_ c: ModelConfig) -> [(name: String, shape: [Int], layer: Int?, kind: ParameterKind)] {
        let h = c.hidden
        var specs: [(name: String, shape: [Int], layer: Int?, kind: ParameterKind)] = [
            ("embedding.token", [c.vocabularySize, h], nil, .embedding),
            ("embedding.position_scale", [1], nil, .scale),
            ("embedding.norm.gain", [h], nil, .normGain),
            ("embedding.norm.bias", [h], nil, .normBias),
        ]
        for l in 0..<c.layers {
            let p = layerPrefix(l)
            specs += [
                (p + "attention_norm.gain", [h], l, .normGain),
                (p + "attention_norm.bias", [h], l, .normBias),
                (p + "attention.qkv.weight", [3 * h, h], l, .matrix),
                (p + "attention.output.weight", [h, h], l, .matrix),
                (p + "ffn_norm.gain", [h], l, .normGain),
                (p + "ffn_norm.bias", [h], l, .normBias),
                (p + "ffn.input.weight", [c.ffn, h], l, .matrix),
                (p + "ffn.output.weight", [h, c.ffnOutputWidth], l, .matrix),
            ]
        }
        specs += [
            ("final_norm.gain", [h], nil, .normGain),
            ("final_norm.bias", [h], nil, .normBias),
            ("head.dense.weight", [h, h], nil, .matrix),
        ]
        return specs
    }

    static func initialise(_ e: ParameterInfo, in store: ParameterStore, config: ModelConfig, seed: UInt64) {
        let t = store.value(e.name)
        switch e.kind {
        case .matrix, .embedding:
            // Each tensor draws from its own stream keyed by its name, so adding or reordering
            // parameters never changes the others' initial values.
            var rng = SplitMix64(seed: SplitMix64.mix(seed ^ SplitMix64.stableHash(e.name)))
            for i in 0..<t.count { t.base[i] = rng.nextNormal() * config.initStandardDeviation }
        case .normGain: t.buffer.update(repeating: 1)
        case .normBias: t.zero()
        case .scale: t.base[0] = 1 / Float(config.hidden).squareRoot()
        }
    }


    // MARK: - Passes

    public typealias Targets = LossTargets
    public typealias Loss = PassLoss

    /// Forward pass only: the loss, with per-example losses readable from `perExampleLoss`.
    /// `activeLayers` lists the layers to run, in order (nil = all); of `controls`, only the
    /// output scales change a forward pass.
    @discardableResult
    public func forward(_ batch: MaskedLMBatch, activeLayers: [Int]? = nil, targets: Targets = .labels,
                        controls: PassControls = .none) -> Loss {
        pass.controls = controls
        defer { pass.controls = .none }
        return runForward(batch, activeLayers: activeLayers, targets: targets, gradientScale: nil)
    }

    /// Forward and backward: accumulates (`+=`) into `parameters.gradients` the gradient of
    /// `gradientScale × Σ masked-token losses` (pass `1 / total masked tokens of the full batch` for a
    /// mean over micro-batches; nil means this batch's own mean).
    @discardableResult
    public func forwardBackward(
        _ batch: MaskedLMBatch, activeLayers: [Int]? = nil, targets: Targets = .labels, gradientScale: Float? = nil,
        controls: PassControls = .none
    ) -> Loss {
        let scale = gradientScale ?? 1 / Float(Swift.max(batch.maskedCount, 1))
        pass.controls = controls
        defer { pass.controls = .none }
        let loss = runForward(batch, activeLayers: activeLayers, targets: targets, gradientScale: scale)
        if let weights = controls.rowWeights { weighRows(batch, weights) }
        runBackward(batch)
        return loss
    }

    /// Scales each masked position's logit gradient by its row's weight (the loss itself stays
    /// unweighted).
    private func weighRows(_ batch: MaskedLMBatch, _ weights: [Float]) {
        precondition(weights.count == batch.sequences, "\(weights.count) row weights for \(batch.sequences) rows")
        let v = buffers.logits.columns, s = config.sequenceLength, z = buffers.logits.base
        batch.maskedPositions.withUnsafeBufferPointer { positions in
            for (i, p) in positions.enumerated() {
                let w = weights[Int(p) / s]
                if w == 1 { continue }
                let row = z + i * v
                for j in 0..<v { row[j] *= w }
            }
        }
    }

    /// Per-example summed loss of the last pass: `[sequences]`, summing to `Loss.sum`.
    public var perExampleLoss: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: buffers.perExampleLoss.base, count: pass.sequences)
    }

    /// Per-example masked-token count of the last pass.
    public var perExampleMaskedCount: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: buffers.perExampleCount.base, count: pass.sequences)
    }

    /// The labels the last `.sampledFromModel` pass drew.
    public var sampledLabels: ArraySlice<Int32> { pass.sampledLabels[0..<pass.masked] }

    private func runForward(_ batch: MaskedLMBatch, activeLayers: [Int]?, targets: Targets, gradientScale: Float?) -> Loss {
        let c = config, a = buffers, w = weights
        let m = batch.maskedCount
        precondition(m <= batch.sequences * c.maxMaskedPerSequence,
                     "batch does not fit the model's buffers; call MaskedLMBatch.validate(for:) first")
        encode(batch, activeLayers: activeLayers)
        pass.masked = m
        return batch.maskedPositions.withUnsafeBufferPointer { positions in
            let normalized = finalNormRows(positions.baseAddress!, count: m)
            linear(normalized, w.headDense, into: a.headDense, rows: m)
            linear(a.headDense, w.token, into: a.logits, rows: m)
            switch targets {
            case .labels:
                batch.labels.withUnsafeBufferPointer { labels in
                    backend.softmaxCrossEntropy(logits: a.logits, rows: m, labels: .given(labels.baseAddress!),
                                            losses: a.rowLosses.base, gradientScale: gradientScale)
                }
            case .sampledFromModel(let seed):
                pass.sampledLabels.withUnsafeMutableBufferPointer { into in
                    backend.softmaxCrossEntropy(logits: a.logits, rows: m, labels: .sampled(seed: seed, into: into.baseAddress!),
                                            losses: a.rowLosses.base, gradientScale: gradientScale)
                }
            }
            return summarise(positions: positions, sequences: batch.sequences)
        }
    }

    // MARK: - The encoder, shared by every head

    /// Embedding and the active layers over the batch's tokens; the result is `encoderOutput`.
    /// Masked positions and labels are not read, so any head can use it.
    func encode(_ batch: MaskedLMBatch, activeLayers: [Int]?) {
        let c = config, a = buffers, w = weights
        let b = batch.sequences, s = c.sequenceLength, t = b * s
        precondition(b <= c.microBatch && batch.sequenceLength == s,
                     "batch does not fit the model's buffers; call MaskedLMBatch.validate(for:) first")
        pass.setActive(activeLayers, depth: c.layers)
        pass.sequences = b
        batch.tokens.withUnsafeBufferPointer { tokens in
            backend.embeddingForward(tokens: tokens.baseAddress!, rows: t, sequence: s, table: w.token,
                              sinusoids: a.sinusoids, positionScale: w.positionScale, output: a.embeddingSum)
        }
        backend.layerNormForward(input: a.embeddingSum, gain: w.embeddingNormGain, bias: w.embeddingNormBias,
                          output: a.residual[0], mean: a.embeddingMean, rstd: a.embeddingRstd,
                          epsilon: c.layerNormEpsilon, rows: t)
        let attention = Attention(batch: c.microBatch, sequence: s, heads: c.heads, hidden: c.hidden)
        for (slot, layer) in pass.active.enumerated() {
            let x = a.residual[slot], y = a.residual[slot + 1], buf = a.layers[slot], p = w.layers[layer]
            forwardLayer(x: x, y: y, buf: buf, p: p, rows: t, sequences: b, attention: attention, batch: batch,
                         scale: pass.controls.outputScales?[layer] ?? 1)
        }
    }

    /// The encoder output `[sequences · seq, hidden]` of the last `encode`.
    var encoderOutput: Tensor { buffers.residual[pass.active.count] }

    /// Gathers rows `positions` (flat indices) of the encoder output and applies the final
    /// LayerNorm; returns the `[count, hidden]` result (valid until the next pass).
    func finalNormRows(_ positions: UnsafePointer<Int32>, count m: Int) -> Tensor {
        let a = buffers, w = weights
        precondition(m <= a.maskedHidden.rows, "\(m) rows exceed the head buffers (\(a.maskedHidden.rows))")
        backend.gatherRows(encoderOutput, indices: positions, count: m, into: a.maskedHidden)
        backend.layerNormForward(input: a.maskedHidden, gain: w.finalNormGain, bias: w.finalNormBias, output: a.headNorm,
                          mean: a.headNormMean, rstd: a.headNormRstd, epsilon: config.layerNormEpsilon, rows: m)
        return a.headNorm.prefixRows(m)
    }

    /// Backward of `finalNormRows`: accumulates the final norm's gradients and sets the encoder
    /// output's gradient (zero except at `positions`), ready for `encodeBackward`.
    func finalNormRowsBackward(_ dNormalized: Tensor, _ positions: UnsafePointer<Int32>, count m: Int) {
        let a = buffers, w = weights, h = config.hidden
        a.dMaskedHidden.base.update(repeating: 0, count: m * h)
        backend.layerNormBackward(dOutput: dNormalized, input: a.maskedHidden, gain: w.finalNormGain, mean: a.headNormMean,
                           rstd: a.headNormRstd, dInput: a.dMaskedHidden, dGain: w.dFinalNormGain,
                           dBias: w.dFinalNormBias, rows: m)
        a.dResidual.base.update(repeating: 0, count: pass.sequences * config.sequenceLength * h)
        backend.scatterAddRows(a.dMaskedHidden, indices: positions, count: m, into: a.dResidual)
    }

    /// One pre-LN layer, `middle = x + s·attention(LN(x))`, `y = middle + s·ffn(LN(middle))`, with
    /// the branch scale `s` applied as the GEMM's alpha (1 for every layer without controls).
    private func forwardLayer(x: Tensor, y: Tensor, buf: EncoderActivations.Layer, p: Weights.Layer,
                              rows t: Int, sequences b: Int, attention: Attention, batch: MaskedLMBatch, scale s: Float) {
        let c = config, eps = c.layerNormEpsilon
        backend.layerNormForward(input: x, gain: p.norm1Gain, bias: p.norm1Bias, output: buf.norm1,
                          mean: buf.norm1Mean, rstd: buf.norm1Rstd, epsilon: eps, rows: t)
        linear(buf.norm1, p.qkv, into: buf.qkv, rows: t)
        batch.validLengths.withUnsafeBufferPointer { lengths in
            backend.attentionForward(attention, qkv: buf.qkv, validLengths: lengths.baseAddress!, probabilities: buf.probabilities,
                              context: buf.context, batchRows: b)
        }
        // middle = x + context·W_oᵀ: copy the residual, then let GEMM add into it (beta = 1).
        buf.middle.base.update(from: x.base, count: t * c.hidden)
        linear(buf.context, p.attentionOutput, into: buf.middle, rows: t, accumulate: true, scale: s)
        backend.layerNormForward(input: buf.middle, gain: p.norm2Gain, bias: p.norm2Bias, output: buf.norm2,
                          mean: buf.norm2Mean, rstd: buf.norm2Rstd, epsilon: eps, rows: t)
        linear(buf.norm2, p.ffnInput, into: buf.ffnUp, rows: t)
        let up = buf.ffnUp.prefixRows(t), act = buf.ffnActivation.prefixRows(t)
        backend.geluForward(input: up, output: act, gated: c.feedForward == .gatedGELU)
        y.base.update(from: buf.middle.base, count: t * c.hidden)
        linear(buf.ffnActivation, p.ffnOutput, into: y, rows: t, accumulate: true, scale: s)
    }

    private func runBackward(_ batch: MaskedLMBatch) {
        let a = buffers, w = weights, m = pass.masked
        // Head: the logits buffer now holds dLoss/dlogits.
        linearBackwardInput(a.logits, w.token, into: a.dHeadDense, rows: m)
        linearBackwardWeight(a.logits, a.headDense, into: w.dToken, rows: m)
        linearBackwardWeight(a.dHeadDense, a.headNorm, into: w.dHeadDense, rows: m)
        linearBackwardInput(a.dHeadDense, w.headDense, into: a.dHeadNorm, rows: m)
        batch.maskedPositions.withUnsafeBufferPointer { positions in
            finalNormRowsBackward(a.dHeadNorm, positions.baseAddress!, count: m)
        }
        encodeBackward(batch)
    }

    /// Backward through the active layers and the embedding, from the encoder output's gradient
    /// set by `finalNormRowsBackward`; accumulates into the parameter gradients.
    func encodeBackward(_ batch: MaskedLMBatch) {
        let c = config, a = buffers, w = weights
        let b = pass.sequences, s = c.sequenceLength, t = b * s, h = c.hidden
        let attention = Attention(batch: c.microBatch, sequence: s, heads: c.heads, hidden: h)
        for (slot, layer) in pass.active.enumerated().reversed() {
            // Frozen layers are a bottom block: the backward pass ends above the first one met.
            if layer < pass.controls.frozenBelow { return }
            backwardLayer(x: a.residual[slot], buf: a.layers[slot], p: w.layers[layer], g: w.layerGradients[layer],
                          rows: t, sequences: b, attention: attention, scale: pass.controls.outputScales?[layer] ?? 1)
        }
        if pass.controls.frozenBelow > 0 { return }
        a.dHidden.base.update(repeating: 0, count: t * h)
        backend.layerNormBackward(dOutput: a.dResidual, input: a.embeddingSum, gain: w.embeddingNormGain, mean: a.embeddingMean,
                           rstd: a.embeddingRstd, dInput: a.dHidden, dGain: w.dEmbeddingNormGain,
                           dBias: w.dEmbeddingNormBias, rows: t)
        batch.tokens.withUnsafeBufferPointer { tokens in
            backend.embeddingBackward(dOutput: a.dHidden, tokens: tokens.baseAddress!, rows: t, sequence: s,
                               sinusoids: a.sinusoids, dTable: w.dToken, dPositionScale: w.dPositionScale)
        }
    }

    /// `dResidual` holds the gradient of the layer's output; on return, of its input.
    private func backwardLayer(x: Tensor, buf: EncoderActivations.Layer, p: Weights.Layer, g: Weights.Layer,
                               rows t: Int, sequences b: Int, attention: Attention, scale s: Float) {
        let a = buffers, dy = a.dResidual
        // Feed-forward branch (its output was scaled by s).
        linearBackwardWeight(dy, buf.ffnActivation, into: g.ffnOutput, rows: t, scale: s)
        linearBackwardInput(dy, p.ffnOutput, into: a.dFfnActivation, rows: t, scale: s)
        let up = buf.ffnUp.prefixRows(t), dUp = a.dFfnUp.prefixRows(t), dAct = a.dFfnActivation.prefixRows(t)
        backend.geluBackward(input: up, dOutput: dAct, dInput: dUp, gated: config.feedForward == .gatedGELU)
        linearBackwardWeight(a.dFfnUp, buf.norm2, into: g.ffnInput, rows: t)
        linearBackwardInput(a.dFfnUp, p.ffnInput, into: a.dHidden, rows: t)
        backend.layerNormBackward(dOutput: a.dHidden, input: buf.middle, gain: p.norm2Gain, mean: buf.norm2Mean,
                           rstd: buf.norm2Rstd, dInput: dy, dGain: g.norm2Gain, dBias: g.norm2Bias, rows: t)
        // Attention branch (scaled by s too).
        linearBackwardWeight(dy, buf.context, into: g.attentionOutput, rows: t, scale: s)
        linearBackwardInput(dy, p.attentionOutput, into: a.dHidden, rows: t, scale: s)
        backend.attentionBackward(attention, dContext: a.dHidden, qkv: buf.qkv, probabilities: buf.probabilities,
                           dProbabilities: a.dProbabilities, dQKV: a.dQKV, batchRows: b)
        linearBackwardWeight(a.dQKV, buf.norm1, into: g.qkv, rows: t)
        linearBackwardInput(a.dQKV, p.qkv, into: a.dHidden, rows: t)
        backend.layerNormBackward(dOutput: a.dHidden, input: x, gain: p.norm1Gain, mean: buf.norm1Mean,
                           rstd: buf.norm1Rstd, dInput: dy, dGain: g.norm1Gain, dBias: g.norm1Bias, rows: t)
    }

    private func summarise(positions: UnsafeBufferPointer<Int32>, sequences b: Int) -> Loss {
        let a = buffers, s = config.sequenceLength
        a.perExampleLoss.base.update(repeating: 0, count: b)
        a.perExampleCount.base.update(repeating: 0, count: b)
        var total: Double = 0
        for (i, p) in positions.enumerated() {
            let loss = a.rowLosses.base[i]
            a.perExampleLoss.base[Int(p) / s] += loss
            a.perExampleCount.base[Int(p) / s] += 1
            total += Double(loss)
        }
        return PassLoss(sum: total, targetTokens: positions.count)
    }

    // MARK: - Linear layers (y = x·Wᵀ, W stored [out, in] as in PyTorch)

    private func linear(_ x: Tensor, _ w: Tensor, into y: Tensor, rows: Int, accumulate: Bool = false, scale: Float = 1) {
        backend.linear(x, w, into: y, rows: rows, accumulate: accumulate, scale: scale)
    }

    private func linearBackwardInput(_ dy: Tensor, _ w: Tensor, into dx: Tensor, rows: Int, scale: Float = 1) {
        backend.linearBackwardInput(dy, w, into: dx, rows: rows, scale: scale)
    }

    private func linearBackwardWeight(_ dy: Tensor, _ x: Tensor, into dw: Tensor, rows: Int, scale: Float = 1) {
        backend.linearBackwardWeight(dy, x, into: dw, rows: rows, scale: scale)
    }
}

/// Bookkeeping of the last forward pass.
struct PassState {
    var active: [Int] = []
    var sequences = 0
    var masked = 0
    var sampledLabels: [Int32] = []
    /// The controls of the forward/backward pass in progress (none for a forward-only pass).
    var controls = PassControls.none

    mutating func setActive(_ layers: [Int]?, depth: Int) {
        if let layers {
            precondition(layers.allSatisfy { (0..<depth).contains($0) } && Set(layers).count == layers.count,
                         "active layers \(layers) must be distinct indices below \(depth)")
            if active != layers { active = layers }
        } else if !active.elementsEqual(0..<depth) {  // compared in place: building 0..<depth would allocate each step
            active = Array(0..<depth)
        }
    }
}
