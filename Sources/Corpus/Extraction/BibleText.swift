import Foundation

/// The King James Bible through Debian's `bible` reader (its EC02 data format cannot be read
/// directly). One document per chapter, one paragraph per verse.
enum BibleText {
    static func kjvDocuments() throws -> [TextDocument] {
        let data = try ProcessRunner.run("bible", ["-l100000", "Gen1:1-Rev22:21"], package: "bible-kjv")
        return parse(String(decoding: data, as: UTF8.self))
    }

    /// Parses `Book N` headers followed by `  v text` verse lines.
    static func parse(_ text: String) -> [TextDocument] {
        var documents = [TextDocument]()
        var current: TextDocument? = nil
        for line in text.split(separator: "\n") {
            if line.hasPrefix(" ") {
                let verse: Substring = line.drop(while: { (c: Character) in c == " " }).drop(while: { (c: Character) in c.isNumber })
                let cleaned = TextTools.collapseWhitespace(String(verse))
                if !cleaned.isEmpty { current?.paragraphs.append(cleaned) }
            } else {
                if let c = current, !c.paragraphs.isEmpty { documents.append(c) }
                current = TextDocument(id: String(line).trimmingCharacters(in: .whitespaces), paragraphs: [])
            }
        }
        if let c = current, !c.paragraphs.isEmpty { documents.append(c) }
        return documents
    }
}

/// Public-domain Bible commentaries from SWORD modules through `diatheke -f plain`.
///
/// diatheke prints a commentary entry once for every verse it covers (the raw MHCC dump is 48 M
/// words), so paragraphs are cut at the `* Verses a-b *` section markers and de-duplicated by
/// content. One document per chapter.
enum SwordCommentaryText {
    static func documents(module: String, range: String, package: String) throws -> [TextDocument] {
        let data = try ProcessRunner.run("diatheke", ["-b", module, "-f", "plain", "-k", range], package: package, allowFailure: true)
        let docs = parse(String(decoding: data, as: UTF8.self), module: module)
        if docs.isEmpty {
            throw CorpusError.extractionFailed(source: module, reason: "diatheke printed no text; is \(package) installed?")
        }
        return docs
    }

    /// Splits `Book C:V: text` entries (continuation lines follow) into per-chapter documents.
    /// Works on UTF-8 bytes: the raw dump is hundreds of megabytes of repeated entries.
    static func parse(_ text: String, module: String) -> [TextDocument] {
        var documents = [TextDocument]()
        var index = [String: Int]()
        var seen = Set<UInt64>()
        var chapter = ""
        let moduleLine = Array("(\(module))".utf8)
        var text = text
        text.withUTF8 { all in
            var lineStart = 0
            while lineStart < all.count {
                var lineEnd = lineStart
                while lineEnd < all.count && all[lineEnd] != 10 { lineEnd += 1 }
                let line = UnsafeBufferPointer(rebasing: all[lineStart..<lineEnd])
                lineStart = lineEnd + 1
                if line.isEmpty || line.elementsEqual(moduleLine) { continue }
                var bodyStart = 0
                if let (book, rest) = entryHeader(line) {
                    chapter = book
                    bodyStart = rest
                }
                if chapter.isEmpty { continue }
                for range in sections(line, from: bodyStart) {
                    // Emphasis stars become spaces; whitespace collapses.
                    var bytes = [UInt8]()
                    bytes.reserveCapacity(range.count)
                    var pendingSpace = false
                    for b in line[range] {
                        if b == 32 || b == 9 || b == 13 || b == UInt8(ascii: "*") { pendingSpace = !bytes.isEmpty; continue }
                        if pendingSpace { bytes.append(32); pendingSpace = false }
                        bytes.append(b)
                    }
                    let words = bytes.withUnsafeBufferPointer { TextTools.wordCount($0) }
                    guard words >= 3 else { continue }
                    var h = FNV1a64()
                    bytes.withUnsafeBytes { h.update($0) }
                    guard seen.insert(h.value).inserted else { continue }
                    let cleaned = String(decoding: bytes, as: UTF8.self)
                    if let k = index[chapter] {
                        documents[k].paragraphs.append(cleaned)
                    } else {
                        index[chapter] = documents.count
                        documents.append(TextDocument(id: chapter, paragraphs: [cleaned]))
                    }
                }
            }
        }
        return documents
    }

    /// `Revelation of John 22:8: text` → ("Revelation of John 22", offset of "text").
    static func entryHeader(_ line: UnsafeBufferPointer<UInt8>) -> (String, Int)? {
        // The reference ends at the first ": " (or a trailing ':').
        var sep = -1
        var k = 0
        while k < line.count {
            if line[k] == UInt8(ascii: ":") && (k + 1 == line.count || line[k + 1] == 32) { sep = k; break }
            k += 1
        }
        guard sep > 0 else { return nil }
        var space = sep - 1
        while space >= 0 && line[space] != 32 { space -= 1 }
        guard space > 0 else { return nil }
        let numbers = line[(space + 1)..<sep].split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard numbers.count == 2, numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= 48 && $0 <= 57 } }) else { return nil }
        guard line[0] >= 65 && line[0] <= 90 || (line[0] >= 49 && line[0] <= 51) else { return nil }
        let book = String(decoding: UnsafeBufferPointer(rebasing: line[0..<space]), as: UTF8.self)
        let chapterNumber = String(decoding: numbers[0], as: UTF8.self)
        return ("\(book) \(chapterNumber)", min(line.count, sep + 2))
    }

    /// Byte ranges of an entry line cut at `* Verse` section markers.
    static func sections(_ line: UnsafeBufferPointer<UInt8>, from start: Int) -> [Range<Int>] {
        let marker = Array("* Verse".utf8)
        var result = [Range<Int>]()
        var sectionStart = start
        var k = start + 1
        while k + marker.count <= line.count {
            if line[k] == marker[0] && line[k + 1] == marker[1] && line[k + 2] == marker[2]
                && UnsafeBufferPointer(rebasing: line[k..<(k + marker.count)]).elementsEqual(marker) {
                result.append(sectionStart..<k)
                sectionStart = k
                k += marker.count
            } else {
                k += 1
            }
        }
        result.append(sectionStart..<line.count)
        return result
    }
}
