import Clock
import Models
import PluginHost
import TensorCore
import Workloads

/// The one stand-in for the host's plugin services (``PluginHostServices``), for tests of plugins
/// and of the plugin stack that need no training step. Its parameters are a real masked LM of any
/// preset and depth (``init(preset:layers:modelSeed:budget:stepSeed:)``) or a hand-built store of
/// small tensors whose trajectories a test computes by hand (``init(parameters:budget:stepSeed:)``).
/// Scoring and curvature do what the test scripts, or are refused when unscripted; every call a
/// plugin makes is recorded.
public final class ScriptedHost: PluginHostServices {
    /// The model behind ``parameters`` (nil for a hand-built store).
    public let model: MaskedLanguageModel?
    private let store: ParameterStore?
    private let shape: ModelConfig
    public var maxLayers: Int
    public var budget: BudgetSnapshot
    public var stepSeed: UInt64

    /// The loss of pool row r for `per_example_loss`; nil refuses the service.
    public var exampleLoss: ((Int) -> ExampleLoss)?
    /// Fills the `call`-th (0-based) sampled-label gradient in the flat layout; nil refuses it.
    public var sampledGradient: ((_ call: Int, _ into: UnsafeMutableBufferPointer<Float>) -> Void)?

    /// Every `per_example_loss` call since ``newStep(seed:)`` (rows as asked).
    public private(set) var scoredRows: [[Int]] = []
    public private(set) var curvatureCalls = 0
    public private(set) var logs: [(level: PluginLogLevel, plugin: String, message: String)] = []
    public private(set) var diagnostics: [(key: String, value: Double)] = []
    /// The resize plans carried out by ``resizeIfPlanned(_:)``.
    public private(set) var plans: [[LayerSource]] = []

    /// A real `preset` model (with `layers` layers if given), resizable up to its depth.
    public init(preset: String = "tiny", layers: Int? = nil, modelSeed: UInt64 = 3,
                budget: BudgetSnapshot = .atStart(.steps, amount: 10), stepSeed: UInt64 = 42) throws {
        let config = try ModelConfig.preset(preset, overrides: layers.map { ["layers": String($0)] } ?? [:])
        model = try MaskedLanguageModel(config: config, seed: modelSeed)
        store = nil
        shape = config
        maxLayers = config.layers
        self.budget = budget
        self.stepSeed = stepSeed
    }

    /// A hand-built parameter store; the model shape reported to plugins is `tiny`'s.
    public init(parameters specs: [(name: String, shape: [Int], layer: Int?, kind: ParameterKind)],
                budget: BudgetSnapshot = .atStart(.steps, amount: 10), stepSeed: UInt64 = 42) throws {
        model = nil
        store = ParameterStore(specs)
        shape = try ModelConfig.preset("tiny")
        maxLayers = shape.layers
        self.budget = budget
        self.stepSeed = stepSeed
    }

    public var parameters: ParameterStore { model?.parameters ?? store! }
    public var modelConfig: ModelConfig { model?.config ?? shape }

    // MARK: - Services

    public func perExampleLosses(poolRows: [Int], in step: StepContext) throws -> [ExampleLoss] {
        guard let exampleLoss else { throw PluginError(.hook, plugin: "scripted host", hook: "per_example_loss", "not scripted by this test") }
        scoredRows.append(poolRows)
        return poolRows.map(exampleLoss)
    }

    public func sampledLabelGradient(into: UnsafeMutablePointer<Float>, count: Int, in step: StepContext) throws {
        guard let sampledGradient else {
            throw PluginError(.hook, plugin: "scripted host", hook: "sampled_label_gradient", "not scripted by this test")
        }
        into.update(repeating: 0, count: count)
        sampledGradient(curvatureCalls, UnsafeMutableBufferPointer(start: into, count: count))
        curvatureCalls += 1
    }

    public func log(_ level: PluginLogLevel, plugin: String, _ message: String, in step: StepContext) {
        logs.append((level, plugin, message))
    }

    public func recordDiagnostic(plugin: String, key: String, value: Double, in step: StepContext) {
        diagnostics.append((key, value))
    }

    // MARK: - Driving it as a trainer would

