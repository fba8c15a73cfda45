import TensorCore

/// What role a parameter tensor plays; optimizers decide weight decay from it.
public enum ParameterKind: String, Codable, Sendable {
    /// A linear layer's weight matrix (weight decay applies).
    case matrix
    /// The token embedding table (tied with the output decoder).
    case embedding
    case normGain = "norm-gain"
    case normBias = "norm-bias"
    /// A learned scalar scale (the position embedding's).
    case scale

    /// Whether the baseline's weight decay applies. Norm gains, biases and embeddings are
    /// excluded (the seed code decayed them by accident; see docs).
    public var isDecayed: Bool { self == .matrix }
}

/// One named parameter tensor inside a `ParameterStore`.
public struct ParameterInfo: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    /// Offset of the first element in the store's flat buffers.
    public let offset: Int
    public let count: Int
    /// The encoder layer it belongs to, or nil for embeddings, final norm and head.
    public let layer: Int?
    public let kind: ParameterKind
}

/// All parameters of a model in one flat Float32 buffer, with a gradient buffer of the same
/// layout. One buffer makes optimizer updates a single loop and lets plugins see parameters as
/// (offset, count) ranges; names, shapes, layers and kinds describe the pieces.
public final class ParameterStore {
    public let entries: [ParameterInfo]
    public let count: Int
    public let values: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    private let index: [String: Int]

    /// Lays out `specs` in order, zero-filled.
    public init(_ specs: [(name: String, shape: [Int], layer: Int?, kind: ParameterKind)]) {
        var entries: [ParameterInfo] = []
        var offset = 0
        for spec in specs {
            let n = spec.shape.reduce(1, *)
            entries.append(ParameterInfo(name: spec.name, shape: spec.shape, offset: offset, count: n,
                                         layer: spec.layer, kind: spec.kind))
            offset += (n + 15) & ~15  // 64-byte aligned starts
        }
        self.entries = entries
        self.count = offset
        values = Self.allocate(offset)
        gradients = Self.allocate(offset)
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    deinit {
        values.deallocate()
        gradients.deallocate()
    }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(n, 1) * 4, alignment: 64)
        let p = raw.bindMemory(to: Float.self, capacity: Swift.max(n, 1))
        p.initialize(repeating: 0, count: Swift.max(n, 1))
        return p
    }

    /// The entry called `name`, if any.
    public func info(_ name: String) -> ParameterInfo? { index[name].map { entries[$0] } }

    /// The value tensor of `name` (which must exist).
    public func value(_ name: String) -> Tensor {
        guard let e = info(name) else { preconditionFailure("no parameter named \(name)") }
        return Tensor(base: values + e.offset, shape: e.shape)
    }

    /// The gradient tensor of `name` (which must exist).
    public func gradient(_ name: String) -> Tensor {
        guard let e = info(name) else { preconditionFailure("no parameter named \(name)") }
        return Tensor(base: gradients + e.offset, shape: e.shape)
    }

    /// Number of real parameters (padding excluded).
    public var parameterCount: Int { entries.reduce(0) { $0 + $1.count } }

    /// Sets all gradients to zero.
    public func zeroGradients() { gradients.update(repeating: 0, count: count) }

    /// Copies the values of every parameter that `other` also has with the same shape.
    public func copyValues(from other: ParameterStore) {
        for e in entries {
            guard let o = other.info(e.name), o.shape == e.shape else { continue }
            (values + e.offset).update(from: other.values + o.offset, count: e.count)
        }
    }
}
