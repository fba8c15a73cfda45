import Foundation
import Testing
@testable import Corpus

@Suite struct PrepareTests {
    static func options(_ corpus: String) -> PreparationOptions {
        var o = PreparationOptions(corpus: corpus)
        o.vocabSize = 300
        o.splitRule = SplitRule(pieceWords: 100, validationPerMille: 100)  // 10 %: a fixture-sized validation split
        return o
    }

    @Test func prepareWritesMappableDataAndIsANoOpTheSecondTime() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = try Fixtures.textFolder(files: 6, paragraphs: 40, in: dir)
        let location = DataLocation(explicitDirectory: dir.appendingPathComponent("data").path)

        let first = try DataPreparer.prepare(Self.options(folder.path), location: location)
        #expect(!first.wasUpToDate)
        #expect(first.stats.train.documents > 0 && first.stats.validation.documents > 0)
        #expect(first.stats.train.tokens > first.stats.train.words / 2)
        #expect(first.stats.tokenType == "uint16")
        for name in ["tokenizer.model", "train.tokens", "train.docs", "validation.tokens", "validation.docs", "stats.json", "manifest.json"] {
            #expect(FileManager.default.fileExists(atPath: first.directory.appendingPathComponent(name).path), "\(name) missing")
        }
        // No temporary or staging leftovers.
        let siblings = try FileManager.default.contentsOfDirectory(atPath: first.directory.deletingLastPathComponent().path)
        #expect(siblings.allSatisfy { !$0.contains("staging") && !$0.contains(".old-") })

        let modified = try FileManager.default.attributesOfItem(atPath: first.directory.appendingPathComponent("train.tokens").path)[.modificationDate] as? Date
        let second = try DataPreparer.prepare(Self.options(folder.path), location: location)
        #expect(second.wasUpToDate)
        #expect(second.stats == first.stats)
        let modifiedAgain = try FileManager.default.attributesOfItem(atPath: first.directory.appendingPathComponent("train.tokens").path)[.modificationDate] as? Date
        #expect(modified == modifiedAgain)

        // A changed input file is noticed.
        try (Fixtures.document(seed: 99, paragraphs: 5)).write(to: folder.appendingPathComponent("doc0.txt"), atomically: true, encoding: .utf8)
        let third = try DataPreparer.prepare(Self.options(folder.path), location: location)
        #expect(!third.wasUpToDate)

