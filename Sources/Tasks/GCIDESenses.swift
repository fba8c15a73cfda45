import Corpus
import Foundation

/// One GCIDE (Webster 1913 + supplements) entry split into senses, for the downstream tasks.
struct GCIDEEntry: Sendable, Equatable {
    /// Headword, markup removed, lower-cased.
    var headword: String
    /// `n`, `v`, `a` or `r` (adverb), from the header's part-of-speech abbreviation; nil if none.
    var pos: Character?
    var senses: [GCIDESense]
}

struct GCIDESense: Sendable, Equatable {
    /// The definition, markup removed, without its number and subject label.
    var text: String
    /// The leading subject label, e.g. `Zool.` for "(Zool.) A bird …"; nil if none.
    var domain: String?
    /// The source tag that closed the sense, e.g. `[1913 Webster]`.
    var source: String
}

/// Splits GCIDE's dictd blocks into entries and senses.
///
/// A block holds one or more entries, each starting with an unindented header line such as
/// `Abase \A*base"\ ([.a]*b[=a]s"), v. t. [imp. …]`. An entry's paragraphs (blank-line separated)
/// are senses (`1. …` or an unnumbered definition), quotations (indented ≥ 8), notes, synonym
/// lists and `{phrase}` sub-entries; a trailing source-tag line (`[1913 Webster]`) closes the
/// paragraphs since the previous tag. As in pre-training extraction, senses closed by a WordNet tag
/// are dropped: WordNet must not leak into tasks built against it.
enum GCIDESenses {
    static func entries(directory: String = "/usr/share/dictd") throws -> [GCIDEEntry] {
        try DictD.entries(directory: directory, name: "gcide").flatMap { block -> [GCIDEEntry] in
            if block.headword.hasPrefix("00-") { return [] }
            return parseBlock(block.text)
        }
    }

    /// Entries of one dictd block.
    static func parseBlock(_ text: String) -> [GCIDEEntry] {
        var result = [GCIDEEntry]()
        var current = [Substring]()
        func flush() {
            if !current.isEmpty, let e = parseEntry(current) { result.append(e) }
            current.removeAll()
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first != " ", first != "\t", line.contains("\\") { flush() }
            current.append(line)
        }
        flush()
        return result
    }

    /// One entry from its lines (the first is the header line).
    static func parseEntry(_ lines: [Substring]) -> GCIDEEntry? {
        guard let header = lines.first, let slash = header.firstIndex(of: "\\") else { return nil }
        let headword = GCIDEText.cleanMarkup(String(header[..<slash])).lowercased()
        guard !headword.isEmpty else { return nil }
        // Paragraphs.
        var paragraphs = [[Substring]]()
        var block = [Substring]()
        for line in lines {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                if !block.isEmpty { paragraphs.append(block); block = [] }
            } else {
                block.append(line)
            }
        }
        if !block.isEmpty { paragraphs.append(block) }
        guard !paragraphs.isEmpty else { return nil }

        // The header (headword, pronunciation, part of speech, inflections, etymology) may span
        // lines. It ends where its brackets are balanced and the next line starts a definition:
        // a sense number, a capital, a "(Label.)" or a source tag. Header continuations such as
        // "pl. {Abaci}" start in lower case. What follows in the paragraph is a definition.
        var depth = 0, headerLines = paragraphs[0].count
        for (k, line) in paragraphs[0].enumerated() {
            for ch in line { if ch == "[" { depth += 1 } else if ch == "]" { depth -= 1 } }
            guard depth <= 0, k + 1 < paragraphs[0].count else { continue }
            if let next = paragraphs[0][k + 1].first(where: { $0 != " " }), next.isNumber || next.isUppercase || next == "(" || next == "[" {
                headerLines = k + 1
                break
            }
        }
        let headerText = paragraphs[0][..<headerLines].joined(separator: " ")
        var entry = GCIDEEntry(headword: headword, pos: partOfSpeech(headerText), senses: [])
        paragraphs[0] = Array(paragraphs[0][headerLines...])

