/// Branch-free float approximations that vectorise (libm's expf/tanhf are scalar calls, which
/// would cost more than the GEMMs around them in softmax, cross-entropy and GELU).
public enum FastMath {
    /// e^x with relative error below 2e-7 on [-87, 88] (Cephes-style range reduction and a
    /// degree-6 polynomial); inputs below -87 give ~1e-38, never a NaN.
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let x = Swift.min(Swift.max(x, -87.0), 88.0)
        // Adding 1.5·2^23 rounds x·log2(e) to an integer k held in the low mantissa bits, which
        // then build 2^k directly: no float-to-int conversion, so no trap on NaN.
        let shifted = x * 1.442_695_04 + 12_582_912.0
        let k = shifted - 12_582_912.0
        let r = x - k * 0.693_359_375 + k * 2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * r * r + r + 1
        let scale = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
        return y * scale
    }

    /// tanh(x) through e^(2x); absolute error below 1e-6.
    @inlinable @inline(__always)
    public static func tanh(_ x: Float) -> Float {
        let c = Swift.min(Swift.max(x, -9.0), 9.0)
        let e = exp(2 * c)
        return 1 - 2 / (e + 1)
    }
}
