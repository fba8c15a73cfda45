import TensorCore

/// How ``T5Model/generateGreedy(inputs:rows:settings:)`` decodes.
public struct GreedyDecoding: Sendable, Equatable {
    /// Tokens generated per row at most (the end token included).
    public var maxLength: Int
    /// The decoder's first input (T5's is the pad id).
    public var startToken: Int32
    /// A row stops after producing this token, which is not returned.
    public var endToken: Int32

    public init(maxLength: Int, startToken: Int32, endToken: Int32) {
        self.maxLength = maxLength
        self.startToken = startToken
        self.endToken = endToken
    }
}

/// Buffers of one greedy decoding of up to `rows` sequences, laid out once per call: the
/// token loop allocates nothing. Each decoder layer keeps its self-attention keys and values
/// (`selfCache`, `[rows, maxLength, 2·hidden]`) so a step computes one position, and the
/// cross-attention keys and values of the encoder's output (`crossCache`), computed once.
struct T5DecodingBuffers {
    let residual, next, norm, rstd, qkv, context, afterSelf, query, afterCross, ffnUp, ffnActivation, logits: Tensor
    let selfProbabilities, crossProbabilities: Tensor
    let selfCache, crossCache: [Tensor]
    /// One-row views the per-row attention calls read and write, made once: a view is a `Tensor`,
    /// whose shape is an array, so making them in the token loop would allocate. The cache views
    /// span the whole capacity; attention reads only its `keyLength` leading rows.
    let qkvRows, queryRows, contextRows: [Tensor]
    let selfCacheRows, crossCacheRows: [[Tensor]]

    init(config c: ModelConfig, rows b: Int, maxLength l: Int, arena: TensorArena) {
        let h = c.hidden, nh = c.heads, s = c.sequenceLength
        func a(_ shape: [Int]) -> Tensor { arena.allocate(shape) }
        residual = a([b, h]); next = a([b, h]); norm = a([b, h]); rstd = a([b]); qkv = a([b, 3 * h]); context = a([b, h])
        afterSelf = a([b, h]); query = a([b, h]); afterCross = a([b, h]); ffnUp = a([b, c.ffn]); ffnActivation = a([b, c.ffnOutputWidth])
        logits = a([b, c.encoderDecoder!.modelVocabulary(c.vocabularySize)])
        selfProbabilities = a([nh, l]); crossProbabilities = a([nh, s])
        selfCache = (0..<c.layers).map { _ in a([b * l, 2 * h]) }
        crossCache = (0..<c.layers).map { _ in a([b * s, 2 * h]) }
        func rows(_ t: Tensor, _ stride: Int, _ shape: [Int]) -> [Tensor] { (0..<b).map { Tensor(base: t.base + $0 * stride, shape: shape) } }
        qkvRows = rows(qkv, 3 * h, [1, 3 * h])
        queryRows = rows(query, h, [1, h])
        contextRows = rows(context, h, [1, h])
        selfCacheRows = selfCache.map { rows($0, l * 2 * h, [l, 2 * h]) }
        crossCacheRows = crossCache.map { rows($0, s * 2 * h, [s, 2 * h]) }
    }
}

extension T5Model {
    /// Greedy decoding of each row of `inputs` (`[rows × sequenceLength]` encoder ids, any number
    /// of rows, run a micro-batch at a time): the encoder once, then the decoder one position at a
    /// time over cached keys and values, every block active. Returns each row's generated ids, cut
    /// before the end token. Equal to re-running the full decoder over the prefix at every step
    /// (tested), at a cost linear rather than quadratic in the output length. `inputLengths`
    /// gives each row's real tokens when the inputs are padded (nil: all real).
    public func generateGreedy(inputs: [Int32], rows: Int, inputLengths: [Int32]? = nil, settings: GreedyDecoding) -> [[Int32]] {
        let s = config.sequenceLength
        precondition(inputs.count == rows * s, "\(inputs.count) input ids for \(rows) rows of \(s)")
        precondition(inputLengths.map { $0.count == rows && $0.allSatisfy { (1...Int32(s)).contains($0) } } ?? true,
                     "one input length in 1...\(s) per row")
        precondition(settings.maxLength >= 1, "maxLength must be at least 1")
        var out: [[Int32]] = []
        out.reserveCapacity(rows)
        let chunk = config.microBatch
        // The arena owns the buffers' memory: it must outlive the decoding.
        let (arena, buffers) = backend.layout { T5DecodingBuffers(config: config, rows: chunk, maxLength: settings.maxLength, arena: $0) }
        defer { withExtendedLifetime(arena) {} }
        let buckets = RelativePosition.buckets(queries: settings.maxLength, keys: settings.maxLength, bidirectional: false,
                                               buckets: shape.relativeBuckets, maxDistance: shape.relativeMaxDistance)
        var first = 0
        while first < rows {
            let n = Swift.min(chunk, rows - first)
            let lengths = inputLengths.map { Array($0[first ..< first + n]) } ?? [Int32](repeating: Int32(s), count: n)
            out += decodeChunk(Array(inputs[first * s ..< (first + n) * s]), rows: n, lengths: lengths, settings: settings,
                               buffers: buffers, buckets: buckets)
            first += n
        }
        return out
    }

