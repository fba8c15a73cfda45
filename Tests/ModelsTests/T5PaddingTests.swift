import Testing
@testable import Models
import TensorCore

/// Padded sources and targets (instruction fine-tuning's rows): each row's loss and gradient
/// equal those of the same row alone in a model shaped to its real lengths, which has no padding
/// at all. T5's parameters do not depend on the lengths, so both models share one set.
@Suite struct T5PaddingTests {
    static func model(_ base: ModelConfig, source: Int, target: Int, rows: Int, copying from: T5Model?) throws -> T5Model {
        var c = base
        c.sequenceLength = source
        c.encoderDecoder!.targetLength = target
        c.microBatch = rows
        let m = try T5Model(config: c, seed: 11)
        if let from { m.parameters.values.update(from: from.parameters.values, count: from.parameters.count) }
        return m
    }

    @Test func aPaddedRowScoresAndLearnsAsTheRowAlone() throws {
        var base = try tinyT5Config()
        base.sequenceLength = 12
        base.encoderDecoder!.targetLength = 6
        base.microBatch = 3
        let padded = try Self.model(base, source: 12, target: 6, rows: 3, copying: nil)
        var batch = randomT5Batch(base, sequences: 3, seed: 21)
        let sourceLengths: [Int32] = [12, 7, 4], targetLengths: [Int32] = [6, 2, 4]
        batch.inputLengths = sourceLengths
        batch.targetLengths = targetLengths
        // Padding is whatever the tokens there are; make it visibly different from real text.
        for row in 0..<3 {
            for i in Int(sourceLengths[row])..<12 { batch.inputs[row * 12 + i] = 0 }
        }
        try batch.validate(for: padded.config)
        #expect(batch.targetCount == 12)
        padded.parameters.zeroGradients()
        let loss = padded.forwardBackward(batch, gradientScale: 1)
        #expect(loss.targetTokens == 12)
        let paddedLosses = Array(padded.perExampleLoss)
        var summed = [Float](repeating: 0, count: padded.parameters.count)
        var total = 0.0
        for row in 0..<3 {
            let s = Int(sourceLengths[row]), t = Int(targetLengths[row])
            let alone = try Self.model(base, source: s, target: t, rows: 1, copying: padded)
            let one = SpanCorruptionBatch(inputLength: s, targetLength: t, inputs: Array(batch.inputs[row * 12 ..< row * 12 + s]),
                                          decoderInputs: Array(batch.decoderInputs[row * 6 ..< row * 6 + t]),
                                          targets: Array(batch.targets[row * 6 ..< row * 6 + t]), exampleIds: [1])
            alone.parameters.zeroGradients()
            let l = alone.forwardBackward(one, gradientScale: 1)
            #expect(abs(Double(paddedLosses[row]) - l.sum) < 1e-4 * max(1, abs(l.sum)), "row \(row): \(paddedLosses[row]) vs \(l.sum)")
            #expect(padded.perExampleTargetCount[row] == Float(t))
            total += l.sum
            for i in 0..<summed.count { summed[i] += alone.parameters.gradients[i] }
        }
        #expect(abs(loss.sum - total) < 1e-4 * abs(total))
        let largest = summed.map(abs).max()!
        var worst: Float = 0
        for i in 0..<summed.count { worst = max(worst, abs(padded.parameters.gradients[i] - summed[i])) }
        #expect(largest > 0.1 && worst < 1e-4 * largest, "largest gradient \(largest), worst difference \(worst)")
    }

    /// Generation over a padded source attends to the real tokens only: the same output as the
    /// row alone, whatever the padding holds.
    @Test func paddedGenerationIgnoresThePadding() throws {
        var base = try tinyT5Config()
        base.sequenceLength = 12
        base.microBatch = 2
        let padded = try Self.model(base, source: 12, target: base.encoderDecoder!.targetLength, rows: 2, copying: nil)
        let alone = try Self.model(base, source: 5, target: base.encoderDecoder!.targetLength, rows: 1, copying: padded)
        var inputs = T5GenerationTests.randomInputs(padded.config, rows: 2, seed: 5)
        let settings = GreedyDecoding(maxLength: 8, startToken: 0, endToken: -1)
        let reference = alone.generateGreedy(inputs: Array(inputs[12 ..< 17]), rows: 1, settings: settings)
        let first = padded.generateGreedy(inputs: inputs, rows: 2, inputLengths: [12, 5], settings: settings)
        for i in 17..<24 { inputs[i] = Int32(i % 7) }
        let second = padded.generateGreedy(inputs: inputs, rows: 2, inputLengths: [12, 5], settings: settings)
        #expect(first[1] == reference[0] && second[1] == reference[0])
        #expect(first[0] == second[0])
    }
}
