import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash-safe file output, the one way ntng writes a file that must be whole: everything goes to a
/// fresh temporary name in the same folder, is flushed with `fsync`, renamed into place, and the
/// folder is synced, so a crash or a full disk leaves the old file or the new one, never a torn
/// or empty one. Errors name the file and the reason (``StorageError/unwritableFile(path:reason:)``).
public enum AtomicFile {
    /// Removes temporary files a killed writer of `url` left behind (`.<name>.tmp-<pid>-…` whose
    /// process is gone); returns how many. A live writer's file is left alone.
    @discardableResult
    public static func removeOrphans(of url: URL) -> Int {
        let directory = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent).tmp-"
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = name.dropFirst(prefix.count).split(separator: "-").first.flatMap({ Int32($0) }) else { continue }
            let alive = pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM)
            if !alive && unlink(directory.appendingPathComponent(name).path) == 0 { removed += 1 }
        }
        return removed
    }

    /// Writes what `produce` hands to its sink, in order, to `url` atomically.
    public static func write(to url: URL, _ produce: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.unwritableFile(path: url.path, reason: "cannot create \(temporary.lastPathComponent): \(String(cString: strerror(errno)))") }
        var moved = false
        defer {
            close(fd)
            if !moved { unlink(temporary.path) }
        }
        func fail(_ what: String) -> StorageError { .unwritableFile(path: url.path, reason: "\(what): \(String(cString: strerror(errno)))") }
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


/// Why a file could not be written. The message names the file, the reason and what to check.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    case unwritableFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unwritableFile(path, reason):
            return "The file \(path) cannot be written (\(reason)). Check that the folder exists, that you may write there and that the disk is not full; nothing was replaced."
        }
    }

    public var errorDescription: String? { description }
}
