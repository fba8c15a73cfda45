import Models
import TensorCore

/// Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_`.
public enum GradientClipping {
    /// The L2 norm of all gradients (accumulated in Float64).
    public static func norm(_ store: ParameterStore) -> Double {
        var total = 0.0
        for e in store.entries {
            let g = store.gradients + e.offset
            var partial: Float = 0
            var chunkSum = 0.0
            for i in 0..<e.count {
                partial += g[i] * g[i]
                if i & 4095 == 4095 { chunkSum += Double(partial); partial = 0 }
            }
            total += chunkSum + Double(partial)
        }
        return total.squareRoot()
    }

    /// Scales gradients so their global norm is at most `maxNorm`; returns the norm before.
    @discardableResult
    public static func clip(_ store: ParameterStore, maxNorm: Double) -> Double {
        let n = norm(store)
        if n > maxNorm && n.isFinite {
            let scale = Float(maxNorm / (n + 1e-6))
            let g = store.gradients
            ComputeThreads.forEachChunk(of: store.count, grain: 1 << 15) { _, r in
                for i in r { g[i] *= scale }
            }
        }
        return n
    }
}
