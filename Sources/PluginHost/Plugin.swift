import Foundation
import Models
import PluginAPI
import Storage

/// Where the run stands, as handed to each hook (`ntng_step_info`).
public struct PluginStepInfo: Sendable, Equatable {
    /// Optimizer steps completed so far.
    public var step: Int
    /// This plugin's seed for this step (derived by ``PluginStack`` from the run's step seed).
    public var seed: UInt64
    public var budgetFraction: Double
    public var layers: Int
    public var maxLayers: Int

    public init(step: Int, seed: UInt64, budgetFraction: Double, layers: Int, maxLayers: Int) {
        self.step = step
        self.seed = seed
        self.budgetFraction = budgetFraction
        self.layers = layers
        self.maxLayers = maxLayers
    }

    var c: ntng_step_info {
        ntng_step_info(struct_size: UInt32(MemoryLayout<ntng_step_info>.size), num_layers: Int32(layers),
                       step: UInt64(step), rng_seed: seed, budget_fraction: budgetFraction,
                       max_layers: Int32(maxLayers), reserved0: 0)
    }
}

/// Time and service use of one hook across the run.
public struct PluginCallStats: Sendable, Equatable, Codable {
    public var calls = 0
    /// Wall seconds inside the hook minus time in model services: the plugin's own work.
    public var selfSeconds = 0.0
    /// Wall seconds inside model services (charged separately at reference cost).
    public var serviceSeconds = 0.0
}

/// One created plugin instance. Each hook is a method that calls into the plugin and checks
/// everything it returns; any violation throws a ``PluginError`` naming the plugin, the hook and
/// the reason, after which the run must stop and be stored as failed.
public final class Plugin {
    public let library: PluginLibrary
    public let config: PluginConfig
    let context: PluginHostContext
    private var instance: UnsafeMutableRawPointer?

    /// Statistics per hook, for the run record.
    public private(set) var callStats: [PluginHook: PluginCallStats] = [:]
    /// In check mode, what hooks were lent (poisoned since they returned).
    let lent = LentBuffers()
    /// The plugin's own seconds in its most recent call.
    public private(set) var lastSelfSeconds = 0.0
    /// Pool rows scored through `per_example_loss` in the most recent call.
    public var lastRowsScored: Int { context.rowsScored }
    /// Sampled-label passes in the most recent call.
    public var lastCurvaturePasses: Int { context.curvaturePasses }

    public var id: String { library.descriptor.id }
    public var hooks: [PluginHook] { library.descriptor.hooks }
    public func implements(_ hook: PluginHook) -> Bool { hooks.contains(hook) }
    /// The instance's state tensors (host-owned).
    public var stateTensors: PluginStateTensors { context.state }

    /// Resolves the config (`settings` has bare keys) and creates the instance.
    public init(library: PluginLibrary, settings: [String: String] = [:], services: PluginHostServices) throws {
        self.library = library
        config = try PluginConfig(keys: library.descriptor.configKeys, settings: settings, plugin: library.descriptor.id)
        context = PluginHostContext(pluginID: library.descriptor.id, config: config, services: services)
        PluginCallTrace.entering(plugin: library.descriptor.id, hook: "create")
        context.begin("create")
        var out: UnsafeMutableRawPointer?
        let status = library.table.create!(UnsafePointer(context.table), &out)
        PluginCallTrace.leaving()
        context.end()
        guard status == NTNG_OK else { throw failure(nil, status) }
        guard let out else {
            throw PluginError(.hook, plugin: library.descriptor.id, hook: "create", "returned NTNG_OK but left *out_self NULL")
        }
        instance = out
        evaluationWeights = try Self.evaluationWeightsTable(of: library, instance: out, context: context)
    }

    /// The plugin's "ntng.evaluation_weights/1" table (as far as its struct_size reaches), if served.
    private var evaluationWeights: ntng_evaluation_weights_v1?

