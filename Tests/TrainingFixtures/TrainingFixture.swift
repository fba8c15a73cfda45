import Clock
import Corpus
import Foundation
import Host
import Models
import Records
import TensorCore

/// A prepared fixture corpus (240 paragraphs of a 23-word language), a `tiny` profile with
/// simple costs and an empty results store, in a fresh temporary folder: what tests of real runs
/// train on.
public struct TrainingFixture {
    public let directory: URL
    public let data: DataLocation
    public let corpusPath: String
    public let profilePath: String
    /// The same prices as `profilePath`, recorded as a bf16 profile (`test-tiny-bf16`).
    public let bf16ProfilePath: String
    public let store: ResultsStore

    public init(_ name: String = #function) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-trainer-\(name.filter(\.isLetter))-\(UUID().uuidString)")
        let files = (0..<4).map { file in
            (0..<60).map { TrainingFixture.paragraph(seed: UInt64(file * 100 + $0)) }.joined(separator: "\n\n")
        }
        let prepared = try Self.prepareCorpus(files, in: directory)
        (data, corpusPath) = (prepared.data, prepared.corpusPath)

        var config = try ModelConfig.preset("tiny")
        config.vocabularySize = prepared.vocabularySize
        let profile = ReferenceProfile(
            name: "test-tiny", preset: "tiny", shape: ProfileCatalog.shape(of: config), toolchain: "test", blas: "test", threads: 1,
            forwardBackwardPerSequence: [1e-3, 2e-3, 3e-3], forwardOnlyPerSequence: [4e-4, 8e-4, 1.2e-3],
            sampledLabelPassPerSequence: [1e-3, 2e-3, 3e-3], optimizerUpdatePerParameter: 1e-9)
        profilePath = directory.appendingPathComponent("test-tiny.json").path
        try profile.save(to: URL(fileURLWithPath: profilePath))
        var bf16 = profile
        bf16.name = "test-tiny-bf16"
        bf16.precision = "bf16"
        bf16ProfilePath = directory.appendingPathComponent("test-tiny-bf16.json").path
        try bf16.save(to: URL(fileURLWithPath: bf16ProfilePath))
        store = try ResultsStore(url: directory.appendingPathComponent("results.sqlite"))
    }

    public func settings(budget: String = "0.4s", _ extra: [String] = []) throws -> RunSettings {
        var s = RunSettings(budget: try .parse(budget))
        s.model = "tiny"
        s.corpus = corpusPath
        s.threads = 1
        for setting in ["checkpoint-every=20", "val-sequences=16"] + extra { try s.apply(setting: setting) }
        return s
    }

    public func start(_ settings: RunSettings) throws -> Trainer {
        try Trainer.start(settings: settings, data: data, store: store, profile: profilePath)
    }

    /// Writes `files` (one text each) under `directory/text` and prepares them as a corpus in
    /// `directory/data`: a 300-piece tokenizer, pieces of 100 words, 10 % held out for validation.
    public static func prepareCorpus(_ files: [String], in directory: URL) throws
        -> (data: DataLocation, corpusPath: String, vocabularySize: Int) {
        let text = directory.appendingPathComponent("text")
        try FileManager.default.createDirectory(at: text, withIntermediateDirectories: true)
        for (i, body) in files.enumerated() {
            try body.write(to: text.appendingPathComponent("part\(i).txt"), atomically: true, encoding: .utf8)
        }
        let data = DataLocation(explicitDirectory: directory.appendingPathComponent("data").path)
        var options = PreparationOptions(corpus: text.path)
        options.vocabSize = 300
        options.splitRule = SplitRule(pieceWords: 100, validationPerMille: 100)
        let prepared = try DataPreparer.prepare(options, location: data)
        return (data, text.path, prepared.stats.vocabSize)
    }

    /// Paragraph `seed` of the fixture language: 40 words drawn from 23.
    public static func paragraph(seed: UInt64) -> String {
        let words = ["the", "river", "ran", "past", "an", "old", "mill", "where", "children", "played", "quietly", "in",
                     "summer", "and", "winter", "snow", "covered", "every", "field", "near", "our", "small", "town"]
        var rng = SplitMix64(seed: seed)
        return (0..<40).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ") + "."
    }
}
