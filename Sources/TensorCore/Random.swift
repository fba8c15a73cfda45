import Foundation

/// Counter-based randomness: every draw is a pure function of (seed, counter), so results do not
/// depend on thread scheduling or on how work was split.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The SplitMix64 finaliser: a bijective 64-bit mix.
    @inlinable @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// A uniform draw in [0, 1) keyed by (seed, counter).
    @inlinable @inline(__always)
    public static func uniform(seed: UInt64, counter: UInt64) -> Float {
        let bits = mix(seed ^ mix(counter &+ 0x9E37_79B9_7F4A_7C15))
        return Float(bits >> 40) * (1.0 / 16_777_216.0)
    }

    /// A standard normal draw (Box-Muller), for weight initialisation.
    public mutating func nextNormal() -> Float {
        let u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let radius = (-2 * Foundation.log(Swift.max(u1, 1e-300))).squareRoot()
        return Float(radius * Foundation.cos(2 * Double.pi * u2))
    }
}

extension SplitMix64 {
    /// FNV-1a over the UTF-8 bytes: a seed component from a name that is stable across runs and
    /// machines, unlike `hashValue`.
    public static func stableHash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
