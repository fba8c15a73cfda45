import Clock
import Corpus
import Models
import TensorCore

/// A model, its training objective, its data and its evaluation loss: what the host trains,
/// checkpoints, prices and evaluates (compare AlgoPerf's `Workload`).
///
/// The training step, the trainer, checkpoints, calibration, the plugin services and comparisons
/// know a model only through this protocol, so a second model (T5's encoder–decoder) is a new
/// conforming type plus a case in ``Workloads/make(kind:config:seed:maxLayers:backend:)``. The masked-LM
/// encoder (``MaskedLMWorkload``) is the first.
///
/// Batches passed in must come from this workload's own sources (``trainingBatches(corpus:seed:)``,
/// ``syntheticBatches(seed:firstID:)``) or be rows of them.
public protocol Workload: AnyObject {
    /// What is trained, recorded in checkpoints: "masked-lm".
    var kind: String { get }
    /// The model's shape: preset name, widths, vocabulary, sequence length, micro-batch.
    var config: ModelConfig { get }
    /// The model's stacks of layers, in parameter order (one "encoder" for the masked LM;
    /// "encoder" and "decoder" for T5).
    var stacks: [ModelStack] { get }
    /// Values and gradients of every parameter, in one flat layout.
    var parameters: ParameterStore { get }
    /// The kernels the model runs on.
    var backend: any ComputeBackend { get }
    /// Bytes of activation and scratch memory laid out for the current shape.
    var activationBytes: Int { get }

    /// What prices this workload's work: the reference profile must have been measured on this
    /// preset and shape (``ReferenceProfile/validate(for:shape:)``).
    var profileKey: (preset: String, shape: ModelShape) { get }

    /// Forward and backward of one micro-batch: accumulates (`+=`) into `parameters.gradients`
    /// the gradient of `gradientScale × Σ target-token losses`. `activeLayers` lists the layers of
    /// the resizable stack to run, in order (nil = all); `controls` are a method's per-layer and
    /// per-row settings (``PassControls``, none by default).
    @discardableResult
    func forwardBackward(_ batch: any TrainingBatch, activeLayers: [Int]?, targets: LossTargets, gradientScale: Float,
                         controls: PassControls) -> PassLoss
    /// Forward only, with per-example losses readable from ``exampleLosses``.
    @discardableResult
    func forward(_ batch: any TrainingBatch, activeLayers: [Int]?) -> PassLoss
    /// Per-row summed loss and target-token count of the last pass (valid until the next pass).
    var exampleLosses: (sums: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Float>) { get }
    /// Rebuilds the resizable stack with one layer per entry of `plan` (layer stacking).
    func resize(to plan: [LayerSource], seed: UInt64) throws

    /// The seeded stream of training micro-batches of `corpus` (over `epochs` passes) and its
    /// validation set.
    func trainingBatches(corpus: PreparedCorpus, seed: UInt64, epochs: Int) throws -> any CorpusBatches
    /// An endless stream of synthetic, learnable micro-batches (`ntng plugin check`, `ntng bench`),
    /// row ids counting up from `firstID`.
    func syntheticBatches(seed: UInt64, firstID: UInt64) -> any TrainingBatches
    /// Parameters outside the layers that the backward pass reaches only through the resizable
    /// stack's bottom layer, so freezing it leaves them without a gradient (the masked LM's
    /// embedding norm and position scale; not its token embedding, which the tied head reaches).
    var parametersBelowStack: Set<String> { get }
    /// Model FLOPs of one training step over `batch` with `activeLayers` layers.
    func trainingFLOPs(_ batch: any TrainingBatch, activeLayers: Int?) -> Double
    /// Whether a method may freeze a bottom block (``PassControls/frozenBelow``); the step
    /// refuses a plan that does on a workload that cannot.
    var supportsFrozenLayers: Bool { get }
}

extension Workload {
    public var supportsFrozenLayers: Bool { true }

    /// One epoch of the seeded stream of training micro-batches of `corpus`.
    public func trainingBatches(corpus: PreparedCorpus, seed: UInt64) throws -> any CorpusBatches {
        try trainingBatches(corpus: corpus, seed: seed, epochs: 1)
    }