    private static func evaluationWeightsTable(of library: PluginLibrary, instance: UnsafeMutableRawPointer,
                                               context: PluginHostContext) throws -> ntng_evaluation_weights_v1? {
        guard let get = library.hooks.get_extension else { return nil }
        context.begin(PluginHook.getExtension.rawValue)
        let raw = NTNG_EXT_EVALUATION_WEIGHTS.withCString { get(instance, $0) }
        context.end()
        guard let raw else { return nil }
        let table = PluginLibrary.readPrefix(raw.assumingMemoryBound(to: ntng_evaluation_weights_v1.self))
        guard Int(table.struct_size) >= MemoryLayout<ntng_evaluation_weights_v1>.size, table.write != nil else {
            throw PluginError(.descriptor, plugin: library.descriptor.id, hook: NTNG_EXT_EVALUATION_WEIGHTS,
                              "the extension table's struct_size (\(table.struct_size)) is below its \(MemoryLayout<ntng_evaluation_weights_v1>.size) bytes or write is NULL")
        }
        return table
    }

    deinit { destroy() }

    /// Destroys the instance (idempotent). The library stays loaded.
    public func destroy() {
        guard let instance else { return }
        self.instance = nil
        context.begin("destroy")
        library.table.destroy!(instance)
        context.end()
    }

    // MARK: - Hooks

    public func runStart(_ s: PluginStepInfo) throws {
        guard let f = library.hooks.on_run_start else { return }
        try withUnsafePointer(to: s.c) { info in _ = try invoke(.onRunStart) { f($0, info) } }
    }

    public func runEnd(_ s: PluginStepInfo) throws {
        guard let f = library.hooks.on_run_end else { return }
        try withUnsafePointer(to: s.c) { info in _ = try invoke(.onRunEnd) { f($0, info) } }
    }

    /// The plugin's resize plan, or nil for "no change" (declined, or a plan equal to the model).
    public func resizePlan(_ s: PluginStepInfo) throws -> [LayerSource]? {
        guard let f = library.hooks.resize_model else { return nil }
        let current = s.layers, capacity = s.maxLayers
        let slots = Swift.max(capacity, 1)
        var sources = [Int32](repeating: Int32.min, count: slots) + OutBufferGuard.region(OutBufferGuard.int32Canary)
        return try sources.withUnsafeMutableBufferPointer { buffer -> [LayerSource]? in
            var plan = ntng_resize_plan(struct_size: UInt32(MemoryLayout<ntng_resize_plan>.size), current_layers: Int32(current),
                                        max_layers: Int32(capacity), new_num_layers: Int32(current), source_layer: buffer.baseAddress)
            let status = try withUnsafePointer(to: s.c) { info in
                try invoke(.resizeModel, allowDeclined: true) { f($0, info, &plan) }
            }
            try OutBufferGuard.check(buffer, from: slots, canary: OutBufferGuard.int32Canary, plugin: id, hook: .resizeModel, name: "source_layer")
            if status == NTNG_DECLINED { return nil }
            let fail = { (reason: String) in PluginError(.hook, plugin: self.id, hook: PluginHook.resizeModel.rawValue, reason) }
            guard plan.struct_size == UInt32(MemoryLayout<ntng_resize_plan>.size), plan.current_layers == Int32(current),
                  plan.max_layers == Int32(capacity), plan.source_layer == buffer.baseAddress else {
                throw fail("changed a read-only field of the plan (struct_size, current_layers, max_layers or source_layer)")
            }
            let depth = Int(plan.new_num_layers)
            guard (1...capacity).contains(depth) else {
                throw fail("new_num_layers = \(depth) is outside 1...\(capacity) (the preset's depth)")
            }
            var result: [LayerSource] = []
            for i in 0..<depth {
                let source = buffer[i]
                if source == Int32.min { throw fail("source_layer[\(i)] was not set (new_num_layers = \(depth))") }
                if source == NTNG_LAYER_FRESH { result.append(.fresh); continue }
                guard (0..<Int32(current)).contains(source) else {
                    throw fail("source_layer[\(i)] = \(source) is out of range: copy a layer 0..<\(current) or use NTNG_LAYER_FRESH (-1)")
                }
                result.append(.copy(of: Int(source)))
            }
            // A plan that rebuilds the same model is "no change": rebuilding would cost for nothing.
            if result == (0..<current).map({ LayerSource.copy(of: $0) }) { return nil }
            return result
        }
    }

