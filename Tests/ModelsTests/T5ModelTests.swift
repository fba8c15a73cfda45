import Testing
@testable import Models
import TensorCore

/// `t5-tiny` with a 40-id vocabulary (4 of them sentinels), so a finite-difference sweep is quick.
func tinyT5Config(layers: Int = 2) throws -> ModelConfig {
    var c = try ModelConfig.preset("t5-tiny")
    c.layers = layers
    c.vocabularySize = 36
    c.encoderDecoder!.sentinels = 4
    c.encoderDecoder!.relativeBuckets = 8
    c.encoderDecoder!.relativeMaxDistance = 12
    return c
}

/// Random ids in every field; the decoder inputs are the targets shifted right behind id 0, as
/// span corruption makes them.
func randomT5Batch(_ c: ModelConfig, sequences: Int? = nil, seed: UInt64) -> SpanCorruptionBatch {
    var rng = SplitMix64(seed: seed)
    let b = sequences ?? c.microBatch, s = c.sequenceLength, t = c.encoderDecoder!.targetLength
    let v = UInt64(c.encoderDecoder!.modelVocabulary(c.vocabularySize))
    let inputs = (0..<b * s).map { _ in Int32(rng.next() % v) }
    let targets = (0..<b * t).map { _ in Int32(rng.next() % v) }
    let decoderInputs = (0..<b * t).map { $0 % t == 0 ? 0 : targets[$0 - 1] }
    return SpanCorruptionBatch(inputLength: s, targetLength: t, inputs: inputs, decoderInputs: decoderInputs, targets: targets,
                               exampleIds: (0..<b).map { UInt64(500 + $0) })
}

@Suite struct T5ModelTests {
    /// Central differences of the model's own Float32 loss, as for the encoder
    /// (``ModelGradientTests``): the largest gradient of every tensor plus random coordinates,
    /// within 2 % of the tensor's largest gradient. With controls, the residual-branch scales
    /// (layer dropping's) must enter the gradient.
    @Test(arguments: [PassControls.none, PassControls(outputScales: [0.5, 1.5])])
    func wholeModelGradientMatchesFiniteDifferences(controls: PassControls) throws {
        let config = try tinyT5Config()
        let model = try T5Model(config: config, seed: 3)
        let batch = randomT5Batch(config, seed: 4)
        try batch.validate(for: config)
        model.parameters.zeroGradients()
        model.forwardBackward(batch, gradientScale: 1, controls: controls)
        let p = model.parameters
        var rng = SplitMix64(seed: 9)
        for e in p.entries {
            let grads = p.gradientArray(e.name)
            let largest = grads.indices.max { abs(grads[$0]) < abs(grads[$1]) }!
            let scale = max(abs(grads[largest]), 1e-4)
            var coordinates = [largest]
            for _ in 0..<3 { coordinates.append(Int(rng.next() % UInt64(e.count))) }
            for i in coordinates {
                let x = p.values + e.offset + i, saved = x.pointee, h: Float = 3e-3
                x.pointee = saved + h; let up = model.forward(batch, controls: controls).sum
                x.pointee = saved - h; let down = model.forward(batch, controls: controls).sum
                x.pointee = saved
                let numeric = (up - down) / Double(2 * h)
                #expect(abs(Double(grads[i]) - numeric) <= 0.02 * Double(scale), "\(e.name)[\(i)]: analytic \(grads[i]), numeric \(numeric)")
            }
        }
    }

    @Test func parameterCountAndLayout() throws {
        for name in ["t5-tiny", "t5-small", "t5-base"] {
            let c = try ModelConfig.preset(name)
            let specs = T5Model.parameterSpecs(c)
            #expect(specs.map { $0.shape.reduce(1, *) }.reduce(0, +) == c.parameterCount, "\(name)")
        }
        // google/t5-v1_1-base has 247,577,856 parameters with one relative-bias table per stack;
        // the paper's code gives each of the 24 blocks its own, 22 more tables of 32 × 12.
        let base = try ModelConfig.preset("t5-base")
        #expect(base.parameterCount == 247_577_856 + 22 * 32 * 12)
    }

