import Foundation
import PluginAPI
import Storage
import Models
import TensorCore
import Clock

/// The plugins of one run (`--method dropping+lion`), driven by the trainer once per step.
///
/// Per step ``TrainingStep/take()`` calls, in this order, each with the step's ``StepContext``
/// (every call is cheap when no plugin implements the hook): `runStart` (once, after `restore` on
/// resume); `resizePlan` (exclusive), then the host rebuilds the model and calls `modelResized`;
/// `stepPlan` (composes: scales multiply, keep masks AND); `selectBatch` over a pool when a plugin
/// selects (exclusive); forward/backward and clipping; `optimizerStep` (exclusive) or the host's
/// AdamW; and `runEnd` after the last step.
///
/// Every call validates what the plugins return and throws a ``PluginError`` naming the plugin,
/// the hook and the reason; the trainer then stops and stores the run as failed.
public final class PluginStack {
    /// The plugins in stack order (the order of the `--method` text).
    public let plugins: [Plugin]
    private weak var services: PluginHostServices?
    /// Pool size as a multiple of the batch when a plugin selects batches; nil otherwise.
    public private(set) var poolFactor: Int?
    /// Optimizer updates the plugin optimizer has made (its `update` counter); checkpointed.
    public private(set) var optimizerUpdates = 0
    /// Updates each parameter tensor has received while it had a gradient, by name
    /// (`ntng_param_info.updates`, v1.1); carried over resizes like AdamW's counts; checkpointed.
    public private(set) var parameterUpdates: [String: Int] = [:]
    /// How the plugin optimizer's own work was charged, once known (for provenance).
    public private(set) var optimizerChargeBasis: PluginWorkCharge.Basis?
    /// How each plugin's `after_optimizer_step` was charged, once known.
    public private(set) var afterOptimizerChargeBasis: [String: PluginWorkCharge.Basis] = [:]

    /// Resolves `method` (`baseline`, `lion`, `dropping+lion`, `./libmine.so`) on `searchPath`,
    /// splits `settings` between the plugins and creates them. Nil for `baseline`.
    public static func open(method: String, settings: [String: String] = [:], searchPath: PluginSearchPath,
                            services: PluginHostServices) throws -> PluginStack? {
        let libraries = try PluginResolver.resolve(method: method, searchPath: searchPath)
        if libraries.isEmpty {
            guard settings.isEmpty else {
                throw PluginError(.config, plugin: method, hook: "--set",
                                  "the baseline takes no plugin settings (got \(settings.keys.sorted().joined(separator: ", ")))")
            }
            return nil
        }
        return try PluginStack(libraries: libraries, settings: settings, services: services)
    }

    /// Checks that exclusive hooks do not clash, assigns settings, and creates each plugin.
    /// The stack keeps `services` **weakly** (the ``TrainingStep`` that is the services object
    /// owns the stack); keep it alive as long as the stack.
    public init(libraries: [PluginLibrary], settings: [String: String] = [:], services: PluginHostServices) throws {
        try Self.checkComposition(libraries)
        let perPlugin = try PluginSettings.assign(settings, to: libraries)
        var created: [Plugin] = []
        for (library, own) in zip(libraries, perPlugin) {
            created.append(try Plugin(library: library, settings: own, services: services))
        }
        plugins = created
        self.services = services
        let evaluators = created.filter(\.providesEvaluationWeights)
        if evaluators.count > 1 {
            throw PluginError(.stack, plugin: evaluators.map(\.id).joined(separator: " and "), hook: NTNG_EXT_EVALUATION_WEIGHTS,
                              "both serve \(NTNG_EXT_EVALUATION_WEIGHTS), which is exclusive: at most one plugin of a run may choose the evaluated weights")
        }
        try refreshPoolFactor()
    }

