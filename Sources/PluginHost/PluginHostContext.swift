import Foundation
import Models
import PluginAPI

/// The host side of one plugin instance: its `ntng_host` service table, its state tensors, its
/// config, and what the current call allows.
///
/// The table's `host_ctx` points back here (unretained; the ``Plugin`` owns both), so each C
/// callback finds the instance that called it. Services check that they are called from inside a
/// hook, copy every string they receive and validate every index, then forward model work to the
/// host's ``PluginHostServices`` with the ``StepContext`` of the hook in progress.
final class PluginHostContext {
    let pluginID: String
    let config: PluginConfig
    let state = PluginStateTensors()
    weak var services: PluginHostServices?
    private(set) var table: UnsafeMutablePointer<ntng_host>

    /// The call in progress (`"create"` or a hook name); nil between calls.
    var activeCall: String?
    /// The step the hook in progress serves (set by ``PluginStack`` for the call); nil in
    /// `create`, `save_state`, `load_state` and `destroy`.
    var step: StepContext?
    /// Candidates of the pool while `select_batch` runs.
    var poolCandidates: Int?
    /// The last `set_error` of the current call.
    var lastError: (code: Int32, message: String)?
    /// The first service failure of the current call, reported if the hook then fails.
    var serviceFailure: String?
    /// Seconds spent inside model services (charged by the trainer) during the current call.
    var serviceSeconds: Double = 0
    /// Rows scored through `per_example_loss` during the current call.
    var rowsScored = 0
    /// Sampled-label passes requested during the current call.
    var curvaturePasses = 0

    /// C copies of parameter names, rebuilt when the parameter store changes (resize).
    private var nameStorage: [UnsafeMutablePointer<CChar>] = []
    /// C copies of stack names, kept for the instance's life (a handful of short strings).
    private var stackNames: [String: UnsafeMutablePointer<CChar>] = [:]
    private var namesFor: ObjectIdentifier?

