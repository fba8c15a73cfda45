import Foundation
import Models
import Clock
import Workloads

/// What the host gives plugins: the model, the clock and the passes plugins may ask for.
///
/// ``TrainingStep`` implements this for every host. ``PluginStack`` turns it into the C service
/// table each plugin instance sees (`ntng_host`), so every call a plugin makes lands here, with
/// the ``StepContext`` of the step the calling hook serves. Methods that run model work **charge
/// the clock themselves** at reference cost (scoring, curvature); the stack adds nothing for them.
public protocol PluginHostServices: AnyObject {
    /// The clock as it stands.
    var budget: BudgetSnapshot { get }
    /// The model's current parameters. Replaced after a resize; the stack re-reads it each hook.
    var parameters: ParameterStore { get }
    /// The model's current shape (`layers`, the resizable stack's depth, changes on resize).
    var modelConfig: ModelConfig { get }
    /// The depth the run's preset defines: the upper bound for resize plans.
    var maxLayers: Int { get }
    /// The model's named stacks of layers ("ntng.model_stacks/1").
    var stacks: [ModelStack] { get }
    /// Whether the baseline decays every tensor (`--set decay-all=true`), so that
    /// `param_info.decayed` says what the baseline decays.
    var decaysEverything: Bool { get }
    /// The run's seed for the current step, derived from the run seed and the steps completed.
    /// The stack derives each plugin's own seed from it.
    var stepSeed: UInt64 { get }
    /// Forward-only losses of rows of `step`'s candidate pool, charged as `.scoring`.
    /// Only called while ``PluginStack/selectBatch(exampleIDs:batch:sequenceLength:in:)`` runs;
    /// rows are checked by the stack.
    func perExampleLosses(poolRows: [Int], in step: StepContext) throws -> [ExampleLoss]
    /// Writes into `into` (flat parameter layout, `count` = `parameters.count` floats) the
    /// gradient of the batch-mean loss against labels sampled from the model's own softmax on
    /// `step`'s batches, accumulated over its micro-batches, leaving parameter gradients
    /// unchanged; charged as `.curvature`. Only called during an `optimizer_step`.
    func sampledLabelGradient(into: UnsafeMutablePointer<Float>, count: Int, in step: StepContext) throws
    /// A log line from a plugin (already copied out of plugin memory), filed under `step`.
    func log(_ level: PluginLogLevel, plugin: String, _ message: String, in step: StepContext)
    /// A number a plugin reported through the "ntng.diagnostics/1" extension, filed under `step`.
    func recordDiagnostic(plugin: String, key: String, value: Double, in step: StepContext)
    /// The context of calls made outside a step's hooks (`create`, `save_state`, `load_state`).
    func runContext() -> StepContext
}

extension PluginHostServices {
    /// One resizable stack, "encoder", as the masked LM has.
    public var stacks: [ModelStack] {
        [ModelStack(name: "encoder", layers: modelConfig.layers, maxLayers: maxLayers, firstLayer: 0, resizable: true)]
    }
    /// The baseline decays matrices only unless a host says otherwise.
    public var decaysEverything: Bool { false }
    /// Hosts that keep no run record ignore diagnostics.
    public func recordDiagnostic(plugin: String, key: String, value: Double, in step: StepContext) {}
    /// Filed under the steps completed: where the run (re)starts or ends.
    public func runContext() -> StepContext { StepContext(number: budget.steps) }
}

/// Read-only view of the budget clock handed to plugins (`ntng_budget`).
public struct BudgetSnapshot: Sendable, Equatable, Codable {
    public var kind: Budget.Kind
    /// The budget in its unit (seconds or steps).
    public var amount: Double
    /// Used so far, same unit.
    public var elapsed: Double
    /// `elapsed / amount`, clamped to 0…1.
    public var fraction: Double
    /// RST seconds charged so far.
    public var rstSeconds: Double
    public var steps: Int
    public var sequences: Int
    public var tokens: Int

    public init(kind: Budget.Kind, amount: Double, elapsed: Double, fraction: Double, rstSeconds: Double,
                steps: Int, sequences: Int, tokens: Int) {
        self.kind = kind
        self.amount = amount
        self.elapsed = elapsed
        self.fraction = fraction
        self.rstSeconds = rstSeconds
        self.steps = steps
        self.sequences = sequences
        self.tokens = tokens
    }

    /// The snapshot of a live clock.
    public init(_ clock: RSTClock) {
        self.init(kind: clock.budget.kind, amount: clock.budget.amount, elapsed: clock.elapsed,
                  fraction: clock.fraction, rstSeconds: clock.rstSeconds, steps: clock.steps,
                  sequences: clock.sequences, tokens: clock.tokens)
    }
}

/// One candidate's forward-only loss (`per_example_loss`).
public struct ExampleLoss: Sendable, Equatable {
    /// Summed cross-entropy over the row's masked tokens.
    public var sum: Float
    /// Number of masked tokens in the row.
    public var maskedTokens: Int

    public init(sum: Float, maskedTokens: Int) {
        self.sum = sum
        self.maskedTokens = maskedTokens
    }
}

/// Severity of a plugin's log line (`NTNG_LOG_*`).
public enum PluginLogLevel: Int32, Sendable, Codable, CaseIterable {
    case debug = 0, info, warning, error

    public var name: String { String(describing: self) }
}
