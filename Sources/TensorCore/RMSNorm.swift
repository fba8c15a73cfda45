/// T5's layer norm: root-mean-square scaling with a gain, no mean subtraction and no bias,
/// `y = x / √(mean(x²) + ε) · gain`, forward and backward side by side.
///
/// The forward pass keeps each row's reciprocal RMS so the backward pass rebuilds `x / rms`
/// without storing it.
public enum RMSNorm {
    /// `output[r] = input[r] · rstd[r] · gain`; writes `rstd[r] = 1 / √(mean(input[r]²) + ε)`.
    public static func forward(input: Tensor, gain: Tensor, output: Tensor, rstd: Tensor, epsilon: Float, rows: Int? = nil) {
        let n = rows ?? input.rows, c = input.columns
        let x = input.base, y = output.base, g = gain.base, rs = rstd.base
        ComputeThreads.forEachChunk(of: n, grain: 64) { _, range in
            for row in range {
                let xr = x + row * c, yr = y + row * c
                var squares: Float = 0
                for j in 0..<c { squares += xr[j] * xr[j] }
                let s = 1 / (squares / Float(c) + epsilon).squareRoot()
                for j in 0..<c { yr[j] = xr[j] * s * g[j] }
                rs[row] = s
            }
        }
    }

    /// Adds the input gradient into `dInput` (`+=`, so the residual stream's gradient flows
    /// through in place) and accumulates `dGain`.
    public static func backward(dOutput: Tensor, input: Tensor, gain: Tensor, rstd: Tensor, dInput: Tensor, dGain: Tensor,
                                rows: Int? = nil) {
        let n = rows ?? input.rows, c = input.columns
        let dy = dOutput.base, x = input.base, g = gain.base, rs = rstd.base, dx = dInput.base, dg = dGain.base
        ComputeThreads.forEachChunk(of: n, grain: 64) { _, range in
            for row in range {
                let dyr = dy + row * c, xr = x + row * c, dxr = dx + row * c
                let s = rs[row]
                // dx = s · (dŷ − x̂ · mean(dŷ · x̂)), with x̂ = x·s and dŷ = dy · gain.
                var meanDX: Float = 0
                for j in 0..<c { meanDX += dyr[j] * g[j] * xr[j] * s }
                meanDX /= Float(c)
                for j in 0..<c { dxr[j] += s * (dyr[j] * g[j] - xr[j] * s * meanDX) }
            }
        }
        // The gain's gradient reduces over rows; splitting by column keeps threads apart.
        ComputeThreads.forEachChunk(of: c, grain: 16) { _, cols in
            for row in 0..<n {
                let dyr = dy + row * c, xr = x + row * c, s = rs[row]
                for j in cols { dg[j] += dyr[j] * xr[j] * s }
            }
        }
    }
}
