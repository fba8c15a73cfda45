import Testing
@testable import Models
import TensorCore

/// The whole model's analytic gradient against central differences of its own Float32 loss.
/// The loss (~4.5) is summed in Float64 from Float32 row losses with relative rounding ~1e-7, so
/// with h = 1e-2 the difference quotient carries noise ~1e-5 and truncation ~h²; gradients checked
/// are the largest of each tensor plus random ones, compared with tolerance 2 % of the tensor's
/// largest gradient — a wrong or missing term shows up as an O(100 %) error.
@Suite struct ModelGradientTests {
    @Test(arguments: ModelConfig.FeedForward.allCases)
    func wholeModelGradientMatchesFiniteDifferences(feedForward: ModelConfig.FeedForward) throws {
        let config = try tinyConfig(feedForward)
        let model = try MaskedLanguageModel(config: config, seed: 3)
        let batch = randomBatch(config, seed: 4)
        try batch.validate(for: config)
        model.parameters.zeroGradients()
        model.forwardBackward(batch, gradientScale: 1)  // gradient of the summed loss
        let p = model.parameters
        var rng = SplitMix64(seed: 9)
        for e in p.entries {
            let grads = p.gradientArray(e.name)
            let largest = grads.indices.max { abs(grads[$0]) < abs(grads[$1]) }!
            let scale = max(abs(grads[largest]), 1e-4)
            var coordinates = [largest]
            for _ in 0..<3 { coordinates.append(Int(rng.next() % UInt64(e.count))) }
            for i in coordinates {
                let x = p.values + e.offset + i, saved = x.pointee, h: Float = 1e-2
                x.pointee = saved + h; let up = model.forward(batch).sum
                x.pointee = saved - h; let down = model.forward(batch).sum
                x.pointee = saved
                let numeric = (up - down) / Double(2 * h)
                #expect(abs(Double(grads[i]) - numeric) <= 0.02 * Double(scale),
                        "\(e.name)[\(i)]: analytic \(grads[i]), numeric \(numeric)")
            }
        }
    }

    @Test func microBatchAccumulationEqualsOneBatch() throws {
        let config = try tinyConfig()
        let model = try MaskedLanguageModel(config: config, seed: 1)
        let batch = randomBatch(config, seed: 2)
        let total = Float(batch.maskedCount)
        model.parameters.zeroGradients()
        model.forwardBackward(batch)
        let whole = model.parameters.allGradients
        model.parameters.zeroGradients()
        model.forwardBackward(batch.selecting(rows: [0, 1]), gradientScale: 1 / total)
        model.forwardBackward(batch.selecting(rows: [2, 3]), gradientScale: 1 / total)
        let accumulated = model.parameters.allGradients
        let worst = zip(whole, accumulated).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5 * max(whole.map(abs).max()!, 1))
    }

    @Test func sampledLabelGradientIsTheGradientAgainstTheDrawnLabels() throws {
        let config = try tinyConfig()
        let model = try MaskedLanguageModel(config: config, seed: 1)
        var batch = randomBatch(config, seed: 2)
        model.parameters.zeroGradients()
        let sampledLoss = model.forwardBackward(batch, targets: .sampledFromModel(seed: 77))
        let sampledGradient = model.parameters.allGradients
        let drawn = Array(model.sampledLabels)
        #expect(drawn != batch.labels)  // the draws come from the model, not the data
        // Same seed, same draws.
        model.forward(batch, targets: .sampledFromModel(seed: 77))
        #expect(Array(model.sampledLabels) == drawn)
        // Training on the drawn labels as if they were true gives the same gradient.
        batch.labels = drawn
        model.parameters.zeroGradients()
        let labelLoss = model.forwardBackward(batch)
        #expect(abs(labelLoss.sum - sampledLoss.sum) < 1e-4)
        #expect(model.parameters.allGradients == sampledGradient)
    }
}
