/// A view of Float32 memory with a shape. Tensors never own memory: a `TensorArena` (or a
/// parameter store) lays buffers out once, and kernels read and write through these views, so a
/// training step allocates nothing.
///
/// Where the address lives is the business of the ``ComputeBackend`` whose arena handed it out:
/// host memory for the CPU backend; a device backend's kernels would take device addresses.
public struct Tensor: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let shape: TensorShape
    public let count: Int

    public init(base: UnsafeMutablePointer<Float>, shape: TensorShape) {
        self.base = base
        self.shape = shape
        self.count = shape.reduce(1, *)
    }

    public init(base: UnsafeMutablePointer<Float>, shape: [Int]) {
        self.init(base: base, shape: TensorShape(shape))
    }

    /// The element buffer, for kernels and tests.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: base, count: count)
    }

    /// Rows of a matrix-shaped tensor (all but the last dimension flattened).
    @inlinable public var rows: Int { shape.count <= 1 ? 1 : count / shape[shape.count - 1] }
    /// Length of the last dimension.
    @inlinable public var columns: Int { shape.last ?? 1 }

    /// Sets every element to zero.
    public func zero() { base.update(repeating: 0, count: count) }

    /// Copies the elements into a new array (tests and checkpoints; never on the step path).
    public func toArray() -> [Float] { Array(buffer) }

    /// Overwrites the elements from `values`, which must have exactly `count` elements.
    public func copy(from values: [Float]) {
        precondition(values.count == count, "copy(from:) needs \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: count) }
    }

    /// The first `rows` rows of a matrix-shaped tensor, as a view. All of them is the tensor
    /// itself.
    public func prefixRows(_ rows: Int) -> Tensor {
        precondition(rows <= self.rows)
        if rows == self.rows { return self }
        return Tensor(base: base, shape: shape.replacing(0, with: rows * shape[0] / self.rows))
    }
}

/// Owns one block of 64-byte-aligned memory and carves tensors out of it. Used for activation
/// and scratch buffers, which are laid out once per model and batch shape.
public final class TensorArena {
    /// Floats handed out so far, alignment padding included.
    public private(set) var used = 0
    private let capacity: Int
    private let storage: UnsafeMutablePointer<Float>?

    private init(capacity: Int, counting: Bool) {
        self.capacity = capacity
        if counting {
            storage = nil
        } else {
            let raw = UnsafeMutableRawPointer.allocate(
                byteCount: Swift.max(capacity, 1) * MemoryLayout<Float>.stride, alignment: 64)
            let floats = raw.bindMemory(to: Float.self, capacity: Swift.max(capacity, 1))
            floats.initialize(repeating: 0, count: Swift.max(capacity, 1))
            storage = floats
        }
    }

    deinit { storage?.deallocate() }

    /// Runs `build` twice: once to measure how much memory its tensors need, once to hand out
    /// real, zero-filled memory from a single block. `build` must ask for the same shapes in the
    /// same order both times.
    public static func layout<T>(_ build: (TensorArena) -> T) -> (arena: TensorArena, value: T) {
        let counter = TensorArena(capacity: .max, counting: true)
        _ = build(counter)
        let arena = TensorArena(capacity: counter.used, counting: false)
        return (arena, build(arena))
    }

    /// Takes the next `shape`-sized tensor; each one starts on a 64-byte boundary.
    public func allocate(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        let start = (used + 15) & ~15
        precondition(start <= capacity - n, "TensorArena overflow: need \(start + n) floats, have \(capacity)")
        used = start + n
        guard let storage else {
            // Measuring pass: the address is never dereferenced.
            return Tensor(base: UnsafeMutablePointer(bitPattern: 64)!, shape: shape)
        }
        return Tensor(base: storage + start, shape: shape)
    }

    /// Bytes of memory this arena holds.
    public var bytes: Int { storage == nil ? 0 : capacity * MemoryLayout<Float>.stride }
}
