import Foundation

/// Softmax cross-entropy over rows of logits, fused with its backward pass (as in llm.c): once the
/// loss is known the logits buffer is overwritten in place with the gradient, so the `[rows, vocab]`
/// matrix is stored once.
public enum SoftmaxCrossEntropy {
    /// Where each row's target comes from.
    public enum Labels {
        /// The true labels.
        case given(UnsafePointer<Int32>)
        /// One label per row drawn from the model's own softmax, keyed by (seed, row); the draws
        /// are written to `into`. Sophia's Gauss-Newton-Bartlett curvature estimate needs these.
        case sampled(seed: UInt64, into: UnsafeMutablePointer<Int32>)
    }

    /// Writes each row's loss `logsumexp(z) − z[label]` to `losses`. If `gradientScale` is given,
    /// `logits` is overwritten with `(softmax(z) − onehot(label)) · gradientScale`; otherwise with
    /// `softmax(z)`.
    ///
    /// The softmax denominator Σ exp(z − max) is a compensated sum (``compensatedSum(_:count:)``):
    /// summed term by term in float32, every term below half an ulp of the running sum (6e-8 once
    /// the largest term, 1, is in) would be lost, and the loss of a confident row — the summed
    /// probability mass of thousands of small terms — would come out too low, down to 0. The loss
    /// of a given label is `log(Σ) − (z[label] − max)`, which needs no clamp.
    public static func run(
        logits: Tensor, rows: Int, labels: Labels, losses: UnsafeMutablePointer<Float>,
        gradientScale: Float?
    ) {
        let v = logits.columns, z = logits.base
        ComputeThreads.forEachChunk(of: rows, grain: 8) { _, range in
            for row in range {
                let r = z + row * v
                var maximum = -Float.infinity
                for j in 0..<v { maximum = Swift.max(maximum, r[j]) }
                // The true label's logit, before the row is overwritten with probabilities.
                let givenLabel: Int?
                if case .given(let given) = labels { givenLabel = Int(given[row]) } else { givenLabel = nil }
                let shiftedLabelLogit = givenLabel.map { Double(r[$0] - maximum) }
                for j in 0..<v { r[j] = FastMath.exp(r[j] - maximum) }
                let sum = compensatedSum(r, count: v)
                let inverse = Float(1 / sum)
                for j in 0..<v { r[j] *= inverse }
                let label: Int
                switch labels {
                case .given:
                    label = givenLabel!
                    losses[row] = Float(Foundation.log(sum) - shiftedLabelLogit!)
                case .sampled(let seed, let into):
                    label = sample(probabilities: r, count: v, seed: seed, row: row)
                    into[row] = Int32(label)
                    // The clamp keeps an underflowed probability from giving an infinite loss.
                    losses[row] = -Float(Foundation.log(Double(Swift.max(r[label], Float.leastNormalMagnitude))))
                }
                if let scale = gradientScale {
                    for j in 0..<v { r[j] *= scale }
                    r[label] -= scale
                }
            }
        }
    }

    /// Σ x[0..<count]: float32 terms (exact in float64) summed with Neumaier's compensation in
    /// eight float64 lanes, so the error is about one float64 ulp of the sum whatever `count` is
    /// (a float32 running sum's grows with `count` and drops every term below half an ulp of it);
    /// the lanes keep the loop vectorised.
    @inline(__always)
    public static func compensatedSum(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var sum = SIMD8<Double>(repeating: 0), compensation = SIMD8<Double>(repeating: 0)
        var j = 0
        while j + 8 <= count {
            let e = SIMD8<Double>(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self))
            let t = sum + e
            let bigger = pointwiseMax(sum, -sum) .>= pointwiseMax(e, -e)
            compensation += (sum - t + e).replacing(with: e - t + sum, where: .!bigger)
            sum = t
            j += 8
        }
        var total = 0.0, c = 0.0
        func add(_ value: Double) {
            let t = total + value
            c += Swift.abs(total) >= Swift.abs(value) ? (total - t) + value : (value - t) + total
            total = t
        }
        for lane in 0..<8 { add(sum[lane]); add(compensation[lane]) }
        while j < count { add(Double(x[j])); j += 1 }
        return total + c
    }

    @inline(__always)
    static func sample(probabilities p: UnsafeMutablePointer<Float>, count: Int, seed: UInt64, row: Int) -> Int {
        let u = SplitMix64.uniform(seed: seed, counter: UInt64(row))
        var cumulative: Float = 0
        for j in 0..<count {
            cumulative += p[j]
            if u < cumulative { return j }
        }
        return count - 1
    }
}
