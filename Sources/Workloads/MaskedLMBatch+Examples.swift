import Corpus
import Models

extension MaskedLMBatch {
    /// Packs masked examples from the data pipeline into the model's batch layout.
    public init(examples: [MaskedExample], sequenceLength s: Int) {
        var tokens: [Int32] = [], lengths: [Int32] = [], positions: [Int32] = [], labels: [Int32] = []
        tokens.reserveCapacity(examples.count * s)
        for (row, e) in examples.enumerated() {
            tokens.append(contentsOf: e.inputTokens)
            lengths.append(Int32(e.length))
            for (p, label) in zip(e.maskedPositions, e.labels) {
                positions.append(Int32(row * s) + p)
                labels.append(label)
            }
        }
        self.init(sequenceLength: s, tokens: tokens, validLengths: lengths, maskedPositions: positions,
                  labels: labels, exampleIds: examples.map(\.exampleId))
    }
}