    init(pluginID: String, config: PluginConfig, services: PluginHostServices) {
        self.pluginID = pluginID
        self.config = config
        self.services = services
        table = .allocate(capacity: 1)
        table.initialize(to: ntng_host())
        table.pointee = Self.makeTable(context: Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        table.deinitialize(count: 1)
        table.deallocate()
        nameStorage.forEach { free($0) }
        stackNames.values.forEach { free($0) }
    }

    /// Starts a call: clears the per-call records.
    func begin(_ call: String) {
        activeCall = call
        lastError = nil
        serviceFailure = nil
        serviceSeconds = 0
        rowsScored = 0
        curvaturePasses = 0
    }

    func end() {
        activeCall = nil
        poolCandidates = nil
    }

    // MARK: - Helpers for the callbacks

    fileprivate static func context(_ h: UnsafePointer<ntng_host>?) -> PluginHostContext? {
        guard let raw = h?.pointee.host_ctx else { return nil }
        return Unmanaged<PluginHostContext>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Records a refused service call so the plugin (via the status) and the user (via the
    /// failure text) both learn why.
    fileprivate func refuse(_ service: String, _ reason: String, code: Int32 = NTNG_E_INVALID) -> Int32 {
        let text = "\(service): \(reason)"
        if serviceFailure == nil { serviceFailure = text }
        return code
    }

    fileprivate func requireHook(_ service: String) -> Int32? {
        activeCall == nil ? refuse(service, "called outside create or a hook") : nil
    }

    fileprivate func cName(_ index: Int, store: ParameterStore) -> UnsafePointer<CChar> {
        if namesFor != ObjectIdentifier(store) {
            nameStorage.forEach { free($0) }
            nameStorage = store.entries.map { strdup($0.name)! }
            namesFor = ObjectIdentifier(store)
        }
        return UnsafePointer(nameStorage[index])
    }

    fileprivate func timed<T>(_ body: () throws -> T) rethrows -> T {
        let start = PluginTiming.now()
        defer { serviceSeconds += PluginTiming.seconds(since: start) }
        return try body()
    }

    // MARK: - Extensions

    /// The "ntng.diagnostics/1" table: one for all instances (the host argument finds the context).
    nonisolated(unsafe) static let diagnosticsTable: UnsafeMutablePointer<ntng_diagnostics_v1> = {
        let table = UnsafeMutablePointer<ntng_diagnostics_v1>.allocate(capacity: 1)
        var d = ntng_diagnostics_v1()
        d.struct_size = UInt32(MemoryLayout<ntng_diagnostics_v1>.size)
        d.record = { h, key, value in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            if let refused = c.requireHook("diagnostics.record") { return refused }
            guard let key, let text = PluginLibrary.cString(key, limit: 65), text.count <= 64, !text.isEmpty,
                  text.allSatisfy({ $0.isLowercase || $0.isNumber || "_.-".contains($0) }) else {
                return c.refuse("diagnostics.record", "the key must be 1-64 characters of [a-z0-9_.-]")
            }
            guard value.isFinite else { return c.refuse("diagnostics.record", "value for '\(text)' is not finite") }
            guard let s = c.services else { return c.refuse("diagnostics.record", "the host is gone", code: NTNG_E_INTERNAL) }
            s.recordDiagnostic(plugin: c.pluginID, key: text, value: value, in: c.step ?? s.runContext())
            return NTNG_OK
        }
        table.initialize(to: d)
        return table
    }()

    fileprivate func cStackName(_ name: String) -> UnsafePointer<CChar> {
        if let kept = stackNames[name] { return UnsafePointer(kept) }
        let copy = strdup(name)!
        stackNames[name] = copy
        return UnsafePointer(copy)
    }

    /// The "ntng.model_stacks/1" table.
    nonisolated(unsafe) static let modelStacksTable: UnsafeMutablePointer<ntng_model_stacks_v1> = {
        let table = UnsafeMutablePointer<ntng_model_stacks_v1>.allocate(capacity: 1)
        var t = ntng_model_stacks_v1()
        t.struct_size = UInt32(MemoryLayout<ntng_model_stacks_v1>.size)
        t.count = { h in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            if let refused = c.requireHook("model_stacks.count") { return refused }
            guard let s = c.services else { return c.refuse("model_stacks.count", "the host is gone", code: NTNG_E_INTERNAL) }
            return Int32(s.stacks.count)
        }
        t.stack = { h, index, out in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            if let refused = c.requireHook("model_stacks.stack") { return refused }
            let minimum = MemoryLayout<ntng_stack_info>.size
            guard let out, Int(out.pointee.struct_size) >= minimum else {
                return c.refuse("model_stacks.stack", "out is NULL or its struct_size is below the \(minimum) bytes of ntng.model_stacks/1")
            }
            guard let stacks = c.services?.stacks else { return c.refuse("model_stacks.stack", "the host is gone", code: NTNG_E_INTERNAL) }
            guard stacks.indices.contains(Int(index)) else {
                return c.refuse("model_stacks.stack", "index \(index) is outside 0..<\(stacks.count)")
            }
            let stack = stacks[Int(index)]
            out.pointee.num_layers = Int32(stack.layers)
            out.pointee.max_layers = Int32(stack.maxLayers)
            out.pointee.first_layer = Int32(stack.firstLayer)
            out.pointee.resizable = stack.resizable ? 1 : 0
            out.pointee.name = c.cStackName(stack.name)
            return NTNG_OK
        }
        table.initialize(to: t)
        return table
    }()

    // MARK: - The table

    // swiftlint:disable:next function_body_length
    private static func makeTable(context: UnsafeMutableRawPointer) -> ntng_host {
        var h = ntng_host()
        h.struct_size = UInt32(MemoryLayout<ntng_host>.size)
        h.abi_major = UInt16(NTNG_ABI_MAJOR)
        h.abi_minor = UInt16(NTNG_ABI_MINOR)
        h.host_ctx = context

        h.get_extension = { _, id in
            guard let id, let text = PluginLibrary.cString(id, limit: 256) else { return nil }
            switch text {
            case NTNG_EXT_DIAGNOSTICS: return UnsafeRawPointer(PluginHostContext.diagnosticsTable)
            case NTNG_EXT_MODEL_STACKS: return UnsafeRawPointer(PluginHostContext.modelStacksTable)
            default: return nil
            }
        }

        h.log = { h, level, message in
            guard let c = PluginHostContext.context(h) else { return }
            let text = PluginLibrary.cString(message, limit: 65536) ?? "(null)"
            let lvl = PluginLogLevel(rawValue: level) ?? .info
            guard let s = c.services else { return }
            s.log(lvl, plugin: c.pluginID, text, in: c.step ?? s.runContext())
        }

        h.set_error = { h, code, message in
            guard let c = PluginHostContext.context(h) else { return }
            c.lastError = (code, PluginLibrary.cString(message, limit: 4096) ?? "(no message)")
        }

        h.get_budget = { h, out in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            if let refused = c.requireHook("get_budget") { return refused }
            guard let out, out.pointee.struct_size >= 64 else { return c.refuse("get_budget", "out is NULL or its struct_size is below the v1.0 size") }
            guard let b = c.services?.budget else { return c.refuse("get_budget", "the host is gone", code: NTNG_E_INTERNAL) }
            out.pointee.kind = b.kind == .rst ? NTNG_BUDGET_RST : b.kind == .wall ? NTNG_BUDGET_WALL : NTNG_BUDGET_STEPS
            out.pointee.amount = b.amount
            out.pointee.elapsed = b.elapsed
            out.pointee.fraction = b.fraction
            out.pointee.rst_seconds = b.rstSeconds
            out.pointee.steps = UInt64(b.steps)
            out.pointee.sequences = UInt64(b.sequences)
            out.pointee.tokens = UInt64(b.tokens)
            return NTNG_OK
        }

        h.get_model_info = { h, out in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            if let refused = c.requireHook("get_model_info") { return refused }
            guard let out, out.pointee.struct_size >= 56 else { return c.refuse("get_model_info", "out is NULL or its struct_size is below the v1.0 size") }
            guard let s = c.services else { return c.refuse("get_model_info", "the host is gone", code: NTNG_E_INTERNAL) }
            let m = s.modelConfig, store = s.parameters
            out.pointee.num_layers = Int32(m.layers)
            out.pointee.max_layers = Int32(s.maxLayers)
            out.pointee.hidden = Int32(m.hidden)
            out.pointee.heads = Int32(m.heads)
            out.pointee.ffn = Int32(m.ffn)
            out.pointee.vocabulary = Int32(m.vocabularySize)
            out.pointee.sequence_length = Int32(m.sequenceLength)
            out.pointee.micro_batch = Int32(m.microBatch)
            out.pointee.num_params = Int32(store.entries.count)
            out.pointee.flat_count = Int64(store.count)
            out.pointee.parameter_count = Int64(store.parameterCount)
            return NTNG_OK
        }

        h.param_info = { h, index, out in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            if let refused = c.requireHook("param_info") { return refused }
            guard let out, out.pointee.struct_size >= 96 else { return c.refuse("param_info", "out is NULL or its struct_size is below the v1.0 size") }
            guard let store = c.services?.parameters else { return c.refuse("param_info", "the host is gone", code: NTNG_E_INTERNAL) }
            guard store.entries.indices.contains(Int(index)) else {
                return c.refuse("param_info", "index \(index) is outside 0..<\(store.entries.count)")
            }
            let e = store.entries[Int(index)]
            out.pointee.layer = Int32(e.layer ?? -1)
            out.pointee.name = c.cName(Int(index), store: store)
            out.pointee.kind = ParameterKindCode.code(e.kind)
            out.pointee.decayed = e.kind.isDecayed || (c.services?.decaysEverything ?? false) ? 1 : 0
            out.pointee.ndim = Int32(e.shape.count)
            withUnsafeMutableBytes(of: &out.pointee.shape) { raw in
                let dims = raw.bindMemory(to: Int64.self)
                for d in 0..<Int(NTNG_MAX_RANK) { dims[d] = d < e.shape.count ? Int64(e.shape[d]) : 0 }
            }
            out.pointee.offset = Int64(e.offset)
            out.pointee.count = Int64(e.count)
            out.pointee.value = store.values + e.offset
            out.pointee.grad = UnsafePointer(store.gradients + e.offset)
            // v1.1 fields, only into a struct that has them (a v1.0 plugin's is 96 bytes).
            if Int(out.pointee.struct_size) >= MemoryLayout<ntng_param_info>.size {
                out.pointee.has_gradient = c.step?.hasGradient?[Int(index)] ?? true ? 1 : 0
                out.pointee.reserved1 = 0
                out.pointee.updates = UInt64(c.step?.parameterUpdates?[Int(index)] ?? 0)
            }
            return NTNG_OK
        }

        h.state_tensor = { h, name, fill in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            if let refused = c.requireHook("state_tensor") { return refused }
            guard let text = PluginLibrary.cString(name, limit: 256), !text.isEmpty else {
                return c.refuse("state_tensor", "name is NULL or empty")
            }
            guard fill.isFinite else { return c.refuse("state_tensor", "fill for \"\(text)\" is not finite") }
            guard c.state.tensors.count < 64 || c.state.names.contains(text) else {
                return c.refuse("state_tensor", "more than 64 state tensors", code: NTNG_E_NO_MEMORY)
            }
            guard let store = c.services?.parameters else { return c.refuse("state_tensor", "the host is gone", code: NTNG_E_INTERNAL) }
            return Int32(c.state.tensor(named: text, fill: fill, count: store.count))
        }

        h.state_data = { h, id in
            guard let c = PluginHostContext.context(h) else { return nil }
            if c.requireHook("state_data") != nil { return nil }
            guard let p = c.state.data(Int(id)) else {
                _ = c.refuse("state_data", "unknown state tensor id \(id)")
                return nil
            }
            return p
        }

        h.per_example_loss = { h, rows, n, outSum, outMasked in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            guard c.activeCall == PluginHook.selectBatch.rawValue, let candidates = c.poolCandidates, let step = c.step else {
                return c.refuse("per_example_loss", "may only be called from select_batch")
            }
            guard let rows, let outSum, n >= 1, Int(n) <= candidates else {
                return c.refuse("per_example_loss", "needs rows and out_loss_sum and 1...\(candidates) rows, got n = \(n)")
            }
            var list: [Int] = []
            var seen = Set<Int>()
            for i in 0..<Int(n) {
                let r = Int(rows[i])
                guard (0..<candidates).contains(r) else { return c.refuse("per_example_loss", "row \(r) is outside the pool 0..<\(candidates)") }
                guard seen.insert(r).inserted else { return c.refuse("per_example_loss", "row \(r) is listed twice") }
                list.append(r)
            }
            guard let s = c.services else { return c.refuse("per_example_loss", "the host is gone", code: NTNG_E_INTERNAL) }
            do {
                let losses = try c.timed { try s.perExampleLosses(poolRows: list, in: step) }
                guard losses.count == list.count else {
                    return c.refuse("per_example_loss", "the host returned \(losses.count) losses for \(list.count) rows", code: NTNG_E_INTERNAL)
                }
                c.rowsScored += list.count
                for (i, l) in losses.enumerated() {
                    outSum[i] = l.sum
                    outMasked?[i] = Float(l.maskedTokens)
                }
                return NTNG_OK
            } catch {
                return c.refuse("per_example_loss", "\(error)", code: NTNG_E_INTERNAL)
            }
        }

        h.sampled_label_gradient = { h, id in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            guard c.activeCall == PluginHook.optimizerStep.rawValue, let step = c.step else {
                return c.refuse("sampled_label_gradient", "may only be called from optimizer_step")
            }
            guard let s = c.services else { return c.refuse("sampled_label_gradient", "the host is gone", code: NTNG_E_INTERNAL) }
            guard let data = c.state.data(Int(id)), c.state.tensors[Int(id)].count == s.parameters.count else {
                return c.refuse("sampled_label_gradient", "unknown state tensor id \(id)")
            }
            do {
                try c.timed { try s.sampledLabelGradient(into: data, count: s.parameters.count, in: step) }
                c.curvaturePasses += 1
                return NTNG_OK
            } catch {
                return c.refuse("sampled_label_gradient", "\(error)", code: NTNG_E_INTERNAL)
            }
        }

        h.config_int = { h, key, out in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            switch c.configValue("config_int", key) {
            case .failure(let status): return status.code
            case .success(let value):
                guard case .int(let v) = value, let out else { return c.refuse("config_int", "\(c.keyText(key)) is not an int key (or out is NULL)") }
                out.pointee = v
                return NTNG_OK
            }
        }

        h.config_double = { h, key, out in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            switch c.configValue("config_double", key) {
            case .failure(let status): return status.code
            case .success(let value):
                guard let out else { return c.refuse("config_double", "out is NULL") }
                switch value {
                case .double(let v): out.pointee = v
                case .int(let v): out.pointee = Double(v)
                default: return c.refuse("config_double", "\(c.keyText(key)) is not a double key")
                }
                return NTNG_OK
            }
        }

        h.config_bool = { h, key, out in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            switch c.configValue("config_bool", key) {
            case .failure(let status): return status.code
            case .success(let value):
                guard case .bool(let v) = value, let out else { return c.refuse("config_bool", "\(c.keyText(key)) is not a bool key (or out is NULL)") }
                out.pointee = v ? 1 : 0
                return NTNG_OK
            }
        }

        h.config_string = { h, key, buffer, capacity, outLength in
            guard let c = PluginHostContext.context(h) else { return NTNG_E_INVALID }
            switch c.configValue("config_string", key) {
            case .failure(let status): return status.code
            case .success(let value):
                guard case .string(let v) = value else { return c.refuse("config_string", "\(c.keyText(key)) is not a string key") }
                let bytes = Array(v.utf8)
                outLength?.pointee = UInt64(bytes.count)
                if capacity > 0 {
                    guard let buffer else { return c.refuse("config_string", "buffer is NULL with capacity \(capacity)") }
                    let n = min(bytes.count, Int(capacity) - 1)
                    for i in 0..<n { buffer[i] = CChar(bitPattern: bytes[i]) }
                    buffer[n] = 0
                }
                return NTNG_OK
            }
        }
        return h
    }

    private struct Status: Error { let code: Int32 }

    private func keyText(_ key: UnsafePointer<CChar>?) -> String {
        "\"\(PluginLibrary.cString(key, limit: 256) ?? "(null)")\""
    }

    private func configValue(_ service: String, _ key: UnsafePointer<CChar>?) -> Result<PluginConfigValue, Status> {
        if let refused = requireHook(service) { return .failure(Status(code: refused)) }
        guard let name = PluginLibrary.cString(key, limit: 256) else { return .failure(Status(code: refuse(service, "key is NULL"))) }
        guard let value = config.values[name] else {
            return .failure(Status(code: refuse(service, "\"\(name)\" was not declared in the descriptor's config_keys")))
        }
        return .success(value)
    }
}

/// `ParameterKind` ↔ `NTNG_PARAM_*`.
enum ParameterKindCode {
    static func code(_ kind: ParameterKind) -> Int32 {
        switch kind {
        case .matrix: return NTNG_PARAM_MATRIX
        case .embedding: return NTNG_PARAM_EMBEDDING
        case .normGain: return NTNG_PARAM_NORM_GAIN
        case .normBias: return NTNG_PARAM_NORM_BIAS
        case .scale: return NTNG_PARAM_SCALE
        }
    }
}

/// Monotonic timing of plugin calls.
public enum PluginTiming {
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static func seconds(since start: UInt64) -> Double { Double(now() &- start) / 1e9 }
}
