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

/// Per-pass controls a training method may set through its step plan and batch selection
/// (PluginAPI v1.1). The default changes nothing: every pass without controls computes exactly
/// what it computed before they existed.
public struct PassControls: Sendable, Equatable {
    /// Per layer of the resizable stack (indexed by layer, not by active slot): the factor its
    /// residual branches are multiplied by, `x + s·f(x)` (progressive layer dropping's 1/p).
    /// Nil: 1 everywhere.
    public var outputScales: [Float]?
    /// Layers `0..<frozenBelow` run forward only: the backward pass stops above them, so neither
    /// they nor the embedding below them get a gradient (the tied token embedding still gets the
    /// head's). 0: every layer trains.
    public var frozenBelow: Int
    /// Per row of the batch, the weight of its token losses in the gradient (importance
    /// sampling). Nil: 1 for every row. The returned loss stays unweighted.
    public var rowWeights: [Float]?

    public init(outputScales: [Float]? = nil, frozenBelow: Int = 0, rowWeights: [Float]? = nil) {
        self.outputScales = outputScales
        self.frozenBelow = frozenBelow
        self.rowWeights = rowWeights
    }

    /// No control set: the plain pass.
    public static let none = PassControls()
    public var isNone: Bool { outputScales == nil && frozenBelow == 0 && rowWeights == nil }
}
