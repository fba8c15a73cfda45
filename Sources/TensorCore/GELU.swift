/// The GELU nonlinearity (tanh approximation, as GPT-2 and llm.c use; it differs from the erf form
/// by under 1e-3) and crammed BERT's gated GELU-GLU, forward and backward side by side.
public enum GELU {
    @usableFromInline static let sqrt2OverPi: Float = 0.797_884_56
    @usableFromInline static let cubic: Float = 0.044_715

    @inlinable @inline(__always)
    static func value(_ x: Float) -> Float {
        let t = FastMath.tanh(sqrt2OverPi * (x + cubic * x * x * x))
        return 0.5 * x * (1 + t)
    }

    @inlinable @inline(__always)
    static func derivative(_ x: Float) -> Float {
        let u = sqrt2OverPi * (x + cubic * x * x * x)
        let t = FastMath.tanh(u)
        let du = sqrt2OverPi * (1 + 3 * cubic * x * x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    }

    /// `out = gelu(input)` elementwise.
    public static func forward(input: Tensor, output: Tensor) {
        precondition(input.count == output.count)
        let x = input.base, y = output.base
        ComputeThreads.forEachChunk(of: input.count, grain: 1 << 15) { _, r in
            for i in r { y[i] = value(x[i]) }
        }
    }

    /// `dInput = dOutput · gelu'(input)` (overwrites dInput).
    public static func backward(input: Tensor, dOutput: Tensor, dInput: Tensor) {
        let x = input.base, dy = dOutput.base, dx = dInput.base
        ComputeThreads.forEachChunk(of: input.count, grain: 1 << 15) { _, r in
            for i in r { dx[i] = dy[i] * derivative(x[i]) }
        }
    }
}

/// Gated GELU-GLU: the input row `[value | gate]` (two halves of width F/2) gives
/// `out = value · gelu(gate)`, halving the width.
public enum GatedGELU {
    public static func forward(input: Tensor, output: Tensor) {
        let rows = input.rows, width = output.columns
        precondition(input.columns == 2 * width && output.rows == rows)
        let x = input.base, y = output.base
        ComputeThreads.forEachChunk(of: rows, grain: 16) { _, r in
            for row in r {
                let v = x + row * 2 * width, g = v + width, o = y + row * width
                for j in 0..<width { o[j] = v[j] * GELU.value(g[j]) }
            }
        }
    }

    /// Overwrites `dInput` (both halves).
    public static func backward(input: Tensor, dOutput: Tensor, dInput: Tensor) {
        let rows = input.rows, width = dOutput.columns
        let x = input.base, dy = dOutput.base, dx = dInput.base
        ComputeThreads.forEachChunk(of: rows, grain: 16) { _, r in
            for row in r {
                let v = x + row * 2 * width, g = v + width, d = dy + row * width
                let dv = dx + row * 2 * width, dg = dv + width
                for j in 0..<width {
                    dv[j] = d[j] * GELU.value(g[j])
                    dg[j] = d[j] * v[j] * GELU.derivative(g[j])
                }
            }
        }
    }
}