    public func modelResized(_ s: PluginStepInfo, plan: [LayerSource], previousLayers: Int) throws {
        guard let f = library.hooks.on_model_resized else { return }
        var sources = plan.map { source -> Int32 in
            if case .copy(let l) = source { return Int32(l) }
            return NTNG_LAYER_FRESH
        }
        try sources.withUnsafeMutableBufferPointer { buffer in
            var done = ntng_resize_plan(struct_size: UInt32(MemoryLayout<ntng_resize_plan>.size), current_layers: Int32(previousLayers),
                                        max_layers: Int32(s.maxLayers), new_num_layers: Int32(plan.count), source_layer: buffer.baseAddress)
            try withUnsafePointer(to: s.c) { info in _ = try invoke(.onModelResized) { f($0, info, &done) } }
        }
    }

    /// The plugin's step plan: an LR scale and, per micro-batch, which layers run and (v1.1) with
    /// which output scale, and which layers run forward only. Nil when the plugin declined.
    public func stepPlan(_ s: PluginStepInfo, microBatches: Int) throws -> PluginLayerPlan? {
        guard let f = library.hooks.on_step else { return nil }
        let depth = s.layers
        let cells = Swift.max(depth * microBatches, 1), layers = Swift.max(depth, 1)
        var mask = [UInt8](repeating: 1, count: cells) + OutBufferGuard.region(OutBufferGuard.byteCanary)
        var scales = [Float](repeating: 1, count: cells) + OutBufferGuard.region(OutBufferGuard.floatCanary)
        var backward = [UInt8](repeating: 1, count: layers) + OutBufferGuard.region(OutBufferGuard.byteCanary)
        let fail = { (reason: String) in PluginError(.hook, plugin: self.id, hook: PluginHook.onStep.rawValue, reason) }
        let (status, lrScale) = try mask.withUnsafeMutableBufferPointer { keepBuffer in
            try scales.withUnsafeMutableBufferPointer { scaleBuffer in
                try backward.withUnsafeMutableBufferPointer { backwardBuffer -> (Int32, Float) in
                    var plan = ntng_step_plan(struct_size: UInt32(MemoryLayout<ntng_step_plan>.size), lr_scale: 1,
                                              num_layers: Int32(depth), micro_batches: Int32(microBatches), layer_keep: keepBuffer.baseAddress,
                                              layer_output_scale: scaleBuffer.baseAddress, layer_backward: backwardBuffer.baseAddress)
                    let original = plan
                    let status = try withUnsafePointer(to: s.c) { info in
                        try lent.lending(&plan, name: "the step plan of on_step") { lentPlan in
                            try invoke(.onStep, allowDeclined: true) { f($0, info, lentPlan) }
                        }
                    }
                    try OutBufferGuard.check(keepBuffer, from: cells, canary: OutBufferGuard.byteCanary, plugin: id, hook: .onStep, name: "layer_keep")
                    try OutBufferGuard.check(scaleBuffer, from: cells, canary: OutBufferGuard.floatCanary, plugin: id, hook: .onStep, name: "layer_output_scale")
                    try OutBufferGuard.check(backwardBuffer, from: layers, canary: OutBufferGuard.byteCanary, plugin: id, hook: .onStep, name: "layer_backward")
                    guard status != NTNG_DECLINED else { return (status, 1) }
                    guard plan.struct_size == original.struct_size, plan.num_layers == original.num_layers,
                          plan.micro_batches == original.micro_batches, plan.layer_keep == original.layer_keep,
                          plan.layer_output_scale == original.layer_output_scale, plan.layer_backward == original.layer_backward else {
                        throw fail("changed a read-only field of the plan (struct_size, num_layers, micro_batches or a buffer pointer)")
                    }
                    guard plan.lr_scale.isFinite, plan.lr_scale >= 0 else {
                        throw fail("lr_scale = \(plan.lr_scale) is not a finite number >= 0")
                    }
                    return (status, plan.lr_scale)
                }
            }
        }
        if status == NTNG_DECLINED { return nil }
        var keep: [[Bool]] = [], outputScale: [[Float]] = []
        for m in 0..<microBatches {
            var row: [Bool] = [], scaleRow: [Float] = []
            for l in 0..<depth {
                let byte = mask[m * depth + l], scale = scales[m * depth + l]
                guard byte <= 1 else { throw fail("layer_keep[\(m)][\(l)] = \(byte); use 0 (skip) or 1 (run)") }
                guard scale.isFinite, scale > 0 else {
                    throw fail("layer_output_scale[\(m)][\(l)] = \(scale); it must be a finite number > 0 (1 = unchanged)")
                }
                row.append(byte == 1)
                scaleRow.append(scale)
            }
            if depth > 0, !row.contains(true) {
                throw fail("the keep mask of micro-batch \(m) is empty (all \(depth) layers skipped); keep at least one")
            }
            keep.append(row)
            outputScale.append(scaleRow)
        }
        var trains: [Bool] = []
        for l in 0..<depth {
            guard backward[l] <= 1 else { throw fail("layer_backward[\(l)] = \(backward[l]); use 0 (forward only) or 1 (train)") }
            trains.append(backward[l] == 1)
        }
        if let firstTrained = trains.firstIndex(of: true), trains[firstTrained...].contains(false) {
            throw fail("layer_backward freezes layer \(trains.lastIndex(of: false)!) above trained layer \(firstTrained); frozen layers must be a bottom block 0..k-1 (the backward pass stops above them)")
        }
        return PluginLayerPlan(lrScale: lrScale, keep: keep, outputScale: outputScale, backward: trains)
    }

