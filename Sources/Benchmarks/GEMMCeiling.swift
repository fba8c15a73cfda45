import Foundation
import Models
import TensorCore
import Clock
import Host
import Corpus

/// The sgemm throughput a training step could reach: every GEMM shape the step runs, timed alone
/// through the same `GEMM` entry point (dense ones split across threads, attention's per-head
/// products spread over (batch, head) pairs), weighted by how many FLOPs the step spends in each.
struct GEMMCeiling {
    struct Shape {
        var m, n, k: Int
        var transposeA, transposeB: Bool
        /// How many times one step runs it.
        var repeats: Int
        /// Attention's per-(batch, head) products run serially inside a parallel loop.
        var perHead: Bool
        var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(repeats) }
    }

    let config: ModelConfig
    let sequences: Int
    let masked: Int

    var shapes: [Shape] {
        let c = config, t = sequences * c.sequenceLength, h = c.hidden, l = c.layers
        let s = c.sequenceLength, d = c.hidden / c.heads, pairs = sequences * c.heads * l
        var shapes: [Shape] = []
        // Each linear y = x·Wᵀ [out, in] runs forward (N,T), input-gradient (N,N), weight-gradient (T,N).
        func linear(rows: Int, out: Int, in k: Int, repeats: Int) {
            shapes.append(Shape(m: rows, n: out, k: k, transposeA: false, transposeB: true, repeats: repeats, perHead: false))
            shapes.append(Shape(m: rows, n: k, k: out, transposeA: false, transposeB: false, repeats: repeats, perHead: false))
            shapes.append(Shape(m: out, n: k, k: rows, transposeA: true, transposeB: false, repeats: repeats, perHead: false))
        }
        // Attention of `queries` over `keys` per (batch, head): QKᵀ and P·V forward; four products backward.
        func attention(queries sq: Int, keys sk: Int) {
            shapes.append(Shape(m: sq, n: sk, k: d, transposeA: false, transposeB: true, repeats: 2 * pairs, perHead: true))
            shapes.append(Shape(m: sq, n: d, k: sk, transposeA: false, transposeB: false, repeats: 2 * pairs, perHead: true))
            shapes.append(Shape(m: sk, n: d, k: sq, transposeA: true, transposeB: false, repeats: 2 * pairs, perHead: true))
        }
        linear(rows: t, out: 3 * h, in: h, repeats: l)
        linear(rows: t, out: h, in: h, repeats: l)
        linear(rows: t, out: c.ffn, in: h, repeats: l)
        linear(rows: t, out: h, in: c.ffnOutputWidth, repeats: l)
        attention(queries: s, keys: s)
        if let t5 = c.encoderDecoder {
            // The decoder: self-attention, cross-attention (its keys and values from the encoder's
            // rows), feed-forward, then the untied head over every target.
            let tl = t5.targetLength, u = sequences * tl
            linear(rows: u, out: 3 * h, in: h, repeats: l)
            linear(rows: u, out: h, in: h, repeats: 3 * l)  // self output, cross query, cross output
            linear(rows: t, out: 2 * h, in: h, repeats: l)
            linear(rows: u, out: c.ffn, in: h, repeats: l)
            linear(rows: u, out: h, in: c.ffnOutputWidth, repeats: l)
            linear(rows: u, out: t5.modelVocabulary(c.vocabularySize), in: h, repeats: 1)
            attention(queries: tl, keys: tl)
            attention(queries: tl, keys: s)
        } else {
            linear(rows: masked, out: h, in: h, repeats: 1)
            linear(rows: masked, out: c.vocabularySize, in: h, repeats: 1)
        }
        return shapes
    }

    /// Measures each shape (median of several runs) and returns the total FLOPs and the
    /// FLOP-weighted throughput in GFLOP/s.
    func measure(threads: Int, library: MatrixLibrary = .openBLAS, precision: Precision = .fp32) -> (flops: Double, gflops: Double) {
        ComputeThreads.set(threads)
        var totalFLOPs = 0.0, totalSeconds = 0.0
        for shape in shapes {
            let ldaCount = shape.m * shape.k, ldbCount = shape.k * shape.n
            let a = [Float](repeating: 0.01, count: ldaCount), b = [Float](repeating: 0.02, count: ldbCount)
            var c = [Float](repeating: 0, count: shape.m * shape.n * (shape.perHead ? threads : 1))
            let lda = shape.transposeA ? shape.m : shape.k, ldb = shape.transposeB ? shape.k : shape.n
            let batch = shape.perHead ? max(threads * 8, 16) : 1
            var times: [Double] = []
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        let cBase = cp.baseAddress!
                        for _ in 0..<5 {
                            let start = DispatchTime.now().uptimeNanoseconds
                            if shape.perHead {
                                ComputeThreads.forEachChunk(of: batch) { chunk, range in
                                    for _ in range {
                                        GEMM.serial(shape.transposeA, shape.transposeB, shape.m, shape.n, shape.k, 1,
                                                    ap.baseAddress!, lda, bp.baseAddress!, ldb, 0,
                                                    cBase + chunk * shape.m * shape.n, shape.n, library: library, precision: precision)
                                    }
                                }
                            } else {
                                GEMM.multiply(transposeA: shape.transposeA, transposeB: shape.transposeB,
                                              m: shape.m, n: shape.n, k: shape.k, a: ap.baseAddress!, lda: lda,
                                              b: bp.baseAddress!, ldb: ldb, c: cBase, ldc: shape.n, library: library, precision: precision)
                            }
                            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                        }
                    }
                }
            }
            let perCall = Median.of(times) / Double(batch)
            totalFLOPs += shape.flops
            totalSeconds += perCall * Double(shape.repeats)
        }
        return (totalFLOPs, totalFLOPs / totalSeconds / 1e9)
    }
}