    /// Refuses two plugins with the same id and two implementations of an exclusive hook.
    public static func checkComposition(_ libraries: [PluginLibrary]) throws {
        var ids = Set<String>()
        for lib in libraries where !ids.insert(lib.descriptor.id).inserted {
            throw PluginError(.stack, plugin: lib.descriptor.id, "is listed twice in the method")
        }
        for hook in PluginHook.exclusive {
            let owners = libraries.filter { $0.descriptor.hooks.contains(hook) }
            if owners.count > 1 {
                throw PluginError(.stack, plugin: owners.map(\.descriptor.id).joined(separator: " and "), hook: hook.rawValue,
                                  "both implement \(hook.rawValue), which is exclusive: at most one plugin of a run may implement it")
            }
        }
    }

    /// Whether a plugin replaces the host's AdamW.
    public var replacesOptimizer: Bool { plugins.contains { $0.implements(.optimizerStep) } }

    // MARK: - Step context

    private func host() throws -> PluginHostServices {
        guard let services else { throw PluginError(.hook, plugin: plugins.map(\.id).joined(separator: "+"), "host error: the PluginHostServices object (the TrainingStep) was released; the stack holds it weakly, so its owner must keep it alive") }
        return services
    }

    /// The step info `plugin` sees now: its own seed is the step seed mixed with its id, so two
    /// stacked plugins never share a random stream.
    func stepInfo(for plugin: Plugin) throws -> PluginStepInfo {
        let s = try host()
        let b = s.budget
        let seed = SplitMix64.mix(s.stepSeed ^ SplitMix64.stableHash(plugin.id))
        return PluginStepInfo(step: b.steps, seed: seed, budgetFraction: b.fraction, layers: s.modelConfig.layers, maxLayers: s.maxLayers)
    }


    /// Runs `body` (one call into `plugin`'s `hook`) with `step` as the context its service calls
    /// act on. Only `optimizer_step` and `after_optimizer_step` may write the model's parameters: around every other hook
    /// the parameter values are hashed, and a change stops the run naming the plugin and hook
    /// (a plugin holds raw pointers to them, so nothing else could stop it).
    private func calling<T>(_ plugin: Plugin, _ hook: PluginHook, in step: StepContext,
                            _ body: (PluginStepInfo) throws -> T) throws -> T {
        plugin.context.step = step
        defer { plugin.context.step = nil }
        let store = hook == .optimizerStep || hook == .afterOptimizerStep ? nil : try host().parameters
        let before = store.map(Self.valuesHash)
        let result = try body(try stepInfo(for: plugin))
        if let store, let before, Self.valuesHash(store) != before {
            throw PluginError(.hook, plugin: plugin.id, hook: hook.rawValue,
                              "changed the model's parameters, which only optimizer_step and after_optimizer_step may write (docs/plugins.md, rule F6); the run is stopped so that nothing trained or stored depends on it")
        }
        return result
    }

    /// ``ContentHash64`` of the parameter values (a few GB/s: about 1 % of a step's time).
    static func valuesHash(_ store: ParameterStore) -> UInt64 {
        var h = ContentHash64()
        h.update(UnsafeRawBufferPointer(start: store.values, count: store.count * MemoryLayout<Float>.stride))
        return h.finish()
    }

    private func refreshPoolFactor() throws {
        poolFactor = try plugins.first { $0.implements(.selectBatch) }?.poolFactor()
    }

    // MARK: - Hooks, in per-step order

    /// `on_run_start` of every plugin, in stack order.
    public func runStart(in step: StepContext) throws {
        for p in plugins { try calling(p, .onRunStart, in: step) { try p.runStart($0) } }
    }

    /// `on_run_end` of every plugin, in reverse stack order (last started, first ended).
    public func runEnd(in step: StepContext) throws {
        for p in plugins.reversed() { try calling(p, .onRunEnd, in: step) { try p.runEnd($0) } }
    }

    /// The resize plan of the plugin implementing `resize_model`, validated; nil for no change.
    public func resizePlan(in step: StepContext) throws -> [LayerSource]? {
        guard let p = plugins.first(where: { $0.implements(.resizeModel) }) else { return nil }
        return try calling(p, .resizeModel, in: step) { try p.resizePlan($0) }
    }