        // Training view: packing, stream and masking on the real files.
        let corpus = try PreparedCorpus(directory: third.directory)
        #expect(corpus.train.documentCount == third.stats.train.documents)
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: 32, batchSize: 4, seed: 1)
        // The stream draws from the training part only: the proxy split (about 20 %) is held out.
        #expect(source.batchesPerEpoch == source.stream.count / 4)
        #expect(source.stream.count == (0..<source.training.count).filter { !ProxySplit.standard.isProxy(UInt64($0)) }.count)
        #expect(source.stream.count < source.training.count)
        var stream = [Int32]()
        for id in 0..<source.training.count {
            let (tokens, length) = source.training.sequence(id)
            #expect(tokens[0] == SpecialTokens.cls)
            #expect(tokens[length - 1] == SpecialTokens.sep)
            #expect(tokens[length...].allSatisfy { $0 == SpecialTokens.pad })
            #expect(!tokens[..<length].contains(SpecialTokens.pad))
            if id < source.training.count - 1 { #expect(length == 32) }
            stream += tokens[1..<(length - 1)]
        }
        // Unpacking the sequences gives back the documents joined by [SEP].
        var expected = [Int32]()
        for d in 0..<corpus.train.documentCount {
            if d > 0 { expected.append(SpecialTokens.sep) }
            for k in corpus.train.documentRange(d) { expected.append(corpus.train.token(at: k)) }
        }
        #expect(stream == expected)

        let batch = source.batch(0)
        #expect(batch.count == 4)
        for example in batch {
            #expect(example.inputTokens.count == 32)
            #expect(example == source.trainingExample(id: example.exampleId))
            #expect(example.maskedPositions.count == example.labels.count)
            #expect(example.maskedPositions.count <= source.maxMaskedPositions)
        }
        let validation = source.validationExamples(maxCount: 3)
        #expect(validation.count == min(3, source.validation.count))
        #expect(validation == source.validationExamples(maxCount: 3))

        // A user's model is accepted and recorded as a different tokenizer.
        var withModel = Self.options(folder.path)
        withModel.tokenizerPath = corpus.tokenizerURL.path
        let reused = try DataPreparer.prepare(withModel, location: location)
        #expect(reused.stats.tokenizer.hasPrefix("user-"))
        #expect(reused.stats.train.tokens == third.stats.train.tokens)
    }

    @Test func emptyAndBinaryUserFilesAreNamedInErrors() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let location = DataLocation(explicitDirectory: dir.appendingPathComponent("data").path)
        let folder = try Fixtures.textFolder(files: 2, paragraphs: 5, in: dir)

        let empty = folder.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        #expect(throws: CorpusError.emptyFile(path: empty.path)) { try DataPreparer.prepare(Self.options(folder.path), location: location) }
        try Data("   \n\n ".utf8).write(to: empty)
        #expect(throws: CorpusError.emptyFile(path: empty.path)) { try DataPreparer.prepare(Self.options(folder.path), location: location) }
        try FileManager.default.removeItem(at: empty)

        let binary = folder.appendingPathComponent("image.txt")
        try Data([0x89, 0x50, 0x4E, 0x47, 0x00, 0x01, 0xFF]).write(to: binary)
        do {
            _ = try DataPreparer.prepare(Self.options(folder.path), location: location)
            Issue.record("binary input must be refused")
        } catch let error as CorpusError {
            #expect(error == .binaryFile(path: binary.path))
            #expect(error.description.contains(binary.path))
        }
        try Data([0xC3, 0x28, 0x41]).write(to: binary)  // invalid UTF-8, no NUL
        #expect(throws: CorpusError.binaryFile(path: binary.path)) { try DataPreparer.prepare(Self.options(binary.path), location: location) }

        #expect(throws: CorpusError.unknownCorpus("/no/such/path")) { try DataPreparer.prepare(Self.options("/no/such/path"), location: location) }
        // Nothing half-written was left behind by the failures.
        let data = dir.appendingPathComponent("data")
        let leftovers = (FileManager.default.enumerator(atPath: data.path)?.allObjects as? [String]) ?? []
        #expect(leftovers.allSatisfy { !$0.hasSuffix(".tokens") })
    }

    @Test func missingPackageMessageGivesTheAptLine() {
        let error = CorpusError.missingDebianPackages(corpus: "lexicon", packages: ["dict-gcide", "dict-foldoc"])
        #expect(error.description.contains("apt-get install --no-install-recommends dict-gcide dict-foldoc"))
        #expect(CorpusCatalog.installCommand(for: .lexicon) == "apt-get install --no-install-recommends dict-devil dict-foldoc dict-gcide dict-jargon")
        let all = CorpusCatalog.debianPackages(for: .all)
        #expect(!all.contains { $0.contains("wordnet") || $0 == "sword-text-web" || $0 == "dict-wn" }, "leakage: WordNet / WEB must stay out")
        #expect(Set(all) == Set(CorpusName.allCases.filter { $0 != .all }.flatMap { CorpusCatalog.debianPackages(for: $0) }))
    }

    @Test func dataLocationDefaults() {
        #expect(DataLocation(environment: ["NTNG_HOME": "/x/y"]).root.path == "/x/y/data")
        #expect(DataLocation(explicitDirectory: "/d", environment: ["NTNG_HOME": "/x"]).root.path == "/d")
        #expect(DataLocation(environment: [:]).root.path.hasSuffix("/.ntng/data"))
    }
}
