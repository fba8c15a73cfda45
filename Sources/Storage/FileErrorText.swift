import Foundation

/// Foundation's file errors in words: "NSCocoaErrorDomain error 256" says nothing, so every
/// message that shows a file error goes through here and names the reason (the POSIX one when
/// Foundation wraps it).
public enum FileErrorText {
    /// The reason of `error` in words, e.g. "is a folder, not a file" or "permission denied".
    public static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return posix(Int32(underlying.code))
        }
        if ns.domain == NSPOSIXErrorDomain { return posix(Int32(ns.code)) }
        guard ns.domain == NSCocoaErrorDomain else { return "\(error)" }
        switch ns.code {
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "no such file or folder"
        case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "permission denied"
        case NSFileWriteOutOfSpaceError: return "no space left on the device"
        case NSFileWriteVolumeReadOnlyError: return "the file system is read-only"
        case NSFileWriteFileExistsError: return "a file of that name exists already"
        case NSFileReadCorruptFileError: return "the file is damaged or not in the expected format"
        case NSFileReadTooLargeError: return "the file is too large to read"
        case NSFileReadUnknownError, NSFileWriteUnknownError:
            let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
            var isFolder: ObjCBool = false
            if let path, FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
                return "is a folder, not a file"
            }
            return "it cannot be read or written (is it a folder, or on a broken disk?)"
        default: return ns.localizedDescription
        }
    }

    static func posix(_ code: Int32) -> String {
        switch code {
        case EISDIR: return "is a folder, not a file"
        case ENOTDIR: return "a part of the path is not a folder"
        case ENOENT: return "no such file or folder"
        case EACCES, EPERM: return "permission denied"
        case ENOSPC: return "no space left on the device"
        case EROFS: return "the file system is read-only"
        default: return String(cString: strerror(code))
        }
    }

    /// `what` and `path` with the reason, e.g. "cannot read profile /x: is a folder, not a file".
    public static func message(_ what: String, _ path: String, _ error: Error) -> String {
        "\(what) \(path): \(describe(error))"
    }
}
