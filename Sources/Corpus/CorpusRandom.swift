/// SplitMix64: a tiny counter-based generator with a fixed, published algorithm, so streams and
/// masks are bit-identical on every machine. Seeded from (seed, example id) it makes masking a
/// pure function of both. Internal, and not named SplitMix64, so that it never clashes with
/// TensorCore's generator in modules that import both.
public struct CorpusRandom: Sendable {
    var state: UInt64

    public init(state: UInt64) { self.state = state }

    /// A generator for one (seed, key) pair: both are mixed so that nearby seeds and ids give
    /// unrelated streams.
    public init(seed: UInt64, key: UInt64) {
        state = CorpusRandom.mix(seed ^ 0x6A09_E667_F3BC_C909) ^ CorpusRandom.mix(key &+ 0xBB67_AE85_84CA_A73B)
    }

    /// One SplitMix64 output for state `value`: the golden-ratio increment 0x9E3779B97F4A7C15, then
    /// the finaliser. (Not the bare finaliser: the split rules and stored tables depend on the
    /// increment being there.)
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform integer in 0 ..< bound (multiply-high; the bias is below 2^-32 for our bounds).
    @inline(__always)
    public mutating func next(below bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }
}
