import Foundation
import Models
import Testing
import TestSupport
@testable import Host
@testable import PluginHost

// Shared helpers for the method-plugin tests. Each section belongs to the tests named in its
// heading; add new helpers in a section of their own.

// MARK: - Optimizer plugins (Lion, Sophia: issue 8)

/// The hand-built store of the optimizer-plugin tests: one decayed matrix, a norm gain, a norm
/// bias and an embedding (none decayed but the matrix), laid out with the store's padding between
/// them, so update trajectories can be computed by hand.
let optimizerTestSpecs: [(name: String, shape: [Int], layer: Int?, kind: ParameterKind)] = [
    ("layers.0.attention.qkv.weight", [2, 3], 0, .matrix),
    ("layers.0.norm.gain", [3], 0, .normGain),
    ("layers.0.norm.bias", [2], 0, .normBias),
    ("embedding.tokens", [2, 2], nil, .embedding),
]

/// The host of the optimizer-plugin tests: ``optimizerTestSpecs`` and step seed 7.
func optimizerTestHost() throws -> ScriptedHost {
    try ScriptedHost(parameters: optimizerTestSpecs, stepSeed: 7)
}

extension ScriptedHost {
    /// Flat offsets of the real coordinates, in entry order (padding skipped).
    var coordinates: [Int] { parameters.entries.flatMap { e in (0..<e.count).map { e.offset + $0 } } }
    /// For each coordinate, the index of its tensor.
    var tensorOfCoordinate: [Int] { parameters.entries.enumerated().flatMap { i, e in Array(repeating: i, count: e.count) } }
    /// For each coordinate, whether the baseline decays it.
    var decayed: [Bool] { parameters.entries.flatMap { e in Array(repeating: e.kind.isDecayed, count: e.count) } }

    var values: [Double] {
        get { coordinates.map { Double(parameters.values[$0]) } }
        set { for (k, i) in coordinates.enumerated() { parameters.values[i] = Float(newValue[k]) } }
    }

    func setGradients(_ g: [Double]) {
        for (k, i) in coordinates.enumerated() { parameters.gradients[i] = Float(g[k]) }
    }

    /// A state tensor's real coordinates.
    func real(_ tensor: [Float]) -> [Double] { coordinates.map { Double(tensor[$0]) } }

    /// Scripts the sampled-label gradient of the n-th call (0-based): one value per real
    /// coordinate, in ``coordinates`` order (padding stays zero).
    func scriptSampledGradient(_ gradient: @escaping (Int) -> [Double]) {
        let coordinates = self.coordinates
        sampledGradient = { call, into in
            let g = gradient(call)
            for (k, i) in coordinates.enumerated() { into[i] = Float(g[k]) }
        }
    }
}

/// Trains a few steps on the standalone host, checkpoints the plugins, restores the checkpoint
/// into a freshly created stack and trains on; returns the losses and parameter digest, which
/// must equal an uninterrupted run's.
func trainWithResume(product: String, settings: [String: String], steps: Int, resumeAfter: Int?,
                     learningRate: Float) throws -> (losses: [Double], digest: String, checkpoint: PluginStackCheckpoint) {
    let host = try StandaloneHost(steps: steps, seed: 11, settings: ["lr=\(learningRate)", "warmup=0"])
    let library = try PluginLibrary.open(path: methodPluginPath(product))
    var stack = try PluginStack(libraries: [library], settings: settings, services: host)
    try stack.runStart(in: StepContext(number: 0))
    for step in 0..<steps {
        if step == resumeAfter {
            let saved = try stack.checkpoint()
            // Through JSON, as the trainer's checkpoint file stores it.
            let decoded = try JSONDecoder().decode(PluginStackCheckpoint.self, from: try JSONEncoder().encode(saved))
            stack = try PluginStack(libraries: [library], settings: settings, services: host)
            try stack.restore(decoded)
            try stack.runStart(in: StepContext(number: 0))
        }
        try host.step(stack)
    }
    try stack.runEnd(in: StepContext(number: 0))
    return (host.losses, host.parameterDigest(), try stack.checkpoint())
}

// MARK: - Batch-selection plugins (selective backprop, RHO-LOSS: issue 7)

/// The host of the `select_batch` tests: a real `tiny` model only for the parameter layout, and
/// scripted per-example losses (1 per masked token until a test sets others).
func selectionTestHost() throws -> ScriptedHost {
    let host = try ScriptedHost(modelSeed: 3, budget: .atStart(.steps, amount: 1000), stepSeed: 1)
    host.exampleLoss = { _ in ExampleLoss(sum: 1, maskedTokens: 1) }
    return host
}

/// Writes `values` as a little-endian float32 table (the `losses.f32` format) into a temp folder.
func writeLossTable(_ values: [Float], name: String = "losses.f32") throws -> String {
    let url = try makeTemporaryDirectory("rho-table").appendingPathComponent(name)
    var data = Data()
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
    try data.write(to: url)
    return url.path
}
