import Foundation
import Storage

/// Jane Austen's six novels from the R package janeaustenr, read straight from R's lazy-load
/// database without R: `Rdata.rdb` is a sequence of chunks, each a 4-byte big-endian length and
/// a zlib stream holding one serialized R object. Each novel is a character vector of lines
/// (format-3 XDR serialization: STRSXP of CHARSXPs). One document per chapter.
enum AustenText {
    static func documents(rdbPath: String) throws -> [TextDocument] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: rdbPath)) } catch {
            throw CorpusError.unreadableFile(path: rdbPath, reason: FileErrorText.describe(error))
        }
        var documents = [TextDocument]()
        try data.withUnsafeBytes { raw in
            var position = 0
            while position + 4 < raw.count {
                let chunk = UnsafeRawBufferPointer(rebasing: raw[(position + 4)...])
                let (object, consumed) = try Gzip.inflate(chunk, zlibHeader: true)
                position += 4 + consumed
                if let lines = stringVector(object), let title = lines.first(where: { !$0.isEmpty }) {
                    documents += chapters(title: title, lines: lines)
                }
            }
        }
        if documents.isEmpty { throw CorpusError.extractionFailed(source: "austen", reason: "no novels found in \(rdbPath)") }
        return documents
    }

    /// Decodes a serialized character vector; nil for any other object.
    static func stringVector(_ data: Data) -> [String]? {
        data.withUnsafeBytes { raw -> [String]? in
            let b = raw.bindMemory(to: UInt8.self)
            var p = 0
            func int() -> Int32? {
                guard p + 4 <= b.count else { return nil }
                let v = UInt32(b[p]) << 24 | UInt32(b[p + 1]) << 16 | UInt32(b[p + 2]) << 8 | UInt32(b[p + 3])
                p += 4
                return Int32(bitPattern: v)
            }
            guard b.count > 2, b[0] == UInt8(ascii: "X"), b[1] == 10 else { return nil }
            p = 2
            guard let version = int(), int() != nil, int() != nil else { return nil }
            if version == 3 { guard let n = int(), n >= 0 else { return nil }; p += Int(n) }
            guard let flags = int(), flags & 0xFF == 16, let count = int(), count >= 0 else { return nil }
            var lines = [String]()
            lines.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let f = int(), f & 0xFF == 9, let length = int() else { return nil }
                if length < 0 { lines.append(""); continue }
                guard p + Int(length) <= b.count else { return nil }
                lines.append(String(decoding: UnsafeBufferPointer(rebasing: b[p..<(p + Int(length))]), as: UTF8.self))
                p += Int(length)
            }
            return lines
        }
    }

    /// Cuts a novel at "CHAPTER …"/"Chapter …" lines; paragraphs at blank lines.
    static func chapters(title: String, lines: [String]) -> [TextDocument] {
        var documents = [TextDocument]()
        var current = [String]()
        var chapterNumber = 0
        func flush() {
            let paragraphs = TextTools.paragraphs(of: current.joined(separator: "\n"))
            if !paragraphs.isEmpty {
                documents.append(TextDocument(id: "\(title.capitalized)/\(chapterNumber)", paragraphs: paragraphs))
            }
            current.removeAll()
        }
        for line in lines {
            let upper = line.uppercased()
            if upper.hasPrefix("CHAPTER ") && line.count < 20 {
                flush()
                chapterNumber += 1
                continue
            }
            current.append(line)
        }
        flush()
        return documents
    }
}
