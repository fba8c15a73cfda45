/// 64-bit FNV-1a: tiny, endian-free and identical on every machine and Swift version (unlike
/// `Hasher`, which is seeded per process). Used for the train/validation split and for content
/// fingerprints in manifests; it is not a cryptographic hash.
public struct FNV1a64: Sendable {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    public private(set) var value: UInt64 = FNV1a64.offsetBasis

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for byte in bytes { h = (h ^ UInt64(byte)) &* FNV1a64.prime }
        value = h
    }

    public mutating func update(_ string: String) {
        var s = string
        s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Hash of a string's UTF-8 bytes.
    public static func hash(_ string: String) -> UInt64 {
        var h = FNV1a64()
        h.update(string)
        return h.value
    }

    /// 16 lowercase hex digits.
    public static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
