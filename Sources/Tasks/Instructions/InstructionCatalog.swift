import Corpus
import Foundation

/// One instance a builder extracted: the input, every acceptable reference, and the key that
/// keeps related instances together (a lemma, a headword, a chapter).
struct InstructionDraft: Sendable, Equatable {
    var input: String
    var outputs: [String]
    var group: String
}

/// A generation task built from installed Debian packages in SNI's format.
public struct DebianInstructionTask: Sendable {
    public let name: String
    /// SNI's split is by task: training tasks teach the format, test tasks are never seen.
    public let isTestTask: Bool
    public let definition: String
    public let packages: [String]
    let build: @Sendable (TaskSources) throws -> [InstructionDraft]
}

/// The built-in instruction suite (`ntng data prepare --instructions`): four training tasks and
/// three held-out test tasks, as SNI measures generalisation to unseen tasks. Sources and leakage
/// rules are the classification suite's (docs/data.md): WordNet and the World English Bible are
/// never in pre-training, GCIDE senses closed by a WordNet tag are dropped.
public enum InstructionCatalog {
    /// Bumped whenever a builder's output changes, so prepared suites are rebuilt.
    public static let builderVersion = 1

    public static let tasks: [DebianInstructionTask] = [
        DebianInstructionTask(
            name: "wn_define", isTestTask: false,
            definition: "In this task, you are given an English word and its part of speech. Write a short dictionary definition of the word.",
            packages: TaskCatalog.wordnet) { InstructionBuilders.define(try $0.wordnetSynsets()) },
        DebianInstructionTask(
            name: "wn_synonym", isTestTask: false,
            definition: "You are given an English word. Write another word or phrase with the same meaning.",
            packages: TaskCatalog.wordnet) { InstructionBuilders.synonym(try $0.wordnetSynsets()) },
        DebianInstructionTask(
            name: "gcide_headword", isTestTask: false,
            definition: "You are given a definition from Webster's 1913 dictionary. Write the word it defines.",
            packages: TaskCatalog.gcide) { InstructionBuilders.headword(try $0.gcideEntries()) },
        DebianInstructionTask(
            name: "bible_book", isTestTask: false,
            definition: "You are given a verse of the Bible. Write the name of the book it comes from.",
            packages: TaskCatalog.bible) { InstructionBuilders.book(try $0.bibleVerses()) },
        DebianInstructionTask(
            name: "wn_hypernym", isTestTask: true,
            definition: "You are given an English noun. Write a more general word for it: something it is a kind of.",
            packages: TaskCatalog.wordnet) { InstructionBuilders.hypernym(try $0.wordnetSynsets()) },
        DebianInstructionTask(
            name: "bible_reference", isTestTask: true,
            definition: "You are given a verse of the Bible. Write the book and the chapter it comes from, for example \"John 3\".",
            packages: TaskCatalog.bible) { InstructionBuilders.reference(try $0.bibleVerses()) },
        DebianInstructionTask(
            name: "fortune_attribution", isTestTask: true,
            definition: "You are given a quotation from the fortune files. Write the name of the person it is attributed to.",
            packages: TaskCatalog.fortunes) { InstructionBuilders.attribution(try $0.fortuneCategories()) },
    ]

    public static var names: [String] { tasks.map(\.name) }

    /// Whether instances of `group` belong to the test tasks. Test tasks must be unseen in kind
    /// *and* in content: a verse's chapter, a lemma, a headword or an author is either in the
    /// training tasks or in the test tasks, never both (bible_book and bible_reference would
    /// otherwise share verses). TaskSplitRule's hash buckets 0–1 (about 20 %) go to the test tasks.
    static func isHeldOut(group: String) -> Bool { TaskSplitRule.bucket(group: group.lowercased()) < 2 }

    public static func debianPackages() -> [String] { Array(Set(tasks.flatMap(\.packages))).sorted() }
}

/// The builders, pure functions of the parsed sources (tested on hand-written inputs).
enum InstructionBuilders {
    static let partsOfSpeech: [Character: String] = ["n": "noun", "v": "verb", "a": "adjective", "r": "adverb"]

    /// A lemma and its part of speech → the glosses of all its senses.
    static func define(_ synsets: [WordNetSynset]) -> [InstructionDraft] {
        var glosses = [String: [String]]()
        var order = [String]()
        for s in synsets where !s.definition.isEmpty {
            for lemma in s.lemmas {
                let key = "\(lemma) (\(partsOfSpeech[s.pos] ?? "word"))"
                if glosses[key] == nil { order.append(key) }
                glosses[key, default: []].append(s.definition)
            }
        }
        return order.map { key in
            InstructionDraft(input: key, outputs: unique(glosses[key]!), group: String(key[..<key.lastIndex(of: " ")!]))
        }
    }

