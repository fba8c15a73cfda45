import Foundation
import Testing
@testable import Corpus

/// The unigram and uniform lines: computed as documented, over the validation loss's own targets,
/// stored once per corpus and validation set, and never trusted from another preparation.
@Suite(.serialized) struct ReferenceLinesTests {
    @Test func unigramLineIsTheSmoothedTrainingFrequencyCrossEntropy() {
        // V = 8: ids 0, 2, 3, 4 are structural ([PAD] [CLS] [SEP] [MASK]) and get no mass; [UNK] (1)
        // and 5, 6, 7 share add-½ smoothing: total 10 + 4 × ½ = 12.
        let counts = [50, 1, 40, 40, 9, 3, 0, 6]
        let lines = ReferenceLineStore.compute(counts: counts, targets: [5, 7, 7, 6, 2], vocabularySize: 8)
        let expected = -(log(3.5 / 12) + 2 * log(6.5 / 12) + log(0.5 / 12)) / 4
        #expect(abs(lines.unigram - expected) < 1e-12)
        #expect(lines.targets == 4)  // the structural target (2) is not a target
        #expect(lines.uniform == log(8.0))
    }

    @Test func linesCoverTheValidationTargetsAndAreStoredOncePerCorpus() throws {
        let corpus = try ContentFingerprintTests.prepare(threads: 1)
        defer { try? FileManager.default.removeItem(at: corpus.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()) }
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: 32, batchSize: 4, seed: 3)
        let lines = source.referenceLines(validationSequences: 16)

        // Recomputed by hand from the split and the validation set's labels.
        var counts = [Int](repeating: 0, count: corpus.vocabSize)
        for i in 0..<corpus.train.tokenCount { counts[Int(corpus.train.token(at: i))] += 1 }
        let labels = source.validationExamples(maxCount: 16).flatMap(\.labels)
        #expect(lines == ReferenceLineStore.compute(counts: counts, targets: labels, vocabularySize: corpus.vocabSize))
        #expect(lines.targets == labels.count && lines.targets > 0)
        #expect(lines.unigram < lines.uniform)
        // The training seed does not change the validation set, so neither the lines.
        let otherSeed = try MLMBatchSource(corpus: corpus, sequenceLength: 32, batchSize: 4, seed: 99)
        #expect(otherSeed.referenceLines(validationSequences: 16) == lines)

        // Stored: a second read returns the file's value (edited here to prove it is read) …
        let url = corpus.directory.appendingPathComponent(ReferenceLineStore.fileName)
        var file = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var entries = try #require(file["lines"] as? [String: [String: Any]])
        #expect(entries.count == 1)
        let key = try #require(entries.keys.first)
        entries[key]?["unigram"] = 1.25
        file["lines"] = entries
        try JSONSerialization.data(withJSONObject: file).write(to: url)
        #expect(source.referenceLines(validationSequences: 16).unigram == 1.25)
        // … another validation set gets its own entry …
        #expect(source.referenceLines(validationSequences: 8).targets < lines.targets)
        // … and a file from another preparation (fingerprint) is recomputed, not trusted.
        let edited = try String(contentsOf: url, encoding: .utf8)
        try edited.replacingOccurrences(of: corpus.fingerprint, with: "0000000000000000").write(to: url, atomically: true, encoding: .utf8)
        #expect(source.referenceLines(validationSequences: 16) == lines)
    }
}
