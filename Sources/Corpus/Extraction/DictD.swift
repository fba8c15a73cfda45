import Foundation
import Storage

/// Reader for dictd databases (`name.index` + gzip-compatible `name.dict.dz`). Index lines are
/// `headword TAB offset TAB length`, the numbers in dictd's base64 digits.
public enum DictD {
    public struct Entry {
        public let headword: String
        public let offset: Int
        public let text: String
    }

    public static func decodeNumber<S: StringProtocol>(_ s: S) -> Int? {
        var v = 0
        for b in s.utf8 {
            let d: Int
            switch b {
            case 65...90: d = Int(b) - 65
            case 97...122: d = Int(b) - 97 + 26
            case 48...57: d = Int(b) - 48 + 52
            case UInt8(ascii: "+"): d = 62
            case UInt8(ascii: "/"): d = 63
            default: return nil
            }
            v = v * 64 + d
        }
        return v
    }

    /// All entries in file order, one per distinct (offset, length): aliases share a definition.
    public static func entries(directory: String, name: String) throws -> [Entry] {
        let indexURL = URL(fileURLWithPath: "\(directory)/\(name).index")
        let dictURL = URL(fileURLWithPath: "\(directory)/\(name).dict.dz")
        let indexData: Data
        do { indexData = try Data(contentsOf: indexURL) } catch {
            throw CorpusError.unreadableFile(path: indexURL.path, reason: FileErrorText.describe(error))
        }
        let dict = try Gzip.readMaybeCompressed(dictURL)
        var seen = Set<Int>()
        var found = [(String, Int, Int)]()
        for line in String(decoding: indexData, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 3, let offset = decodeNumber(fields[1]), let length = decodeNumber(fields[2]) else { continue }
            let headword = String(fields[0])
            if headword.hasPrefix("00-database") || headword.hasPrefix("00database") { continue }
            if !seen.insert(offset).inserted { continue }
            guard offset >= 0, length > 0, offset + length <= dict.count else { continue }
            found.append((headword, offset, length))
        }
        found.sort { $0.1 < $1.1 }
        return dict.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            return found.map { headword, offset, length in
                Entry(headword: headword, offset: offset,
                      text: String(decoding: UnsafeBufferPointer(rebasing: bytes[offset..<(offset + length)]), as: UTF8.self))
            }
        }
    }

    /// Generic dictionary documents (FOLDOC, Jargon, Devil's Dictionary): one per entry; cross-
    /// reference braces removed; FOLDOC's trailing "(2014-11-27)" date lines dropped.
    public static func documents(directory: String, name: String) throws -> [TextDocument] {
        try entries(directory: directory, name: name).compactMap { entry in
            let cleaned = entry.text.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")
            let paragraphs = TextTools.paragraphs(of: cleaned).filter { !isDateLine($0) }
            guard !paragraphs.isEmpty else { return nil }
            return TextDocument(id: "\(entry.headword)@\(entry.offset)", paragraphs: paragraphs)
        }
    }

    public static func isDateLine(_ p: String) -> Bool {
        p.count == 12 && p.hasPrefix("(") && p.hasSuffix(")") && p.dropFirst().dropLast().allSatisfy { $0.isNumber || $0 == "-" }
    }
}
