import Foundation

/// T5's relative position buckets (`_relative_position_bucket` of the T5 code and of Hugging
/// Face's port): offsets below half the buckets (of one direction) get a bucket each, larger
/// ones share logarithmically wider buckets up to `maxDistance`, beyond which all share the last.
/// Bidirectional (the encoder) gives the second half of the buckets to keys after the query;
/// causal (the decoder) sees only keys at or before it.
public enum RelativePosition {
    /// The bucket of a key at `relative = key − query` positions from its query.
    public static func bucket(relative: Int, bidirectional: Bool, buckets: Int, maxDistance: Int) -> Int {
        var buckets = buckets, result = 0, n: Int
        if bidirectional {
            buckets /= 2
            if relative > 0 { result += buckets }
            n = abs(relative)
        } else {
            n = Swift.max(-relative, 0)
        }
        let maxExact = buckets / 2
        if n < maxExact { return result + n }
        // Float32 as in the reference code, so boundary offsets land in the same bucket.
        let ratio = Foundation.log(Float(n) / Float(maxExact)) / Foundation.log(Float(maxDistance) / Float(maxExact))
        return result + Swift.min(maxExact + Int(ratio * Float(buckets - maxExact)), buckets - 1)
    }

    /// The `[queries × keys]` table of buckets, row-major by query.
    public static func buckets(queries: Int, keys: Int, bidirectional: Bool, buckets: Int, maxDistance: Int) -> [Int32] {
        var out = [Int32](repeating: 0, count: queries * keys)
        for i in 0..<queries {
            for j in 0..<keys {
                out[i * keys + j] = Int32(bucket(relative: j - i, bidirectional: bidirectional, buckets: buckets, maxDistance: maxDistance))
            }
        }
        return out
    }
}

/// Multi-head attention as T5 computes it, forward and backward: scores `Q·Kᵀ` without the
/// 1/√d factor (T5 folds it into the query's initialisation), plus an optional learned bias per
/// head and relative-position bucket, an optional causal mask, softmax, and `P·V`.
///
/// Queries and keys may come from different sequences (cross-attention: the decoder's queries,
/// the encoder's keys and values). Layout: `queries` is `[batch·queryLength, ≥ hidden]` with Q in
/// its first `hidden` columns; `keysValues` is `[batch·keyLength, …]` with K at columns
/// `keyColumn ..< keyColumn + hidden` and V right after, so self-attention passes one packed QKV
/// tensor for both (`keyColumn` = hidden) and cross-attention a Q tensor and a KV tensor
/// (`keyColumn` = 0). Head `h` owns columns `h·d ..< (h+1)·d` of each. No padding: every
/// sequence is full length, as span corruption makes them. The per-head products run
/// single-threaded and the (batch, head) pairs are spread over threads, as in ``Attention``.
public struct RelativeAttention {
    public let queryLength: Int
    public let keyLength: Int
    public let heads: Int
    public let hidden: Int
    public let keyColumn: Int
    /// Each query sees only keys at or before its own position (decoder self-attention).
    public let causal: Bool
    /// Per batch row, how many leading keys are real (nil: all): padded sources, whose padding
    /// positions get probability 0, and so no gradient, in every query's row.
    public var keyCounts: [Int32]?

    /// A learned bias per (bucket, head), `table` `[buckets, heads]`, looked up through
    /// `buckets` `[queryLength × keyLength]` (``RelativePosition/buckets(queries:keys:bidirectional:buckets:maxDistance:)``).
    public struct PositionBias {
        public let table: Tensor
        public let buckets: UnsafePointer<Int32>
        public init(table: Tensor, buckets: UnsafePointer<Int32>) {
            self.table = table
            self.buckets = buckets
        }
    }

    public init(queryLength: Int, keyLength: Int, heads: Int, hidden: Int, keyColumn: Int, causal: Bool) {
        precondition(hidden % heads == 0, "heads (\(heads)) must divide hidden (\(hidden))")
        precondition(!causal || queryLength <= keyLength, "a causal mask needs at least as many keys as queries")
        self.queryLength = queryLength
        self.keyLength = keyLength
        self.heads = heads
        self.hidden = hidden
        self.keyColumn = keyColumn
        self.causal = causal
    }

    var headSize: Int { hidden / heads }

    /// Keys query `i` sees.
    @inline(__always) func visibleKeys(_ i: Int) -> Int { causal ? i + 1 : keyLength }

    /// Keys query `i` of batch row `b` sees.
    @inline(__always) func visibleKeys(_ i: Int, row b: Int) -> Int {
        guard let keyCounts else { return visibleKeys(i) }
        return Swift.min(visibleKeys(i), Int(keyCounts[b]))
    }