    /// After the host rebuilt the model from `plan`: carries every plugin's state tensors to the
    /// new layout (kept for layers that stay in place, restarted at their fill for every other
    /// layer, the rule of the host's AdamW) and calls `on_model_resized` in stack order.
    public func modelResized(plan: [LayerSource], from old: ParameterStore, previousLayers: Int, in step: StepContext) throws {
        let new = try host().parameters
        let reset = LayerSource.parametersStartingAfresh(after: plan, in: new)
        for p in plugins { p.stateTensors.remap(from: old, to: new, reset: reset) }
        parameterUpdates = parameterUpdates.filter { name, _ in
            !reset.contains(name) && old.info(name).map { o in new.info(name)?.shape == o.shape } == true
        }
        for p in plugins { try calling(p, .onModelResized, in: step) { try p.modelResized($0, plan: plan, previousLayers: previousLayers) } }
    }

    /// Composes `on_step`: plugins run in stack order, each on a fresh default plan; their LR
    /// scales and output scales multiply, their keep masks and backward flags are AND-ed.
    public func stepPlan(microBatches: Int, in step: StepContext) throws -> PluginStepPlan {
        precondition(microBatches >= 1)
        let depth = try host().modelConfig.layers
        var scale: Float = 1
        var keep = Array(repeating: Array(repeating: true, count: depth), count: microBatches)
        var outputScale = Array(repeating: Array(repeating: Float(1), count: depth), count: microBatches)
        var backward = Array(repeating: true, count: depth)
        var contributors: [String] = []
        for p in plugins where p.implements(.onStep) {
            guard let plan = try calling(p, .onStep, in: step, { try p.stepPlan($0, microBatches: microBatches) }) else { continue }
            scale *= plan.lrScale
            contributors.append(p.id)
            for l in 0..<depth { backward[l] = backward[l] && plan.backward[l] }
            for m in 0..<microBatches {
                for l in 0..<depth {
                    keep[m][l] = keep[m][l] && plan.keep[m][l]
                    outputScale[m][l] *= plan.outputScale[m][l]
                }
                if depth > 0, !keep[m].contains(true) {
                    throw PluginError(.hook, plugin: contributors.joined(separator: " and "), hook: PluginHook.onStep.rawValue,
                                      "the keep masks together skip every layer of micro-batch \(m)")
                }
            }
        }
        guard scale.isFinite else {
            throw PluginError(.hook, plugin: contributors.joined(separator: " and "), hook: PluginHook.onStep.rawValue,
                              "the product of the lr_scale values is not finite")
        }
        if outputScale.contains(where: { $0.contains { !$0.isFinite } }) {
            throw PluginError(.hook, plugin: contributors.joined(separator: " and "), hook: PluginHook.onStep.rawValue,
                              "the product of the layer_output_scale values is not finite")
        }
        let allKept = keep.allSatisfy { $0.allSatisfy { $0 } }
        let active = allKept ? nil : keep.map { row in row.indices.filter { row[$0] } }
        let unscaled = outputScale.allSatisfy { $0.allSatisfy { $0 == 1 } }
        return PluginStepPlan(lrScale: scale, activeLayers: active, outputScales: unscaled ? nil : outputScale,
                              frozenBelow: backward.firstIndex(of: true) ?? depth)
    }

    /// The batch rows to train on, chosen from a pool of `exampleIDs.count` candidates by the
    /// plugin implementing `select_batch`. During the call, the services' `perExampleLosses` acts
    /// on `step.pool` (whose ids are `exampleIDs`).
    public func selectBatch(exampleIDs: [UInt64], batch: Int, sequenceLength: Int, in step: StepContext) throws -> PluginSelection {
        guard let p = plugins.first(where: { $0.implements(.selectBatch) }) else {
            return PluginSelection(rows: Array(0..<batch), rowsScored: 0)
        }
        guard batch >= 1, exampleIDs.count >= batch else {
            throw PluginError(.hook, plugin: p.id, hook: PluginHook.selectBatch.rawValue,
                              "host error: a pool of \(exampleIDs.count) rows cannot supply a batch of \(batch)")
        }
        let chosen = try calling(p, .selectBatch, in: step) {
            try p.selectBatch($0, candidates: exampleIDs.count, select: batch, sequenceLength: sequenceLength, exampleIDs: exampleIDs)
        }
        return PluginSelection(rows: chosen?.rows ?? Array(0..<batch), rowsScored: p.lastRowsScored, weights: chosen?.weights)
    }

