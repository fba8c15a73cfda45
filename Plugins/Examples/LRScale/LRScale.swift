// Example plugin in Swift: scales the learning rate and, optionally, skips the first layer every
// N-th step (a toy version of layer dropping). It shows how a Swift plugin exports the one entry
// symbol, builds its C tables once, keeps an instance as an Unmanaged object, reads config, and
// saves private state. Built as the ExampleLRScale product (libExampleLRScale.so); a Swift plugin
// must be built with the same toolchain as the host (Swift's ABI is not stable on Linux).
import PluginAPI

#if canImport(Glibc)
import Glibc
#endif

/// One instance: config and the count of steps seen.
private final class LRScale {
    let host: UnsafePointer<ntng_host>
    let scale: Double
    let skipEvery: Int64
    var stepsSeen: UInt64 = 0

    init(host: UnsafePointer<ntng_host>, scale: Double, skipEvery: Int64) {
        self.host = host
        self.scale = scale
        self.skipEvery = skipEvery
    }

    static func from(_ raw: UnsafeMutableRawPointer?) -> LRScale {
        Unmanaged<LRScale>.fromOpaque(raw!).takeUnretainedValue()
    }
}

private func fail(_ h: UnsafePointer<ntng_host>, _ code: ntng_status, _ message: String) -> ntng_status {
    message.withCString { h.pointee.set_error(h, code, $0) }
    return code
}

private let create: @convention(c) (UnsafePointer<ntng_host>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> ntng_status = { h, out in
    guard let h, let out else { return NTNG_E_INVALID }
    var scale = 0.0
    var skip: Int64 = 0
    guard h.pointee.config_double(h, "scale", &scale) == NTNG_OK, h.pointee.config_int(h, "skip_every", &skip) == NTNG_OK else {
        return fail(h, NTNG_E_INVALID, "could not read config")
    }
    guard scale.isFinite, scale >= 0 else { return fail(h, NTNG_E_INVALID, "scale must be a finite number >= 0") }
    guard skip >= 0 else { return fail(h, NTNG_E_INVALID, "skip_every must be >= 0") }
    out.pointee = Unmanaged.passRetained(LRScale(host: h, scale: scale, skipEvery: skip)).toOpaque()
    return NTNG_OK
}

private let destroy: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
    guard let raw else { return }
    Unmanaged<LRScale>.fromOpaque(raw).release()
}

private let onStep: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<ntng_step_info>?, UnsafeMutablePointer<ntng_step_plan>?) -> ntng_status = { raw, info, plan in
    let me = LRScale.from(raw)
    guard let info, let plan else { return fail(me.host, NTNG_E_INVALID, "on_step without step info or plan") }
    me.stepsSeen += 1
    plan.pointee.lr_scale = Float(me.scale)
    let layers = Int(plan.pointee.num_layers)
    if me.skipEvery > 0, layers > 1, info.pointee.step % UInt64(me.skipEvery) == UInt64(me.skipEvery - 1) {
        for m in 0..<Int(plan.pointee.micro_batches) { plan.pointee.layer_keep[m * layers] = 0 }
    }
    return NTNG_OK
}

private let saveState: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<ntng_ostream>?) -> ntng_status = { raw, out in
    let me = LRScale.from(raw)
    guard let out else { return fail(me.host, NTNG_E_INVALID, "no stream") }
    var bytes = (0..<8).map { UInt8(truncatingIfNeeded: me.stepsSeen >> (8 * UInt64($0))) }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { out.pointee.write(out, $0.baseAddress! + done, UInt64(8 - done)) }
        if n <= 0 { return fail(me.host, NTNG_E_IO, "state stream refused bytes") }
        done += Int(n)
    }
    return NTNG_OK
}

private let loadState: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<ntng_istream>?) -> ntng_status = { raw, input in
    let me = LRScale.from(raw)
    guard let input else { return fail(me.host, NTNG_E_INVALID, "no stream") }
    var bytes = [UInt8](repeating: 0, count: 8)
    var done = 0
    while done < 8 {
        let n = bytes.withUnsafeMutableBytes { input.pointee.read(input, $0.baseAddress! + done, UInt64(8 - done)) }
        if n <= 0 { return fail(me.host, NTNG_E_IO, "state is shorter than 8 bytes") }
        done += Int(n)
    }
    me.stepsSeen = bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    return NTNG_OK
}

/// A C string that lives for the life of the process (tables must outlive every instance).
private func permanent(_ s: String) -> UnsafePointer<CChar> { UnsafePointer(strdup(s)!) }

private func key(_ type: ntng_config_type, _ name: String, _ value: String, _ help: String) -> UnsafePointer<ntng_config_key> {
    let k = UnsafeMutablePointer<ntng_config_key>.allocate(capacity: 1)
    k.initialize(to: ntng_config_key(struct_size: UInt32(MemoryLayout<ntng_config_key>.size), type: type,
                                     key: permanent(name), default_value: permanent(value), help: permanent(help)))
    return UnsafePointer(k)
}

// Built once, on first use, and never freed. Swift 6 needs nonisolated(unsafe) for global
// pointers; they are written once and only read afterwards.
nonisolated(unsafe) private let entryTable: UnsafePointer<ntng_entry> = {
    let keys = UnsafeMutablePointer<UnsafePointer<ntng_config_key>?>.allocate(capacity: 3)
    keys[0] = key(NTNG_CONFIG_DOUBLE, "scale", "0.5", "factor applied to the scheduled learning rate")
    keys[1] = key(NTNG_CONFIG_INT, "skip_every", "0", "skip layer 0 every N-th step (0: never)")
    keys[2] = nil

    var hooks = ntng_hooks()
    hooks.struct_size = UInt32(MemoryLayout<ntng_hooks>.size)
    hooks.on_step = onStep
    hooks.save_state = saveState
    hooks.load_state = loadState
    let hooksTable = UnsafeMutablePointer<ntng_hooks>.allocate(capacity: 1)
    hooksTable.initialize(to: hooks)

    var d = ntng_descriptor()
    d.struct_size = UInt32(MemoryLayout<ntng_descriptor>.size)
    d.abi_major = UInt16(NTNG_ABI_MAJOR)
    d.abi_minor = UInt16(NTNG_ABI_MINOR)
    d.id = permanent("example.lr-scale")
    d.name = permanent("LR scale (Swift example)")
    d.version = permanent("1.0.0")
    d.description = permanent("Scales the learning rate; optionally skips layer 0 every N-th step")
    d.config_keys = UnsafePointer(keys)
    d.hooks = UnsafePointer(hooksTable)
    d.create = create
    d.destroy = destroy
    let descriptor = UnsafeMutablePointer<ntng_descriptor>.allocate(capacity: 1)
    descriptor.initialize(to: d)

    let entry = UnsafeMutablePointer<ntng_entry>.allocate(capacity: 1)
    entry.initialize(to: ntng_entry(struct_size: UInt32(MemoryLayout<ntng_entry>.size), abi_major: UInt16(NTNG_ABI_MAJOR),
                                    abi_minor: UInt16(NTNG_ABI_MINOR), init: nil, descriptor: UnsafePointer(descriptor)))
    return UnsafePointer(entry)
}()

/// The one exported symbol.
@_cdecl("ntng_get_entry_v1")
public func ntngGetEntryV1() -> UnsafePointer<ntng_entry>? { entryTable }