    /// A lemma → the other lemmas of its synsets.
    static func synonym(_ synsets: [WordNetSynset]) -> [InstructionDraft] {
        var synonyms = [String: [String]]()
        var order = [String]()
        for s in synsets where s.lemmas.count > 1 {
            for lemma in s.lemmas {
                if synonyms[lemma] == nil { order.append(lemma) }
                synonyms[lemma, default: []] += s.lemmas.filter { $0 != lemma }
            }
        }
        return order.map { InstructionDraft(input: $0, outputs: unique(synonyms[$0]!), group: $0) }
    }

    /// A noun → the lemmas of the synsets its senses are kinds of.
    static func hypernym(_ synsets: [WordNetSynset]) -> [InstructionDraft] {
        let byID = Dictionary(synsets.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var general = [String: [String]]()
        var order = [String]()
        for s in synsets where s.pos == "n" && !s.hypernyms.isEmpty {
            let parents = s.hypernyms.compactMap { byID[$0] }.flatMap(\.lemmas)
            for lemma in s.lemmas where !parents.isEmpty {
                if general[lemma] == nil { order.append(lemma) }
                general[lemma, default: []] += parents.filter { $0 != lemma }
            }
        }
        return order.compactMap { lemma in
            let outputs = unique(general[lemma]!)
            return outputs.isEmpty ? nil : InstructionDraft(input: lemma, outputs: outputs, group: lemma)
        }
    }

    /// A Webster-1913 sense of at least four words → its headword.
    static func headword(_ entries: [GCIDEEntry]) -> [InstructionDraft] {
        entries.flatMap { e in
            e.senses.filter { TextTools.wordCount($0.text) >= 4 && !$0.text.lowercased().contains(e.headword) }
                .map { InstructionDraft(input: $0.text, outputs: [e.headword], group: e.headword) }
        }
    }

    /// A verse → its book (canonical books only; the verse's chapter is its group).
    static func book(_ verses: [BibleVerse]) -> [InstructionDraft] {
        let canon = Set(BibleTasks.genres.map(\.book))
        return verses.filter { canon.contains($0.book) && TextTools.wordCount($0.text) >= 5 }
            .map { InstructionDraft(input: $0.text, outputs: [$0.book], group: "\($0.book) \($0.chapter)") }
    }

    /// A verse → "Book chapter".
    static func reference(_ verses: [BibleVerse]) -> [InstructionDraft] {
        book(verses).map { InstructionDraft(input: $0.input, outputs: [$0.group], group: $0.group) }
    }

    /// A fortune ending in an attribution (`… -- Mark Twain, "Pudd'nhead Wilson"`) → the name, or
    /// the whole attribution. Quotations found in more than one file count once.
    static func attribution(_ categories: [String: [String]]) -> [InstructionDraft] {
        var seen = Set<String>()
        var drafts = [InstructionDraft]()
        for category in categories.keys.sorted() {
            for item in categories[category]! {
                guard let (quote, source) = splitAttribution(item), let name = name(in: source),
                      seen.insert(quote.lowercased()).inserted else { continue }
                drafts.append(InstructionDraft(input: quote, outputs: unique([name, source]), group: name.lowercased()))
            }
        }
        return drafts
    }

    /// The quotation and its attribution, split at the last ` -- `: a quotation of at least three
    /// words and an attribution of at most 80 characters that starts with a name (see `name(in:)`).
    static func splitAttribution(_ item: String) -> (quote: String, source: String)? {
        guard let range = item.range(of: " -- ", options: .backwards) else { return nil }
        let quote = item[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
        let source = item[range.upperBound...].trimmingCharacters(in: .whitespaces)
        guard TextTools.wordCount(quote) >= 3, source.count <= 80, name(in: source) != nil else { return nil }
        return (quote, source)
    }

    /// The name an attribution starts with: the text before its first `,`, ` in `, ` (`, ` <`,
    /// `;` or `:`, if that is one to five words, each capitalised (initials allowed) or a name
    /// particle, ending in a letter. Dialogue after a ` -- ` ("-- I believe I'll …") is not a name.
    static func name(in source: String) -> String? {
        var end = source.endIndex
        for marker in [",", " in ", " (", " <", ";", ":"] {
            if let r = source.range(of: marker), r.lowerBound < end { end = r.lowerBound }
        }
        let name = source[..<end].trimmingCharacters(in: .whitespaces)
        let words = name.split(separator: " ")
        let particles: Set<Substring> = ["de", "da", "van", "von", "der", "la", "le", "of", "the", "y", "di", "du"]
        guard (1...5).contains(words.count), name.last?.isLetter == true, words.first?.first?.isUppercase == true,
              words.allSatisfy({ particles.contains($0) || $0.first?.isUppercase == true }) else { return nil }
        return name
    }

    static func unique(_ list: [String]) -> [String] {
        var seen = Set<String>()
        return list.filter { seen.insert($0).inserted }
    }
}
