import TensorCore

/// T5 v1.1 as nanoT5 trains it: an encoder and a decoder of `layers` blocks each, RMS norm (no
/// mean, no bias) before every sub-layer and after each stack, bias-free linears, the gated-GELU
/// feed-forward, a relative position bias in **every** self-attention block (the paper's
/// `share_positional_bias: False`; Hugging Face T5 has one in block 0 only), none in
/// cross-attention, causal decoder self-attention, a token embedding shared by both stacks, an
/// untied LM head (no d_model^-½ rescaling, which T5 applies only to a tied head) and no dropout.
///
/// Block `l` is encoder layer `l` and decoder layer `l`: the methods the paper ran on T5 act on
/// both stacks with one index set, so `activeLayers` and output scales address blocks, and each
/// block's parameters carry its index as `layer`.
public final class T5Model {
    public private(set) var config: ModelConfig
    public private(set) var parameters: ParameterStore
    public let backend: any ComputeBackend
    private var arena: TensorArena
    var buffers: T5Activations
    var weights: T5Weights
    private var gradients: T5Weights
    /// `[S × S]` encoder and `[T × T]` decoder relative-position buckets, fixed by the shape.
    private var encoderBuckets: [Int32]
    private var decoderBuckets: [Int32]
    var pass = PassState()

    /// A freshly initialised model (T5's initialisation, see ``initialise(_:in:config:seed:)``).
    public init(config: ModelConfig, seed: UInt64, backend: any ComputeBackend = CPUBackend.shared) throws {
        guard config.encoderDecoder != nil else {
            throw ModelConfigError.invalid(preset: config.name, "a T5 model needs an encoder–decoder preset (t5-tiny, t5-small, t5-base)")
        }
        try config.validate()
        self.config = config
        self.backend = backend
        parameters = ParameterStore(Self.parameterSpecs(config))
        (arena, buffers) = backend.layout { T5Activations(config: config, arena: $0) }
        weights = T5Weights(parameters.value, layers: config.layers)
        gradients = T5Weights(parameters.gradient, layers: config.layers)
        (encoderBuckets, decoderBuckets) = Self.buckets(config)
        pass.sampledLabels = Array(repeating: 0, count: config.microBatch * config.encoderDecoder!.targetLength)
        for e in parameters.entries { Self.initialise(e, in: parameters, config: config, seed: seed) }
    }

    /// Swaps in a new shape and parameter store, laying out buffers for it.
    func replace(config newConfig: ModelConfig, parameters store: ParameterStore) {
        config = newConfig
        parameters = store
        (arena, buffers) = backend.layout { T5Activations(config: newConfig, arena: $0) }
        weights = T5Weights(store.value, layers: newConfig.layers)
        gradients = T5Weights(store.gradient, layers: newConfig.layers)
        pass = PassState()
        pass.sampledLabels = Array(repeating: 0, count: newConfig.microBatch * shape.targetLength)
    }

    private static func buckets(_ c: ModelConfig) -> ([Int32], [Int32]) {
        let t5 = c.encoderDecoder!, s = c.sequenceLength, t = t5.targetLength
        return (RelativePosition.buckets(queries: s, keys: s, bidirectional: true, buckets: t5.relativeBuckets, maxDistance: t5.relativeMaxDistance),
                RelativePosition.buckets(queries: t, keys: t, bidirectional: false, buckets: t5.relativeBuckets, maxDistance: t5.relativeMaxDistance))
    }

    /// Bytes of activation and scratch memory laid out for the current shape.
    public var activationBytes: Int { arena.bytes }
    var shape: EncoderDecoderShape { config.encoderDecoder! }

    // MARK: - Parameters

    static func encoderPrefix(_ layer: Int) -> String { "encoder.layers.\(layer)." }
    static func decoderPrefix(_ layer: Int) -> String { "decoder.layers.\(layer)." }

