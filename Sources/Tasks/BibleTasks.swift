import Corpus
import Foundation

/// One verse of the World English Bible.
struct BibleVerse: Sendable, Equatable {
    var book: String
    var chapter: Int
    var verse: Int
    var text: String
}

/// bible_genre and bible_testament from the World English Bible (SWORD module engWEB2015eb, Debian
/// `sword-text-web`), read with `mod2imp` (`libsword-utils`). The WEB is never in pre-training; the
/// KJV, a different translation, is.
enum BibleTasks {
    static let module = "engWEB2015eb"

    /// The 66 protestant-canon books, in order, with their genre; the deuterocanon the module also
    /// carries is left out (its genres are disputed), which keeps the testament balance at 74/26.
    static let genres: [(book: String, genre: String, testament: String)] = {
        func books(_ names: String, _ genre: String, _ testament: String) -> [(String, String, String)] {
            names.split(separator: ",").map { (String($0), genre, testament) }
        }
        return books("Genesis,Exodus,Leviticus,Numbers,Deuteronomy", "law", "old")
            + books("Joshua,Judges,Ruth,I Samuel,II Samuel,I Kings,II Kings,I Chronicles,II Chronicles,Ezra,Nehemiah,Esther", "history", "old")
            + books("Job,Psalms,Proverbs,Ecclesiastes,Song of Solomon", "wisdom", "old")
            + books("Isaiah,Jeremiah,Lamentations,Ezekiel,Daniel", "major_prophets", "old")
            + books("Hosea,Joel,Amos,Obadiah,Jonah,Micah,Nahum,Habakkuk,Zephaniah,Haggai,Zechariah,Malachi", "minor_prophets", "old")
            + books("Matthew,Mark,Luke,John", "gospels", "new")
            + books("Acts", "acts", "new")
            + books("Romans,I Corinthians,II Corinthians,Galatians,Ephesians,Philippians,Colossians,I Thessalonians,II Thessalonians,I Timothy,II Timothy,Titus,Philemon,Hebrews", "pauline_epistles", "new")
            + books("James,I Peter,II Peter,I John,II John,III John,Jude", "general_epistles", "new")
            + books("Revelation of John", "apocalyptic", "new")
    }()

    static func verses() throws -> [BibleVerse] {
        let data = try ProcessRunner.run("mod2imp", [module], package: "libsword-utils")
        let verses = parse(String(decoding: data, as: UTF8.self))
        if verses.isEmpty {
            throw TaskError.extractionFailed(task: "bible", reason: "mod2imp \(module) printed no verses; is sword-text-web installed?")
        }
        return verses
    }

    /// Parses `$$$Book C:V` keys, each followed by the verse's OSIS XML. Titles and notes are
    /// dropped, other tags stripped; chapter and verse 0 (introductions) are skipped.
    static func parse(_ text: String) -> [BibleVerse] {
        var verses = [BibleVerse]()
        var key: (book: String, chapter: Int, verse: Int)?
        var body = [Substring]()
        func flush() {
            defer { body.removeAll() }
            guard let k = key, k.chapter > 0, k.verse > 0 else { return }
            let cleaned = cleanOSIS(body.joined(separator: " "))
            if !cleaned.isEmpty { verses.append(BibleVerse(book: k.book, chapter: k.chapter, verse: k.verse, text: cleaned)) }
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("$$$") {
                flush()
                key = nil
                let reference = line.dropFirst(3)
                guard let space = reference.lastIndex(of: " ") else { continue }
                let numbers = reference[reference.index(after: space)...].split(separator: ":")
                if numbers.count == 2, let c = Int(numbers[0]), let v = Int(numbers[1]) {
                    key = (String(reference[..<space]), c, v)
                }
            } else {
                body.append(line)
            }
        }
        flush()
        return verses
    }

    /// Removes `<title>…</title>` and `<note>…</note>` with their content, then all other tags;
    /// decodes the XML entities; collapses whitespace.
    static func cleanOSIS(_ xml: String) -> String {
        var out = ""
        var rest = Substring(xml)
        while let open = rest.firstIndex(of: "<") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: ">") else { rest = rest[rest.endIndex...]; break }
            let tag = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            let closing = tag.hasPrefix("/")
            let name = tag.dropFirst(closing ? 1 : 0).prefix(while: { $0 != " " && $0 != "/" })
            if !closing && (name == "title" || name == "note") && !tag.hasSuffix("/") {
                // Skip to the matching end tag (notes and titles do not nest in this module).
                if let end = rest.range(of: "</\(name)>") { rest = rest[end.upperBound...] } else { rest = rest[rest.endIndex...] }
                out += " "
            } else if name == "w" {
                continue  // word wrappers: no space, the text carries its own
            } else {
                out += " "
            }
        }
        out += rest
        for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&apos;", "'"), ("&amp;", "&")] {
            out = out.replacingOccurrences(of: entity, with: character)
        }
        return TextTools.collapseWhitespace(out)
    }

    /// Verse → genre (10 classes). Group key: book and chapter.
    static func genre(_ verses: [BibleVerse]) -> [TaskExample] {
        let genreOf = Dictionary(uniqueKeysWithValues: genres.map { ($0.book, $0.genre) })
        return verses.compactMap { v in
            genreOf[v.book].map { TaskExample(text: v.text, label: $0, group: "\(v.book) \(v.chapter)") }
        }
    }

    /// Verse → old or new testament (sanity task). Group key: book and chapter.
    static func testament(_ verses: [BibleVerse]) -> [TaskExample] {
        let testamentOf = Dictionary(uniqueKeysWithValues: genres.map { ($0.book, $0.testament) })
        return verses.compactMap { v in
            testamentOf[v.book].map { TaskExample(text: v.text, label: $0, group: "\(v.book) \(v.chapter)") }
        }
    }
}
