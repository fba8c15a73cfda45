import Testing
@testable import TensorCore

/// A tensor with its own memory, for tests. The memory is never freed: ARC may release an object
/// right after its last use while a kernel still holds its raw address, and test tensors are small.
final class OwnedTensor {
    let pointer: UnsafeMutablePointer<Float>
    let tensor: Tensor
    init(_ shape: [Int], _ values: [Float]? = nil) {
        let n = shape.reduce(1, *)
        pointer = .allocate(capacity: max(n, 1))
        pointer.initialize(repeating: 0, count: max(n, 1))
        if let values { pointer.update(from: values, count: n) }
        tensor = Tensor(base: pointer, shape: shape)
    }
    var values: [Float] { tensor.toArray() }
    var doubles: [Double] { tensor.toArray().map(Double.init) }
}

/// Deterministic pseudo-random values in [-scale, scale).
func randomValues(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in (Float(rng.next() >> 40) / 16_777_216 * 2 - 1) * scale }
}

/// Central differences of a Float64 reference function, the yardstick for Float32 backward kernels.
/// With h = 1e-5 in Float64 the difference error (~h²·f‴ + 1e-16/h) is far below Float32 rounding,
/// so the tolerance only has to cover the kernel's own Float32 arithmetic.
func numericGradient(_ x: [Double], h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    return (0..<x.count).map { i in
        let saved = x[i]
        x[i] = saved + h; let up = f(x)
        x[i] = saved - h; let down = f(x)
        x[i] = saved
        return (up - down) / (2 * h)
    }
}

/// Largest |a − b| relative to the largest |b| (or 1e-3, whichever is bigger).
func maxRelativeError(_ a: [Float], _ b: [Double]) -> Double {
    #expect(a.count == b.count)
    let scale = max(b.map { abs($0) }.max() ?? 0, 1e-3)
    return zip(a, b).map { abs(Double($0) - $1) }.max().map { $0 / scale } ?? 0
}

func withThreads(_ n: Int, _ body: () throws -> Void) rethrows {
    let saved = ComputeThreads.count
    ComputeThreads.set(n)
    defer { ComputeThreads.set(saved) }
    try body()
}