    static func parameterSpecs(_ c: ModelConfig) -> [(name: String, shape: [Int], layer: Int?, kind: ParameterKind)] {
        let h = c.hidden, t5 = c.encoderDecoder!, v = t5.modelVocabulary(c.vocabularySize)
        let bias = [t5.relativeBuckets, c.heads]
        var specs: [(name: String, shape: [Int], layer: Int?, kind: ParameterKind)] = [("embedding.token", [v, h], nil, .embedding)]
        for l in 0..<c.layers {
            let p = encoderPrefix(l)
            specs += [
                (p + "attention_norm.gain", [h], l, .normGain),
                (p + "attention.qkv.weight", [3 * h, h], l, .matrix),
                (p + "attention.relative_bias", bias, l, .embedding),
                (p + "attention.output.weight", [h, h], l, .matrix),
                (p + "ffn_norm.gain", [h], l, .normGain),
                (p + "ffn.input.weight", [c.ffn, h], l, .matrix),
                (p + "ffn.output.weight", [h, c.ffnOutputWidth], l, .matrix),
            ]
        }
        specs.append(("encoder.final_norm.gain", [h], nil, .normGain))
        for l in 0..<c.layers {
            let p = decoderPrefix(l)
            specs += [
                (p + "self_attention_norm.gain", [h], l, .normGain),
                (p + "self_attention.qkv.weight", [3 * h, h], l, .matrix),
                (p + "self_attention.relative_bias", bias, l, .embedding),
                (p + "self_attention.output.weight", [h, h], l, .matrix),
                (p + "cross_attention_norm.gain", [h], l, .normGain),
                (p + "cross_attention.query.weight", [h, h], l, .matrix),
                (p + "cross_attention.key_value.weight", [2 * h, h], l, .matrix),
                (p + "cross_attention.output.weight", [h, h], l, .matrix),
                (p + "ffn_norm.gain", [h], l, .normGain),
                (p + "ffn.input.weight", [c.ffn, h], l, .matrix),
                (p + "ffn.output.weight", [h, c.ffnOutputWidth], l, .matrix),
            ]
        }
        specs += [("decoder.final_norm.gain", [h], nil, .normGain), ("head.weight", [v, h], nil, .matrix)]
        return specs
    }

    /// T5's (Mesh TensorFlow's) initialisation, factor 1: embedding and head N(0, 1); queries
    /// N(0, (H·d)^-½), keys, values, attention outputs, feed-forward inputs and the position
    /// biases N(0, H^-½); feed-forward outputs N(0, d_ff^-½); norm gains 1. Each tensor draws
    /// from its own stream keyed by its name.
    static func initialise(_ e: ParameterInfo, in store: ParameterStore, config c: ModelConfig, seed: UInt64) {
        let t = store.value(e.name)
        if e.kind == .normGain { t.buffer.update(repeating: 1); return }
        let h = Float(c.hidden), d = Float(c.hidden / c.heads)
        let modelScale = 1 / h.squareRoot(), queryScale = 1 / (h * d).squareRoot()
        // Standard deviation of row r of the tensor.
        let std: (Int) -> Float
        switch e.name {
        case "embedding.token", "head.weight": std = { _ in 1 }
        case let n where n.hasSuffix("qkv.weight"): std = { $0 < c.hidden ? queryScale : modelScale }
        case let n where n.hasSuffix("query.weight"): std = { _ in queryScale }
        case let n where n.hasSuffix("ffn.output.weight"): std = { _ in 1 / Float(c.ffnOutputWidth).squareRoot() }
        default: std = { _ in modelScale }
        }
        var rng = SplitMix64(seed: SplitMix64.mix(seed ^ SplitMix64.stableHash(e.name)))
        let columns = t.columns
        for i in 0..<t.count { t.base[i] = rng.nextNormal() * std(i / columns) }
    }

    // MARK: - Passes

    /// Forward pass only: the loss over every target token, with per-example losses readable
    /// from `perExampleLoss`. `activeLayers` lists the blocks to run (nil = all).
    @discardableResult
    public func forward(_ batch: SpanCorruptionBatch, activeLayers: [Int]? = nil, targets: LossTargets = .labels,
                        controls: PassControls = .none) -> PassLoss {
        pass.controls = controls
        defer { pass.controls = .none }
        return runForward(batch, activeLayers: activeLayers, targets: targets, gradientScale: nil)
    }