    private func decodeChunk(_ inputs: [Int32], rows b: Int, lengths: [Int32], settings: GreedyDecoding, buffers g: T5DecodingBuffers,
                             buckets: [Int32]) -> [[Int32]] {
        let c = config, s = c.sequenceLength, l = settings.maxLength, eps = c.layerNormEpsilon
        // Only the encoder reads this batch; its decoder fields just have the right size.
        let unused = [Int32](repeating: settings.startToken, count: b * shape.targetLength)
        var batch = SpanCorruptionBatch(inputLength: s, targetLength: shape.targetLength, inputs: inputs, decoderInputs: unused,
                                        targets: unused, exampleIds: (0..<b).map { UInt64($0) })
        batch.inputLengths = lengths
        pass.setActive(nil, depth: c.layers)
        pass.sequences = b
        pass.controls = .none
        encode(batch)
        for (layer, p) in weights.decoder.enumerated() {
            backend.linear(buffers.encoderOutput, p.keysValues, into: g.crossCache[layer], rows: b * s, accumulate: false)
        }
        var tokens = [Int32](repeating: settings.startToken, count: b)
        var generated = [[Int32]](repeating: [], count: b)
        var finished = [Bool](repeating: false, count: b)
        buckets.withUnsafeBufferPointer { bucketTable in
            for position in 0..<l where finished.contains(false) {
                decoderStep(tokens: &tokens, position: position, rows: b, maxLength: l, sourceLengths: lengths, buffers: g,
                            buckets: bucketTable.baseAddress! + position * l, epsilon: eps)
                for row in 0..<b where !finished[row] {
                    if tokens[row] == settings.endToken { finished[row] = true } else { generated[row].append(tokens[row]) }
                }
            }
        }
        return generated
    }

    /// One decoder position for every row: reads `tokens` (the previous outputs), caches this
    /// position's keys and values, and overwrites `tokens` with the argmax of the next-token logits.
    private func decoderStep(tokens: inout [Int32], position t: Int, rows b: Int, maxLength l: Int, sourceLengths: [Int32],
                             buffers g: T5DecodingBuffers, buckets: UnsafePointer<Int32>, epsilon eps: Float) {
        let c = config, h = c.hidden, nh = c.heads
        let selfAttention = RelativeAttention(queryLength: 1, keyLength: t + 1, heads: nh, hidden: h, keyColumn: 0, causal: false)
        tokens.withUnsafeBufferPointer { backend.embeddingLookup(tokens: $0.baseAddress!, rows: b, table: weights.token, output: g.residual) }
        var x = g.residual, y = g.next
        for (layer, p) in weights.decoder.enumerated() {
            backend.rmsNormForward(input: x, gain: p.norm1, output: g.norm, rstd: g.rstd, epsilon: eps, rows: b)
            backend.linear(g.norm, p.qkv, into: g.qkv, rows: b, accumulate: false)
            let cache = g.selfCache[layer]
            for row in 0..<b {
                (cache.base + (row * l + t) * 2 * h).update(from: g.qkv.base + row * 3 * h + h, count: 2 * h)
                backend.relativeAttentionForward(selfAttention, queries: g.qkvRows[row], keysValues: g.selfCacheRows[layer][row],
                                                 bias: .init(table: p.relativeBias, buckets: buckets),
                                                 probabilities: g.selfProbabilities, context: g.contextRows[row],
                                                 batchRows: 1)
            }
            g.afterSelf.base.update(from: x.base, count: b * h)
            backend.linear(g.context, p.selfOutput, into: g.afterSelf, rows: b, accumulate: true, scale: 1)
            backend.rmsNormForward(input: g.afterSelf, gain: p.norm2, output: g.norm, rstd: g.rstd, epsilon: eps, rows: b)
            backend.linear(g.norm, p.query, into: g.query, rows: b, accumulate: false)
            for row in 0..<b {
                // One query over the row's real source positions only: its padding is not attended to.
                let n = Int(sourceLengths[row])
                let crossAttention = RelativeAttention(queryLength: 1, keyLength: n, heads: nh, hidden: h, keyColumn: 0, causal: false)
                backend.relativeAttentionForward(crossAttention, queries: g.queryRows[row], keysValues: g.crossCacheRows[layer][row],
                                                 bias: nil, probabilities: g.crossProbabilities,
                                                 context: g.contextRows[row], batchRows: 1)
            }
            g.afterCross.base.update(from: g.afterSelf.base, count: b * h)
            backend.linear(g.context, p.crossOutput, into: g.afterCross, rows: b, accumulate: true, scale: 1)
            feedForward(input: g.afterCross, norm: g.norm, rstd: g.rstd, up: g.ffnUp, activation: g.ffnActivation,
                        gain: p.norm3, w1: p.ffnInput, w2: p.ffnOutput, output: y, rows: b, scale: 1)
            swap(&x, &y)
        }
        backend.rmsNormForward(input: x, gain: weights.decoderFinalNorm, output: g.norm, rstd: g.rstd, epsilon: eps, rows: b)
        backend.linear(g.norm, weights.head, into: g.logits, rows: b, accumulate: false)
        let v = g.logits.columns
        for row in 0..<b {
            let z = g.logits.base + row * v
            var best = 0
            // The first of equal maxima, as torch.argmax and numpy.argmax choose.
            for j in 1..<v where z[j] > z[best] { best = j }
            tokens[row] = Int32(best)
        }
    }
}