    /// The candidate pool size as a multiple of the batch (1...64).
    public func poolFactor() throws -> Int {
        guard let f = library.hooks.pool_factor, let instance else { return 1 }
        context.begin(PluginHook.poolFactor.rawValue)
        let factor = f(instance)
        context.end()
        guard (1...64).contains(factor) else {
            throw PluginError(.hook, plugin: id, hook: PluginHook.poolFactor.rawValue, "returned \(factor); the pool factor must be 1...64")
        }
        return Int(factor)
    }

    /// The rows of the pool to train on, in order, with their loss weights (v1.1; nil when all
    /// are 1); nil when the plugin declined (the host then takes rows `0..<select`, unweighted).
    public func selectBatch(_ s: PluginStepInfo, candidates: Int, select: Int, sequenceLength: Int,
                            exampleIDs: [UInt64]) throws -> (rows: [Int], weights: [Float]?)? {
        guard let f = library.hooks.select_batch else { return nil }
        precondition(exampleIDs.count == candidates && select <= candidates && select >= 1)
        var rows = [Int32](repeating: -1, count: select) + OutBufferGuard.region(OutBufferGuard.int32Canary)
        var weights = [Float](repeating: 1, count: select) + OutBufferGuard.region(OutBufferGuard.floatCanary)
        let status = try lent.lending(exampleIDs, name: "the example_ids of select_batch") { ids in
            try rows.withUnsafeMutableBufferPointer { out in
                try weights.withUnsafeMutableBufferPointer { weightBuffer in
                    var pool = ntng_batch_pool(struct_size: UInt32(MemoryLayout<ntng_batch_pool>.size), n_candidates: Int32(candidates),
                                               n_select: Int32(select), sequence_length: Int32(sequenceLength), example_ids: ids,
                                               row_weights: weightBuffer.baseAddress)
                    context.poolCandidates = candidates
                    let status = try withUnsafePointer(to: s.c) { info in
                        try invoke(.selectBatch, allowDeclined: true) { f($0, info, &pool, out.baseAddress) }
                    }
                    try OutBufferGuard.check(out, from: select, canary: OutBufferGuard.int32Canary, plugin: id, hook: .selectBatch, name: "out_rows")
                    try OutBufferGuard.check(weightBuffer, from: select, canary: OutBufferGuard.floatCanary, plugin: id, hook: .selectBatch, name: "row_weights")
                    return status
                }
            }
        }
        rows.removeLast(OutBufferGuard.count)
        weights.removeLast(OutBufferGuard.count)
        if status == NTNG_DECLINED { return nil }
        var seen = Set<Int32>()
        for (i, r) in rows.enumerated() {
            guard (0..<Int32(candidates)).contains(r) else {
                let what = r == -1 ? "was not written (expected exactly \(select) rows)" : "= \(r) is outside the pool 0..<\(candidates)"
                throw PluginError(.hook, plugin: id, hook: PluginHook.selectBatch.rawValue, "out_rows[\(i)] \(what)")
            }
            guard seen.insert(r).inserted else {
                throw PluginError(.hook, plugin: id, hook: PluginHook.selectBatch.rawValue, "row \(r) is selected twice (out_rows must be distinct)")
            }
        }
        for (i, w) in weights.enumerated() where !(w.isFinite && w >= 0) {
            throw PluginError(.hook, plugin: id, hook: PluginHook.selectBatch.rawValue, "row_weights[\(i)] = \(w); each weight must be a finite number >= 0")
        }
        guard weights.contains(where: { $0 > 0 }) else {
            throw PluginError(.hook, plugin: id, hook: PluginHook.selectBatch.rawValue, "row_weights are all 0, so the step would train on nothing")
        }
        return (rows.map(Int.init), weights.allSatisfy { $0 == 1 } ? nil : weights)
    }