        var pending = [(text: String, domain: String?)]()
        for (k, paragraph) in paragraphs.enumerated() {
            var body = paragraph
            var tags = [String]()
            while let last = body.last, GCIDEText.isSourceTag(last) {
                tags.append(last.trimmingCharacters(in: .whitespaces))
                body.removeLast()
            }
            if paragraph.contains(where: { $0.contains("WordNet") }) {
                pending.removeAll()  // the WordNet sense and anything it closes
                continue
            }
            // A tag leading the paragraph closes the header (or earlier senses) before a sense
            // that follows in the same paragraph ("… {Abasing}.] [F. abaisser.]\n[1913 Webster]\n1. To lower …").
            while let first = body.first, GCIDEText.isSourceTag(first) {
                for p in pending where !p.text.isEmpty {
                    entry.senses.append(GCIDESense(text: p.text, domain: p.domain, source: first.trimmingCharacters(in: .whitespaces)))
                }
                pending.removeAll()
                body.removeFirst()
            }
            if let first = body.first, isSense(first, headerParagraph: k == 0) {
                pending.append(senseText(body))
            }
            if let tag = tags.last {
                for p in pending where !p.text.isEmpty {
                    entry.senses.append(GCIDESense(text: p.text, domain: p.domain, source: tag))
                }
                pending.removeAll()
            }
        }
        return entry
    }

    /// Whether a paragraph starting with `line` is a definition (not a quotation, note, synonym
    /// list or phrase).
    static func isSense(_ line: Substring, headerParagraph: Bool) -> Bool {
        let indent = line.prefix(while: { $0 == " " }).count
        if indent >= 8 && !headerParagraph { return false }  // quotations
        let t = line.drop(while: { $0 == " " })
        for prefix in ["Note:", "Syn:", "Usage:", "{", "--", "["] where t.hasPrefix(prefix) { return false }
        return true
    }

    /// The cleaned text and subject label of a sense paragraph ("3. (Arch.) The uppermost …").
    static func senseText(_ body: [Substring]) -> (text: String, domain: String?) {
        var t = Substring(body.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " "))
        // Sense number.
        let digits = t.prefix(while: { $0.isNumber })
        if !digits.isEmpty, t.dropFirst(digits.count).hasPrefix(".") { t = t.dropFirst(digits.count + 1).drop(while: { $0 == " " }) }
        // A leading bracket group left over from an etymology on its own line.
        if t.hasPrefix("["), let close = t.firstIndex(of: "]"), t.distance(from: t.startIndex, to: close) > 8 {
            t = t[t.index(after: close)...].drop(while: { $0 == " " })
        }
        var domain: String?
        if t.hasPrefix("("), let close = t.firstIndex(of: ")") {
            let label = t[t.index(after: t.startIndex)..<close]
            if let first = label.first, first.isUppercase, label.count <= 12,
               label.allSatisfy({ $0.isLetter || $0 == "." }) {
                domain = String(label)
                t = t[t.index(after: close)...].drop(while: { $0 == " " })
            }
        }
        return (GCIDEText.cleanMarkup(String(t)), domain)
    }

    /// The part of speech from the header text after the pronunciation: `n`, `v`, `a` or `r`.
    static func partOfSpeech(_ header: String) -> Character? {
        // Skip the headword and \pronunciation\ and an optional (respelling).
        let parts = header.split(separator: "\\", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var rest = parts[2].drop(while: { $0 == " " })
        if rest.hasPrefix("("), let close = rest.firstIndex(of: ")") { rest = rest[rest.index(after: close)...] }
        rest = rest.drop(while: { $0 == " " || $0 == "," })
        for (prefix, pos) in [("n.", Character("n")), ("v. t.", "v"), ("v. i.", "v"), ("v.", "v"), ("adv.", "r"), ("a.", "a")]
        where rest.hasPrefix(prefix) {
            return pos
        }
        return nil
    }
}