    /// Runs the plugin optimizer over the current parameters and gradients; nil when no plugin
    /// implements `optimizer_step` (the trainer then runs AdamW). `hasGradient` (per parameter
    /// tensor; nil = all) is what `param_info.has_gradient` reports.
    public func optimizerStep(_ context: OptimizerContext, hasGradient: [Bool]?, in step: StepContext) throws -> PluginOptimizerOutcome? {
        guard let p = plugins.first(where: { $0.implements(.optimizerStep) }) else { return nil }
        guard context.learningRate.isFinite, context.learningRate >= 0 else {
            throw PluginError(.hook, plugin: p.id, hook: PluginHook.optimizerStep.rawValue, "host error: learning rate \(context.learningRate)")
        }
        let store = try host().parameters
        countUpdates(store, hasGradient: hasGradient, in: step)
        defer { (step.hasGradient, step.parameterUpdates) = (nil, nil) }
        try calling(p, .optimizerStep, in: step) {
            try p.optimizerStep($0, context, update: optimizerUpdates + 1, store: store, hasGradient: hasGradient)
        }
        optimizerUpdates += 1
        return PluginOptimizerOutcome(pluginID: p.id, selfSeconds: p.lastSelfSeconds, parameters: store.parameterCount,
                                      curvaturePasses: p.lastCurvaturePasses)
    }

    /// `after_optimizer_step` of every plugin that has it, in stack order, after whichever optimizer
    /// ran (`update` is that optimizer's count including this step). `hostUpdates` are the host
    /// AdamW's per-tensor counts when it ran (`param_info.updates`); a plugin optimizer's are the
    /// stack's own. One outcome per plugin called.
    public func afterOptimizerStep(_ context: OptimizerContext, update: Int, hostUpdates: [String: Int]?, hasGradient: [Bool]?,
                                   in step: StepContext) throws -> [PluginOptimizerOutcome] {
        let hooked = plugins.filter { $0.implements(.afterOptimizerStep) }
        guard !hooked.isEmpty else { return [] }
        let store = try host().parameters
        let counts = hostUpdates ?? parameterUpdates
        step.parameterUpdates = store.entries.map { counts[$0.name] ?? 0 }
        step.hasGradient = hasGradient
        defer { (step.hasGradient, step.parameterUpdates) = (nil, nil) }
        return try hooked.map { p in
            try calling(p, .afterOptimizerStep, in: step) {
                try p.afterOptimizerStep($0, context, update: update, store: store, hasGradient: hasGradient)
            }
            return PluginOptimizerOutcome(pluginID: p.id, selfSeconds: p.lastSelfSeconds, parameters: store.parameterCount, curvaturePasses: 0)
        }
    }

    /// Counts this step's update for every tensor with a gradient and lends the counts (and the
    /// presence flags) to `step` for `param_info`.
    private func countUpdates(_ store: ParameterStore, hasGradient: [Bool]?, in step: StepContext) {
        var counts: [Int] = []
        counts.reserveCapacity(store.entries.count)
        for (i, e) in store.entries.enumerated() {
            var t = parameterUpdates[e.name] ?? 0
            if hasGradient?[i] ?? true { t += 1; parameterUpdates[e.name] = t }
            counts.append(t)
        }
        step.hasGradient = hasGradient
        step.parameterUpdates = counts
    }

    /// Whether a plugin chooses the evaluated weights ("ntng.evaluation_weights/1").
    public var providesEvaluationWeights: Bool { plugins.contains(where: \.providesEvaluationWeights) }