    @Test func decoderIsCausal() throws {
        let config = try tinyT5Config()
        let model = try T5Model(config: config, seed: 5)
        var batch = randomT5Batch(config, sequences: 1, seed: 6)
        let t = config.encoderDecoder!.targetLength
        model.forward(batch)
        let before = Array(model.rowLossesForTesting(t))
        // Changing the decoder's last input changes only the last position's loss.
        batch.decoderInputs[t - 1] = (batch.decoderInputs[t - 1] + 1) % 36
        model.forward(batch)
        let after = Array(model.rowLossesForTesting(t))
        #expect(Array(before[0..<t - 1]) == Array(after[0..<t - 1]))
        #expect(before[t - 1] != after[t - 1])
        // Every encoder input reaches every target (bidirectional encoder, cross-attention).
        batch.inputs[config.sequenceLength - 1] = (batch.inputs[config.sequenceLength - 1] + 1) % 36
        model.forward(batch)
        let encoderChanged = Array(model.rowLossesForTesting(t))
        #expect(zip(after, encoderChanged).allSatisfy { $0 != $1 })
    }

    /// Row weights scale each row's share of the gradient: weights (2, 0) give twice the
    /// gradient of row 0 alone.
    @Test func rowWeightsScaleEachRowsGradient() throws {
        let config = try tinyT5Config()
        let model = try T5Model(config: config, seed: 1)
        let batch = randomT5Batch(config, sequences: 2, seed: 2)
        model.parameters.zeroGradients()
        let weighted = model.forwardBackward(batch, gradientScale: 1, controls: PassControls(rowWeights: [2, 0]))
        let weightedGradient = model.parameters.allGradients
        model.parameters.zeroGradients()
        model.forwardBackward(batch.selecting(rows: [0]), gradientScale: 2)
        let worst = zip(weightedGradient, model.parameters.allGradients).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5 * max(weightedGradient.map(abs).max()!, 1))
        #expect(abs(weighted.sum - model.forward(batch).sum) < 1e-9)  // the loss itself is unweighted
    }

    @Test func microBatchAccumulationEqualsOneBatch() throws {
        let config = try tinyT5Config()
        let model = try T5Model(config: config, seed: 1)
        let batch = randomT5Batch(config, seed: 2)
        let total = Float(batch.targetCount)
        model.parameters.zeroGradients()
        model.forwardBackward(batch)
        let whole = model.parameters.allGradients
        model.parameters.zeroGradients()
        model.forwardBackward(batch.selecting(rows: [0, 1]), gradientScale: 1 / total)
        model.forwardBackward(batch.selecting(rows: [2, 3]), gradientScale: 1 / total)
        let worst = zip(whole, model.parameters.allGradients).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5 * max(whole.map(abs).max()!, 1))
    }

    @Test func threadCountChangesNoBit() throws {
        let config = try tinyT5Config()
        let batch = randomT5Batch(config, seed: 8)
        func gradients(threads: Int) throws -> ([Float], Double) {
            let saved = ComputeThreads.count
            ComputeThreads.set(threads)
            defer { ComputeThreads.set(saved) }
            let model = try T5Model(config: config, seed: 7)
            let loss = model.forwardBackward(batch)
            return (model.parameters.allGradients, loss.sum)
        }
        let one = try gradients(threads: 1), two = try gradients(threads: 2)
        #expect(one.0 == two.0 && one.1 == two.1)
    }

    @Test func activeBlocksRunTheSameIndicesInBothStacks() throws {
        let config = try tinyT5Config()
        let model = try T5Model(config: config, seed: 11)
        let batch = randomT5Batch(config, seed: 12)
        model.parameters.zeroGradients()
        model.forwardBackward(batch, activeLayers: [1])
        for e in model.parameters.entries where e.layer == 0 {
            #expect(model.parameters.gradientArray(e.name).allSatisfy { $0 == 0 }, "\(e.name) belongs to a skipped block")
        }
        for e in model.parameters.entries where e.layer == 1 && e.kind == .matrix {
            #expect(model.parameters.gradientArray(e.name).contains { $0 != 0 }, "\(e.name) belongs to the block that ran")
        }
    }

    @Test func foreignShapesAreRefused() throws {
        #expect(throws: ModelConfigError.self) { try T5Model(config: try ModelConfig.preset("tiny"), seed: 1) }
        let config = try tinyT5Config()
        var batch = randomT5Batch(config, seed: 1)
        batch.targets[0] = 40
        #expect(throws: BatchError.self) { try batch.validate(for: config) }
        #expect(throws: BatchError.self) { try randomT5Batch(config, seed: 1).validate(for: try ModelConfig.preset("tiny")) }
    }
}
