/// One micro-batch of T5 input: span-corrupted encoder inputs, the decoder's inputs (the
/// targets shifted right behind the start id) and the targets. Every row is full length (span
/// corruption packs raw text, so there is no padding) and every target token is in the loss.
public struct SpanCorruptionBatch: Sendable, Equatable {
    public var inputLength: Int
    public var targetLength: Int
    /// `[sequences × inputLength]` encoder ids: kept tokens, a sentinel per noise span, EOS.
    public var inputs: [Int32]
    /// `[sequences × targetLength]` decoder ids: the start id, then the targets but the last.
    public var decoderInputs: [Int32]
    /// `[sequences × targetLength]` targets: each noise span behind its sentinel, then EOS.
    public var targets: [Int32]
    /// Stable id of each sequence.
    public var exampleIds: [UInt64]
    /// Real tokens at the start of each row's input, the rest padding (nil: every row full, as
    /// span corruption makes them). Instruction fine-tuning pads its prompts.
    public var inputLengths: [Int32]?
    /// Real target positions of each row, the rest padding and out of the loss (nil: all).
    public var targetLengths: [Int32]?

    public init(inputLength: Int, targetLength: Int, inputs: [Int32], decoderInputs: [Int32], targets: [Int32], exampleIds: [UInt64]) {
        self.inputLength = inputLength
        self.targetLength = targetLength
        self.inputs = inputs
        self.decoderInputs = decoderInputs
        self.targets = targets
        self.exampleIds = exampleIds
    }

    public var sequences: Int { exampleIds.count }
    /// Target positions in the loss.
    public var targetCount: Int { targetLengths.map { $0.reduce(0) { $0 + Int($1) } } ?? targets.count }

    /// The sub-batch of the given rows, in the given order.
    public func selecting(rows: [Int]) -> SpanCorruptionBatch {
        let s = inputLength, t = targetLength
        var out = SpanCorruptionBatch(inputLength: s, targetLength: t, inputs: [], decoderInputs: [], targets: [], exampleIds: [])
        for row in rows {
            out.inputs += inputs[row * s ..< (row + 1) * s]
            out.decoderInputs += decoderInputs[row * t ..< (row + 1) * t]
            out.targets += targets[row * t ..< (row + 1) * t]
            out.exampleIds.append(exampleIds[row])
        }
        out.inputLengths = inputLengths.map { lengths in rows.map { lengths[$0] } }
        out.targetLengths = targetLengths.map { lengths in rows.map { lengths[$0] } }
        return out
    }

    /// Checks the batch against a T5 shape; the error says which field is off.
    public func validate(for config: ModelConfig) throws {
        func fail(_ m: String) throws -> Never { throw BatchError.invalid(m) }
        guard let t5 = config.encoderDecoder else { try fail("a span-corruption batch needs a T5 model, not '\(config.name)'") }
        if inputLength != config.sequenceLength { try fail("input length \(inputLength) does not match the model's \(config.sequenceLength)") }
        if targetLength != t5.targetLength { try fail("target length \(targetLength) does not match the model's \(t5.targetLength)") }
        if sequences < 1 || sequences > config.microBatch { try fail("\(sequences) sequences; the model is laid out for 1...\(config.microBatch)") }
        if inputs.count != sequences * inputLength { try fail("\(inputs.count) input ids for \(sequences) sequences of \(inputLength)") }
        if decoderInputs.count != sequences * targetLength || targets.count != sequences * targetLength {
            try fail("\(decoderInputs.count) decoder inputs and \(targets.count) targets for \(sequences) sequences of \(targetLength)")
        }
        for (name, lengths, limit) in [("input", inputLengths, inputLength), ("target", targetLengths, targetLength)] {
            guard let lengths else { continue }
            if lengths.count != sequences { try fail("\(lengths.count) \(name) lengths for \(sequences) sequences") }
            if let bad = lengths.first(where: { $0 < 1 || Int($0) > limit }) { try fail("\(name) length \(bad) outside 1...\(limit)") }
        }
        let v = Int32(t5.modelVocabulary(config.vocabularySize))
        for (name, ids) in [("input", inputs), ("decoder input", decoderInputs), ("target", targets)] {
            if let bad = ids.first(where: { $0 < 0 || $0 >= v }) { try fail("\(name) id \(bad) outside the vocabulary 0..<\(v)") }
        }
    }
}