    /// Lets the plugin serving "ntng.evaluation_weights/1" write the weights to evaluate into `out`
    /// (flat layout, `count` floats, pre-filled with the training weights). False when none does
    /// or it declined. It may change neither parameters nor its state tensors.
    public func writeEvaluationWeights(into out: UnsafeMutablePointer<Float>, count: Int, in step: StepContext) throws -> Bool {
        guard let p = plugins.first(where: \.providesEvaluationWeights) else { return false }
        let stateBefore = p.stateTensors.contentHash()
        let written = try calling(p, .evaluationWeights, in: step) { try p.writeEvaluationWeights($0, into: out, count: count) }
        if p.stateTensors.contentHash() != stateBefore {
            throw PluginError(.hook, plugin: p.id, hook: PluginHook.evaluationWeights.rawValue,
                              "changed its state tensors; evaluation_weights.write may only read (docs/plugins.md, rule E1)")
        }
        return written
    }

    /// The charge for an `optimizer_step` (see ``PluginCharging``), remembering its basis for
    /// provenance.
    public func optimizerCharge(_ outcome: PluginOptimizerOutcome, profile: ReferenceProfile,
                                referenceOverLocal: Double?) -> PluginWorkCharge {
        let charge = PluginCharging.optimizerCharge(pluginID: outcome.pluginID, parameters: outcome.parameters,
                                                    measuredSeconds: outcome.selfSeconds, profile: profile,
                                                    referenceOverLocal: referenceOverLocal)
        optimizerChargeBasis = charge.basis
        return charge
    }

    /// The charge for one plugin's `after_optimizer_step`, calibrated under
    /// ``PluginCharging/afterOptimizerKey(_:)`` or estimated.
    public func afterOptimizerCharge(_ outcome: PluginOptimizerOutcome, profile: ReferenceProfile,
                                     referenceOverLocal: Double?) -> PluginWorkCharge {
        let charge = PluginCharging.optimizerCharge(pluginID: PluginCharging.afterOptimizerKey(outcome.pluginID), parameters: outcome.parameters,
                                                    measuredSeconds: outcome.selfSeconds, profile: profile,
                                                    referenceOverLocal: referenceOverLocal)
        afterOptimizerChargeBasis[outcome.pluginID] = charge.basis
        return charge
    }

    // MARK: - Checkpoints

    /// Everything needed to resume the plugins: private state bytes, state tensors, counters.
    public func checkpoint() throws -> PluginStackCheckpoint {
        PluginStackCheckpoint(optimizerUpdates: optimizerUpdates, parameterUpdates: parameterUpdates, plugins: try plugins.map {
            PluginStackCheckpoint.Entry(id: $0.id, version: $0.library.descriptor.version,
                                        stateBytes: try $0.saveState(), tensors: $0.stateTensors.snapshot())
        })
    }

    /// Restores a checkpoint into freshly created plugins, before ``runStart()``.
    public func restore(_ checkpoint: PluginStackCheckpoint) throws {
        guard checkpoint.plugins.map(\.id) == plugins.map(\.id) else {
            throw PluginError(.stack, plugin: plugins.map(\.id).joined(separator: "+"), hook: "load_state",
                              "the checkpoint holds state of [\(checkpoint.plugins.map(\.id).joined(separator: ", "))]")
        }
        let flat = try host().parameters.count
        for (p, entry) in zip(plugins, checkpoint.plugins) {
            for t in entry.tensors {
                guard t.values.count == flat else {
                    throw PluginError(.hook, plugin: p.id, hook: "load_state",
                                      "state tensor \(t.name) has \(t.values.count) values, the model's layout \(flat)")
                }
                p.stateTensors.restore(name: t.name, fill: t.fill, values: t.values)
            }
            try p.loadState(entry.stateBytes)
        }
        optimizerUpdates = checkpoint.optimizerUpdates
        parameterUpdates = checkpoint.parameterUpdates ?? [:]
        try refreshPoolFactor()
    }

    // MARK: - Provenance

