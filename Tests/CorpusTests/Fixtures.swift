import Foundation
@testable import Corpus

/// Small deterministic fixture corpora generated in the test (no Debian packages needed).
enum Fixtures {
    static let words = """
    the of and to in is that for it as was with be by on not he this are or his from at which but have an they \
    you were her she there one all we their can has more when will would been if no what some so out up about \
    time only new into than its two may first then do any like my now over such our man me even most made after \
    also did many before must through back years where much your way well down should because each just those \
    people how too little state good very make world still own see men work long get here between both life \
    being under never day same another know while last might us great old year off come since against go came \
    right used take three river mountain garden library window engine memory kernel process letter question \
    answer morning evening winter summer village city ocean forest bridge castle doctor teacher student friend
    """.split(separator: " ").map(String.init)

    /// A paragraph of `sentences` pseudo-English sentences.
    static func paragraph(_ rng: inout CorpusRandom, sentences: Int) -> String {
        (0..<sentences).map { _ in
            let n = 6 + rng.next(below: 10)
            var s = (0..<n).map { _ in words[rng.next(below: words.count)] }.joined(separator: " ")
            s = s.prefix(1).uppercased() + s.dropFirst() + "."
            return s
        }.joined(separator: " ")
    }

    /// A document of `paragraphs` paragraphs separated by blank lines.
    static func document(seed: UInt64, paragraphs: Int) -> String {
        var rng = CorpusRandom(seed: seed, key: 99)
        return (0..<paragraphs).map { _ in paragraph(&rng, sentences: 3 + rng.next(below: 4)) }.joined(separator: "\n\n") + "\n"
    }

    /// A fresh temporary folder.
    static func temporaryDirectory(_ name: String = #function) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("ntng-corpus-tests-\(getpid())-\(name.filter { $0.isLetter })-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A folder of `files` text files, ~`paragraphs` paragraphs each.
    static func textFolder(files: Int, paragraphs: Int, in directory: URL) throws -> URL {
        let folder = directory.appendingPathComponent("texts")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for f in 0..<files {
            try document(seed: UInt64(f), paragraphs: paragraphs).write(to: folder.appendingPathComponent("doc\(f).txt"), atomically: true, encoding: .utf8)
        }
        return folder
    }
}
