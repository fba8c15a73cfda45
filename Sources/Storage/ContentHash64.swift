/// A fast 64-bit hash of bytes, identical on every machine and Swift version: four lanes of
/// multiply–rotate over little-endian 8-byte words, folded and avalanched at the end (the shape of
/// xxHash64). It reads several GB/s, so checkpoints and prepared corpora are verified on every
/// open. It detects bit rot, truncation and edits; it is not a cryptographic hash (use
/// ``SHA256Digest`` where someone might forge a match).
public struct ContentHash64: Sendable {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9

    private var l0: UInt64 = 0x6A09_E667_F3BC_C908
    private var l1: UInt64 = 0xBB67_AE85_84CA_A73B
    private var l2: UInt64 = 0x3C6E_F372_FE94_F82B
    private var l3: UInt64 = 0xA54F_F53A_5F1D_36F1
    /// Bytes not yet forming a whole 32-byte block.
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    public init() {}

    @inline(__always) private static func round(_ lane: UInt64, _ word: UInt64) -> UInt64 {
        ((lane &+ word &* p2) << 31 | (lane &+ word &* p2) >> 33) &* p1
    }

    private mutating func block(_ p: UnsafeRawPointer) {
        l0 = Self.round(l0, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        l1 = Self.round(l1, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        l2 = Self.round(l2, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        l3 = Self.round(l3, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }

    /// Adds bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        length &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let take = Swift.min(32 - pending.count, bytes.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            offset = take
            guard pending.count == 32 else { return }
            pending.withUnsafeBytes { block($0.baseAddress!) }
            pending.removeAll(keepingCapacity: true)
        }
        while bytes.count - offset >= 32 {
            block(base + offset)
            offset += 32
        }
        if offset < bytes.count {
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: bytes.count - offset))
        }
    }

    /// Adds a string's UTF-8 bytes.
    public mutating func update(_ text: String) {
        var copy = text
        copy.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// The hash of everything added.
    public func finish() -> UInt64 {
        var h = (l0 << 1 | l0 >> 63) &+ (l1 << 7 | l1 >> 57) &+ (l2 << 12 | l2 >> 52) &+ (l3 << 18 | l3 >> 46)
        // The four lanes folded in order (unrolled: an array literal here would allocate per hash).
        h = (h ^ Self.round(0, l0)) &* Self.p1 &+ Self.p3
        h = (h ^ Self.round(0, l1)) &* Self.p1 &+ Self.p3
        h = (h ^ Self.round(0, l2)) &* Self.p1 &+ Self.p3
        h = (h ^ Self.round(0, l3)) &* Self.p1 &+ Self.p3

        h &+= length
        for byte in pending { h = ((h ^ UInt64(byte) &* Self.p3) << 11 | (h ^ UInt64(byte) &* Self.p3) >> 53) &* Self.p1 }
        h ^= h >> 33; h &*= Self.p2; h ^= h >> 29; h &*= Self.p3; h ^= h >> 32
        return h
    }

    /// 16 lowercase hex digits of ``finish()``.
    public var hex: String {
        let s = String(finish(), radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// The hash of a whole buffer, as hex.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var h = ContentHash64()
        h.update(bytes)
        return h.hex
    }
}