    /// One record per plugin for the results store (`NewRun.pluginsJSON`).
    public var provenance: [PluginProvenance] {
        plugins.map { p in
            PluginProvenance(
                id: p.id, name: p.library.descriptor.name, version: p.library.descriptor.version,
                sha256: p.library.sha256, path: p.library.path, method: p.library.methodName,
                abi: p.library.descriptor.abiVersion, hostABI: "\(PluginLibrary.hostABIMajor).\(PluginLibrary.hostABIMinor)",
                config: p.config.textValues, explicitlySet: p.config.explicitlySet.sorted(), hooks: p.hooks.map(\.rawValue),
                optimizerCharge: p.implements(.optimizerStep) ? optimizerChargeBasis?.rawValue : nil,
                afterOptimizerCharge: afterOptimizerChargeBasis[p.id]?.rawValue,
                callStats: Dictionary(uniqueKeysWithValues: p.callStats.map { ($0.key.rawValue, $0.value) }))
        }
    }

    /// ``provenance`` as JSON (sorted keys), ready for `NewRun.pluginsJSON`.
    public func provenanceJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(provenance), as: UTF8.self)
    }
}

/// The composed `on_step` result.
public struct PluginStepPlan: Sendable, Equatable {
    /// Multiply the scheduled learning rate by this.
    public var lrScale: Float
    /// Per micro-batch, the layers to run in order; nil when every layer runs in every one.
    public var activeLayers: [[Int]]?
    /// Per micro-batch and layer, the residual-branch scale (v1.1); nil when all are 1.
    public var outputScales: [[Float]]?
    /// Layers `0..<frozenBelow` run forward only this step (v1.1); 0 when every layer trains.
    public var frozenBelow: Int

    public init(lrScale: Float, activeLayers: [[Int]]?, outputScales: [[Float]]? = nil, frozenBelow: Int = 0) {
        self.lrScale = lrScale
        self.activeLayers = activeLayers
        self.outputScales = outputScales
        self.frozenBelow = frozenBelow
    }
}

/// The rows a `select_batch` plugin chose.
public struct PluginSelection: Sendable, Equatable {
    /// Pool rows to train on, in order (`0..<batch` when the plugin declined or none selects).
    public var rows: [Int]
    /// Rows it scored through `per_example_loss` this step.
    public var rowsScored: Int
    /// The rows' loss weights (v1.1), nil when all are 1.
    public var weights: [Float]? = nil
}

/// What a plugin `optimizer_step` did, for charging.
public struct PluginOptimizerOutcome: Sendable, Equatable {
    public var pluginID: String
    /// Wall seconds of the plugin's own work (host services excluded).
    public var selfSeconds: Double
    /// Parameters updated.
    public var parameters: Int
    /// Sampled-label passes it requested (already charged as `.curvature` by the services).
    public var curvaturePasses: Int
}

/// Plugin state in a checkpoint.
public struct PluginStackCheckpoint: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var id: String
        public var version: String
        public var stateBytes: [UInt8]
        public var tensors: [PluginStateTensorSnapshot]

        public init(id: String, version: String, stateBytes: [UInt8], tensors: [PluginStateTensorSnapshot]) {
            self.id = id
            self.version = version
            self.stateBytes = stateBytes
            self.tensors = tensors
        }
    }

    public var optimizerUpdates: Int
    /// Per-tensor update counts (v1.1); nil in checkpoints written before them.
    public var parameterUpdates: [String: Int]?
    public var plugins: [Entry]

    public init(optimizerUpdates: Int, parameterUpdates: [String: Int]? = nil, plugins: [Entry]) {
        self.optimizerUpdates = optimizerUpdates
        self.parameterUpdates = parameterUpdates
        self.plugins = plugins
    }
}

/// What every run records about each plugin (PAPI-7 in docs/plugins.md).
public struct PluginProvenance: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var version: String
    public var sha256: String
    public var path: String
    /// The `--method` token it was resolved from.
    public var method: String?
    /// The PluginAPI version the plugin was built against, and the host's.
    public var abi: String
    public var hostABI: String
    /// Every declared key with its value (defaults included).
    public var config: [String: String]
    public var explicitlySet: [String]
    public var hooks: [String]
    /// `calibrated` or `estimated` for a plugin optimizer, once charged.
    public var optimizerCharge: String?
    /// The same for its `after_optimizer_step` (v1.1); nil when it has none or it never ran.
    public var afterOptimizerCharge: String?
    public var callStats: [String: PluginCallStats]
}
