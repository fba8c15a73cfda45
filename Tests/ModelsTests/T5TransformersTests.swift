import Foundation
import Testing
@testable import Models
import TensorCore

/// `T5Model` against Hugging Face transformers' T5 v1.1 on the same weights and batch
/// (Fixtures/t5-transformers.json, made by scripts/t5-fixture): the loss, each row's summed loss
/// and the gradient of every parameter. Finite differences check that ntng's gradients are those
/// of ntng's loss; this checks that ntng's loss is T5's — the bucket rule, the causal and padding
/// masks, the packed gated GELU, the unscaled attention, the untied head.
@Suite struct T5TransformersTests {
    struct Fixture: Decodable {
        struct Shape: Decodable {
            var hidden, heads, ffn_half, layers, buckets, max_distance, input_length, target_length, tokens, sentinels: Int
            var epsilon: Float
        }
        struct Batch: Decodable {
            var inputs, decoder_inputs, targets, input_lengths, target_lengths: [Int32]
        }
        var source: String
        var shape: Shape
        var batch: Batch
        var loss: Double
        var row_losses: [Double]
        struct Greedy: Decodable { var end_token: Int32; var max_length: Int; var outputs: [[Int32]] }
        var greedy: Greedy
        var parameters: [String: [Float]]
        var gradients: [String: [Double]]
    }

    static func fixture() throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/t5-transformers.json", withExtension: nil))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    /// The fixture's shape as a `t5-tiny` variant, laid out for its batch's rows.
    static func config(_ s: Fixture.Shape, rows: Int) throws -> ModelConfig {
        var c = try ModelConfig.preset("t5-tiny")
        c.vocabularySize = s.tokens
        c.hidden = s.hidden
        c.heads = s.heads
        c.ffn = 2 * s.ffn_half
        c.layers = s.layers
        c.sequenceLength = s.input_length
        c.microBatch = rows
        c.layerNormEpsilon = s.epsilon
        c.encoderDecoder = EncoderDecoderShape(targetLength: s.target_length, sentinels: s.sentinels,
                                               relativeBuckets: s.buckets, relativeMaxDistance: s.max_distance)
        return c
    }

    /// A model holding the fixture's weights.
    static func model(_ f: Fixture) throws -> T5Model {
        let model = try T5Model(config: try config(f.shape, rows: f.batch.input_lengths.count), seed: 0)
        let p = model.parameters
        // The same tensors under both names: none missing, none extra, every shape's size equal.
        #expect(Set(p.entries.map(\.name)) == Set(f.parameters.keys))
        for e in p.entries {
            let values = try #require(f.parameters[e.name])
            try #require(values.count == e.count, "\(e.name): \(values.count) values for \(e.count)")
            p.value(e.name).base.update(from: values, count: e.count)
        }
        return model
    }

    @Test func lossAndGradientsEqualTransformers() throws {
        let f = try Self.fixture()
        let model = try Self.model(f), config = model.config, p = model.parameters
        var batch = SpanCorruptionBatch(inputLength: f.shape.input_length, targetLength: f.shape.target_length,
                                        inputs: f.batch.inputs, decoderInputs: f.batch.decoder_inputs, targets: f.batch.targets,
                                        exampleIds: f.batch.input_lengths.indices.map(UInt64.init))
        batch.inputLengths = f.batch.input_lengths
        batch.targetLengths = f.batch.target_lengths
        try batch.validate(for: config)

        p.zeroGradients()
        let loss = model.forwardBackward(batch)
        let mean = loss.sum / Double(loss.targetTokens)
        #expect(abs(mean - f.loss) <= 1e-5 * abs(f.loss), "loss \(mean), transformers \(f.loss)")
        for (row, expected) in f.row_losses.enumerated() {
            let got = Double(model.perExampleLoss[row])
            #expect(abs(got - expected) <= 1e-5 * abs(expected), "row \(row): \(got), transformers \(expected)")
        }
        // Float32 against float64: within 1e-4 of each tensor's largest gradient. A wrong bucket,
        // mask or half of the gated GELU moves gradients by their own size.
        for e in p.entries {
            let got = p.gradientArray(e.name), expected = try #require(f.gradients[e.name])
            let largest = expected.map(abs).max() ?? 0
            #expect(largest > 0, "\(e.name): transformers' gradient is zero, so it checks nothing")
            let worst = zip(got, expected).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * largest, "\(e.name): off by \(worst) (largest gradient \(largest))")
        }
    }

    /// Greedy decoding with the key/value cache equals transformers' `generate`, padded row included.
    @Test func greedyDecodingEqualsTransformers() throws {
        let f = try Self.fixture()
        let model = try Self.model(f)
        let outputs = model.generateGreedy(inputs: f.batch.inputs, rows: f.batch.input_lengths.count, inputLengths: f.batch.input_lengths,
                                           settings: GreedyDecoding(maxLength: f.greedy.max_length, startToken: 0, endToken: f.greedy.end_token))
        #expect(outputs == f.greedy.outputs)
    }
}