    /// Forward and backward: accumulates (`+=`) into `parameters.gradients` the gradient of
    /// `gradientScale × Σ target-token losses` (nil: this batch's own mean).
    ///
    /// A frozen bottom block (`controls.frozenBelow`) is not supported: the encoder's gradient
    /// reaches it through every decoder block's cross-attention, frozen ones included, so stopping
    /// the decoder's backward pass early would give the encoder a wrong gradient. The workload
    /// refuses it before a pass.
    @discardableResult
    public func forwardBackward(_ batch: SpanCorruptionBatch, activeLayers: [Int]? = nil, targets: LossTargets = .labels,
                                gradientScale: Float? = nil, controls: PassControls = .none) -> PassLoss {
        precondition(controls.frozenBelow == 0, "T5 has no frozen bottom block; the workload refuses it")
        let scale = gradientScale ?? 1 / Float(Swift.max(batch.targetCount, 1))
        pass.controls = controls
        defer { pass.controls = .none }
        let loss = runForward(batch, activeLayers: activeLayers, targets: targets, gradientScale: scale)
        if let weights = controls.rowWeights { weighRows(batch, weights) }
        runBackward(batch)
        return loss
    }

    /// Per-example summed loss of the last pass, `[sequences]`.
    public var perExampleLoss: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: buffers.perExampleLoss.base, count: pass.sequences) }
    /// Per-example target-token count of the last pass.
    public var perExampleTargetCount: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: buffers.perExampleCount.base, count: pass.sequences) }
    /// The labels the last `.sampledFromModel` pass drew.
    public var sampledLabels: ArraySlice<Int32> { pass.sampledLabels[0..<pass.masked] }

    private func runForward(_ batch: SpanCorruptionBatch, activeLayers: [Int]?, targets: LossTargets, gradientScale: Float?) -> PassLoss {
        let b = batch.sequences, tl = shape.targetLength, u = b * tl
        precondition(b <= config.microBatch && batch.inputLength == config.sequenceLength && batch.targetLength == tl,
                     "batch does not fit the model's buffers; call SpanCorruptionBatch.validate(for:) first")
        pass.setActive(activeLayers, depth: config.layers)
        pass.sequences = b
        pass.masked = u
        encode(batch)
        decode(batch)
        let a = buffers
        backend.linear(a.decoderOutput, weights.head, into: a.logits, rows: u, accumulate: false)
        switch targets {
        case .labels:
            batch.targets.withUnsafeBufferPointer { labels in
                backend.softmaxCrossEntropy(logits: a.logits, rows: u, labels: .given(labels.baseAddress!), losses: a.rowLosses.base,
                                            gradientScale: gradientScale)
            }
        case .sampledFromModel(let seed):
            pass.sampledLabels.withUnsafeMutableBufferPointer { into in
                backend.softmaxCrossEntropy(logits: a.logits, rows: u, labels: .sampled(seed: seed, into: into.baseAddress!),
                                            losses: a.rowLosses.base, gradientScale: gradientScale)
            }
        }
        var total: Double = 0
        let v = a.logits.columns
        for row in 0..<b {
            // Padded target positions leave the loss and the gradient.
            let valid = batch.targetLengths.map { Int($0[row]) } ?? tl
            for i in row * tl + valid ..< (row + 1) * tl {
                a.rowLosses.base[i] = 0
                if gradientScale != nil { (a.logits.base + i * v).update(repeating: 0, count: v) }
            }
            var sum: Float = 0
            for i in row * tl ..< (row + 1) * tl { sum += a.rowLosses.base[i] }
            a.perExampleLoss.base[row] = sum
            a.perExampleCount.base[row] = Float(valid)
            total += Double(sum)
        }
        return PassLoss(sum: total, targetTokens: batch.targetCount)
    }

    /// Scales each target's logit gradient by its row's weight (the loss stays unweighted).
    private func weighRows(_ batch: SpanCorruptionBatch, _ rowWeights: [Float]) {
        precondition(rowWeights.count == batch.sequences, "\(rowWeights.count) row weights for \(batch.sequences) rows")
        let v = buffers.logits.columns, tl = shape.targetLength, z = buffers.logits.base
        for (row, w) in rowWeights.enumerated() where w != 1 {
            for i in row * tl * v ..< (row + 1) * tl * v { z[i] *= w }
        }
    }

    private func scale(_ layer: Int) -> Float { pass.controls.outputScales?[layer] ?? 1 }

    /// Embedding, the active encoder layers and the final norm: `encoderOutput`.
    func encode(_ batch: SpanCorruptionBatch) {
        let c = config, a = buffers, b = batch.sequences, t = b * c.sequenceLength, eps = c.layerNormEpsilon
        var attention = RelativeAttention(queryLength: c.sequenceLength, keyLength: c.sequenceLength, heads: c.heads, hidden: c.hidden,
                                          keyColumn: c.hidden, causal: false)
        batch.inputs.withUnsafeBufferPointer { backend.embeddingLookup(tokens: $0.baseAddress!, rows: t, table: weights.token, output: a.encoderResidual[0]) }
        attention.keyCounts = batch.inputLengths
        encoderBuckets.withUnsafeBufferPointer { buckets in
            for (slot, layer) in pass.active.enumerated() {
                let x = a.encoderResidual[slot], y = a.encoderResidual[slot + 1], buf = a.encoderLayers[slot], p = weights.encoder[layer]
                let s = scale(layer)
                backend.rmsNormForward(input: x, gain: p.norm1, output: buf.norm1, rstd: buf.norm1Rstd, epsilon: eps, rows: t)
                backend.linear(buf.norm1, p.qkv, into: buf.qkv, rows: t, accumulate: false)
                backend.relativeAttentionForward(attention, queries: buf.qkv, keysValues: buf.qkv,
                                                 bias: .init(table: p.relativeBias, buckets: buckets.baseAddress!),
                                                 probabilities: buf.probabilities, context: buf.context, batchRows: b)
                buf.middle.base.update(from: x.base, count: t * c.hidden)
                backend.linear(buf.context, p.output, into: buf.middle, rows: t, accumulate: true, scale: s)
                feedForward(input: buf.middle, norm: buf.norm2, rstd: buf.norm2Rstd, up: buf.ffnUp, activation: buf.ffnActivation,
                            gain: p.norm2, w1: p.ffnInput, w2: p.ffnOutput, output: y, rows: t, scale: s)
            }
        }
        backend.rmsNormForward(input: a.encoderResidual[pass.active.count], gain: weights.encoderFinalNorm, output: a.encoderOutput,
                               rstd: a.encoderOutputRstd, epsilon: eps, rows: t)
    }

    /// `output = input + s·ffn(RMSNorm(input))`.
    func feedForward(input: Tensor, norm: Tensor, rstd: Tensor, up: Tensor, activation: Tensor, gain: Tensor,
                             w1: Tensor, w2: Tensor, output: Tensor, rows: Int, scale s: Float) {
        backend.rmsNormForward(input: input, gain: gain, output: norm, rstd: rstd, epsilon: config.layerNormEpsilon, rows: rows)
        backend.linear(norm, w1, into: up, rows: rows, accumulate: false)
        backend.geluForward(input: up.prefixRows(rows), output: activation.prefixRows(rows), gated: true)
        output.base.update(from: input.base, count: rows * config.hidden)
        backend.linear(activation, w2, into: output, rows: rows, accumulate: true, scale: s)
    }

    /// The decoder's active layers over the shifted targets and its final norm: `decoderOutput`.
    private func decode(_ batch: SpanCorruptionBatch) {
        let c = config, a = buffers, b = batch.sequences, tl = shape.targetLength, u = b * tl, t = b * c.sequenceLength
        let h = c.hidden, eps = c.layerNormEpsilon
        let selfAttention = RelativeAttention(queryLength: tl, keyLength: tl, heads: c.heads, hidden: h, keyColumn: h, causal: true)
        var crossAttention = RelativeAttention(queryLength: tl, keyLength: c.sequenceLength, heads: c.heads, hidden: h, keyColumn: 0, causal: false)
        batch.decoderInputs.withUnsafeBufferPointer { backend.embeddingLookup(tokens: $0.baseAddress!, rows: u, table: weights.token, output: a.decoderResidual[0]) }
        // Padded source positions are masked in cross-attention as in the encoder's self-attention.
        crossAttention.keyCounts = batch.inputLengths
        decoderBuckets.withUnsafeBufferPointer { buckets in
            for (slot, layer) in pass.active.enumerated() {
                let x = a.decoderResidual[slot], y = a.decoderResidual[slot + 1], buf = a.decoderLayers[slot], p = weights.decoder[layer]
                let s = scale(layer)
                backend.rmsNormForward(input: x, gain: p.norm1, output: buf.norm1, rstd: buf.norm1Rstd, epsilon: eps, rows: u)
                backend.linear(buf.norm1, p.qkv, into: buf.qkv, rows: u, accumulate: false)
                backend.relativeAttentionForward(selfAttention, queries: buf.qkv, keysValues: buf.qkv,
                                                 bias: .init(table: p.relativeBias, buckets: buckets.baseAddress!),
                                                 probabilities: buf.selfProbabilities, context: buf.selfContext, batchRows: b)
                buf.afterSelf.base.update(from: x.base, count: u * h)
                backend.linear(buf.selfContext, p.selfOutput, into: buf.afterSelf, rows: u, accumulate: true, scale: s)
                backend.rmsNormForward(input: buf.afterSelf, gain: p.norm2, output: buf.norm2, rstd: buf.norm2Rstd, epsilon: eps, rows: u)
                backend.linear(buf.norm2, p.query, into: buf.query, rows: u, accumulate: false)
                backend.linear(a.encoderOutput, p.keysValues, into: buf.keysValues, rows: t, accumulate: false)
                backend.relativeAttentionForward(crossAttention, queries: buf.query, keysValues: buf.keysValues, bias: nil,
                                                 probabilities: buf.crossProbabilities, context: buf.crossContext, batchRows: b)
                buf.afterCross.base.update(from: buf.afterSelf.base, count: u * h)
                backend.linear(buf.crossContext, p.crossOutput, into: buf.afterCross, rows: u, accumulate: true, scale: s)
                feedForward(input: buf.afterCross, norm: buf.norm3, rstd: buf.norm3Rstd, up: buf.ffnUp, activation: buf.ffnActivation,
                            gain: p.norm3, w1: p.ffnInput, w2: p.ffnOutput, output: y, rows: u, scale: s)
            }
        }
        backend.rmsNormForward(input: a.decoderResidual[pass.active.count], gain: weights.decoderFinalNorm, output: a.decoderOutput,
                               rstd: a.decoderOutputRstd, epsilon: eps, rows: u)
    }

    // MARK: - Backward

    private func runBackward(_ batch: SpanCorruptionBatch) {
        let a = buffers, b = pass.sequences, u = b * shape.targetLength, t = b * config.sequenceLength, h = config.hidden
        // The logits buffer holds dLoss/dlogits.
        backend.linearBackwardWeight(a.logits, a.decoderOutput, into: gradients.head, rows: u)
        backend.linearBackwardInput(a.logits, weights.head, into: a.dDecoderOutput, rows: u)
        a.dDecoder.base.update(repeating: 0, count: u * h)
        backend.rmsNormBackward(dOutput: a.dDecoderOutput, input: a.decoderResidual[pass.active.count], gain: weights.decoderFinalNorm,
                                rstd: a.decoderOutputRstd, dInput: a.dDecoder, dGain: gradients.decoderFinalNorm, rows: u)
        a.dEncoderOutput.base.update(repeating: 0, count: t * h)
        decodeBackward(batch)
        a.dEncoder.base.update(repeating: 0, count: t * h)
        backend.rmsNormBackward(dOutput: a.dEncoderOutput, input: a.encoderResidual[pass.active.count], gain: weights.encoderFinalNorm,
                                rstd: a.encoderOutputRstd, dInput: a.dEncoder, dGain: gradients.encoderFinalNorm, rows: t)
        encodeBackward(batch)
    }

    /// `dY` holds the gradient of `output = input + s·ffn(RMSNorm(input))`; on return, of `input`.
    private func feedForwardBackward(dY: Tensor, input: Tensor, norm: Tensor, rstd: Tensor, up: Tensor, activation: Tensor,
                                     gain: Tensor, w1: Tensor, w2: Tensor, g: (gain: Tensor, w1: Tensor, w2: Tensor),
                                     dUp: Tensor, dActivation: Tensor, dHidden: Tensor, rows: Int, scale s: Float) {
        backend.linearBackwardWeight(dY, activation, into: g.w2, rows: rows, scale: s)
        backend.linearBackwardInput(dY, w2, into: dActivation, rows: rows, scale: s)
        backend.geluBackward(input: up.prefixRows(rows), dOutput: dActivation.prefixRows(rows), dInput: dUp.prefixRows(rows), gated: true)
        backend.linearBackwardWeight(dUp, norm, into: g.w1, rows: rows)
        backend.linearBackwardInput(dUp, w1, into: dHidden, rows: rows)
        backend.rmsNormBackward(dOutput: dHidden, input: input, gain: gain, rstd: rstd, dInput: dY, dGain: g.gain, rows: rows)
    }

    private func decodeBackward(_ batch: SpanCorruptionBatch) {
        let c = config, a = buffers, b = pass.sequences, tl = shape.targetLength, u = b * tl, t = b * c.sequenceLength, h = c.hidden
        let selfAttention = RelativeAttention(queryLength: tl, keyLength: tl, heads: c.heads, hidden: h, keyColumn: h, causal: true)
        let crossAttention = RelativeAttention(queryLength: tl, keyLength: c.sequenceLength, heads: c.heads, hidden: h, keyColumn: 0, causal: false)
        let dy = a.dDecoder
        decoderBuckets.withUnsafeBufferPointer { buckets in
            for (slot, layer) in pass.active.enumerated().reversed() {
                let x = a.decoderResidual[slot], buf = a.decoderLayers[slot], p = weights.decoder[layer], g = gradients.decoder[layer]
                let s = scale(layer)
                feedForwardBackward(dY: dy, input: buf.afterCross, norm: buf.norm3, rstd: buf.norm3Rstd, up: buf.ffnUp,
                                    activation: buf.ffnActivation, gain: p.norm3, w1: p.ffnInput, w2: p.ffnOutput,
                                    g: (g.norm3, g.ffnInput, g.ffnOutput), dUp: a.dDecoderFfnUp, dActivation: a.dDecoderFfnActivation,
                                    dHidden: a.dDecoderHidden, rows: u, scale: s)
                // Cross-attention: queries from this stream, keys and values from the encoder output.
                backend.linearBackwardWeight(dy, buf.crossContext, into: g.crossOutput, rows: u, scale: s)
                backend.linearBackwardInput(dy, p.crossOutput, into: a.dDecoderHidden, rows: u, scale: s)
                backend.relativeAttentionBackward(crossAttention, dContext: a.dDecoderHidden, queries: buf.query, keysValues: buf.keysValues,
                                                  probabilities: buf.crossProbabilities, dProbabilities: a.dCrossProbabilities,
                                                  dQueries: a.dQuery, dKeysValues: a.dKeysValues, bias: nil, batchRows: b)
                backend.linearBackwardWeight(a.dQuery, buf.norm2, into: g.query, rows: u)
                backend.linearBackwardWeight(a.dKeysValues, a.encoderOutput, into: g.keysValues, rows: t)
                backend.linearBackwardInput(a.dKeysValues, p.keysValues, into: a.dEncoderHidden, rows: t)
                backend.accumulate(a.dEncoderHidden, into: a.dEncoderOutput, rows: t)
                backend.linearBackwardInput(a.dQuery, p.query, into: a.dDecoderHidden, rows: u)
                backend.rmsNormBackward(dOutput: a.dDecoderHidden, input: buf.afterSelf, gain: p.norm2, rstd: buf.norm2Rstd, dInput: dy,
                                        dGain: g.norm2, rows: u)
                // Causal self-attention with its position bias.
                backend.linearBackwardWeight(dy, buf.selfContext, into: g.selfOutput, rows: u, scale: s)
                backend.linearBackwardInput(dy, p.selfOutput, into: a.dDecoderHidden, rows: u, scale: s)
                backend.relativeAttentionBackward(selfAttention, dContext: a.dDecoderHidden, queries: buf.qkv, keysValues: buf.qkv,
                                                  probabilities: buf.selfProbabilities, dProbabilities: a.dSelfProbabilities,
                                                  dQueries: a.dDecoderQKV, dKeysValues: a.dDecoderQKV,
                                                  bias: (g.relativeBias, buckets.baseAddress!), batchRows: b)
                backend.linearBackwardWeight(a.dDecoderQKV, buf.norm1, into: g.qkv, rows: u)
                backend.linearBackwardInput(a.dDecoderQKV, p.qkv, into: a.dDecoderHidden, rows: u)
                backend.rmsNormBackward(dOutput: a.dDecoderHidden, input: x, gain: p.norm1, rstd: buf.norm1Rstd, dInput: dy, dGain: g.norm1, rows: u)
            }
        }
        batch.decoderInputs.withUnsafeBufferPointer {
            backend.embeddingLookupBackward(dOutput: dy, tokens: $0.baseAddress!, rows: u, dTable: gradients.token)
        }
    }

    private func encodeBackward(_ batch: SpanCorruptionBatch) {
        let c = config, a = buffers, b = pass.sequences, t = b * c.sequenceLength, h = c.hidden
        let attention = RelativeAttention(queryLength: c.sequenceLength, keyLength: c.sequenceLength, heads: c.heads, hidden: h,
                                          keyColumn: h, causal: false)
        let dy = a.dEncoder
        encoderBuckets.withUnsafeBufferPointer { buckets in
            for (slot, layer) in pass.active.enumerated().reversed() {
                let x = a.encoderResidual[slot], buf = a.encoderLayers[slot], p = weights.encoder[layer], g = gradients.encoder[layer]
                let s = scale(layer)
                feedForwardBackward(dY: dy, input: buf.middle, norm: buf.norm2, rstd: buf.norm2Rstd, up: buf.ffnUp,
                                    activation: buf.ffnActivation, gain: p.norm2, w1: p.ffnInput, w2: p.ffnOutput,
                                    g: (g.norm2, g.ffnInput, g.ffnOutput), dUp: a.dEncoderFfnUp, dActivation: a.dEncoderFfnActivation,
                                    dHidden: a.dEncoderHidden, rows: t, scale: s)
                backend.linearBackwardWeight(dy, buf.context, into: g.output, rows: t, scale: s)
                backend.linearBackwardInput(dy, p.output, into: a.dEncoderHidden, rows: t, scale: s)
                backend.relativeAttentionBackward(attention, dContext: a.dEncoderHidden, queries: buf.qkv, keysValues: buf.qkv,
                                                  probabilities: buf.probabilities, dProbabilities: a.dEncoderProbabilities,
                                                  dQueries: a.dEncoderQKV, dKeysValues: a.dEncoderQKV,
                                                  bias: (g.relativeBias, buckets.baseAddress!), batchRows: b)
                backend.linearBackwardWeight(a.dEncoderQKV, buf.norm1, into: g.qkv, rows: t)
                backend.linearBackwardInput(a.dEncoderQKV, p.qkv, into: a.dEncoderHidden, rows: t)
                backend.rmsNormBackward(dOutput: a.dEncoderHidden, input: x, gain: p.norm1, rstd: buf.norm1Rstd, dInput: dy, dGain: g.norm1, rows: t)
            }
        }
        batch.inputs.withUnsafeBufferPointer {
            backend.embeddingLookupBackward(dOutput: dy, tokens: $0.baseAddress!, rows: t, dTable: gradients.token)
        }
    }
}

