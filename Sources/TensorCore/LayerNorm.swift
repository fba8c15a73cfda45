/// Layer normalisation over the last dimension, with gain and bias, forward and backward.
///
/// The forward pass keeps each row's mean and reciprocal standard deviation so the backward pass
/// can rebuild the normalised values without storing them.
public enum LayerNorm {
    /// `output[r] = (input[r] - mean) · rstd · gain + bias`; writes `mean[r]`, `rstd[r]`.
    public static func forward(
        input: Tensor, gain: Tensor, bias: Tensor, output: Tensor,
        mean: Tensor, rstd: Tensor, epsilon: Float, rows: Int? = nil
    ) {
        let n = rows ?? input.rows, c = input.columns
        let x = input.base, y = output.base, g = gain.base, b = bias.base
        let mu = mean.base, rs = rstd.base
        ComputeThreads.forEachChunk(of: n, grain: 64) { _, range in
            for row in range {
                let xr = x + row * c, yr = y + row * c
                var sum: Float = 0
                for j in 0..<c { sum += xr[j] }
                let m = sum / Float(c)
                var squares: Float = 0
                for j in 0..<c { let d = xr[j] - m; squares += d * d }
                let s = 1 / (squares / Float(c) + epsilon).squareRoot()
                for j in 0..<c { yr[j] = (xr[j] - m) * s * g[j] + b[j] }
                mu[row] = m
                rs[row] = s
            }
        }
    }

    /// Adds the input gradient into `dInput` (`+=`, so a residual stream's gradient can flow
    /// through in place) and accumulates `dGain`, `dBias`.
    public static func backward(
        dOutput: Tensor, input: Tensor, gain: Tensor, mean: Tensor, rstd: Tensor,
        dInput: Tensor, dGain: Tensor, dBias: Tensor, rows: Int? = nil
    ) {
        let n = rows ?? input.rows, c = input.columns
        let dy = dOutput.base, x = input.base, g = gain.base, mu = mean.base, rs = rstd.base
        let dx = dInput.base, dg = dGain.base, db = dBias.base
        ComputeThreads.forEachChunk(of: n, grain: 64) { _, range in
            for row in range {
                let dyr = dy + row * c, xr = x + row * c, dxr = dx + row * c
                let m = mu[row], s = rs[row]
                // dx = s · (dŷ - mean(dŷ) - x̂ · mean(dŷ · x̂)), with dŷ = dy · gain.
                var meanD: Float = 0, meanDX: Float = 0
                for j in 0..<c {
                    let dn = dyr[j] * g[j]
                    meanD += dn
                    meanDX += dn * (xr[j] - m) * s
                }
                meanD /= Float(c)
                meanDX /= Float(c)
                for j in 0..<c {
                    let xhat = (xr[j] - m) * s
                    dxr[j] += s * (dyr[j] * g[j] - meanD - xhat * meanDX)
                }
            }
        }
        // Parameter gradients reduce over rows; splitting by column keeps threads apart.
        ComputeThreads.forEachChunk(of: c, grain: 16) { _, cols in
            for row in 0..<n {
                let dyr = dy + row * c, xr = x + row * c
                let m = mu[row], s = rs[row]
                for j in cols {
                    dg[j] += dyr[j] * (xr[j] - m) * s
                    db[j] += dyr[j]
                }
            }
        }
    }
}
