import Foundation
#if canImport(Glibc)
import Glibc
#endif


/// A read-only memory mapping of a whole file; unmapped on release.
final class MappedFile: @unchecked Sendable {
    let base: UnsafeRawPointer?
    let count: Int

    init(url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw CorpusError.unreadableFile(path: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CorpusError.unreadableFile(path: url.path, reason: "stat failed") }
        count = Int(st.st_size)
        if count == 0 {
            base = nil
            return
        }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CorpusError.unreadableFile(path: url.path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }
}

/// One split of a prepared corpus, memory-mapped: token ids (`<split>.tokens`, little-endian
/// UInt16, or UInt32 when the vocabulary exceeds 65536) and document boundaries
/// (`<split>.docs`, little-endian UInt64 token offsets, documents + 1 entries starting at 0).
public final class TokenSplit: @unchecked Sendable {
    public let tokenCount: Int
    public let documentCount: Int
    /// Bytes per token id: 2 or 4.
    public let tokenWidth: Int
    private let tokens: MappedFile
    private let offsets: MappedFile
    let offsetPointer: UnsafePointer<UInt64>

    init(tokensURL: URL, documentsURL: URL, tokenWidth: Int) throws {
        self.tokenWidth = tokenWidth
        tokens = try MappedFile(url: tokensURL)
        offsets = try MappedFile(url: documentsURL)
        guard tokens.count % tokenWidth == 0 else { throw CorpusError.corruptPreparedData(path: tokensURL.path, reason: "size not a multiple of \(tokenWidth)") }
        guard offsets.count >= 8, offsets.count % 8 == 0, let offBase = offsets.base else {
            throw CorpusError.corruptPreparedData(path: documentsURL.path, reason: "bad document index size")
        }
        tokenCount = tokens.count / tokenWidth
        documentCount = offsets.count / 8 - 1
        offsetPointer = offBase.assumingMemoryBound(to: UInt64.self)
        guard offsetPointer[0] == 0, offsetPointer[documentCount] == UInt64(tokenCount) else {
            throw CorpusError.corruptPreparedData(path: documentsURL.path, reason: "document index does not match the token file")
        }
    }

    /// Token range of document `d`.
    public func documentRange(_ d: Int) -> Range<Int> { Int(offsetPointer[d])..<Int(offsetPointer[d + 1]) }

    /// Token id at a position.
    @inline(__always)
    public func token(at index: Int) -> Int32 {
        if tokenWidth == 2 { return Int32(tokens.base!.load(fromByteOffset: index &* 2, as: UInt16.self)) }
        return Int32(bitPattern: tokens.base!.load(fromByteOffset: index &* 4, as: UInt32.self))
    }

    /// Copies `count` ids starting at `start` into `destination`, widening to Int32.
    @inline(__always)
    func copyTokens(from start: Int, count: Int, to destination: UnsafeMutablePointer<Int32>) {
        guard count > 0, let base = tokens.base else { return }
        if tokenWidth == 2 {
            let src = base.assumingMemoryBound(to: UInt16.self) + start
            for k in 0..<count { destination[k] = Int32(src[k]) }
        } else {
            let src = base.assumingMemoryBound(to: UInt32.self) + start
            for k in 0..<count { destination[k] = Int32(bitPattern: src[k]) }
        }
    }
}