extension T5Model {
    /// The per-target losses of the last pass (tests).
    func rowLossesForTesting(_ count: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: buffers.rowLosses.base, count: count) }
    /// After a forward-only pass: the softmax of each decoder position's logits, `[rows·targetLength, vocabulary]`.
    func probabilitiesForTesting(rows: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: buffers.logits.base, count: rows * shape.targetLength * buffers.logits.columns)
    }
}

extension T5Model {
    /// Rebuilds both stacks with one block per entry of `plan` (layer stacking's growth, which
    /// the paper's T5 code applies to the encoder and the decoder alike). The embedding, final
    /// norms and head carry over; gradients start at zero; buffers are laid out anew.
    public func resize(to plan: [LayerSource], seed: UInt64) throws {
        var newConfig = config
        newConfig.layers = plan.count
        try newConfig.validate()
        for case .copy(let source) in plan where !(0..<config.layers).contains(source) {
            throw ModelConfigError.invalid(preset: config.name, "resize plan copies block \(source), but the model has \(config.layers)")
        }
        let old = parameters
        let store = ParameterStore(Self.parameterSpecs(newConfig))
        for e in store.entries {
            guard let layer = e.layer else {
                store.value(e.name).base.update(from: old.value(e.name).base, count: e.count)
                continue
            }
            switch plan[layer] {
            case .copy(let source):
                let prefix = e.name.hasPrefix("encoder.") ? Self.encoderPrefix : Self.decoderPrefix
                let sourceName = prefix(source) + e.name.dropFirst(prefix(layer).count)
                store.value(e.name).base.update(from: old.value(sourceName).base, count: e.count)
            case .fresh:
                Self.initialise(e, in: store, config: newConfig, seed: seed)
            }
        }
        replace(config: newConfig, parameters: store)
    }
}
