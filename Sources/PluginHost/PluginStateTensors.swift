import Storage
import Foundation
import Models

/// The state tensors of one plugin instance: host-owned float arrays in the flat parameter
/// layout, looked up by name (`ntng_host.state_tensor`).
///
/// The host owns them so that it can count their memory, checkpoint them without the plugin's
/// help and carry them over a model resize: each parameter's slice follows the parameter's
/// **name**, so layers that keep their name keep their state and new layers start from the fill
/// value (stacking's "new layers start with empty optimizer state").
public final class PluginStateTensors {
    final class Tensor {
        let name: String
        let fill: Float
        var storage: UnsafeMutablePointer<Float>
        var count: Int

        init(name: String, fill: Float, count: Int) {
            self.name = name
            self.fill = fill
            self.count = count
            storage = .allocate(capacity: Swift.max(count, 1))
            storage.initialize(repeating: fill, count: Swift.max(count, 1))
        }

        deinit { storage.deallocate() }
    }

    private(set) var tensors: [Tensor] = []

    /// Names in allocation order.
    public var names: [String] { tensors.map(\.name) }

    /// The id of `name`, creating it with `count` floats of `fill` when new.
    func tensor(named name: String, fill: Float, count: Int) -> Int {
        if let i = tensors.firstIndex(where: { $0.name == name }) { return i }
        tensors.append(Tensor(name: name, fill: fill, count: count))
        return tensors.count - 1
    }

    func data(_ id: Int) -> UnsafeMutablePointer<Float>? {
        tensors.indices.contains(id) ? tensors[id].storage : nil
    }

    /// The values of `name`, if allocated.
    public func values(named name: String) -> [Float]? {
        guard let t = tensors.first(where: { $0.name == name }) else { return nil }
        return Array(UnsafeBufferPointer(start: t.storage, count: t.count))
    }

    /// Carries every tensor from `old`'s layout to `new`'s: slices move by parameter name (same
    /// shape required) unless the name is in `reset`; everything else, padding included, takes the
    /// tensor's fill value.
    func remap(from old: ParameterStore, to new: ParameterStore, reset: Set<String> = []) {
        for t in tensors {
            let fresh = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(new.count, 1))
            fresh.initialize(repeating: t.fill, count: Swift.max(new.count, 1))
            for e in new.entries where !reset.contains(e.name) {
                guard let o = old.info(e.name), o.shape == e.shape, o.offset + o.count <= t.count else { continue }
                (fresh + e.offset).update(from: t.storage + o.offset, count: e.count)
            }
            t.storage.deallocate()
            t.storage = fresh
            t.count = new.count
        }
    }

    /// Replaces (or creates) `name` with `values`, as a checkpoint restore does.
    func restore(name: String, fill: Float, values: [Float]) {
        let id = tensor(named: name, fill: fill, count: values.count)
        let t = tensors[id]
        if t.count != values.count {
            t.storage.deallocate()
            t.storage = .allocate(capacity: Swift.max(values.count, 1))
            t.storage.initialize(repeating: fill, count: Swift.max(values.count, 1))
            t.count = values.count
        }
        values.withUnsafeBufferPointer { t.storage.update(from: $0.baseAddress!, count: values.count) }
    }

    /// Snapshot for a checkpoint.
    /// ``ContentHash64`` over every tensor's contents, to check that a read-only call read only.
    func contentHash() -> UInt64 {
        var h = ContentHash64()
        for t in tensors { h.update(UnsafeRawBufferPointer(start: t.storage, count: t.count * MemoryLayout<Float>.stride)) }
        return h.finish()
    }

    func snapshot() -> [PluginStateTensorSnapshot] {
        tensors.map { PluginStateTensorSnapshot(name: $0.name, fill: $0.fill, values: Array(UnsafeBufferPointer(start: $0.storage, count: $0.count))) }
    }
}

/// One state tensor as stored in a checkpoint (flat parameter layout of the checkpointed model).
public struct PluginStateTensorSnapshot: Sendable, Equatable, Codable {
    public var name: String
    public var fill: Float
    public var values: [Float]

    public init(name: String, fill: Float, values: [Float]) {
        self.name = name
        self.fill = fill
        self.values = values
    }
}
