extension ModelConfig {
    /// Named shapes. `tiny` is for tests (a step in milliseconds), `demo` for the README's demo,
    /// `small` for the earlier demo and the method notes,
    /// `medium` for benchmarks (the BERT shape of the PyTorch step-time comparison,
    /// plain GELU FFN so both count the same FLOPs: 183 GFLOP per step of 64 × 128 tokens), `bert-c5` is crammed BERT (16 × 768).
    public static let presets: [ModelConfig] = [
        ModelConfig(name: "tiny", vocabularySize: 8192, hidden: 16, heads: 2, ffn: 32, layers: 2,
                    sequenceLength: 16, microBatch: 4, feedForward: .gatedGELU),
        ModelConfig(name: "small", vocabularySize: 8192, hidden: 128, heads: 2, ffn: 512, layers: 8,
                    sequenceLength: 128, microBatch: 32, feedForward: .gatedGELU),
        // The CPU recipe of docs/recipes.md: at 60 s RST `small` ends above the unigram line, this
        // shape (2048 ids, 4 layers, 32 tokens, micro-batch 16) ends 0.48 nats below it.
        ModelConfig(name: "demo", vocabularySize: 2048, hidden: 128, heads: 2, ffn: 512, layers: 4,
                    sequenceLength: 32, microBatch: 16, feedForward: .gatedGELU),
        ModelConfig(name: "medium", vocabularySize: 8192, hidden: 256, heads: 4, ffn: 1024, layers: 4,
                    sequenceLength: 128, microBatch: 64, feedForward: .gelu),
        ModelConfig(name: "bert-c5", vocabularySize: 32768, hidden: 768, heads: 12, ffn: 3072, layers: 16,
                    sequenceLength: 128, microBatch: 8, feedForward: .gatedGELU),
        // T5 v1.1 (docs/methods/t5.md): `layers` per stack, `seq` the encoder's input length and
        // the target length what span corruption (density 0.15, mean span 3) makes of it, as
        // T5's random_spans_helper computes: 17 raw tokens → 16 + 5, 70 → 64 + 14, 568 → 512 + 114.
        // `ffn` is the width of the packed [wi_1 | wi_0] input matrix, twice T5's d_ff.
        ModelConfig(name: "t5-tiny", vocabularySize: 8192, hidden: 16, heads: 2, ffn: 32, layers: 2,
                    sequenceLength: 16, microBatch: 4, feedForward: .gatedGELU, layerNormEpsilon: 1e-6,
                    encoderDecoder: EncoderDecoderShape(targetLength: 5, sentinels: 100)),
        ModelConfig(name: "t5-small", vocabularySize: 2048, hidden: 128, heads: 2, ffn: 512, layers: 4,
                    sequenceLength: 64, microBatch: 16, feedForward: .gatedGELU, layerNormEpsilon: 1e-6,
                    encoderDecoder: EncoderDecoderShape(targetLength: 14, sentinels: 100)),
        // T5v1.1-Base: d_model 768, 12 heads of 64, d_ff 2048, 12 + 12 blocks; 32,000 pieces and
        // 128 sentinel rows give T5's 32,128-row embedding.
        ModelConfig(name: "t5-base", vocabularySize: 32000, hidden: 768, heads: 12, ffn: 4096, layers: 12,
                    sequenceLength: 512, microBatch: 8, feedForward: .gatedGELU, layerNormEpsilon: 1e-6,
                    encoderDecoder: EncoderDecoderShape(targetLength: 114, sentinels: 128)),
    ]

    public static var presetNames: [String] { presets.map(\.name) }

    /// The vocabulary whose prepared tokenizer a run of `preset` with `overrides` opens: the
    /// `vocab` override if given, else the preset's (nil for an unknown preset).
    public static func corpusVocabulary(preset: String, overrides: [String: String]) -> Int? {
        overrides["vocab"].flatMap { Int($0) } ?? presets.first { $0.name == preset }?.vocabularySize
    }

    /// The preset called `name`, with `overrides` (`key=value`, keys from `settingKeys`) applied
    /// and the result validated.
    public static func preset(_ name: String, overrides: [String: String] = [:]) throws -> ModelConfig {
        guard var config = presets.first(where: { $0.name == name }) else {
            throw ModelConfigError.unknownPreset(name)
        }
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) {
            try config.apply(key: key, value: value)
        }
        try config.validate()
        return config
    }

    public static let settingKeys = [
        "vocab", "hidden", "heads", "ffn", "layers", "seq", "micro-batch", "ffn-kind", "ln-eps", "init-std", "target",
    ]

    /// Sets one field from text, as `--set model.KEY=VALUE` does.
    public mutating func apply(key: String, value: String) throws {
        func int() throws -> Int {
            guard let v = Int(value) else { throw ModelConfigError.badValue(key: key, value: value) }
            return v
        }
        func float() throws -> Float {
            guard let v = Float(value), v.isFinite else { throw ModelConfigError.badValue(key: key, value: value) }
            return v
        }
        switch key {
        case "vocab": vocabularySize = try int()
        case "hidden": hidden = try int()
        case "heads": heads = try int()
        case "ffn": ffn = try int()
        case "layers": layers = try int()
        case "seq": sequenceLength = try int()
        case "micro-batch": microBatch = try int()
        case "ffn-kind":
            guard let kind = FeedForward(rawValue: value) else { throw ModelConfigError.badValue(key: key, value: value) }
            feedForward = kind
        case "ln-eps": layerNormEpsilon = try float()
        case "init-std": initStandardDeviation = try float()
        case "target":
            guard encoderDecoder != nil else { throw ModelConfigError.badValue(key: key, value: value + " (only T5 presets have a target length)") }
            encoderDecoder?.targetLength = try int()
        default: throw ModelConfigError.unknownSetting(key)
        }
    }
}
