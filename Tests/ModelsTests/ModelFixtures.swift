@testable import Models
import TensorCore

/// The tiny preset with larger initial weights, so gradients are far above Float32 noise in
/// finite-difference checks.
func tinyConfig(_ feedForward: ModelConfig.FeedForward = .gatedGELU, layers: Int = 2) throws -> ModelConfig {
    var c = try ModelConfig.preset("tiny")
    c.feedForward = feedForward
    c.layers = layers
    c.vocabularySize = 96
    c.initStandardDeviation = 0.3
    c.layerNormEpsilon = 1e-5
    return c
}

/// A batch of random tokens in which the last sequence is padded and ~15 % of real tokens are
/// masked; deterministic in `seed`.
func randomBatch(_ c: ModelConfig, sequences: Int? = nil, seed: UInt64) -> MaskedLMBatch {
    var rng = SplitMix64(seed: seed)
    let b = sequences ?? c.microBatch, s = c.sequenceLength
    var tokens: [Int32] = [], lengths: [Int32] = [], positions: [Int32] = [], labels: [Int32] = []
    for row in 0..<b {
        let length = row == b - 1 ? s / 2 + 1 : s
        lengths.append(Int32(length))
        for i in 0..<s {
            let token = i < length ? Int32(5 + Int(rng.next() % UInt64(c.vocabularySize - 5))) : 0
            if i < length && i % 6 == Int(rng.next() % 6) && positions.count < (row + 1) * 2 {
                positions.append(Int32(row * s + i))
                labels.append(token)
                tokens.append(4)
            } else {
                tokens.append(token)
            }
        }
        if !positions.contains(where: { Int($0) / s == row }) {  // every row gets at least one
            positions.append(Int32(row * s + 1)); labels.append(tokens[row * s + 1]); tokens[row * s + 1] = 4
        }
    }
    let order = positions.indices.sorted { positions[$0] < positions[$1] }
    return MaskedLMBatch(sequenceLength: s, tokens: tokens, validLengths: lengths,
                         maskedPositions: order.map { positions[$0] }, labels: order.map { labels[$0] },
                         exampleIds: (0..<b).map { UInt64(1000 + $0) })
}

extension ParameterStore {
    func gradientArray(_ name: String) -> [Float] { gradient(name).toArray() }
    var allGradients: [Float] { Array(UnsafeBufferPointer(start: gradients, count: count)) }
}
