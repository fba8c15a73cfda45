/// The shape of a BERT-style encoder and the micro-batch it is laid out for.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// Which feed-forward block each layer uses.
    public enum FeedForward: String, Codable, Sendable, CaseIterable {
        /// `gelu(x·W_in)·W_out` with an intermediate width of `ffn` (plain BERT).
        case gelu
        /// Crammed BERT's GELU-GLU: `x·W_in` is split into value and gate halves of width
        /// `ffn / 2`, combined as `value · gelu(gate)`, then projected back.
        case gatedGELU = "gated-gelu"
    }

    public var name: String
    public var vocabularySize: Int
    public var hidden: Int
    public var heads: Int
    public var ffn: Int
    public var layers: Int
    public var sequenceLength: Int
    /// Sequences per micro-batch: the batch the activation buffers are laid out for.
    public var microBatch: Int
    public var feedForward: FeedForward
    public var layerNormEpsilon: Float
    public var initStandardDeviation: Float

    public init(
        name: String, vocabularySize: Int, hidden: Int, heads: Int, ffn: Int, layers: Int,
        sequenceLength: Int, microBatch: Int, feedForward: FeedForward,
        layerNormEpsilon: Float = 1e-12, initStandardDeviation: Float = 0.02
    ) {
        self.name = name
        self.vocabularySize = vocabularySize
        self.hidden = hidden
        self.heads = heads
        self.ffn = ffn
        self.layers = layers
        self.sequenceLength = sequenceLength
        self.microBatch = microBatch
        self.feedForward = feedForward
        self.layerNormEpsilon = layerNormEpsilon
        self.initStandardDeviation = initStandardDeviation
    }

    /// Width of the activation the output projection reads (`ffn`, or `ffn / 2` for GELU-GLU).
    public var ffnOutputWidth: Int { feedForward == .gatedGELU ? ffn / 2 : ffn }

    /// Masked positions per sequence the head buffers hold. Masking picks 15 % of a sequence's
    /// tokens, so 20 % leaves room for rounding.
    public var maxMaskedPerSequence: Int { Swift.max(1, (sequenceLength * 20 + 99) / 100) }

    /// Number of scalar parameters.
    public var parameterCount: Int {
        let perLayer = 4 * hidden + 3 * hidden * hidden + hidden * hidden + ffn * hidden + hidden * ffnOutputWidth
        return vocabularySize * hidden + 1 + 2 * hidden + layers * perLayer + 2 * hidden + hidden * hidden
    }

    /// Model FLOPs of one training step (forward + backward = 3 × forward) on `sequences`
    /// sequences with `masked` masked tokens and `activeLayers` layers:
    /// 6·T·L·(4H² + H·F + H·F′) + 12·B·L·S²·H + 6·M·(H² + H·V). Elementwise work is not counted.
    public func trainingFLOPs(sequences: Int, masked: Int, activeLayers: Int? = nil) -> Double {
        let t = Double(sequences * sequenceLength), l = Double(activeLayers ?? layers)
        let h = Double(hidden), f = Double(ffn), f2 = Double(ffnOutputWidth)
        let s = Double(sequenceLength), v = Double(vocabularySize), m = Double(masked)
        let dense = 6 * t * l * (4 * h * h + h * f + h * f2)
        let attention = 12 * Double(sequences) * l * s * s * h
        let head = 6 * m * (h * h + h * v)
        return dense + attention + head
    }

    /// Checks the shape; the error names the offending field and what would be valid.
    public func validate() throws {
        func fail(_ message: String) throws -> Never { throw ModelConfigError.invalid(preset: name, message) }
        if layers < 1 { try fail("layers must be at least 1 (got \(layers))") }
        if hidden < 1 { try fail("hidden must be at least 1 (got \(hidden))") }
        if heads < 1 { try fail("heads must be at least 1 (got \(heads))") }
        if hidden % heads != 0 { try fail("heads (\(heads)) must divide hidden (\(hidden)); try heads = \(Self.divisorNear(heads, of: hidden))") }
        if ffn < 1 { try fail("ffn must be at least 1 (got \(ffn))") }
        if feedForward == .gatedGELU && ffn % 2 != 0 { try fail("ffn (\(ffn)) must be even for gated-gelu") }
        if vocabularySize < 8 { try fail("vocabulary size must be at least 8 (got \(vocabularySize))") }
        if sequenceLength < 4 { try fail("sequence length must be at least 4 (got \(sequenceLength))") }
        if microBatch < 1 { try fail("micro-batch must be at least 1 sequence (got \(microBatch))") }
        if !(layerNormEpsilon >= 0) { try fail("layer-norm epsilon must be non-negative") }
    }

    private static func divisorNear(_ wanted: Int, of n: Int) -> Int {
        (1...n).filter { n % $0 == 0 }.min { abs($0 - wanted) < abs($1 - wanted) } ?? 1
    }
}

public enum ModelConfigError: Error, CustomStringConvertible, Equatable {
    case unknownPreset(String)
    case invalid(preset: String, String)
    case unknownSetting(String)
    case badValue(key: String, value: String)

    public var description: String {
        switch self {
        case .unknownPreset(let name):
            return "unknown model preset '\(name)'; choose one of: \(ModelConfig.presetNames.joined(separator: ", "))"
        case .invalid(let preset, let message):
            return "invalid model shape for '\(preset)': \(message)"
        case .unknownSetting(let key):
            return "unknown model setting '\(key)'; valid keys: \(ModelConfig.settingKeys.joined(separator: ", "))"
        case .badValue(let key, let value):
            return "model setting \(key)=\(value) is not a valid value"
        }
    }
}
