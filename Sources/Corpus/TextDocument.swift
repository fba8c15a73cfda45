import Foundation

/// One document of a source: a stable id (from package paths and keys, never from run order) and
/// its paragraphs, each a single line of cleaned text.
public struct TextDocument: Sendable, Equatable {
    public var id: String
    public var paragraphs: [String]

    public init(id: String, paragraphs: [String]) {
        self.id = id
        self.paragraphs = paragraphs
    }

    /// Whitespace-separated words in all paragraphs.
    public var wordCount: Int { paragraphs.reduce(0) { $0 + TextTools.wordCount($1) } }
}

/// Small text helpers shared by the extractors. They work on UTF-8 bytes because Swift's
/// Character-level iteration is far too slow for 165 MB of text.
public enum TextTools {
    /// Number of maximal runs of non-whitespace bytes (ASCII whitespace only: cheap and stable).
    public static func wordCount(_ text: String) -> Int {
        var s = text
        return s.withUTF8 { wordCount($0) }
    }

    public static func wordCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var inWord = false
        for b in bytes {
            let space = b == 32 || b == 10 || b == 9 || b == 13 || b == 12 || b == 11
            if !space && !inWord { count += 1 }
            inWord = !space
        }
        return count
    }

    /// Collapses every run of whitespace (including newlines) to one space and trims the ends.
    public static func collapseWhitespace(_ text: String) -> String {
        var out = [UInt8]()
        var s = text
        s.withUTF8 { bytes in
            out.reserveCapacity(bytes.count)
            var pendingSpace = false
            for b in bytes {
                if b == 32 || b == 10 || b == 9 || b == 13 || b == 12 || b == 11 {
                    pendingSpace = !out.isEmpty
                } else {
                    if pendingSpace { out.append(32); pendingSpace = false }
                    out.append(b)
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits text into paragraphs at blank lines; the lines of each paragraph are joined with
    /// spaces. Paragraphs longer than `maxWords` are split further at line ends, so that text
    /// without blank lines (one sentence per line) still yields paragraph-sized units.
    public static func paragraphs(of text: String, maxWords: Int = 300) -> [String] {
        var result = [String]()
        var block = [Substring]()
        func flush() {
            guard !block.isEmpty else { return }
            let joined = collapseWhitespace(block.joined(separator: " "))
            if !joined.isEmpty {
                if block.count > 1 && wordCount(joined) > maxWords {
                    for line in block {
                        let l = collapseWhitespace(String(line))
                        if !l.isEmpty { result.append(l) }
                    }
                } else {
                    result.append(joined)
                }
            }
            block.removeAll(keepingCapacity: true)
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\u{0C}" }) {
                flush()
            } else {
                block.append(line)
            }
        }
        flush()
        return result
    }
}
