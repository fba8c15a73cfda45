/// One micro-batch of masked-language-model input: packed sequences (padding only at the end),
/// and the masked positions with their original tokens.
public struct MaskedLMBatch: Sendable, Equatable {
    public var sequenceLength: Int
    /// `[sequences × sequenceLength]` input ids, masked ones already replaced.
    public var tokens: [Int32]
    /// Non-padding tokens of each sequence.
    public var validLengths: [Int32]
    /// Masked positions as flat indices `b · sequenceLength + s`, ascending.
    public var maskedPositions: [Int32]
    /// The original token at each masked position.
    public var labels: [Int32]
    /// Stable id of each sequence (batch selection methods key on it).
    public var exampleIds: [UInt64]

    public init(sequenceLength: Int, tokens: [Int32], validLengths: [Int32], maskedPositions: [Int32],
                labels: [Int32], exampleIds: [UInt64]) {
        self.sequenceLength = sequenceLength
        self.tokens = tokens
        self.validLengths = validLengths
        self.maskedPositions = maskedPositions
        self.labels = labels
        self.exampleIds = exampleIds
    }

    public var sequences: Int { validLengths.count }
    public var maskedCount: Int { maskedPositions.count }

    /// The sub-batch of the given rows, in the given order (rows may not repeat).
    public func selecting(rows: [Int]) -> MaskedLMBatch {
        let s = sequenceLength
        // Masked positions ascend, so each row's are one run: rowStart[r] ..< rowStart[r + 1].
        var rowStart = [Int](repeating: 0, count: sequences + 1)
        for p in maskedPositions { rowStart[Int(p) / s + 1] += 1 }
        for r in 0..<sequences { rowStart[r + 1] += rowStart[r] }
        var out = MaskedLMBatch(sequenceLength: s, tokens: [], validLengths: [], maskedPositions: [],
                                labels: [], exampleIds: [])
        out.tokens.reserveCapacity(rows.count * s)
        for (newRow, row) in rows.enumerated() {
            out.tokens.append(contentsOf: tokens[row * s ..< (row + 1) * s])
            out.validLengths.append(validLengths[row])
            out.exampleIds.append(exampleIds[row])
            for i in rowStart[row] ..< rowStart[row + 1] {
                out.maskedPositions.append(Int32(newRow * s + Int(maskedPositions[i]) % s))
                out.labels.append(labels[i])
            }
        }
        return out
    }

    /// Checks the batch against a model shape; the error says which field is off.
    public func validate(for config: ModelConfig) throws {
        func fail(_ m: String) throws -> Never { throw BatchError.invalid(m) }
        if sequenceLength != config.sequenceLength { try fail("sequence length \(sequenceLength) does not match the model's \(config.sequenceLength)") }
        if sequences < 1 || sequences > config.microBatch { try fail("\(sequences) sequences; the model is laid out for 1...\(config.microBatch)") }
        if tokens.count != sequences * sequenceLength { try fail("\(tokens.count) tokens for \(sequences) sequences of \(sequenceLength)") }
        if exampleIds.count != sequences { try fail("\(exampleIds.count) example ids for \(sequences) sequences") }
        if labels.count != maskedPositions.count { try fail("\(labels.count) labels for \(maskedPositions.count) masked positions") }
        if maskedCount > sequences * config.maxMaskedPerSequence { try fail("\(maskedCount) masked positions exceed the head's capacity of \(sequences * config.maxMaskedPerSequence)") }
        let v = Int32(config.vocabularySize)
        if let bad = tokens.first(where: { $0 < 0 || $0 >= v }) { try fail("token id \(bad) outside the vocabulary 0..<\(v)") }
        if let bad = labels.first(where: { $0 < 0 || $0 >= v }) { try fail("label id \(bad) outside the vocabulary 0..<\(v)") }
        if let bad = validLengths.first(where: { $0 < 1 || Int($0) > sequenceLength }) { try fail("valid length \(bad) outside 1...\(sequenceLength)") }
        var previous: Int32 = -1
        for p in maskedPositions {
            if p <= previous || Int(p) >= tokens.count { try fail("masked positions must be ascending flat indices below \(tokens.count)") }
            previous = p
        }
    }
}

public enum BatchError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let m): return "invalid batch: \(m)" }
    }
}