    /// Runs the plugin's optimizer update over `store`, then checks every value is finite and, for
    /// a v1.1 plugin, that tensors without a gradient this step (`hasGradient[i] == false`) are
    /// unchanged (rule G1).
    public func optimizerStep(_ s: PluginStepInfo, _ context: OptimizerContext, update: Int, store: ParameterStore,
                              hasGradient: [Bool]?) throws {
        guard let f = library.hooks.optimizer_step else { return }
        try updatingParameters(.optimizerStep, store: store, hasGradient: hasGradient) {
            var args = context.c(update: update)
            try withUnsafePointer(to: s.c) { info in _ = try invoke(.optimizerStep) { f($0, info, &args) } }
        }
    }

    /// v1.1 `after_optimizer_step`, with the checks of ``optimizerStep(_:_:update:store:hasGradient:)``.
    public func afterOptimizerStep(_ s: PluginStepInfo, _ context: OptimizerContext, update: Int, store: ParameterStore,
                                   hasGradient: [Bool]?) throws {
        guard let f = library.hooks.after_optimizer_step else { return }
        try updatingParameters(.afterOptimizerStep, store: store, hasGradient: hasGradient) {
            var args = context.c(update: update)
            try withUnsafePointer(to: s.c) { info in _ = try invoke(.afterOptimizerStep) { f($0, info, &args) } }
        }
    }

    private func updatingParameters(_ hook: PluginHook, store: ParameterStore, hasGradient: [Bool]?, _ call: () throws -> Void) throws {
        // A v1.0 plugin cannot know which tensors lack a gradient, so only v1.1 ones are held to it.
        let frozen = library.descriptor.abiMinor >= 1 ? hasGradient.map { flags in flags.indices.filter { !flags[$0] } } ?? [] : []
        let before = frozen.map { Self.hash(store, entry: $0) }
        try call()
        for e in store.entries {
            let values = store.values + e.offset
            for j in 0..<e.count where !values[j].isFinite {
                throw PluginError(.hook, plugin: id, hook: hook.rawValue, "left a non-finite value (\(values[j])) in \(e.name)[\(j)]")
            }
        }
        for (index, hash) in zip(frozen, before) where Self.hash(store, entry: index) != hash {
            throw PluginError(.hook, plugin: id, hook: hook.rawValue,
                              "changed \(store.entries[index].name), which has no gradient this step (has_gradient = 0: its layer was skipped or frozen); leave such tensors and their state alone (docs/plugins.md, rule G1)")
        }
    }

    private static func hash(_ store: ParameterStore, entry index: Int) -> UInt64 {
        let e = store.entries[index]
        var h = ContentHash64()
        h.update(UnsafeRawBufferPointer(start: store.values + e.offset, count: e.count * MemoryLayout<Float>.stride))
        return h.finish()
    }

    /// v1.1 "ntng.evaluation_weights/1": the plugin's evaluation weights written into `out`
    /// (`count` floats, pre-filled with the training weights). False when it declined or serves
    /// no such extension.
    public func writeEvaluationWeights(_ s: PluginStepInfo, into out: UnsafeMutablePointer<Float>, count: Int) throws -> Bool {
        guard let write = evaluationWeights?.write else { return false }
        let status = try withUnsafePointer(to: s.c) { info in
            try invoke(.evaluationWeights, allowDeclined: true) { write($0, info, out, Int64(count)) }
        }
        if status == NTNG_DECLINED { return false }
        for j in 0..<count where !out[j].isFinite {
            throw PluginError(.hook, plugin: id, hook: PluginHook.evaluationWeights.rawValue, "wrote a non-finite value (\(out[j])) at flat index \(j)")
        }
        return true
    }

    /// Whether the plugin serves "ntng.evaluation_weights/1".
    public var providesEvaluationWeights: Bool { evaluationWeights?.write != nil }

