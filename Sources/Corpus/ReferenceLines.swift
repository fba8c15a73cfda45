import Foundation
import Storage

/// What a model that ignores context scores on the validation targets: the lines a learning
/// curve must get below before a comparison says anything about using context.
///
/// - `unigram`: cross-entropy (nats per target) of predicting every target from the training
///   split's token frequencies, add-½ smoothed over the ids a target can be (every id but the
///   structural specials), over exactly the targets the validation loss is taken on.
/// - `uniform`: ln V, the loss of a model that knows nothing (for the record).
public struct ReferenceLines: Codable, Sendable, Equatable {
    public var unigram: Double
    public var uniform: Double
    /// Validation targets the unigram line averages over.
    public var targets: Int

    public init(unigram: Double, uniform: Double, targets: Int) {
        self.unigram = unigram
        self.uniform = uniform
        self.targets = targets
    }

    /// The names runs store these under, beside `val_loss`.
    public static let unigramName = "reference.unigram"
    public static let uniformName = "reference.uniform"

    /// True for the stored names of reference lines (not metrics of a method).
    public static func isReference(_ name: String) -> Bool { name.hasPrefix("reference.") }

    /// The lines stored with a run, from its evaluations by name (nil if it has none: runs from
    /// before reference lines were stored).
    public init?(stored evaluations: some Sequence<(name: String, value: Double)>) {
        let values = Dictionary(evaluations.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        guard let unigram = values[Self.unigramName], let uniform = values[Self.uniformName] else { return nil }
        self.init(unigram: unigram, uniform: uniform, targets: 0)
    }

    /// "unigram 6.7412, uniform ln V 9.0109", with `loss`'s margin below the unigram line.
    public func text(loss: Double? = nil) -> String {
        var text = String(format: "unigram %.4f, uniform ln V %.4f", unigram, uniform)
        if let loss, loss.isFinite {
            let margin = unigram - loss
            text += margin > 0 ? String(format: " (validation %.4f below the unigram line)", margin)
                               : String(format: " (validation %.4f ABOVE the unigram line: no use of context shown)", -margin)
        }
        return text
    }
}

/// Training-split token counts of a prepared corpus and the reference lines built on them,
/// computed once per corpus and validation set and kept in the corpus folder
/// (`reference-lines.json`, keyed by the validation set), so every run of that corpus reads the
/// same numbers.
public enum ReferenceLineStore {
    public static let fileName = "reference-lines.json"

    private struct File: Codable {
        var fingerprint: String
        var lines: [String: ReferenceLines]
    }

    /// The reference lines for validation `targets` (the labels of the validation set called
    /// `key`), from the stored file when it has them, else computed and stored.
    public static func lines(corpus: PreparedCorpus, key: String, targets: () -> [Int32],
                             compute: ((_ counts: [Int], _ targets: [Int32]) -> ReferenceLines)? = nil) -> ReferenceLines {
        let url = corpus.directory.appendingPathComponent(fileName)
        var file = File(fingerprint: corpus.fingerprint, lines: [:])
        if let data = try? Data(contentsOf: url), let stored = try? JSONDecoder().decode(File.self, from: data),
           stored.fingerprint == corpus.fingerprint {
            // A file from another preparation of the folder (other fingerprint) or a torn one is
            // recomputed, never trusted.
            if let lines = stored.lines[key] { return lines }
            file = stored
        }
        let counts = trainingCounts(corpus)
        let lines = compute?(counts, targets()) ?? Self.compute(counts: counts, targets: targets(), vocabularySize: corpus.vocabSize)
        file.lines[key] = lines
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        // The file only saves recomputing: a read-only data folder still gets its lines.
        if let data = try? encoder.encode(file) {
            AtomicFile.removeOrphans(of: url)
            try? AtomicFile.write(to: url) { sink in try data.withUnsafeBytes { try sink($0) } }
        }
        return lines
    }

    /// Counts of every id in the training split.
    public static func trainingCounts(_ corpus: PreparedCorpus) -> [Int] {
        var counts = [Int](repeating: 0, count: corpus.vocabSize)
        let split = corpus.train
        counts.withUnsafeMutableBufferPointer { c in
            for i in 0..<split.tokenCount {
                let id = Int(split.token(at: i))
                if id >= 0 && id < c.count { c[id] += 1 }
            }
        }
        return counts
    }

    /// Unigram cross-entropy of `targets` under `counts`, add-½ smoothed over the non-structural
    /// ids, and ln V.
    public static func compute(counts: [Int], targets: [Int32], vocabularySize: Int) -> ReferenceLines {
        var total = 0.0, support = 0.0
        for id in 0..<vocabularySize where !SpecialTokens.isStructural(Int32(id)) {
            total += Double(counts[id])
            support += 1
        }
        let denominator = total + 0.5 * support
        var sum = 0.0, n = 0
        for t in targets where t >= 0 && Int(t) < vocabularySize && !SpecialTokens.isStructural(t) {
            sum -= Foundation.log((Double(counts[Int(t)]) + 0.5) / denominator)
            n += 1
        }
        return ReferenceLines(unigram: n == 0 ? .nan : sum / Double(n), uniform: Foundation.log(Double(vocabularySize)), targets: n)
    }
}

extension MLMBatchSource {
    /// The reference lines of the fixed validation set of `maxCount` sequences.
    public func referenceLines(validationSequences maxCount: Int) -> ReferenceLines {
        ReferenceLineStore.lines(corpus: corpus, key: "masked-lm S=\(sequenceLength) sequences=\(maxCount)") {
            validationExamples(maxCount: maxCount).flatMap(\.labels)
        }
    }
}
