import Foundation
import Testing
@testable import Corpus
import Storage

/// A prepared corpus knows what it holds: edits and out-of-range token ids are refused when it is
/// opened, and `--threads` never changes the tokens.
@Suite(.serialized) struct ContentFingerprintTests {
    /// A small user corpus prepared with `threads` worker threads in a fresh folder.
    static func prepare(threads: Int) throws -> PreparedCorpus {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-content-\(UUID().uuidString)")
        let text = root.appendingPathComponent("text")
        try FileManager.default.createDirectory(at: text, withIntermediateDirectories: true)
        let words = ["stone", "river", "light", "ember", "field", "quiet", "north", "harbor", "lantern", "meadow", "copper"]
        for file in 0..<3 {
            let body = (0..<80).map { p in
                (0..<30).map { w in words[(file * 31 + p * 7 + w * w * 13) % words.count] }.joined(separator: " ") + "."
            }
            try body.joined(separator: "\n\n").write(to: text.appendingPathComponent("part\(file).txt"), atomically: true, encoding: .utf8)
        }
        var options = PreparationOptions(corpus: text.path)
        options.vocabSize = 120
        options.threads = threads
        options.splitRule = SplitRule(pieceWords: 100, validationPerMille: 100)
        let result = try DataPreparer.prepare(options, location: DataLocation(explicitDirectory: root.appendingPathComponent("data").path))
        return try PreparedCorpus(directory: result.directory)
    }

    /// Removes the fresh folder `prepare` made for `corpus` (`ntng-content-…/data/<corpus>/<tokenizer>`).
    static func remove(_ corpus: PreparedCorpus) {
        let root = corpus.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        if root.lastPathComponent.hasPrefix("ntng-content-") { try? FileManager.default.removeItem(at: root) }
    }

    @Test func threadsChangeNothingOfWhatIsPrepared() throws {
        let one = try Self.prepare(threads: 1), two = try Self.prepare(threads: 3)
        defer { Self.remove(one); Self.remove(two) }
        // The model file records the path it was trained from, so only it may differ.
        #expect(one.content.hashes.filter { !$0.key.hasSuffix(".model") } == two.content.hashes.filter { !$0.key.hasSuffix(".model") })
        #expect(one.content.hashes.keys.contains("tokenizer.vocab"))
        #expect(one.fingerprint == two.fingerprint && one.fingerprint.count == 16)
    }

    @Test func anEditedOrOutOfRangeTokenFileIsRefused() throws {
        let corpus = try Self.prepare(threads: 2)
        defer { Self.remove(corpus) }
        let tokens = corpus.directory.appendingPathComponent("validation.tokens")
        let original = try Data(contentsOf: tokens)
        // An in-range edit: same size, another valid id.
        var edited = original
        edited[0] = edited[0] == 7 ? 8 : 7
        try edited.write(to: tokens)
        #expect(throws: CorpusError.self) { _ = try PreparedCorpus(directory: corpus.directory) }
        do { _ = try PreparedCorpus(directory: corpus.directory) } catch {
            #expect("\(error)".contains("validation.tokens") && "\(error)".contains("changed after"), "\(error)")
        }
        // An id past the vocabulary, with the recorded hashes gone (a folder from an older ntng):
        // the range check alone catches it.
        var outside = original
        outside[0] = 0xFF; outside[1] = 0xFF
        try outside.write(to: tokens)
        try FileManager.default.removeItem(at: corpus.directory.appendingPathComponent(ContentFingerprint.fileName))
        do {
            _ = try PreparedCorpus(directory: corpus.directory)
            Issue.record("opened a corpus with token id 65535")
        } catch {
            #expect("\(error)".contains("token id 65535, outside the vocabulary"), "\(error)")
        }
    }
}
