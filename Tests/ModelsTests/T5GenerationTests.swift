import Testing
@testable import Models
import TensorCore

/// Greedy decoding over cached keys and values against the plain path: the full decoder re-run
/// over the prefix generated so far at every step, taking the argmax at the last position.
@Suite struct T5GenerationTests {
    /// The reference: `targetLength` full forward passes per micro-batch, no cache.
    static func uncachedGreedy(_ model: T5Model, inputs: [Int32], rows: Int, start: Int32) -> [[Int32]] {
        let c = model.config, s = c.sequenceLength, tl = c.encoderDecoder!.targetLength
        let v = c.encoderDecoder!.modelVocabulary(c.vocabularySize)
        var out = [[Int32]](repeating: [], count: rows)
        var first = 0
        while first < rows {
            let n = min(c.microBatch, rows - first)
            var decoderInputs = [Int32](repeating: start, count: n * tl)
            for position in 0..<tl {
                let batch = SpanCorruptionBatch(inputLength: s, targetLength: tl, inputs: Array(inputs[first * s ..< (first + n) * s]),
                                                decoderInputs: decoderInputs, targets: [Int32](repeating: 0, count: n * tl),
                                                exampleIds: (0..<n).map { UInt64($0) })
                model.forward(batch)
                let p = model.probabilitiesForTesting(rows: n)
                for row in 0..<n {
                    let z = p.baseAddress! + (row * tl + position) * v
                    var best = 0
                    for j in 1..<v where z[j] > z[best] { best = j }
                    out[first + row].append(Int32(best))
                    if position + 1 < tl { decoderInputs[row * tl + position + 1] = Int32(best) }
                }
            }
            first += n
        }
        return out
    }

    static func randomInputs(_ c: ModelConfig, rows: Int, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        let v = UInt64(c.encoderDecoder!.modelVocabulary(c.vocabularySize))
        return (0..<rows * c.sequenceLength).map { _ in Int32(rng.next() % v) }
    }

    /// Six rows with micro-batches of four: two chunks, the second partial. An end token that
    /// never occurs (-1) lets every row run to the full length.
    @Test(arguments: [UInt64(1), 2, 3])
    func cachedGreedyEqualsRecomputingThePrefix(seed: UInt64) throws {
        var config = try tinyT5Config(layers: 3)
        config.encoderDecoder!.targetLength = 9
        let model = try T5Model(config: config, seed: seed)
        let inputs = Self.randomInputs(config, rows: 6, seed: seed + 10)
        let reference = Self.uncachedGreedy(model, inputs: inputs, rows: 6, start: 0)
        let cached = model.generateGreedy(inputs: inputs, rows: 6, settings: GreedyDecoding(maxLength: 9, startToken: 0, endToken: -1))
        #expect(cached == reference)
        // Not a constant sequence: the cache and the position buckets have something to get wrong.
        #expect(Set(reference.flatMap { $0 }).count > 3)
        // Each row alone decodes as it does in the batch.
        for row in [0, 5] {
            let alone = model.generateGreedy(inputs: Array(inputs[row * config.sequenceLength ..< (row + 1) * config.sequenceLength]),
                                             rows: 1, settings: GreedyDecoding(maxLength: 9, startToken: 0, endToken: -1))
            #expect(alone == [reference[row]])
        }
    }

    @Test func rowsStopAtTheEndTokenOrTheMaximumLength() throws {
        let config = try tinyT5Config()
        let model = try T5Model(config: config, seed: 7)
        let inputs = Self.randomInputs(config, rows: 3, seed: 8)
        let full = model.generateGreedy(inputs: inputs, rows: 3, settings: GreedyDecoding(maxLength: 12, startToken: 0, endToken: -1))
        #expect(full.allSatisfy { $0.count == 12 })
        // Stop at row 0's third token: each row ends before its first occurrence of it.
        let end = full[0][2]
        let stopped = model.generateGreedy(inputs: inputs, rows: 3, settings: GreedyDecoding(maxLength: 12, startToken: 0, endToken: end))
        for row in 0..<3 {
            let expected = Array(full[row].prefix { $0 != end })
            #expect(stopped[row] == expected)
        }
        #expect(stopped[0].count <= 2)
    }
}
