import Foundation
import Testing
@testable import Corpus

@Suite struct TokenizerTests {
    /// Trains a small model on generated text (well under a second).
    static func trainSmallModel(in directory: URL, vocab: Int = 200) throws -> Tokenizer {
        var lines = [String]()
        var rng = CorpusRandom(state: 3)
        for _ in 0..<3000 { lines.append(Fixtures.paragraph(&rng, sentences: 1)) }
        let input = directory.appendingPathComponent("sample.txt")
        try lines.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        let model = try Tokenizer.train(inputFile: input, outputDirectory: directory, vocabSize: vocab, threads: 2)
        return try Tokenizer(modelURL: model)
    }

    @Test func trainedModelHasFixedSpecialIdsAndRoundTrips() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizer = try Self.trainSmallModel(in: dir)
        #expect(tokenizer.isNativeLayout)
        #expect(tokenizer.vocabSize <= 200 && tokenizer.vocabSize > 50)
        #expect(tokenizer.piece(for: 0) == "[PAD]")
        #expect(tokenizer.piece(for: 1) == "[UNK]")
        #expect(tokenizer.piece(for: 2) == "[CLS]")
        #expect(tokenizer.piece(for: 3) == "[SEP]")
        #expect(tokenizer.piece(for: 4) == "[MASK]")
        #expect(SpecialTokens.pad == 0 && SpecialTokens.unk == 1 && SpecialTokens.cls == 2 && SpecialTokens.sep == 3 && SpecialTokens.mask == 4)

        let text = "The river and the mountain were there before the city."
        let ids = try tokenizer.encode(text)
        #expect(!ids.isEmpty)
        #expect(ids.allSatisfy { $0 >= SpecialTokens.count && Int($0) < tokenizer.vocabSize })
        #expect(try tokenizer.decode(ids) == text)
        // Literal special-token text is ordinary text, never a control id.
        let literal = try tokenizer.encode("[MASK] [SEP]")
        #expect(!literal.contains(SpecialTokens.mask) && !literal.contains(SpecialTokens.sep))
        // Decoding skips structural specials.
        #expect(try tokenizer.decode([SpecialTokens.cls] + ids + [SpecialTokens.sep, SpecialTokens.pad]) == text)
        // Unknown characters map to [UNK].
        #expect(try tokenizer.encode("木").contains(SpecialTokens.unk))
    }

    @Test func invalidModelFileIsRejectedWithPath() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bogus = dir.appendingPathComponent("bogus.model")
        try Data("not a model".utf8).write(to: bogus)
        do {
            _ = try Tokenizer(modelURL: bogus)
            Issue.record("a text file must not load as a model")
        } catch let error as CorpusError {
            #expect(error.description.contains(bogus.path))
        }
    }
}
