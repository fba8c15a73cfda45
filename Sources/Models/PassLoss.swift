/// Which labels a backward pass differentiates against.
public enum LossTargets: Sendable, Equatable {
    /// The batch's true labels.
    case labels
    /// Labels drawn from the model's own softmax, keyed by this seed (Sophia's Gauss-Newton-Bartlett
    /// curvature estimator).
    case sampledFromModel(seed: UInt64)
}

/// Loss figures of one pass of a language model.
public struct PassLoss: Sendable, Equatable {
    /// Sum of cross-entropy over the target tokens.
    public var sum: Double
    /// The tokens the loss is taken over: the masked tokens of a masked LM.
    public var targetTokens: Int
    /// Mean cross-entropy per target token.
    public var mean: Double { targetTokens == 0 ? 0 : sum / Double(targetTokens) }

    public init(sum: Double, targetTokens: Int) {
        self.sum = sum
        self.targetTokens = targetTokens
    }
}
