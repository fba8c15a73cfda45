/// Multi-head scaled dot-product self-attention with a key-padding mask, forward and backward.
///
/// Layout: `qkv` is `[batch·seq, 3·hidden]` with Q, K and V side by side and head `h` at columns
/// `h·d ..< (h+1)·d` of each; `context` is `[batch·seq, hidden]`. Padding is always a suffix, so
/// a sequence's mask is its valid length: keys at or beyond it get zero probability. The per-head
/// products are small (seq × seq × d), so each runs single-threaded and the (batch, head) pairs
/// are spread over threads instead.
public struct Attention {
    public let batch: Int
    public let sequence: Int
    public let heads: Int
    public let hidden: Int

    public init(batch: Int, sequence: Int, heads: Int, hidden: Int) {
        precondition(hidden % heads == 0, "heads (\(heads)) must divide hidden (\(hidden))")
        self.batch = batch
        self.sequence = sequence
        self.heads = heads
        self.hidden = hidden
    }

    var headSize: Int { hidden / heads }

    /// Writes `context` and the attention probabilities `probabilities` `[batch, heads, seq, seq]`.
    /// `validLengths[b]` is the number of non-padding tokens of sequence `b` (at least 1).
    public func forward(
        qkv: Tensor, validLengths: UnsafePointer<Int32>, probabilities: Tensor, context: Tensor,
        batchRows: Int? = nil, library: MatrixLibrary = .openBLAS, precision: Precision = .fp32
    ) {
        let s = sequence, h = hidden, d = headSize, nh = heads
        let scale = 1 / Float(d).squareRoot()
        let pairs = (batchRows ?? batch) * nh
        let qkvBase = qkv.base, pBase = probabilities.base, ctx = context.base
        ComputeThreads.forEachChunk(of: pairs) { _, range in
            for pair in range {
                let b = pair / nh, head = pair % nh
                let q = qkvBase + b * s * 3 * h + head * d
                let k = q + h, v = q + 2 * h
                let p = pBase + pair * s * s
                GEMM.serial(false, true, s, s, d, scale, q, 3 * h, k, 3 * h, 0, p, s, library: library, precision: precision)
                Self.maskedSoftmaxRows(p, rows: s, columns: s, valid: Int(validLengths[b]))
                GEMM.serial(false, false, s, d, s, 1, p, s, v, 3 * h, 0, ctx + b * s * h + head * d, h, library: library, precision: precision)
            }
        }
    }

    /// Overwrites `dQKV` from `dContext`; `dProbabilities` is scratch of the probabilities' shape.
    public func backward(
        dContext: Tensor, qkv: Tensor, probabilities: Tensor, dProbabilities: Tensor, dQKV: Tensor,
        batchRows: Int? = nil, library: MatrixLibrary = .openBLAS, precision: Precision = .fp32
    ) {
        let s = sequence, h = hidden, d = headSize, nh = heads
        let scale = 1 / Float(d).squareRoot()
        let pairs = (batchRows ?? batch) * nh
        let qkvBase = qkv.base, pBase = probabilities.base, dpBase = dProbabilities.base
        let dctx = dContext.base, dqkv = dQKV.base
        ComputeThreads.forEachChunk(of: pairs) { _, range in
            for pair in range {
                let b = pair / nh, head = pair % nh
                let offset = b * s * 3 * h + head * d
                let q = qkvBase + offset, k = q + h, v = q + 2 * h
                let dq = dqkv + offset, dk = dq + h, dv = dq + 2 * h
                let p = pBase + pair * s * s, dp = dpBase + pair * s * s
                let dc = dctx + b * s * h + head * d
                GEMM.serial(false, true, s, s, d, 1, dc, h, v, 3 * h, 0, dp, s, library: library, precision: precision)
                GEMM.serial(true, false, s, d, s, 1, p, s, dc, h, 0, dv, 3 * h, library: library, precision: precision)
                // Softmax backward: dS = P ⊙ (dP − rowsum(P ⊙ dP)).
                for i in 0..<s {
                    let pr = p + i * s, dr = dp + i * s
                    var dot: Float = 0
                    for j in 0..<s { dot += pr[j] * dr[j] }
                    for j in 0..<s { dr[j] = pr[j] * (dr[j] - dot) }
                }
                GEMM.serial(false, false, s, d, s, scale, dp, s, k, 3 * h, 0, dq, 3 * h, library: library, precision: precision)
                GEMM.serial(true, false, s, d, s, scale, dp, s, q, 3 * h, 0, dk, 3 * h, library: library, precision: precision)
            }
        }
    }

    /// Row-wise softmax over the first `valid` columns; the rest become exactly zero.
    ///
    /// The exponentials and the scaling run as separate loops so they vectorise; only the sum
    /// stays a sequential loop, which keeps its order (and so every probability) the same as a
    /// plain scalar softmax.
    @inline(__always)
    static func maskedSoftmaxRows(_ p: UnsafeMutablePointer<Float>, rows: Int, columns: Int, valid: Int) {
        for i in 0..<rows {
            let row = p + i * columns
            let maximum = rowMaximum(row, count: valid)
            for j in 0..<valid { row[j] = FastMath.exp(row[j] - maximum) }
            var sum: Float = 0
            for j in 0..<valid { sum += row[j] }
            let inverse = 1 / sum
            for j in 0..<valid { row[j] *= inverse }
            for j in valid..<columns { row[j] = 0 }
        }
    }

    /// The largest of `count` values, in eight lanes (a maximum does not depend on the order).
    @inline(__always)
    static func rowMaximum(_ row: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(repeating: -.infinity)
        var j = 0
        while j + 8 <= count {
            lanes = pointwiseMax(lanes, UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self))
            j += 8
        }
        var maximum = lanes.max()
        while j < count { maximum = Swift.max(maximum, row[j]); j += 1 }
        return maximum
    }
}
