import Foundation
import Models
import Testing
import TestSupport
@testable import Host
@testable import PluginHost

// Shared helpers for the method-plugin tests. Each section belongs to the tests named in its
// heading; add new helpers in a section of their own.

/// A built method plugin (`libLion.so`, `libRHO.so`, …): next to the test binary.
func methodPluginPath(_ product: String) -> String {
    PluginPaths.build.appendingPathComponent("lib\(product).so").path
}

/// The six reference methods' library products.
let methodProducts = ["Stacking", "Dropping", "SelectiveBackprop", "RHO", "Lion", "Sophia"]

// MARK: - Optimizer plugins (Lion, Sophia: issue 8)

/// A host for optimizer-plugin tests: a hand-built parameter store of small tensors (so update
/// trajectories can be computed by hand), a scripted sampled-label gradient, and a record of the
/// diagnostics and log lines the plugin sends.
final class OptimizerTestServices: PluginHostServices {
    let parameters: ParameterStore
    let modelConfig: ModelConfig
    var budget = BudgetSnapshot(kind: .steps, amount: 10, elapsed: 0, fraction: 0, rstSeconds: 0, steps: 0, sequences: 0, tokens: 0)
    var stepSeed: UInt64 = 7
    var maxLayers: Int { modelConfig.layers }
    /// The sampled-label gradient of the n-th call (0-based): one value per real coordinate, in
    /// ``coordinates`` order.
    var sampledGradient: (Int) -> [Double] = { _ in [] }
    private(set) var curvatureCalls = 0
    private(set) var diagnostics: [(key: String, value: Double)] = []
    private(set) var logs: [String] = []

    /// One decayed matrix, a norm gain, a norm bias and an embedding (none decayed but the
    /// matrix), laid out with the store's padding between them.
    static let specs: [(name: String, shape: [Int], layer: Int?, kind: ParameterKind)] = [
        ("layers.0.attention.qkv.weight", [2, 3], 0, .matrix),
        ("layers.0.norm.gain", [3], 0, .normGain),
        ("layers.0.norm.bias", [2], 0, .normBias),
        ("embedding.tokens", [2, 2], nil, .embedding),
    ]

    init() throws {
        parameters = ParameterStore(Self.specs)
        modelConfig = try ModelConfig.preset("tiny")
    }

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

    func perExampleLosses(poolRows: [Int], in step: StepContext) throws -> [ExampleLoss] {
        throw PluginError(.hook, plugin: "test host", hook: "per_example_loss", "not served by this test host")
    }

    func sampledLabelGradient(into: UnsafeMutablePointer<Float>, count: Int, in step: StepContext) throws {
        let g = sampledGradient(curvatureCalls)
        curvatureCalls += 1
        into.update(repeating: 0, count: count)
        for (k, i) in coordinates.enumerated() { into[i] = Float(g[k]) }
    }

    func log(_ level: PluginLogLevel, plugin: String, _ message: String, in step: StepContext) { logs.append(message) }

    func recordDiagnostic(plugin: String, key: String, value: Double, in step: StepContext) { diagnostics.append((key, value)) }
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

/// A host for `select_batch` tests: a real `tiny` model only for the parameter layout, scripted
/// per-example losses for the current pool, and a record of what the plugin scored and reported.
final class SelectionTestServices: PluginHostServices {
    let model: MaskedLanguageModel
    var budget = BudgetSnapshot(kind: .steps, amount: 1000, elapsed: 0, fraction: 0, rstSeconds: 0, steps: 0, sequences: 0, tokens: 0)
    var stepSeed: UInt64 = 1
    var maxLayers: Int { model.config.layers }
    /// The loss of pool row r in the current pool.
    var loss: (Int) -> ExampleLoss = { _ in ExampleLoss(sum: 1, maskedTokens: 1) }
    /// Every per_example_loss call of the current step (rows as asked).
    private(set) var scoredCalls: [[Int]] = []
    private(set) var diagnostics: [(key: String, value: Double)] = []
    private(set) var logs: [String] = []

    init() throws { model = try MaskedLanguageModel(config: try ModelConfig.preset("tiny"), seed: 3) }

    var parameters: ParameterStore { model.parameters }
    var modelConfig: ModelConfig { model.config }

    func perExampleLosses(poolRows: [Int], in step: StepContext) throws -> [ExampleLoss] {
        scoredCalls.append(poolRows)
        return poolRows.map(loss)
    }

    func sampledLabelGradient(into: UnsafeMutablePointer<Float>, count: Int, in step: StepContext) throws {
        throw PluginError(.hook, plugin: "test host", hook: "sampled_label_gradient", "not served by this test host")
    }

    func log(_ level: PluginLogLevel, plugin: String, _ message: String, in step: StepContext) { logs.append(message) }

    func recordDiagnostic(plugin: String, key: String, value: Double, in step: StepContext) { diagnostics.append((key, value)) }

    /// Forgets the previous step's calls and diagnostics.
    func newStep(seed: UInt64) {
        stepSeed = seed
        scoredCalls = []
        diagnostics = []
    }

    /// The last value of diagnostic `key` this step.
    func diagnostic(_ key: String) -> Double? { diagnostics.last { $0.key == key }?.value }
}

/// Writes `values` as a little-endian float32 table (the `losses.f32` format) into a temp folder.
func writeLossTable(_ values: [Float], name: String = "losses.f32") throws -> String {
    let url = try makeTemporaryDirectory("rho-table").appendingPathComponent(name)
    var data = Data()
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
    try data.write(to: url)
    return url.path
}
