/// The shape of a model and the micro-batch it is laid out for: a BERT-style encoder, or with
/// ``encoderDecoder`` set, a T5 v1.1 encoder–decoder whose two stacks both have ``layers`` layers.
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
    /// LayerNorm's ε (the encoder), or RMS norm's (T5).
    public var layerNormEpsilon: Float
    /// The encoder's initialisation scale (T5 scales each tensor by its fan-in instead).
    public var initStandardDeviation: Float
    /// T5's decoder side; nil for the BERT encoder. Optional so that every stored BERT config
    /// decodes and encodes exactly as before.
    public var encoderDecoder: EncoderDecoderShape?

    public init(
        name: String, vocabularySize: Int, hidden: Int, heads: Int, ffn: Int, layers: Int,
        sequenceLength: Int, microBatch: Int, feedForward: FeedForward,
        layerNormEpsilon: Float = 1e-12, initStandardDeviation: Float = 0.02, encoderDecoder: EncoderDecoderShape? = nil
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
        self.encoderDecoder = encoderDecoder
    }

    /// Width of the activation the output projection reads (`ffn`, or `ffn / 2` for GELU-GLU).
    public var ffnOutputWidth: Int { feedForward == .gatedGELU ? ffn / 2 : ffn }

    /// Masked positions per sequence the head buffers hold. Masking picks 15 % of a sequence's
    /// tokens, so 20 % leaves room for rounding.
    public var maxMaskedPerSequence: Int { Swift.max(1, (sequenceLength * 20 + 99) / 100) }

    /// Number of scalar parameters.
    public var parameterCount: Int {
        if let t5 = encoderDecoder {
            let h = hidden, v = t5.modelVocabulary(vocabularySize), bias = t5.relativeBuckets * heads
            let attention = 4 * h * h, ffnWeights = ffn * h + h * ffnOutputWidth
            let encoderLayer = h + attention + bias + h + ffnWeights
            let decoderLayer = h + attention + bias + h + attention + h + ffnWeights
            return 2 * v * h + layers * (encoderLayer + decoderLayer) + 2 * h
        }
        let perLayer = 4 * hidden + 3 * hidden * hidden + hidden * hidden + ffn * hidden + hidden * ffnOutputWidth
        return vocabularySize * hidden + 1 + 2 * hidden + layers * perLayer + 2 * hidden + hidden * hidden
    }

    /// Model FLOPs of one training step (forward + backward = 3 × forward) on `sequences`
    /// sequences with `masked` masked tokens and `activeLayers` layers:
    /// 6·T·L·(4H² + H·F + H·F′) + 12·B·L·S²·H + 6·M·(H² + H·V). Elementwise work is not counted.
    public func trainingFLOPs(sequences: Int, masked: Int, activeLayers: Int? = nil) -> Double {
        if let t5 = encoderDecoder { return t5.trainingFLOPs(self, sequences: sequences, activeLayers: activeLayers) }
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
        if let t5 = encoderDecoder {
            if feedForward != .gatedGELU { try fail("T5 v1.1 uses the gated GELU feed-forward (ffn-kind gated-gelu)") }
            if t5.targetLength < 2 { try fail("target length must be at least 2 (got \(t5.targetLength))") }
            if t5.sentinels < 1 { try fail("span corruption needs at least one sentinel id (got \(t5.sentinels))") }
            if t5.relativeBuckets < 4 || t5.relativeBuckets % 2 != 0 { try fail("relative buckets must be an even number of at least 4 (got \(t5.relativeBuckets))") }
            if t5.relativeMaxDistance <= t5.relativeBuckets / 4 { try fail("relative max distance (\(t5.relativeMaxDistance)) must exceed a quarter of the buckets (\(t5.relativeBuckets))") }
        }
    }

    private static func divisorNear(_ wanted: Int, of n: Int) -> Int {
        (1...n).filter { n % $0 == 0 }.min { abs($0 - wanted) < abs($1 - wanted) } ?? 1
    }
}

/// What a T5 v1.1 encoder–decoder adds to the encoder's shape.
public struct EncoderDecoderShape: Codable, Equatable, Sendable {
    /// Decoder tokens per sequence (span corruption's targets, sentinels and EOS included).
    public var targetLength: Int
    /// Sentinel ids appended above the tokenizer's vocabulary; `<extra_id_0>` is the highest.
    public var sentinels: Int
    /// Relative-position buckets of each self-attention bias (T5: 32).
    public var relativeBuckets: Int
    /// Offsets from this far on share the last bucket (T5: 128).
    public var relativeMaxDistance: Int

    public init(targetLength: Int, sentinels: Int, relativeBuckets: Int = 32, relativeMaxDistance: Int = 128) {
        self.targetLength = targetLength
        self.sentinels = sentinels
        self.relativeBuckets = relativeBuckets
        self.relativeMaxDistance = relativeMaxDistance
    }

    /// Rows of the embedding and the head: the tokenizer's ids, then the sentinels.
    public func modelVocabulary(_ tokenizerVocabulary: Int) -> Int { tokenizerVocabulary + sentinels }

    /// 6·(encoder tokens·L·(6H² + H·F + H·F′) + decoder tokens·L·(6H² + H·F + H·F′) + B·T·H·V)
    /// + 12·B·L·(S² + T² + T·S)·H: every matrix product, forward and backward. The encoder's
    /// 6H² include each decoder block's cross-attention keys and values, computed on its rows.
    func trainingFLOPs(_ c: ModelConfig, sequences: Int, activeLayers: Int?) -> Double {
        let b = Double(sequences), s = Double(c.sequenceLength), t = Double(targetLength), l = Double(activeLayers ?? c.layers)
        let h = Double(c.hidden), f = Double(c.ffn), f2 = Double(c.ffnOutputWidth), v = Double(modelVocabulary(c.vocabularySize))
        let encoder = b * s * l * (6 * h * h + h * f + h * f2)
        let decoder = b * t * l * (6 * h * h + h * f + h * f2)
        let attention = 2 * b * l * (s * s + t * t + t * s) * h
        let head = b * t * h * v
        return 6 * (encoder + decoder + head) + 6 * attention
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