    /// Writes `context` `[batch·queryLength, hidden]` and the probabilities `[batch, heads, queryLength, keyLength]`.
    public func forward(queries: Tensor, keysValues: Tensor, bias: PositionBias?, probabilities: Tensor, context: Tensor,
                        batchRows: Int, library: MatrixLibrary = .openBLAS, precision: Precision = .fp32) {
        let sq = queryLength, sk = keyLength, h = hidden, d = headSize, nh = heads
        let ldq = queries.columns, ldkv = keysValues.columns
        let qBase = queries.base, kvBase = keysValues.base, pBase = probabilities.base, ctx = context.base
        let table = bias?.table.base, buckets = bias?.buckets
        ComputeThreads.forEachChunk(of: batchRows * nh) { _, range in
            for pair in range {
                let b = pair / nh, head = pair % nh
                let q = qBase + b * sq * ldq + head * d
                let k = kvBase + b * sk * ldkv + keyColumn + head * d, v = k + h
                let p = pBase + pair * sq * sk
                GEMM.serial(false, true, sq, sk, d, 1, q, ldq, k, ldkv, 0, p, sk, library: library, precision: precision)
                if let table, let buckets {
                    for idx in 0..<sq * sk { p[idx] += table[Int(buckets[idx]) * nh + head] }
                }
                for i in 0..<sq { Attention.maskedSoftmaxRows(p + i * sk, rows: 1, columns: sk, valid: visibleKeys(i, row: b)) }
                GEMM.serial(false, false, sq, d, sk, 1, p, sk, v, ldkv, 0, ctx + b * sq * h + head * d, h, library: library, precision: precision)
            }
        }
    }

    /// Overwrites Q's columns of `dQueries` and K's and V's of `dKeysValues` (which may be the
    /// same tensor in self-attention), and accumulates (`+=`) the bias table's gradient into
    /// `dBiasTable` when given. `dProbabilities` is scratch of the probabilities' shape.
    public func backward(dContext: Tensor, queries: Tensor, keysValues: Tensor, probabilities: Tensor, dProbabilities: Tensor,
                         dQueries: Tensor, dKeysValues: Tensor, bias: (dTable: Tensor, buckets: UnsafePointer<Int32>)?,
                         batchRows: Int, library: MatrixLibrary = .openBLAS, precision: Precision = .fp32) {
        let sq = queryLength, sk = keyLength, h = hidden, d = headSize, nh = heads
        let ldq = queries.columns, ldkv = keysValues.columns
        let qBase = queries.base, kvBase = keysValues.base, pBase = probabilities.base, dpBase = dProbabilities.base
        let dctx = dContext.base, dqBase = dQueries.base, dkvBase = dKeysValues.base
        ComputeThreads.forEachChunk(of: batchRows * nh) { _, range in
            for pair in range {
                let b = pair / nh, head = pair % nh
                let q = qBase + b * sq * ldq + head * d, dq = dqBase + b * sq * ldq + head * d
                let kOffset = b * sk * ldkv + keyColumn + head * d
                let k = kvBase + kOffset, v = k + h, dk = dkvBase + kOffset, dv = dk + h
                let p = pBase + pair * sq * sk, dp = dpBase + pair * sq * sk
                let dc = dctx + b * sq * h + head * d
                GEMM.serial(false, true, sq, sk, d, 1, dc, h, v, ldkv, 0, dp, sk, library: library, precision: precision)
                GEMM.serial(true, false, sk, d, sq, 1, p, sk, dc, h, 0, dv, ldkv, library: library, precision: precision)
                // Softmax backward, dS = P ⊙ (dP − rowsum(P ⊙ dP)); masked keys have P = 0, so dS = 0.
                for i in 0..<sq {
                    let pr = p + i * sk, dr = dp + i * sk
                    var dot: Float = 0
                    for j in 0..<sk { dot += pr[j] * dr[j] }
                    for j in 0..<sk { dr[j] = pr[j] * (dr[j] - dot) }
                }
                GEMM.serial(false, false, sq, d, sk, 1, dp, sk, k, ldkv, 0, dq, ldq, library: library, precision: precision)
                GEMM.serial(true, false, sk, d, sq, 1, dp, sk, q, ldq, 0, dk, ldkv, library: library, precision: precision)
            }
        }
        guard let (dTable, buckets) = bias else { return }
        // The bias is shared by every sequence: sum dS over the batch, head by head (each thread
        // owns a head's column of the table), in a fixed order so the result never depends on
        // the thread count.
        let dt = dTable.base
        ComputeThreads.forEachChunk(of: nh) { _, headRange in
            for head in headRange {
                for b in 0..<batchRows {
                    let ds = dpBase + (b * nh + head) * sq * sk
                    for idx in 0..<sq * sk { dt[Int(buckets[idx]) * nh + head] += ds[idx] }
                }
            }
        }
    }
}
