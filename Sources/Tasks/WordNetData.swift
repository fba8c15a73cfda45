import Corpus
import Foundation
import Storage

/// One WordNet 3.0 synset as the tasks need it.
struct WordNetSynset: Sendable, Equatable {
    /// `n`, `v`, `a` (adjective satellites `s` are folded into `a`) or `r`.
    var pos: Character
    /// Lexicographer file number, 0..<45 (`WordNet.lexnames`).
    var lexfile: Int
    /// Lemmas, lower-cased, underscores turned into spaces, adjective markers such as `(p)` removed.
    var lemmas: [String]
    /// The definitions part of the gloss (everything before the first quoted example).
    var definition: String
    /// The quoted usage examples of the gloss.
    var examples: [String]
    /// `pos` and byte offset, WordNet's own id of the synset (`n02084071`).
    var id: String = ""
    /// Ids of the synsets its hypernym pointers (`@`, `@i`) name.
    var hypernyms: [String] = []
}

/// Reader for WordNet 3.0's `data.{noun,verb,adj,adv}` files (Debian `wordnet-base`). A data line
/// is `offset lexfile ss_type w_cnt(hex) [word lex_id(hex)]… p_cnt [pointer]… [frames] | gloss`.
enum WordNet {
    static let directory = "/usr/share/wordnet"

    /// The 45 lexicographer file names by number. Debian does not ship the `lexnames` file, so
    /// they are listed here (WordNet 3.0, lexnames(5WN)).
    static let lexnames = [
        "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
        "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
        "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
        "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
        "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
        "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
        "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
        "verb.weather", "adj.ppl",
    ]

    /// All synsets of the four data files, in file order.
    static func synsets(directory: String = WordNet.directory) throws -> [WordNetSynset] {
        var result = [WordNetSynset]()
        for file in ["noun", "verb", "adj", "adv"] {
            let url = URL(fileURLWithPath: "\(directory)/data.\(file)")
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw TaskError.unreadable(path: url.path, reason: FileErrorText.describe(error))
            }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                if let s = parse(line) { result.append(s) }
            }
        }
        return result
    }

    /// Parses one data line; licence lines (starting with spaces) give nil.
    static func parse(_ line: Substring) -> WordNetSynset? {
        guard let first = line.first, first.isNumber, let bar = line.firstIndex(of: "|") else { return nil }
        let fields = line[..<bar].split(separator: " ")
        guard fields.count >= 4, let lexfile = Int(fields[1]), lexfile >= 0, lexfile < lexnames.count,
              let pos = fields[2].first, let wordCount = Int(fields[3], radix: 16),
              fields.count >= 4 + 2 * wordCount else { return nil }
        var lemmas = [String]()
        for k in 0..<wordCount {
            var word = fields[4 + 2 * k]
            if let paren = word.firstIndex(of: "(") { word = word[..<paren] }  // adjective markers (a), (p), (ip)
            lemmas.append(word.replacingOccurrences(of: "_", with: " ").lowercased())
        }
        // Pointers: `p_cnt` then `symbol offset pos source/target` each.
        var hypernyms = [String]()
        let pointerStart = 4 + 2 * wordCount
        if fields.count > pointerStart, let pointerCount = Int(fields[pointerStart]), fields.count >= pointerStart + 1 + 4 * pointerCount {
            for k in 0..<pointerCount {
                let f = pointerStart + 1 + 4 * k
                if fields[f] == "@" || fields[f] == "@i" { hypernyms.append(String(fields[f + 2]) + String(fields[f + 1])) }
            }
        }
        let (definition, examples) = splitGloss(String(line[line.index(after: bar)...]))
        return WordNetSynset(pos: pos == "s" ? "a" : pos, lexfile: lexfile, lemmas: lemmas,
                             definition: definition, examples: examples, id: String(pos == "s" ? "a" : pos) + String(fields[0]),
                             hypernyms: hypernyms)
    }

    /// Splits a gloss into its definitions (text before the first quote, without the trailing
    /// `;`) and its quoted examples.
    static func splitGloss(_ gloss: String) -> (definition: String, examples: [String]) {
        let text = gloss.trimmingCharacters(in: .whitespaces)
        guard let firstQuote = text.firstIndex(of: "\"") else { return (TextTools.collapseWhitespace(text), []) }
        var definition = String(text[..<firstQuote]).trimmingCharacters(in: .whitespaces)
        while definition.hasSuffix(";") || definition.hasSuffix(":") { definition.removeLast() }
        var examples = [String]()
        var rest = text[firstQuote...]
        while let open = rest.firstIndex(of: "\"") {
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "\"") else { break }
            let example = TextTools.collapseWhitespace(String(rest[afterOpen..<close]))
            if !example.isEmpty { examples.append(example) }
            rest = rest[rest.index(after: close)...]
        }
        return (TextTools.collapseWhitespace(definition), examples)
    }

    /// Whether `sentence` uses `lemma`: the whole phrase for multi-word lemmas, else a word that
    /// starts with the lemma's stem (so that "respiring" counts for "respire", "banks" for "bank").
    static func mentions(_ sentence: String, lemma: String) -> Bool {
        let lower = sentence.lowercased()
        if lemma.contains(" ") { return lower.contains(lemma) }
        var stem = Substring(lemma)
        if stem.count > 3, let last = stem.last, "ey".contains(last) { stem = stem.dropLast() }
        let words = lower.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "-" && $0 != "'" })
        return words.contains { $0.hasPrefix(stem) && $0.count <= stem.count + 4 }
    }
}
