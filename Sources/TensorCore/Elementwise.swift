/// Small elementwise kernels on whole tensors.
public enum Elementwise {
    /// `output = a + b` (output may alias `a`).
    public static func add(_ a: Tensor, _ b: Tensor, into output: Tensor) {
        precondition(a.count == b.count && a.count == output.count)
        let x = a.base, y = b.base, z = output.base
        ComputeThreads.forEachChunk(of: a.count, grain: 1 << 16) { _, r in
            for i in r { z[i] = x[i] + y[i] }
        }
    }

    /// `output += input`.
    public static func accumulate(_ input: Tensor, into output: Tensor) {
        add(output, input, into: output)
    }

    /// Copies `input` into `output`.
    public static func copy(_ input: Tensor, into output: Tensor) {
        precondition(input.count == output.count)
        output.base.update(from: input.base, count: input.count)
    }

    /// Gathers rows `indices[i]` of `input` into row `i` of `output`.
    public static func gatherRows(
        _ input: Tensor, indices: UnsafePointer<Int32>, count: Int, into output: Tensor
    ) {
        let c = input.columns, x = input.base, y = output.base
        for i in 0..<count { (y + i * c).update(from: x + Int(indices[i]) * c, count: c) }
    }

    /// Adds row `i` of `input` into row `indices[i]` of `output` (indices must be distinct).
    public static func scatterAddRows(
        _ input: Tensor, indices: UnsafePointer<Int32>, count: Int, into output: Tensor
    ) {
        let c = input.columns, x = input.base, y = output.base
        for i in 0..<count {
            let src = x + i * c, dst = y + Int(indices[i]) * c
            for j in 0..<c { dst[j] += src[j] }
        }
    }
}
