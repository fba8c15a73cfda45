import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash-safe file output, the one way ntng writes a file that must be whole: everything goes to a
/// fresh temporary name in the same folder, is flushed with `fsync`, renamed into place, and the
/// folder is synced, so a crash or a full disk leaves the old file or the new one, never a torn
/// or empty one. Errors name the file and the reason (``CorpusError/unwritableFile(path:reason:)``).
public enum AtomicFile {
    /// Writes what `produce` hands to its sink, in order, to `url` atomically.
    public static func write(to url: URL, _ produce: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CorpusError.unwritableFile(path: url.path, reason: "cannot create \(temporary.lastPathComponent): \(String(cString: strerror(errno)))") }
        var moved = false
        defer {
            close(fd)
            if !moved { unlink(temporary.path) }
        }
        func fail(_ what: String) -> CorpusError { .unwritableFile(path: url.path, reason: "\(what): \(String(cString: strerror(errno)))") }
        try produce { bytes in
            var written = 0
            while written < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw fail("write failed") }
                written += n
            }
        }
        // On disk before the rename, so a crash cannot leave an empty file under the final name.
        guard fsync(fd) == 0 else { throw fail("fsync failed") }
        guard rename(temporary.path, url.path) == 0 else { throw fail("rename failed") }
        moved = true
        // Make the rename itself durable.
        let directoryFD = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Writes raw bytes to `url` atomically.
    public static func write(_ bytes: UnsafeRawBufferPointer, to url: URL) throws {
        try write(to: url) { sink in try sink(bytes) }
    }

    public static func write(_ data: Data, to url: URL) throws {
        try data.withUnsafeBytes { try write($0, to: url) }
    }

    public static func write<T>(_ array: [T], to url: URL) throws {
        try array.withUnsafeBufferPointer { buffer in
            try write(UnsafeRawBufferPointer(buffer), to: url)
        }
    }

    /// Encodes a value as pretty, key-sorted JSON (stable bytes for stable inputs).
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(try encoder.encode(value), to: url)
    }
}

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
