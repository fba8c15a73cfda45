/// A tensor's dimensions, held inline (at most ``TensorShape/maxRank``, the plugin ABI's
/// `NTNG_MAX_RANK`), so that making a view of a tensor, as the step does for every row subset it
/// works on, never allocates: an array-backed shape cost one heap allocation per view.
///
/// Deliberately not `ExpressibleByArrayLiteral`: an array literal compared with `==` where this type
/// is visible would be inferred as a shape and trap past rank 4.
public struct TensorShape: RandomAccessCollection, Equatable, Sendable, CustomStringConvertible {
    public static let maxRank = 4
    private var dims: (Int, Int, Int, Int) = (0, 0, 0, 0)
    public let rank: Int

    public init(_ dimensions: [Int]) {
        precondition(dimensions.count <= Self.maxRank, "tensor rank \(dimensions.count) exceeds \(Self.maxRank)")
        rank = dimensions.count
        for (i, d) in dimensions.enumerated() { self[settable: i] = d }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rank }

    public subscript(i: Int) -> Int {
        precondition(i >= 0 && i < rank, "dimension \(i) of a rank-\(rank) shape")
        switch i {
        case 0: return dims.0
        case 1: return dims.1
        case 2: return dims.2
        default: return dims.3
        }
    }

    private subscript(settable i: Int) -> Int {
        get { self[i] }
        set {
            switch i {
            case 0: dims.0 = newValue
            case 1: dims.1 = newValue
            case 2: dims.2 = newValue
            default: dims.3 = newValue
            }
        }
    }

    /// The same shape with dimension `i` replaced.
    public func replacing(_ i: Int, with value: Int) -> TensorShape {
        var s = self
        s[settable: i] = value
        return s
    }

    public static func == (a: TensorShape, b: TensorShape) -> Bool { a.elementsEqual(b) }

    public var description: String { "[" + map(String.init).joined(separator: ", ") + "]" }
}
