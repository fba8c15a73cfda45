import Models
import TensorCore

/// AdamW with decoupled weight decay, the baseline's optimizer (PyTorch's update rule):
/// `p ← p·(1 − lr·λ)`, `m ← β1·m + (1 − β1)·g`, `v ← β2·v + (1 − β2)·g²`,
/// `p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε)`.
/// Weight decay applies to matrices only unless `decayEverything` reproduces the seed code,
/// whose exclusion keys never matched and so decayed norm gains and embeddings too.
/// `rmsScaling` multiplies each tensor's step size by `max(1e-3, RMS(p))` (RMS of its values
/// before the update), as nanoT5's AdamWScale does for the T5 recipes; the decay keeps the
/// unscaled rate there, and here too. Off for the BERT baseline.
public final class AdamW {
    public struct Settings: Codable, Equatable, Sendable {
        public var beta1: Float = 0.9
        public var beta2: Float = 0.98
        public var epsilon: Float = 1e-12
        public var weightDecay: Float = 0.01
        public var decayEverything = false
        public var rmsScaling = false

        public init() {}

        /// Settings stored before `rmsScaling` existed (run records, checkpoints) lack the key;
        /// they decode with it off, which is how those runs trained.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            beta1 = try c.decode(Float.self, forKey: .beta1)
            beta2 = try c.decode(Float.self, forKey: .beta2)
            epsilon = try c.decode(Float.self, forKey: .epsilon)
            weightDecay = try c.decode(Float.self, forKey: .weightDecay)
            decayEverything = try c.decode(Bool.self, forKey: .decayEverything)
            rmsScaling = try c.decodeIfPresent(Bool.self, forKey: .rmsScaling) ?? false
        }
    }

    public let settings: Settings
    /// Update calls so far.
    public private(set) var step = 0
    /// Updates each parameter has received (t in its bias corrections), by name. As in PyTorch,
    /// a parameter that skips a step (a dropped layer) or starts fresh (a new stacked layer)
    /// keeps its own count, so its bias correction starts from the beginning.
    public private(set) var parameterSteps: [String: Int] = [:]
    /// First and second moments, in the parameter store's flat layout.
    public private(set) var firstMoment: [Float]
    public private(set) var secondMoment: [Float]

    public init(parameterCount: Int, settings: Settings = Settings()) {
        self.settings = settings
        firstMoment = Array(repeating: 0, count: parameterCount)
        secondMoment = Array(repeating: 0, count: parameterCount)
    }

    /// Applies one update with learning rate `lr` to every parameter of `store` from its gradients.
    /// Parameters of `skippedLayers` (layers that ran in no micro-batch of the step, so have no
    /// gradient) are left alone entirely — no momentum, no decay — as PyTorch does for parameters
    /// without a gradient, which is what the seed code's layer dropping relied on. `hasGradient`
    /// (per entry of `store`, nil = all) marks further tensors without one (frozen layers and
    /// what lies below them), left alone the same way.
    public func update(_ store: ParameterStore, learningRate lr: Float, skippedLayers: Set<Int> = [], hasGradient: [Bool]? = nil) {
        precondition(store.count == firstMoment.count, "optimizer state does not match the parameter layout")
        step += 1
        let s = settings
        let values = store.values, grads = store.gradients
        firstMoment.withUnsafeMutableBufferPointer { mBuf in
            secondMoment.withUnsafeMutableBufferPointer { vBuf in
                let m = mBuf.baseAddress!, v = vBuf.baseAddress!
                for (index, e) in store.entries.enumerated() {
                    if let layer = e.layer, skippedLayers.contains(layer) { continue }
                    if let hasGradient, !hasGradient[index] { continue }
                    let t = (parameterSteps[e.name] ?? 0) + 1
                    parameterSteps[e.name] = t
                    let correction1 = 1 - Float(Double(s.beta1).power(t))
                    let correction2 = 1 - Float(Double(s.beta2).power(t))
                    let stepSize = lr / correction1, rootCorrection2 = correction2.squareRoot()
                    let decay = (s.decayEverything || e.kind.isDecayed) ? 1 - lr * s.weightDecay : 1
                    let base = e.offset
                    let tensorStep = s.rmsScaling ? stepSize * Self.rmsScale(values + base, count: e.count) : stepSize
                    ComputeThreads.forEachChunk(of: e.count, grain: 1 << 15) { _, range in
                        for j in range {
                            let i = base + j, g = grads[i]
                            m[i] = s.beta1 * m[i] + (1 - s.beta1) * g
                            v[i] = s.beta2 * v[i] + (1 - s.beta2) * g * g
                            let denominator = v[i].squareRoot() / rootCorrection2 + s.epsilon
                            values[i] = values[i] * decay - tensorStep * m[i] / denominator
                        }
                    }
                }
            }
        }
    }

    /// `max(1e-3, RMS(x))` over `count` values, accumulated in Double.
    static func rmsScale(_ x: UnsafePointer<Float>, count: Int) -> Float {
        guard count > 0 else { return 1e-3 }
        var sum = 0.0
        for j in 0..<count { sum += Double(x[j]) * Double(x[j]) }
        return Float(Swift.max(1e-3, (sum / Double(count)).squareRoot()))
    }

    /// Carries the state over a model resize: parameters that kept their name and shape keep
    /// their moments unless listed in `reset`; everything else starts from zero.
    public func remap(from old: ParameterStore, to new: ParameterStore, reset: Set<String> = []) {
        var m = [Float](repeating: 0, count: new.count), v = [Float](repeating: 0, count: new.count)
        for e in new.entries where !reset.contains(e.name) {
            guard let o = old.info(e.name), o.shape == e.shape else { continue }
            m.replaceSubrange(e.offset ..< e.offset + e.count, with: firstMoment[o.offset ..< o.offset + o.count])
            v.replaceSubrange(e.offset ..< e.offset + e.count, with: secondMoment[o.offset ..< o.offset + o.count])
        }
        firstMoment = m
        secondMoment = v
        var steps: [String: Int] = [:]
        for e in new.entries where !reset.contains(e.name) {
            if let o = old.info(e.name), o.shape == e.shape, let t = parameterSteps[e.name] { steps[e.name] = t }
        }
        parameterSteps = steps
    }

    /// Restores state saved from `step`, `parameterSteps`, `firstMoment` and `secondMoment`.
    public func restore(step: Int, parameterSteps: [String: Int], firstMoment: [Float], secondMoment: [Float]) {
        precondition(firstMoment.count == self.firstMoment.count && secondMoment.count == self.secondMoment.count)
        self.step = step
        self.parameterSteps = parameterSteps
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
    }
}

extension Double {
    func power(_ n: Int) -> Double {
        var result = 1.0
        for _ in 0..<n { result *= self }
        return result
    }
}