    /// The logged messages, in order.
    public var logMessages: [String] { logs.map(\.message) }

    /// The last value of diagnostic `key` since ``newStep(seed:)``.
    public func diagnostic(_ key: String) -> Double? { diagnostics.last { $0.key == key }?.value }

    /// Forgets the previous step's scoring calls and diagnostics; the next step has `seed`.
    public func newStep(seed: UInt64) {
        stepSeed = seed
        scoredRows = []
        diagnostics = []
    }

    /// Moves the clock to `fraction` of a 100 s RST budget after `step` steps; the step seed
    /// follows the step, as the trainer's does.
    public func set(fraction: Double, step: Int) {
        budget = BudgetSnapshot(kind: .rst, amount: 100, elapsed: 100 * fraction, fraction: fraction,
                                rstSeconds: 100 * fraction, steps: step, sequences: 0, tokens: 0)
        stepSeed = SplitMix64.mix(0xD00D ^ UInt64(step))
    }

    /// The trainer's resize: ask for a plan, rebuild the model, tell the plugins.
    public func resizeIfPlanned(_ stack: PluginStack) throws {
        guard let model else { preconditionFailure("resizing needs a real model") }
        guard let plan = try stack.resizePlan(in: StepContext(number: 1)) else { return }
        let old = model.parameters, previous = model.config.layers
        try model.resize(to: plan, seed: stepSeed)
        plans.append(plan)
        try stack.modelResized(plan: plan, from: old, previousLayers: previous, in: StepContext(number: 1))
    }

    /// Sets every parameter to a distinct pseudo-random value in [-0.5, 0.5).
    public func perturbEveryParameter(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let store = parameters
        for i in 0..<store.count {
            let unit = Double(rng.next() >> 40) / 16_777_216.0  // 24 random bits in [0, 1)
            store.values[i] = Float(unit - 0.5)
        }
    }

    /// Every parameter's values by name.
    public func snapshot() -> [String: [Float]] {
        let store = parameters
        return Dictionary(uniqueKeysWithValues: store.entries.map {
            ($0.name, Array(UnsafeBufferPointer(start: store.values + $0.offset, count: $0.count)))
        })
    }

    /// The layer index in a name like `layers.3.ffn.input.weight`.
    public static func layer(of name: String) -> Int? {
        let parts = name.split(separator: ".")
        guard parts.count > 2, parts[0] == "layers" else { return nil }
        return Int(parts[1])
    }
}

extension ScriptedHost {
    /// A real `tiny` model serving everything: pool row r scores a loss of r over 2 masked
    /// tokens, and the sampled-label gradient is 0.5 everywhere (the loader and hook tests).
    public static func servingEverything() throws -> ScriptedHost {
        let host = try ScriptedHost(modelSeed: 3, stepSeed: 42)
        host.exampleLoss = { ExampleLoss(sum: Float($0), maskedTokens: 2) }
        host.sampledGradient = { _, into in into.update(repeating: 0.5) }
        return host
    }
}

extension BudgetSnapshot {
    /// A budget of `amount` (in `kind`'s unit) with nothing spent.
    public static func atStart(_ kind: Budget.Kind, amount: Double) -> BudgetSnapshot {
        BudgetSnapshot(kind: kind, amount: amount, elapsed: 0, fraction: 0, rstSeconds: 0, steps: 0, sequences: 0, tokens: 0)
    }
}

extension PluginStack {
    /// `optimizer_step` at rate `learningRate` as the host calls it when the schedule gave exactly
    /// that rate with no plugin scaling and a peak of `peakLR` (the BERT default 1e-3).
    public func optimizerStep(learningRate: Float, batchSequences: Int, batchTokens: Int, peakLR: Double = 1e-3,
                              hasGradient: [Bool]? = nil, in step: StepContext) throws -> PluginOptimizerOutcome? {
        try optimizerStep(OptimizerContext(learningRate: learningRate, scheduleLR: Double(learningRate), lrScale: 1, peakLR: peakLR,
                                           scheduleFraction: 0, batchSequences: batchSequences, batchTokens: batchTokens),
                          hasGradient: hasGradient, in: step)
    }
}