    /// The plugin's private state bytes (empty when it has no save_state).
    public func saveState() throws -> [UInt8] {
        guard let f = library.hooks.save_state else { return [] }
        let sink = ByteSink()
        let retained = Unmanaged.passRetained(sink)
        defer { retained.release() }
        var stream = ntng_ostream(struct_size: UInt32(MemoryLayout<ntng_ostream>.size), ctx: retained.toOpaque()) { stream, buffer, n in
            guard let stream, let ctx = stream.pointee.ctx else { return -1 }
            let sink = Unmanaged<ByteSink>.fromOpaque(ctx).takeUnretainedValue()
            guard n == 0 || buffer != nil else { return -1 }
            guard sink.bytes.count + Int(clamping: n) <= ByteSink.limit else { sink.overflowed = true; return -1 }
            if n > 0 { sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: Int(n))) }
            return Int64(n)
        }
        _ = try invoke(.saveState) { f($0, &stream) }
        if sink.overflowed {
            throw PluginError(.hook, plugin: id, hook: PluginHook.saveState.rawValue, "wrote more than \(ByteSink.limit) bytes of state")
        }
        return sink.bytes
    }

    /// Restores private state saved by ``saveState()``.
    public func loadState(_ bytes: [UInt8]) throws {
        guard let f = library.hooks.load_state else {
            guard bytes.isEmpty else {
                throw PluginError(.hook, plugin: id, hook: PluginHook.loadState.rawValue, "has no load_state but \(bytes.count) state bytes were saved")
            }
            return
        }
        let source = ByteSource(bytes)
        let retained = Unmanaged.passRetained(source)
        defer { retained.release() }
        var stream = ntng_istream(struct_size: UInt32(MemoryLayout<ntng_istream>.size), ctx: retained.toOpaque()) { stream, buffer, n in
            guard let stream, let ctx = stream.pointee.ctx else { return -1 }
            let source = Unmanaged<ByteSource>.fromOpaque(ctx).takeUnretainedValue()
            let count = min(Int(clamping: n), source.bytes.count - source.position)
            guard count == 0 || buffer != nil else { return -1 }
            if count > 0 {
                source.bytes.withUnsafeBytes { buffer!.copyMemory(from: $0.baseAddress! + source.position, byteCount: count) }
            }
            source.position += count
            return Int64(count)
        }
        _ = try invoke(.loadState) { f($0, &stream) }
    }

    // MARK: - Calling

    /// Calls a hook with the per-call records reset, times it, and turns a bad status into an error.
    private func invoke(_ hook: PluginHook, allowDeclined: Bool = false,
                        _ call: (UnsafeMutableRawPointer) -> Int32) throws -> Int32 {
        guard let instance else {
            throw PluginError(.hook, plugin: id, hook: hook.rawValue, "called after the instance was destroyed")
        }
        try lent.verifyUntouched(plugin: id, hook: hook)
        PluginCallTrace.entering(plugin: id, hook: hook.rawValue)
        context.begin(hook.rawValue)
        let start = PluginTiming.now()
        let status = call(instance)
        PluginCallTrace.leaving()
        let elapsed = PluginTiming.seconds(since: start)
        context.end()
        lastSelfSeconds = Swift.max(0, elapsed - context.serviceSeconds)
        callStats[hook, default: PluginCallStats()].calls += 1
        callStats[hook]!.selfSeconds += lastSelfSeconds
        callStats[hook]!.serviceSeconds += context.serviceSeconds
        if status == NTNG_OK || (allowDeclined && status == NTNG_DECLINED) { return status }
        throw failure(hook, status)
    }

    private func failure(_ hook: PluginHook?, _ status: Int32) -> PluginError {
        let name = hook?.rawValue ?? "create"
        var reason: String
        if status < 0 {
            reason = "returned \(Self.statusName(status))"
        } else {
            reason = "returned \(Self.statusName(status)), which \(name) may not return (only NTNG_OK\(hook.map { [.onStep, .selectBatch, .resizeModel].contains($0) } ?? false ? " or NTNG_DECLINED" : ""))"
        }
        if let e = context.lastError { reason += ": \(e.message)" } else if status < 0 { reason += " without calling set_error" }
        if let s = context.serviceFailure { reason += " (host service refused: \(s))" }
        return PluginError(.hook, plugin: id, hook: name, reason)
    }

    static func statusName(_ status: Int32) -> String {
        switch status {
        case NTNG_OK: return "NTNG_OK"
        case NTNG_DECLINED: return "NTNG_DECLINED"
        case NTNG_E_INVALID: return "NTNG_E_INVALID (-1)"
        case NTNG_E_UNSUPPORTED: return "NTNG_E_UNSUPPORTED (-2)"
        case NTNG_E_NO_MEMORY: return "NTNG_E_NO_MEMORY (-3)"
        case NTNG_E_INTERNAL: return "NTNG_E_INTERNAL (-4)"
        case NTNG_E_IO: return "NTNG_E_IO (-5)"
        default: return "status \(status)"
        }
    }
}

