import Foundation

/// A user's own text: one file, or every non-hidden file under a folder (recursively). Each file
/// is one document (id = path relative to the folder); `.gz` files are decompressed. Empty,
/// binary (NUL bytes or invalid UTF-8) and unreadable files are errors naming the file.
enum UserText {
    struct File {
        let relative: String
        let url: URL
    }

    static func files(at path: String) throws -> [File] {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath).standardizedFileURL
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { throw CorpusError.unknownCorpus(path) }
        if !isDir.boolValue { return [File(relative: url.lastPathComponent, url: url)] }
        guard let e = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey],
                                                     options: [.skipsHiddenFiles]) else {
            throw CorpusError.unreadableFile(path: url.path, reason: "cannot list the folder")
        }
        var result = [File]()
        for case let file as URL in e {
            guard (try? file.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            var rel = file.standardizedFileURL.path
            if rel.hasPrefix(url.path + "/") { rel = String(rel.dropFirst(url.path.count + 1)) }
            result.append(File(relative: rel, url: file))
        }
        guard !result.isEmpty else { throw CorpusError.noTextFound(path: url.path) }
        return result.sorted { $0.relative < $1.relative }
    }

    /// Reads and validates one file; returns its text and a content fingerprint.
    static func read(_ file: File) throws -> (text: String, fingerprint: String) {
        guard FileManager.default.isReadableFile(atPath: file.url.path) else {
            throw CorpusError.unreadableFile(path: file.url.path, reason: "permission denied or missing")
        }
        let data = try Gzip.readMaybeCompressed(file.url)
        var hash = FNV1a64()
        data.withUnsafeBytes { hash.update($0) }
        let fingerprint = "\(data.count):\(FNV1a64.hex(hash.value))"
        if data.isEmpty { throw CorpusError.emptyFile(path: file.url.path) }
        if data.contains(0) { throw CorpusError.binaryFile(path: file.url.path) }
        guard let text = String(data: data, encoding: .utf8) else { throw CorpusError.binaryFile(path: file.url.path) }
        if text.allSatisfy(\.isWhitespace) { throw CorpusError.emptyFile(path: file.url.path) }
        return (text, fingerprint)
    }

    /// A corpus name for a path: its last component plus a short hash of the absolute path.
    static func corpusName(for path: String) -> String {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath).standardizedFileURL
        let base = url.lastPathComponent.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
        return "user-\(String(base.prefix(40)))-\(FNV1a64.hex(FNV1a64.hash(url.path)).prefix(8))"
    }
}
