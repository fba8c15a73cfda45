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
                var sum: Float = 0
                for j in 0..<v {
                    let e = FastMath.exp(r[j] - maximum)
                    r[j] = e
                    sum += e
                }
                let inverse = 1 / sum
                for j in 0..<v { r[j] *= inverse }
                let label: Int
                switch labels {
                case .given(let given):
                    label = Int(given[row])
                case .sampled(let seed, let into):
                    label = sample(probabilities: r, count: v, seed: seed, row: row)
                    into[row] = Int32(label)
                }
                // The clamp keeps an underflowed probability from giving an infinite loss.
                losses[row] = -Float(Foundation.log(Double(Swift.max(r[label], Float.leastNormalMagnitude))))
                if let scale = gradientScale {
                    for j in 0..<v { r[j] *= scale }
                    r[label] -= scale
                }
            }
        }
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
