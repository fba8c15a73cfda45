import Foundation
import Testing
@testable import TensorCore

/// T5's kernels (RMS norm, relative position buckets, attention with a position bias, a causal
/// mask and cross-attention) against Float64 references, their backward passes against central
/// differences of those references.
@Suite struct T5KernelTests {
    let tolerance = 1e-3

    // MARK: RMS norm

    func rmsNormReference(_ x: [Double], gain: [Double], rows: Int, columns c: Int) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for r in 0..<rows {
            let meanSquare = x[r * c ..< (r + 1) * c].map { $0 * $0 }.reduce(0, +) / Double(c)
            let rstd = 1 / (meanSquare + 1e-6).squareRoot()
            for j in 0..<c { y[r * c + j] = x[r * c + j] * rstd * gain[j] }
        }
        return y
    }

    @Test(arguments: [1, 2]) func rmsNorm(threads: Int) {
        let rows = 6, c = 20
        let x = OwnedTensor([rows, c], randomValues(rows * c, seed: 5, scale: 2))
        let g = OwnedTensor([c], randomValues(c, seed: 6).map { $0 + 1 })
        let y = OwnedTensor([rows, c]), rstd = OwnedTensor([rows])
        let weights = randomValues(rows * c, seed: 8).map(Double.init)  // loss = Σ weights · y
        let dx = OwnedTensor([rows, c], randomValues(rows * c, seed: 13)), dg = OwnedTensor([c])
        let dxBefore = dx.doubles
        withThreads(threads) {
            RMSNorm.forward(input: x.tensor, gain: g.tensor, output: y.tensor, rstd: rstd.tensor, epsilon: 1e-6)
            RMSNorm.backward(dOutput: OwnedTensor([rows, c], weights.map(Float.init)).tensor, input: x.tensor, gain: g.tensor,
                             rstd: rstd.tensor, dInput: dx.tensor, dGain: dg.tensor)
        }
        #expect(maxRelativeError(y.values, rmsNormReference(x.doubles, gain: g.doubles, rows: rows, columns: c)) < 1e-5)
        func loss(_ x: [Double], _ g: [Double]) -> Double {
            zip(rmsNormReference(x, gain: g, rows: rows, columns: c), weights).map(*).reduce(0, +)
        }
        // The input gradient is added to what dInput held (the residual stream's gradient).
        let numericX = numericGradient(x.doubles) { loss($0, g.doubles) }
        #expect(maxRelativeError(dx.values, zip(numericX, dxBefore).map(+)) < tolerance)
        #expect(maxRelativeError(dg.values, numericGradient(g.doubles) { loss(x.doubles, $0) }) < tolerance)
    }

    // MARK: Relative position buckets

    @Test func bucketsMatchT5() {
        // Values of T5's _relative_position_bucket (32 buckets, max distance 128).
        let bidirectional: [(Int, Int)] = [(0, 0), (1, 17), (-1, 1), (7, 23), (-7, 7), (8, 24), (-8, 8), (12, 25), (-12, 9),
                                           (16, 26), (-16, 10), (-127, 15), (-128, 15), (200, 31), (-200, 15)]
        for (relative, expected) in bidirectional {
            #expect(RelativePosition.bucket(relative: relative, bidirectional: true, buckets: 32, maxDistance: 128) == expected, "\(relative)")
        }
        let causal: [(Int, Int)] = [(0, 0), (1, 0), (5, 0), (-1, 1), (-15, 15), (-16, 16), (-20, 17), (-40, 23), (-127, 31), (-128, 31), (-500, 31)]
        for (relative, expected) in causal {
            #expect(RelativePosition.bucket(relative: relative, bidirectional: false, buckets: 32, maxDistance: 128) == expected, "\(relative)")
        }
        let table = RelativePosition.buckets(queries: 3, keys: 4, bidirectional: true, buckets: 32, maxDistance: 128)
        #expect(table == [0, 17, 18, 19, 1, 0, 17, 18, 2, 1, 0, 17])
    }

    // MARK: Attention with a position bias, causal and cross

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let queries: Int, keys: Int
        let causal: Bool, bias: Bool, cross: Bool
        var testDescription: String { name }
    }

    static let cases = [
        Case(name: "encoder self-attention with bias", queries: 5, keys: 5, causal: false, bias: true, cross: false),
        Case(name: "causal self-attention with bias", queries: 5, keys: 5, causal: true, bias: true, cross: false),
        Case(name: "cross-attention", queries: 3, keys: 6, causal: false, bias: false, cross: true),
    ]

    /// Float64 reference: context for `[batch·sq, h]` queries `q`, keys `k` and values `v` `[batch·sk, h]`.
    static func attentionReference(q: [Double], k: [Double], v: [Double], table: [Double], buckets: [Int32], batch: Int,
                                   sq: Int, sk: Int, heads: Int, hidden h: Int, causal: Bool) -> [Double] {
        let d = h / heads
        var out = [Double](repeating: 0, count: batch * sq * h)
        for b in 0..<batch {
            for head in 0..<heads {
                for i in 0..<sq {
                    let visible = causal ? i + 1 : sk
                    var scores = (0..<visible).map { j -> Double in
                        var s = 0.0
                        for e in 0..<d { s += q[(b * sq + i) * h + head * d + e] * k[(b * sk + j) * h + head * d + e] }
                        return s + (table.isEmpty ? 0 : table[Int(buckets[i * sk + j]) * heads + head])
                    }
                    let m = scores.max()!
                    scores = scores.map { Foundation.exp($0 - m) }
                    let z = scores.reduce(0, +)
                    for j in 0..<visible {
                        for e in 0..<d { out[(b * sq + i) * h + head * d + e] += scores[j] / z * v[(b * sk + j) * h + head * d + e] }
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: cases, [1, 2]) func relativeAttention(_ c: Case, threads: Int) {
        let batch = 2, heads = 2, h = 8, sq = c.queries, sk = c.keys, buckets = 6
        let bucketTable = RelativePosition.buckets(queries: sq, keys: sk, bidirectional: !c.causal, buckets: buckets, maxDistance: 4)
        let table = OwnedTensor([buckets, heads], randomValues(buckets * heads, seed: 21))
        let q = randomValues(batch * sq * h, seed: 22).map(Double.init)
        let k = randomValues(batch * sk * h, seed: 23).map(Double.init)
        let v = randomValues(batch * sk * h, seed: 24).map(Double.init)
        // Pack as the model does: one [rows, 3h] QKV tensor for self-attention, Q and [K | V] for cross.
        func rows(_ x: [Double], _ r: Int) -> [Float] { x[r * h ..< (r + 1) * h].map(Float.init) }
        let queries: OwnedTensor, keysValues: OwnedTensor
        if c.cross {
            queries = OwnedTensor([batch * sq, h], q.map(Float.init))
            var packed: [Float] = []
            for r in 0..<batch * sk { packed += rows(k, r); packed += rows(v, r) }
            keysValues = OwnedTensor([batch * sk, 2 * h], packed)
        } else {
            var packed: [Float] = []
            for r in 0..<batch * sq { packed += rows(q, r); packed += rows(k, r); packed += rows(v, r) }
            queries = OwnedTensor([batch * sq, 3 * h], packed)
            keysValues = queries
        }
        let shape = RelativeAttention(queryLength: sq, keyLength: sk, heads: heads, hidden: h, keyColumn: c.cross ? 0 : h, causal: c.causal)
        let probabilities = OwnedTensor([batch, heads, sq, sk]), dProbabilities = OwnedTensor([batch, heads, sq, sk])
        let context = OwnedTensor([batch * sq, h])
        let weights = randomValues(batch * sq * h, seed: 25).map(Double.init)
        let dQueries = OwnedTensor(Array(queries.tensor.shape)), dKeysValues = c.cross ? OwnedTensor(Array(keysValues.tensor.shape)) : dQueries
        let dTable = OwnedTensor([buckets, heads])
        bucketTable.withUnsafeBufferPointer { bt in
            withThreads(threads) {
                shape.forward(queries: queries.tensor, keysValues: keysValues.tensor,
                              bias: c.bias ? .init(table: table.tensor, buckets: bt.baseAddress!) : nil,
                              probabilities: probabilities.tensor, context: context.tensor, batchRows: batch)
                shape.backward(dContext: OwnedTensor([batch * sq, h], weights.map(Float.init)).tensor, queries: queries.tensor,
                               keysValues: keysValues.tensor, probabilities: probabilities.tensor, dProbabilities: dProbabilities.tensor,
                               dQueries: dQueries.tensor, dKeysValues: dKeysValues.tensor,
                               bias: c.bias ? (dTable.tensor, bt.baseAddress!) : nil, batchRows: batch)
            }
        }
        let tableValues = c.bias ? table.doubles : []
        func loss(q: [Double], k: [Double], v: [Double], table: [Double]) -> Double {
            zip(Self.attentionReference(q: q, k: k, v: v, table: table, buckets: bucketTable, batch: batch, sq: sq, sk: sk,
                                        heads: heads, hidden: h, causal: c.causal), weights).map(*).reduce(0, +)
        }
        let reference = Self.attentionReference(q: q, k: k, v: v, table: tableValues, buckets: bucketTable, batch: batch, sq: sq, sk: sk,
                                                heads: heads, hidden: h, causal: c.causal)
        #expect(maxRelativeError(context.values, reference) < 1e-5)
        if c.causal {
            // A query never attends to a later key.
            let p = probabilities.values
            for pair in 0..<batch * heads { for i in 0..<sq { for j in (i + 1)..<sk { #expect(p[(pair * sq + i) * sk + j] == 0) } } }
        }
        // Unpack the analytic gradients from the packed tensors.
        func columns(_ t: OwnedTensor, _ first: Int, rows: Int) -> [Float] {
            let w = t.tensor.columns, all = t.values
            return (0..<rows).flatMap { all[$0 * w + first ..< $0 * w + first + h] }
        }
        let keyColumn = c.cross ? 0 : h
        #expect(maxRelativeError(columns(dQueries, 0, rows: batch * sq), numericGradient(q) { loss(q: $0, k: k, v: v, table: tableValues) }) < tolerance)
        #expect(maxRelativeError(columns(dKeysValues, keyColumn, rows: batch * sk), numericGradient(k) { loss(q: q, k: $0, v: v, table: tableValues) }) < tolerance)
        #expect(maxRelativeError(columns(dKeysValues, keyColumn + h, rows: batch * sk), numericGradient(v) { loss(q: q, k: k, v: $0, table: tableValues) }) < tolerance)
        if c.bias {
            #expect(maxRelativeError(dTable.values, numericGradient(table.doubles) { loss(q: q, k: k, v: v, table: $0) }) < tolerance)
        }
    }

    @Test func lookupAndItsBackwardScatterRepeatedTokens() {
        let table = OwnedTensor([5, 3], randomValues(15, seed: 31))
        let tokens: [Int32] = [4, 1, 4]
        let out = OwnedTensor([3, 3]), dTable = OwnedTensor([5, 3])
        tokens.withUnsafeBufferPointer { Embedding.lookup(tokens: $0.baseAddress!, rows: 3, table: table.tensor, output: out.tensor) }
        #expect(out.values == Array(table.values[12..<15] + table.values[3..<6] + table.values[12..<15]))
        let dy = OwnedTensor([3, 3], (1...9).map(Float.init))
        tokens.withUnsafeBufferPointer { Embedding.lookupBackward(dOutput: dy.tensor, tokens: $0.baseAddress!, rows: 3, dTable: dTable.tensor) }
        #expect(dTable.values == [0, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0, 8, 10, 12])
    }
}
