import Testing
@testable import Models
import TensorCore

/// The per-layer and per-row controls of PluginAPI v1.1 against finite differences and against
/// the plain pass: a residual-branch scale, a frozen bottom block and row weights.
@Suite struct PassControlsTests {
    /// Analytic gradients of the scaled model against central differences of its own scaled loss
    /// (tolerance as in ModelGradientTests), and the loss really changes with the scale.
    @Test func outputScalesHaveTheGradientOfTheScaledModel() throws {
        let config = try tinyConfig()
        let model = try MaskedLanguageModel(config: config, seed: 3)
        let batch = randomBatch(config, seed: 4)
        let controls = PassControls(outputScales: [1.7, 0.6])
        let plain = model.forward(batch).sum
        model.parameters.zeroGradients()
        let scaled = model.forwardBackward(batch, gradientScale: 1, controls: controls).sum
        #expect(abs(scaled - plain) > 1e-3, "the scale must change the loss: \(plain) vs \(scaled)")
        try expectGradientsMatchFiniteDifferences(model, batch) { model.forward(batch, controls: controls).sum }
    }

    /// Every output scale 1 is the plain pass, bit for bit.
    @Test func unitScalesAreThePlainPass() throws {
        let config = try tinyConfig()
        let model = try MaskedLanguageModel(config: config, seed: 3)
        let batch = randomBatch(config, seed: 4)
        model.parameters.zeroGradients()
        let plain = model.forwardBackward(batch, gradientScale: 1).sum
        let plainGradients = model.parameters.allGradients
        model.parameters.zeroGradients()
        let ones = model.forwardBackward(batch, gradientScale: 1, controls: PassControls(outputScales: [1, 1], rowWeights: [1, 1, 1, 1])).sum
        #expect(ones == plain)
        #expect(model.parameters.allGradients == plainGradients)
    }

    /// Row weights: the gradient of Σ_r w_r · (row r's summed loss); the returned loss stays the
    /// unweighted sum.
    @Test func rowWeightsWeighEachRowsLoss() throws {
        let config = try tinyConfig()
        let model = try MaskedLanguageModel(config: config, seed: 3)
        let batch = randomBatch(config, seed: 4)
        let weights: [Float] = Array([0.5, 2, 0, 1.25].prefix(batch.sequences))
        model.parameters.zeroGradients()
        let loss = model.forwardBackward(batch, gradientScale: 1, controls: PassControls(rowWeights: weights)).sum
        #expect(loss == model.forward(batch).sum)
        try expectGradientsMatchFiniteDifferences(model, batch) {
            model.forward(batch)
            return zip(model.perExampleLoss, weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
    }

    /// Freezing layer 0 of 2: layer 1, the final norm and the head get exactly the plain pass's
    /// gradients; layer 0, the embedding norm and the position scale get none; the tied token
    /// embedding keeps only the head's share.
    @Test func aFrozenBottomBlockStopsTheBackwardPass() throws {
        let config = try tinyConfig()
        let model = try MaskedLanguageModel(config: config, seed: 3)
        let batch = randomBatch(config, seed: 4)
        let p = model.parameters
        p.zeroGradients()
        model.forwardBackward(batch, gradientScale: 1)
        let full = Dictionary(uniqueKeysWithValues: p.entries.map { ($0.name, p.gradientArray($0.name)) })
        p.zeroGradients()
        model.forwardBackward(batch, gradientScale: 1, controls: PassControls(frozenBelow: 1))
        let below: Set<String> = ["embedding.position_scale", "embedding.norm.gain", "embedding.norm.bias"]
        for e in p.entries {
            let g = p.gradientArray(e.name)
            if e.layer == 0 || below.contains(e.name) {
                #expect(g.allSatisfy { $0 == 0 }, "\(e.name) must get no gradient")
            } else if e.name == "embedding.token" {
                #expect(g != full[e.name]! && g.contains { $0 != 0 }, "the tied embedding keeps the head's gradient only")
            } else {
                #expect(g == full[e.name]!, "\(e.name) must get the plain gradient")
            }
        }
    }

    private func expectGradientsMatchFiniteDifferences(_ model: MaskedLanguageModel, _ batch: MaskedLMBatch,
                                                       loss: () -> Double) throws {
        let p = model.parameters
        var rng = SplitMix64(seed: 9)
        for e in p.entries {
            let grads = p.gradientArray(e.name)
            let largest = grads.indices.max { abs(grads[$0]) < abs(grads[$1]) }!
            let scale = max(abs(grads[largest]), 1e-4)
            for i in [largest, Int(rng.next() % UInt64(e.count)), Int(rng.next() % UInt64(e.count))] {
                let x = p.values + e.offset + i, saved = x.pointee, h: Float = 1e-2
                x.pointee = saved + h; let up = loss()
                x.pointee = saved - h; let down = loss()
                x.pointee = saved
                let numeric = (up - down) / Double(2 * h)
                #expect(abs(Double(grads[i]) - numeric) <= 0.02 * Double(scale), "\(e.name)[\(i)]: analytic \(grads[i]), numeric \(numeric)")
            }
        }
    }
}
