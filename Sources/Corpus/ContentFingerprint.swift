import Foundation
import Storage

/// What a prepared corpus holds, as content hashes of its files and the largest token id of each
/// token file. `ntng data prepare` writes it (`content.json`); every open recomputes it, so an
/// edited, truncated or bit-rotted file is refused, and a token id outside the vocabulary is
/// found before it can be read out of bounds. ``digest`` is the corpus's data fingerprint,
/// recorded with every run and in every comparison trial's identity.
public struct ContentFingerprint: Codable, Equatable, Sendable {
    public static let fileName = "content.json"

    /// File name → ``ContentHash64`` hex.
    public var hashes: [String: String]
    /// Token file name → its largest token id (-1 for an empty file).
    public var maxTokenIDs: [String: Int]

    /// One hash over the hashes of the files that define the data, in name order. The
    /// SentencePiece model file is verified but left out: it records the path it was trained
    /// from, so the same data prepared in two folders would differ; its pieces and scores
    /// (`tokenizer.vocab`) are in.
    public var digest: String {
        var h = ContentHash64()
        for name in hashes.keys.sorted() where !name.hasSuffix(".model") { h.update("\(name)=\(hashes[name]!)\n") }
        return h.hex
    }

    /// The files of a prepared folder that define its tokens (the vocabulary listing when the
    /// tokenizer was trained here).
    static func files(tokenizerFile: String, in directory: URL) -> [String] {
        let vocabulary = (tokenizerFile as NSString).deletingPathExtension + ".vocab"
        let listing = FileManager.default.fileExists(atPath: directory.appendingPathComponent(vocabulary).path) ? [vocabulary] : []
        return [tokenizerFile] + listing + ["train.tokens", "train.docs", "validation.tokens", "validation.docs"]
    }

    /// Hashes the files of `directory` (token files of `tokenWidth` bytes per id).
    public static func measure(directory: URL, tokenizerFile: String, tokenWidth: Int) throws -> ContentFingerprint {
        var hashes: [String: String] = [:], maxima: [String: Int] = [:]
        for name in files(tokenizerFile: tokenizerFile, in: directory) {
            let url = directory.appendingPathComponent(name)
            let data: Data
            do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
                throw CorpusError.corruptPreparedData(path: url.path, reason: "cannot be read: \(FileErrorText.describe(error))")
            }
            data.withUnsafeBytes { bytes in
                hashes[name] = ContentHash64.hex(bytes)
                if name.hasSuffix(".tokens") { maxima[name] = maxTokenID(bytes, width: tokenWidth) }
            }
        }
        return ContentFingerprint(hashes: hashes, maxTokenIDs: maxima)
    }

    private static func maxTokenID(_ bytes: UnsafeRawBufferPointer, width: Int) -> Int {
        var maximum = -1
        if width == 2 {
            for id in bytes.bindMemory(to: UInt16.self) { maximum = Swift.max(maximum, Int(UInt16(littleEndian: id))) }
        } else {
            for id in bytes.bindMemory(to: UInt32.self) { maximum = Swift.max(maximum, Int(UInt32(littleEndian: id))) }
        }
        return maximum
    }

    /// Checks what is on disk (`self`, just measured) against what preparation recorded and the
    /// vocabulary; the error names the file and the fix.
    func verify(recorded: ContentFingerprint?, vocabularySize: Int, directory: URL, corpus: String) throws {
        let fix = "prepare it again with `ntng data prepare --corpus \(corpus) --force`"
        if let recorded {
            for (name, hash) in recorded.hashes.sorted(by: { $0.key < $1.key }) where hashes[name] != hash {
                throw CorpusError.corruptPreparedData(
                    path: directory.appendingPathComponent(name).path,
                    reason: "its content changed after `ntng data prepare` wrote it (content hash \(hashes[name] ?? "none"), recorded \(hash)); \(fix)")
            }
        }
        for (name, maximum) in maxTokenIDs.sorted(by: { $0.key < $1.key }) where maximum >= vocabularySize {
            throw CorpusError.corruptPreparedData(
                path: directory.appendingPathComponent(name).path,
                reason: "it holds token id \(maximum), outside the vocabulary 0..<\(vocabularySize); \(fix)")
        }
    }
}
