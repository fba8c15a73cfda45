import Foundation
import Testing
@testable import TensorCore

/// Each kernel's forward against a Float64 reference, and its backward against central
/// differences of that reference. Tolerances: Float32 kernels on O(1) values carry relative
/// errors near 1e-6 per operation; 1e-3 of the largest gradient leaves room for accumulation
/// over a few hundred terms while still catching any wrong term (those are O(1) wrong).
@Suite struct KernelGradientTests {
    let tolerance = 1e-3

    // MARK: LayerNorm

    func layerNormReference(_ x: [Double], gain: [Double], bias: [Double], rows: Int, columns c: Int) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for r in 0..<rows {
            let row = x[r * c ..< (r + 1) * c]
            let mean = row.reduce(0, +) / Double(c)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            let rstd = 1 / (variance + 1e-5).squareRoot()
            for j in 0..<c { y[r * c + j] = (x[r * c + j] - mean) * rstd * gain[j] + bias[j] }
        }
        return y
    }

    @Test(arguments: [1, 2]) func layerNorm(threads: Int) {
        let rows = 6, c = 20
        let x = OwnedTensor([rows, c], randomValues(rows * c, seed: 5, scale: 2))
        let g = OwnedTensor([c], randomValues(c, seed: 6).map { $0 + 1 })
        let b = OwnedTensor([c], randomValues(c, seed: 7))
        let y = OwnedTensor([rows, c]), mean = OwnedTensor([rows]), rstd = OwnedTensor([rows])
        let weights = randomValues(rows * c, seed: 8).map(Double.init)  // loss = Σ weights · y
        let dy = OwnedTensor([rows, c], weights.map(Float.init))
        let dx = OwnedTensor([rows, c]), dg = OwnedTensor([c]), db = OwnedTensor([c])
        withThreads(threads) {
            LayerNorm.forward(input: x.tensor, gain: g.tensor, bias: b.tensor, output: y.tensor,
                              mean: mean.tensor, rstd: rstd.tensor, epsilon: 1e-5)
            LayerNorm.backward(dOutput: dy.tensor, input: x.tensor, gain: g.tensor, mean: mean.tensor,
                               rstd: rstd.tensor, dInput: dx.tensor, dGain: dg.tensor, dBias: db.tensor)
        }
        let ref = layerNormReference(x.doubles, gain: g.doubles, bias: b.doubles, rows: rows, columns: c)
        #expect(maxRelativeError(y.values, ref) < 1e-5)
        func loss(_ x: [Double], _ g: [Double], _ b: [Double]) -> Double {
            zip(layerNormReference(x, gain: g, bias: b, rows: rows, columns: c), weights).map(*).reduce(0, +)
        }
        #expect(maxRelativeError(dx.values, numericGradient(x.doubles) { loss($0, g.doubles, b.doubles) }) < tolerance)
        #expect(maxRelativeError(dg.values, numericGradient(g.doubles) { loss(x.doubles, $0, b.doubles) }) < tolerance)
        #expect(maxRelativeError(db.values, numericGradient(b.doubles) { loss(x.doubles, g.doubles, $0) }) < tolerance)
    }

    // MARK: GELU and GELU-GLU

    static func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }

    @Test func gelu() {
        let n = 300
        let x = OwnedTensor([n], randomValues(n, seed: 9, scale: 5))
        let y = OwnedTensor([n]), dx = OwnedTensor([n])
        let weights = randomValues(n, seed: 10).map(Double.init)
        GELU.forward(input: x.tensor, output: y.tensor)
        GELU.backward(input: x.tensor, dOutput: OwnedTensor([n], weights.map(Float.init)).tensor, dInput: dx.tensor)
        #expect(maxRelativeError(y.values, x.doubles.map(Self.gelu)) < 1e-5)
        let numeric = numericGradient(x.doubles) { zip($0.map(Self.gelu), weights).map(*).reduce(0, +) }
        #expect(maxRelativeError(dx.values, numeric) < tolerance)
    }

    @Test func gatedGELU() {
        let rows = 5, width = 12
        let x = OwnedTensor([rows, 2 * width], randomValues(rows * 2 * width, seed: 11, scale: 3))
        let y = OwnedTensor([rows, width]), dx = OwnedTensor([rows, 2 * width])
        let weights = randomValues(rows * width, seed: 12).map(Double.init)
        func reference(_ x: [Double]) -> [Double] {
            (0..<rows * width).map { i in
                let r = i / width, j = i % width
                return x[r * 2 * width + j] * Self.gelu(x[r * 2 * width + width + j])
            }
        }
        GatedGELU.forward(input: x.tensor, output: y.tensor)
        GatedGELU.backward(input: x.tensor, dOutput: OwnedTensor([rows, width], weights.map(Float.init)).tensor,
                           dInput: dx.tensor)
        #expect(maxRelativeError(y.values, reference(x.doubles)) < 1e-5)
        let numeric = numericGradient(x.doubles) { zip(reference($0), weights).map(*).reduce(0, +) }
        #expect(maxRelativeError(dx.values, numeric) < tolerance)
    }

    // MARK: Attention

    func attentionReference(_ qkv: [Double], batch: Int, seq s: Int, heads: Int, hidden h: Int, lengths: [Int]) -> [Double] {
        let d = h / heads
        var out = [Double](repeating: 0, count: batch * s * h)
        for b in 0..<batch {
            for head in 0..<heads {
                for i in 0..<s {
                    func at(_ t: Int, _ part: Int, _ k: Int) -> Double { qkv[(b * s + t) * 3 * h + part * h + head * d + k] }
                    var scores = (0..<lengths[b]).map { j in
                        (0..<d).map { at(i, 0, $0) * at(j, 1, $0) }.reduce(0, +) / Double(d).squareRoot()
                    }
                    let m = scores.max()!
                    scores = scores.map { Foundation.exp($0 - m) }
                    let z = scores.reduce(0, +)
                    for k in 0..<d {
                        out[(b * s + i) * h + head * d + k] = (0..<lengths[b]).map { scores[$0] / z * at($0, 2, k) }.reduce(0, +)
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: [1, 2]) func attentionWithPadding(threads: Int) {
        let batch = 2, s = 5, heads = 2, h = 8, lengths: [Int32] = [5, 3]
        let qkv = OwnedTensor([batch * s, 3 * h], randomValues(batch * s * 3 * h, seed: 13, scale: 1.5))
        let probs = OwnedTensor([batch, heads, s, s]), dprobs = OwnedTensor([batch, heads, s, s])
        let context = OwnedTensor([batch * s, h]), dqkv = OwnedTensor([batch * s, 3 * h])
        let weights = randomValues(batch * s * h, seed: 14).map(Double.init)
        let attention = Attention(batch: batch, sequence: s, heads: heads, hidden: h)
        withThreads(threads) {
            lengths.withUnsafeBufferPointer { l in
                attention.forward(qkv: qkv.tensor, validLengths: l.baseAddress!, probabilities: probs.tensor, context: context.tensor)
            }
            attention.backward(dContext: OwnedTensor([batch * s, h], weights.map(Float.init)).tensor, qkv: qkv.tensor,
                               probabilities: probs.tensor, dProbabilities: dprobs.tensor, dQKV: dqkv.tensor)
        }
        let lengthsInt = lengths.map(Int.init)
        let ref = attentionReference(qkv.doubles, batch: batch, seq: s, heads: heads, hidden: h, lengths: lengthsInt)
        #expect(maxRelativeError(context.values, ref) < 1e-5)
        // Padding keys get exactly zero probability.
        for head in 0..<heads { for i in 0..<s { for j in 3..<s { #expect(probs.values[((1 * heads + head) * s + i) * s + j] == 0) } } }
        let numeric = numericGradient(qkv.doubles) {
            zip(attentionReference($0, batch: batch, seq: s, heads: heads, hidden: h, lengths: lengthsInt), weights).map(*).reduce(0, +)
        }
        #expect(maxRelativeError(dqkv.values, numeric) < tolerance)
    }

    // MARK: Softmax cross-entropy

    func crossEntropyReference(_ z: [Double], rows: Int, v: Int, labels: [Int32]) -> [Double] {
        (0..<rows).map { r in
            let row = z[r * v ..< (r + 1) * v]
            let m = row.max()!
            let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
            return lse - z[r * v + Int(labels[r])]
        }
    }

    @Test func softmaxCrossEntropy() {
        let rows = 4, v = 30
        let values = randomValues(rows * v, seed: 15, scale: 4)
        let logits = OwnedTensor([rows, v], values), losses = OwnedTensor([rows])
        let labels: [Int32] = [0, 7, 29, 13]
        let scale: Float = 0.25
        labels.withUnsafeBufferPointer { l in
            SoftmaxCrossEntropy.run(logits: logits.tensor, rows: rows, labels: .given(l.baseAddress!),
                                    losses: losses.pointer, gradientScale: scale)
        }
        let reference = crossEntropyReference(values.map(Double.init), rows: rows, v: v, labels: labels)
        #expect(maxRelativeError(losses.values, reference) < 1e-5)
        let numeric = numericGradient(values.map(Double.init)) {
            crossEntropyReference($0, rows: rows, v: v, labels: labels).reduce(0, +) * Double(scale)
        }
        #expect(maxRelativeError(logits.values, numeric) < tolerance)
    }

    /// A confident row over a realistic vocabulary (the label's logit 20, 8,191 others 0): the loss
    /// is log(1 + 8191·e⁻²⁰) ≈ 1.69e-5. A float32 running sum loses every e⁻²⁰ term once it holds
    /// the 1 and reports 0 (biased low by 100 %); the compensated sum matches float64.
    @Test func aConfidentRowOverALargeVocabularyIsNotBiasedLow() {
        let v = 8192
        var values = [Float](repeating: 0, count: 2 * v)
        values[17] = 20                 // row 0: label 17
        values[v + 5] = 9               // row 1: label 5, moderately confident, random rest
        var rng = SplitMix64(seed: 3)
        for j in 0..<v where j != 5 { values[v + j] = Float(rng.nextNormal()) }
        let logits = OwnedTensor([2, v], values), losses = OwnedTensor([2])
        let labels: [Int32] = [17, 5]
        labels.withUnsafeBufferPointer { l in
            SoftmaxCrossEntropy.run(logits: logits.tensor, rows: 2, labels: .given(l.baseAddress!), losses: losses.pointer, gradientScale: 1)
        }
        let reference = crossEntropyReference(values.map(Double.init), rows: 2, v: v, labels: labels)
        #expect(abs(reference[0] - 8191 * Foundation.exp(-20.0)) < 1e-9)
        #expect(maxRelativeError(losses.values, reference) < 1e-4, "\(losses.values) vs \(reference)")
        // The gradient of the label (p − 1) carries the same small mass, with its sign.
        #expect(abs(Double(logits.values[17]) + reference[0]) < 1e-6)
    }

    /// The compensated sum of many small terms after a large one is exact to float64 rounding of
    /// the terms, whatever their number; a float32 running sum drops them all.
    @Test func compensatedSumDoesNotDropSmallTerms() {
        for n in [9, 1000, 100_003] {
            let terms = [Float(1)] + [Float](repeating: 1e-8, count: n - 1)
            let exact = 1 + Double(n - 1) * Double(Float(1e-8))
            let compensated = terms.withUnsafeBufferPointer { SoftmaxCrossEntropy.compensatedSum($0.baseAddress!, count: n) }
            #expect(abs(compensated - exact) <= 1e-12 * exact, "n = \(n): \(compensated) vs \(exact)")
            #expect(terms.reduce(0, +) == 1, "the plain float32 sum loses them (n = \(n))")
        }
    }

    @Test func sampledLabelsFollowTheSoftmax() {
        // Rows with the same logits: label frequencies over many rows approach the softmax.
        let rows = 20_000, v = 4
        let pattern: [Float] = [2, 1, 0, -1]
        let logits = OwnedTensor([rows, v], Array((0..<rows).map { _ in pattern }.joined()))
        let losses = OwnedTensor([rows])
        var sampled = [Int32](repeating: -1, count: rows)
        sampled.withUnsafeMutableBufferPointer { s in
            SoftmaxCrossEntropy.run(logits: logits.tensor, rows: rows, labels: .sampled(seed: 42, into: s.baseAddress!),
                                    losses: losses.pointer, gradientScale: nil)
        }
        let exps = pattern.map { Foundation.exp(Double($0)) }
        for k in 0..<v {
            let frequency = Double(sampled.filter { $0 == k }.count) / Double(rows)
            #expect(abs(frequency - exps[k] / exps.reduce(0, +)) < 0.015)
        }
        // The loss is the cross-entropy against the drawn label.
        #expect(abs(Double(losses.values[0]) - (Foundation.log(exps.reduce(0, +)) - Double(pattern[Int(sampled[0])]))) < 1e-5)
    }

    // MARK: Embedding

    @Test func embedding() {
        let vocab = 7, h = 6, s = 3, rows = 6
        let tokens: [Int32] = [1, 4, 1, 6, 0, 4]
        let table = OwnedTensor([vocab, h], randomValues(vocab * h, seed: 16))
        let sinusoids = OwnedTensor([s, h]); Embedding.fillSinusoids(sinusoids.tensor)
        let scale = OwnedTensor([1], [0.7])
        let out = OwnedTensor([rows, h])
        let weights = randomValues(rows * h, seed: 17).map(Double.init)
        let dTable = OwnedTensor([vocab, h]), dScale = OwnedTensor([1])
        tokens.withUnsafeBufferPointer { t in
            Embedding.forward(tokens: t.baseAddress!, rows: rows, sequence: s, table: table.tensor,
                              sinusoids: sinusoids.tensor, positionScale: scale.tensor, output: out.tensor)
            Embedding.backward(dOutput: OwnedTensor([rows, h], weights.map(Float.init)).tensor, tokens: t.baseAddress!,
                               rows: rows, sequence: s, sinusoids: sinusoids.tensor, dTable: dTable.tensor, dPositionScale: dScale.tensor)
        }
        let pos = sinusoids.doubles
        func reference(_ table: [Double], _ scale: Double) -> [Double] {
            (0..<rows * h).map { i in table[Int(tokens[i / h]) * h + i % h] + scale * pos[(i / h % s) * h + i % h] }
        }
        #expect(maxRelativeError(out.values, reference(table.doubles, 0.7)) < 1e-6)
        #expect(abs(pos[h] - Foundation.sin(1.0)) < 1e-6 && abs(pos[h + 1] - Foundation.cos(1.0)) < 1e-6)
        let numericTable = numericGradient(table.doubles) { zip(reference($0, 0.7), weights).map(*).reduce(0, +) }
        #expect(maxRelativeError(dTable.values, numericTable) < tolerance)
        let numericScale = numericGradient([0.7]) { zip(reference(table.doubles, $0[0]), weights).map(*).reduce(0, +) }
        #expect(maxRelativeError(dScale.values, numericScale) < tolerance)
    }
}