/// Marks each call into plugin code, so that whoever watches this process can say which hook of
/// which plugin was running when it crashed or hung.
///
/// - In a checker child (``enabled``), a line on stderr before each call.
/// - In a supervised `ntng run` worker (``traceFileDescriptor``), one fixed-size record rewritten
///   in place: `E <start ms> <limit ms> <plugin> <hook>` while a hook runs, `L` between hooks. The
///   supervisor reads it to enforce the hook time limit and to name the hook after a crash.
public enum PluginCallTrace {
    public static let marker = "NTNG-PLUGIN-CALL "
    nonisolated(unsafe) public static var enabled = false
    /// The supervised worker's trace file (-1: none).
    nonisolated(unsafe) public static var traceFileDescriptor: Int32 = -1
    /// The longest a hook may run before the supervisor ends the run, in milliseconds.
    nonisolated(unsafe) public static var hookLimitMilliseconds: Int = 600_000
    public static let recordSize = 256

    static func entering(plugin: String, hook: String) {
        if enabled {
            let line = "\(marker)\(plugin) \(hook)\n"
            // write(2) directly: unbuffered, so the line is out before a crash.
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        if traceFileDescriptor >= 0 {
            let now = Int(Date().timeIntervalSince1970 * 1000)
            writeRecord("E \(now) \(hookLimitMilliseconds) \(plugin) \(hook)")
        }
    }

    static func leaving() {
        if traceFileDescriptor >= 0 { writeRecord("L") }
    }

    private static func writeRecord(_ text: String) {
        var bytes = Array(text.utf8.prefix(recordSize - 1))
        bytes += Array(repeating: UInt8(ascii: " "), count: recordSize - 1 - bytes.count) + [UInt8(ascii: "\n")]
        _ = bytes.withUnsafeBytes { pwrite(traceFileDescriptor, $0.baseAddress, recordSize, 0) }
    }
}

/// What a hook was lent, in check mode (``poison`` set, by `ntng plugin check`): the host hands
/// the hook a fresh copy, and when the hook returns fills it with the poison pattern and keeps it
/// allocated. A plugin that reads it after its hook (rule O1) reads the poison, which differs
/// between the determinism check's two runs, so that check fails; one that writes it after its
/// hook is caught at its next hook. Outside check mode the host lends its own memory directly.
public final class LentBuffers {
    /// The poison byte of check mode; nil in runs. Set only while no hook runs.
    nonisolated(unsafe) public static var poison: UInt8?
    private var kept: [(bytes: UnsafeMutableRawBufferPointer, name: String, poison: UInt8)] = []

    deinit { kept.forEach { $0.bytes.deallocate() } }

    /// Calls `body` with `value`'s address (in check mode, a copy's), copying back what the hook
    /// wrote, then poisons the copy.
    func lending<T, R>(_ value: inout T, name: String, _ body: (UnsafeMutablePointer<T>) throws -> R) throws -> R {
        guard let poison = Self.poison else { return try body(&value) }
        let copy = UnsafeMutablePointer<T>.allocate(capacity: 1)
        copy.initialize(to: value)
        defer {
            value = copy.move()
            keep(UnsafeMutableRawBufferPointer(start: copy, count: MemoryLayout<T>.size), name: name, poison: poison)
        }
        return try body(copy)
    }

    /// Calls `body` with the elements' address (in check mode, a copy's), then poisons the copy.
    func lending<T, R>(_ values: [T], name: String, _ body: (UnsafePointer<T>?) throws -> R) throws -> R {
        guard let poison = Self.poison else { return try values.withUnsafeBufferPointer { try body($0.baseAddress) } }
        let copy = UnsafeMutableBufferPointer<T>.allocate(capacity: Swift.max(values.count, 1))
        _ = copy.initialize(from: values)
        defer { keep(UnsafeMutableRawBufferPointer(copy), name: name, poison: poison) }
        return try body(UnsafePointer(copy.baseAddress))
    }