    /// Forward and backward without method controls.
    @discardableResult
    public func forwardBackward(_ batch: any TrainingBatch, activeLayers: [Int]?, targets: LossTargets, gradientScale: Float) -> PassLoss {
        forwardBackward(batch, activeLayers: activeLayers, targets: targets, gradientScale: gradientScale, controls: .none)
    }
    /// Layers of the resizable stack (the one resize plans and keep masks address).
    public var depth: Int { config.layers }
    /// The most layers a resize plan may ask for.
    public var maxLayers: Int { stacks.first(where: \.resizable)?.maxLayers ?? depth }

    /// Mean loss per target token over `batches`, with the full model: the validation loss.
    /// Never charged.
    public func evaluationLoss(_ batches: [any TrainingBatch]) -> Double {
        var sum = 0.0, count = 0
        for batch in batches {
            let loss = forward(batch, activeLayers: nil)
            sum += loss.sum
            count += loss.targetTokens
        }
        return count == 0 ? .nan : sum / Double(count)
    }
}

/// A named stack of layers as plugins see it (`ntng.model_stacks/1`): the masked LM has one,
/// "encoder"; an encoder–decoder has two. Parameter `layer` indices are global: layer `i` of a
/// stack has index `firstLayer + i` (T5's two stacks both start at 0, since they are resized and
/// masked as one set of blocks).
public struct ModelStack: Sendable, Equatable {
    public var name: String
    /// Current depth.
    public var layers: Int
    /// The depth its preset defines (the bound of resize plans).
    public var maxLayers: Int
    public var firstLayer: Int
    /// Whether resize plans and keep masks act on it. When several are (T5's encoder and
    /// decoder), they act on all of them with one index set: block `l` is layer `l` of each.
    public var resizable: Bool

    public init(name: String, layers: Int, maxLayers: Int, firstLayer: Int, resizable: Bool) {
        self.name = name
        self.layers = layers
        self.maxLayers = maxLayers
        self.firstLayer = firstLayer
        self.resizable = resizable
    }
}

/// The workloads this host can train, by ``Workload/kind``.
public enum Workloads {
    /// The kinds known to this build.
    public static let kinds = [MaskedLMWorkload.kind, SpanCorruptionWorkload.kind]

    /// What a model of `config` trains: span corruption for an encoder–decoder, else masked LM.
    public static func kind(for config: ModelConfig) -> String {
        config.encoderDecoder == nil ? MaskedLMWorkload.kind : SpanCorruptionWorkload.kind
    }

    /// The shape a reference profile for a model of `config` must have been measured at.
    public static func profileShape(_ config: ModelConfig) -> ModelShape {
        config.encoderDecoder == nil ? MaskedLMWorkload.profileShape(config) : SpanCorruptionWorkload.profileShape(config)
    }

    /// A freshly initialised workload of `kind` (default: the one `config`'s model trains) with
    /// shape `config` (weights from `seed`), whose resizable stack may grow to `maxLayers`
    /// (default: its depth).
    public static func make(kind: String? = nil, config: ModelConfig, seed: UInt64, maxLayers: Int? = nil,
                            backend: any ComputeBackend = CPUBackend.shared) throws -> any Workload {
        switch kind ?? Self.kind(for: config) {
        case MaskedLMWorkload.kind: return try MaskedLMWorkload(config: config, seed: seed, maxLayers: maxLayers, backend: backend)
        case SpanCorruptionWorkload.kind: return try SpanCorruptionWorkload(config: config, seed: seed, maxLayers: maxLayers, backend: backend)
        case let other: throw WorkloadError.unknownKind(other)
        }
    }
}

public enum WorkloadError: Error, CustomStringConvertible, Equatable {
    case unknownKind(String)
    case foreignBatch(workload: String, batch: String)
    case invalidShape(String)

    public var description: String {
        switch self {
        case .unknownKind(let kind):
            return "unknown workload '\(kind)' (this ntng knows \(Workloads.kinds.joined(separator: ", "))); the file was written by another ntng build"
        case .invalidShape(let message):
            return "invalid model shape: \(message)"
        case .foreignBatch(let workload, let batch):
            return "host error: the \(workload) workload was given a \(batch), which it did not make"
        }
    }
}
