import Testing
@testable import Models
import TensorCore

/// The classification head (pooler + classifier on the first token) and the encoder beneath it,
/// checked against central differences of the summed loss, as `ModelGradientTests` does for the
/// MLM head (same tolerances, same reasoning).
@Suite struct SequenceClassifierTests {
    /// A batch for classification: random tokens, the last sequence padded, no masked positions.
    func classificationBatch(_ c: ModelConfig, seed: UInt64) -> (MaskedLMBatch, [Int32]) {
        var b = randomBatch(c, seed: seed)
        // randomBatch masks some tokens; classification input has none (the [MASK] ids may stay).
        b.maskedPositions = []
        b.labels = []
        let labels = (0..<b.sequences).map { Int32($0 % 3) }
        return (b, labels)
    }

    @Test func gradientMatchesFiniteDifferences() throws {
        let config = try tinyConfig()
        let encoder = try MaskedLanguageModel(config: config, seed: 5)
        let classifier = SequenceClassifier(encoder: encoder, classes: 3, seed: 6)
        let (batch, labels) = classificationBatch(config, seed: 7)
        try batch.validate(for: config)
        encoder.parameters.zeroGradients()
        classifier.head.zeroGradients()
        classifier.forwardBackward(batch, labels: labels, gradientScale: 1)  // gradient of the summed loss
        var rng = SplitMix64(seed: 11)
        var checked = 0
        for store in [classifier.head, encoder.parameters] {
            for e in store.entries {
                let grads = store.gradient(e.name).toArray()
                let largest = grads.indices.max { abs(grads[$0]) < abs(grads[$1]) }!
                let scale = max(abs(grads[largest]), 1e-4)
                var coordinates = [largest]
                for _ in 0..<2 { coordinates.append(Int(rng.next() % UInt64(e.count))) }
                for i in coordinates {
                    let x = store.values + e.offset + i, saved = x.pointee, h: Float = 1e-2
                    x.pointee = saved + h; let up = classifier.forward(batch, labels: labels).sum
                    x.pointee = saved - h; let down = classifier.forward(batch, labels: labels).sum
                    x.pointee = saved
                    let numeric = (up - down) / Double(2 * h)
                    #expect(abs(Double(grads[i]) - numeric) <= 0.02 * Double(scale),
                            "\(e.name)[\(i)]: analytic \(grads[i]), numeric \(numeric)")
                    checked += 1
                }
            }
        }
        #expect(checked > 30)
        // The MLM head is not on this path.
        #expect(encoder.parameters.gradient("head.dense.weight").toArray().allSatisfy { $0 == 0 })
    }

    @Test func predictionsAreTheArgmaxAndPaddingIsIgnored() throws {
        let config = try tinyConfig()
        let encoder = try MaskedLanguageModel(config: config, seed: 1)
        let classifier = SequenceClassifier(encoder: encoder, classes: 4, seed: 2)
        var (batch, _) = classificationBatch(config, seed: 3)
        let labels = [Int32](repeating: 0, count: batch.sequences)
        let loss = classifier.forward(batch, labels: labels)
        #expect(loss.count == batch.sequences && loss.sum > 0)
        let p = Array(classifier.probabilities)
        for r in 0..<batch.sequences {
            let row = p[(r * 4)..<(r * 4 + 4)]
            #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            #expect(Int(classifier.predictions[r]) == row.indices.max { row[$0] < row[$1] }! - r * 4)
        }
        // Changing the tokens after a sequence's valid length changes nothing.
        let last = batch.sequences - 1, s = config.sequenceLength
        for i in Int(batch.validLengths[last])..<s { batch.tokens[last * s + i] = 7 }
        #expect(classifier.forward(batch, labels: labels).sum == loss.sum)
    }

    @Test func splitBatchesAccumulateToTheWholeBatchGradient() throws {
        let config = try tinyConfig()
        let encoder = try MaskedLanguageModel(config: config, seed: 1)
        let classifier = SequenceClassifier(encoder: encoder, classes: 3, seed: 2)
        let (batch, labels) = classificationBatch(config, seed: 4)
        func gradients() -> [Float] {
            Array(UnsafeBufferPointer(start: classifier.head.gradients, count: classifier.head.count))
                + Array(UnsafeBufferPointer(start: encoder.parameters.gradients, count: encoder.parameters.count))
        }
        encoder.parameters.zeroGradients(); classifier.head.zeroGradients()
        classifier.forwardBackward(batch, labels: labels)
        let whole = gradients()
        encoder.parameters.zeroGradients(); classifier.head.zeroGradients()
        let n = Float(batch.sequences)
        classifier.forwardBackward(batch.selecting(rows: [0, 1]), labels: Array(labels[0..<2]), gradientScale: 1 / n)
        classifier.forwardBackward(batch.selecting(rows: [2, 3]), labels: Array(labels[2..<4]), gradientScale: 1 / n)
        let split = gradients()
        let worst = zip(whole, split).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5 * max(whole.map(abs).max()!, 1))
    }
}
