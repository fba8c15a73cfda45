import Workloads

/// What one call into the plugins acts on: the step being taken and, once drawn, its data.
///
/// ``TrainingStep`` creates one per step (and one for `on_run_start` / `on_run_end`) and passes
/// it to every ``PluginStack`` hook; the stack hands it to the host services that the plugin calls
/// during the hook. Only the step that created it fills in its pool and batches. Services therefore read
/// the pool and the batches they act on from here, never from fields of a trainer that happen to
/// be set at the time of the call.
public final class StepContext {
    /// The 1-based number of the step being taken; for `on_run_start` / `on_run_end` (and state
    /// calls outside a step) the number of steps completed, so their log lines and diagnostics are
    /// filed under the step the run (re)starts or ends at.
    public let number: Int
    /// The candidate pool while `select_batch` runs (nil otherwise).
    public var pool: (any TrainingBatch)?
    /// The step's micro-batches once drawn (for the sampled-label pass in `optimizer_step`).
    public var batches: [any TrainingBatch] = []
    /// While an optimizer hook runs: per parameter tensor, whether it has a gradient this step
    /// (nil = all do) and its update count (`ntng_param_info.has_gradient` / `updates`).
    public var hasGradient: [Bool]?
    public var parameterUpdates: [Int]?

    public init(number: Int) {
        self.number = number
    }
}
