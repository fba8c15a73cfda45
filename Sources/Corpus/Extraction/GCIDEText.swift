/// GCIDE (Webster 1913 plus supplements) entries to clean paragraphs.
///
/// An entry is a run of senses, each closed by a source tag line such as `[1913 Webster]`,
/// `[PJC]` or `[WordNet 1.5 +PJC]`. Senses tagged WordNet are dropped whole (gloss, synonyms and
/// tag), because downstream tasks are built from WordNet and must not leak into pre-training.
/// Pronunciations (`\A*ban"don\`), accent codes (`[a^]`) and link braces are removed.
public enum GCIDEText {
    public static func documents(directory: String) throws -> [TextDocument] {
        try DictD.entries(directory: directory, name: "gcide").compactMap { entry in
            if entry.headword.hasPrefix("00-") { return nil }  // database notes, licence text
            let paragraphs = cleanEntry(entry.text)
            guard !paragraphs.isEmpty else { return nil }
            return TextDocument(id: "\(entry.headword)@\(entry.offset)", paragraphs: paragraphs)
        }
    }

    /// Returns the entry's paragraphs with WordNet senses and markup removed.
    public static func cleanEntry(_ text: String) -> [String] {
        var kept = [String]()
        var pendingBlock = [String]()  // raw paragraphs of the sense not yet closed by a tag
        var rawParagraph = [Substring]()

        func closeParagraph() {
            guard !rawParagraph.isEmpty else { return }
            defer { rawParagraph.removeAll(keepingCapacity: true) }
            // A WordNet attribution anywhere (also malformed ones such as "WordNet 1.5]", "[WordNet sense 2]", or a tag
            // sharing its line with text) drops the sense it closes.
            if rawParagraph.contains(where: { $0.contains("WordNet") }) {
                pendingBlock.removeAll()
                return
            }
            // Trailing source-tag lines close the current sense.
            var lines = rawParagraph
            var tags = [String]()
            while let last = lines.last, isSourceTag(last) {
                tags.append(String(last))
                lines.removeLast()
            }
            if !lines.isEmpty { pendingBlock.append(lines.joined(separator: " ")) }
            if !tags.isEmpty {
                if !tags.contains(where: { $0.contains("WordNet") }) { kept.append(contentsOf: pendingBlock) }
                pendingBlock.removeAll()
            }
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { closeParagraph() } else { rawParagraph.append(line) }
        }
        closeParagraph()
        kept.append(contentsOf: pendingBlock)  // untagged tail (e.g. final Syn:/Usage: notes)
        return kept.map(cleanMarkup).filter { !$0.isEmpty }
    }

    /// A line that is only a bracketed source attribution.
    public static func isSourceTag(_ line: Substring) -> Bool {
        let t = line.drop(while: { $0 == " " })
        guard t.hasPrefix("["), t.hasSuffix("]") else { return false }
        return t.contains("Webster") || t.contains("WordNet") || t.contains("PJC") || t.contains("Century")
            || t.contains("Suppl") || t.contains("Chambers") || t.contains("Johnson") || t.contains("RN")
    }

    public static let ligatures: [String: String] = [
        "ng": "ng", "oe": "oe", "OE": "OE", "ae": "ae", "AE": "AE", "deg": "°", "frac12": "½", "frac14": "¼",
        "frac34": "¾", "root": "√", "sec": "″", "min": "′", "prime": "′", "cced": "ç", "th": "th", "hand": "☞",
        "sect": "§", "para": "¶", "dagger": "†", "pound": "£", "asterism": "⁂", "ddagger": "‡",
    ]

    /// Removes pronunciations, accent codes and braces; collapses whitespace.
    public static func cleanMarkup(_ paragraph: String) -> String {
        var out = ""
        let c = Array(paragraph)
        var i = 0
        var afterPronunciation = false
        while i < c.count {
            let ch = c[i]
            if ch == "\\" {
                // \pro*nun"ci*a`tion\ : drop, and a directly following "(...)" respelling too.
                if let end = c[(i + 1)...].firstIndex(of: "\\") {
                    i = end + 1
                    afterPronunciation = true
                    continue
                }
            }
            if afterPronunciation && ch == "(" {
                if let end = c[i...].firstIndex(of: ")"), c[i..<end].contains(where: { "\"*`[".contains($0) }) {
                    i = end + 1
                    afterPronunciation = false
                    continue
                }
            }
            if ch != " " && ch != "," { afterPronunciation = false }
            if ch == "[", let end = c[i...].firstIndex(of: "]"), end - i <= 8 {
                let code = String(c[(i + 1)..<end])
                if let lig = ligatures[code] { out += lig; i = end + 1; continue }
                let letters = code.filter { $0.isLetter }
                let marks = code.filter { "^\"`'~=.,-;:<>".contains($0) }
                if !marks.isEmpty && letters.count <= 2 && letters.count + marks.count == code.count {
                    out += letters
                    i = end + 1
                    continue
                }
            }
            if ch == "{" || ch == "}" { i += 1; continue }
            out.append(ch)
            i += 1
        }
        return TextTools.collapseWhitespace(out)
    }
}