    private func keep(_ bytes: UnsafeMutableRawBufferPointer, name: String, poison: UInt8) {
        bytes.initializeMemory(as: UInt8.self, repeating: poison)
        kept.append((bytes, name, poison))
        // A few steps' worth is enough to catch a pointer kept from one hook to the next.
        if kept.count > 64 { kept.removeFirst().bytes.deallocate() }
    }

    /// Throws if the plugin wrote into something it was lent by an earlier hook.
    func verifyUntouched(plugin: String, hook: PluginHook) throws {
        for k in kept where !k.bytes.allSatisfy({ $0 == k.poison }) {
            throw PluginError(.hook, plugin: plugin, hook: hook.rawValue,
                              "wrote into \(k.name) after that hook had returned (a kept pointer; rule O1: pointers are valid only during their hook)")
        }
    }
}

/// Every out-buffer the host hands a hook ends in a guard region of known values; a hook that
/// writes past the elements it was given changes them, and is stopped naming the buffer
/// (docs/plugins.md, rule F6).
enum OutBufferGuard {
    static let count = 16
    static let int32Canary: Int32 = 0x5AFE_C0DE
    static let byteCanary: UInt8 = 0xA5
    static let floatCanary: Float = -1.234_5e30

    static func region<T>(_ canary: T) -> [T] { Array(repeating: canary, count: count) }

    static func check<T: Equatable>(_ buffer: UnsafeMutableBufferPointer<T>, from start: Int, canary: T,
                                    plugin: String, hook: PluginHook, name: String) throws {
        for i in start..<buffer.count where buffer[i] != canary {
            throw PluginError(.hook, plugin: plugin, hook: hook.rawValue,
                              "wrote past the end of \(name) (element \(i); it has \(start)); write only the elements its struct describes")
        }
    }
}

/// The optimizer hooks' arguments (`ntng_optimizer_args`): the rate and, v1.1, the schedule it
/// came from.
public struct OptimizerContext: Sendable, Equatable {
    /// `Float(scheduleLR × lrScale)`: the baseline's rate this step.
    public var learningRate: Float
    public var scheduleLR: Double
    public var lrScale: Double
    public var peakLR: Double
    /// The budget fraction the schedule was read at (the step's start).
    public var scheduleFraction: Double
    public var batchSequences: Int
    public var batchTokens: Int

    public init(learningRate: Float, scheduleLR: Double, lrScale: Double, peakLR: Double, scheduleFraction: Double,
                batchSequences: Int, batchTokens: Int) {
        self.learningRate = learningRate
        self.scheduleLR = scheduleLR
        self.lrScale = lrScale
        self.peakLR = peakLR
        self.scheduleFraction = scheduleFraction
        self.batchSequences = batchSequences
        self.batchTokens = batchTokens
    }

    func c(update: Int) -> ntng_optimizer_args {
        ntng_optimizer_args(struct_size: UInt32(MemoryLayout<ntng_optimizer_args>.size), lr: learningRate, update: UInt64(update),
                            batch_sequences: Int64(batchSequences), batch_tokens: Int64(batchTokens), schedule_lr: scheduleLR,
                            lr_scale: lrScale, peak_lr: peakLR, schedule_fraction: scheduleFraction)
    }
}

/// One plugin's `on_step` plan, checked.
public struct PluginLayerPlan: Sendable, Equatable {
    public var lrScale: Float
    /// `[micro-batch][layer]`: run the layer.
    public var keep: [[Bool]]
    /// `[micro-batch][layer]`: its residual branches' scale (v1.1; 1 from a v1.0 plugin).
    public var outputScale: [[Float]]
    /// `[layer]`: false = forward only this step (v1.1; all true from a v1.0 plugin).
    public var backward: [Bool]
}

/// Collects save_state bytes.
private final class ByteSink {
    static let limit = 256 << 20
    var bytes: [UInt8] = []
    var overflowed = false
}

/// Feeds load_state bytes.
private final class ByteSource {
    let bytes: [UInt8]
    var position = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
