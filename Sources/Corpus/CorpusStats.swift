import Foundation

/// Sizes of one split.
public struct SplitStats: Codable, Sendable, Equatable {
    public var documents: Int
    public var words: Int
    public var tokens: Int
}

/// Words per source before and after the split.
public struct SourceStats: Codable, Sendable, Equatable {
    public var name: String
    public var documents: Int
    public var words: Int
    public var trainWords: Int
    public var validationWords: Int
}

/// Wall-clock seconds of each preparation step.
public struct PreparationTimings: Codable, Sendable, Equatable {
    public var extractSeconds: Double
    public var tokenizerSeconds: Double
    public var encodeSeconds: Double
    public var totalSeconds: Double
}

/// `stats.json` beside the prepared data.
public struct CorpusStats: Codable, Sendable, Equatable {
    public var corpus: String
    public var tokenizer: String
    /// File name of the SentencePiece model inside the prepared folder.
    public var tokenizerFile: String
    public var vocabSize: Int
    /// "uint16" or "uint32" (little-endian) in the `.tokens` files.
    public var tokenType: String
    public var sources: [SourceStats]
    public var train: SplitStats
    public var validation: SplitStats
    public var timings: PreparationTimings

    /// Human-readable summary lines.
    public var summary: String {
        var lines = ["corpus \(corpus), tokenizer \(tokenizer) (vocab \(vocabSize))"]
        for s in sources {
            lines.append("  \(s.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(format: "%9d", s.documents)) docs \(String(format: "%11d", s.words)) words")
        }
        lines.append("  train:      \(train.documents) documents, \(train.words) words, \(train.tokens) tokens")
        lines.append("  validation: \(validation.documents) documents, \(validation.words) words, \(validation.tokens) tokens")
        lines.append(String(format: "  time: extract %.1f s, tokenizer %.1f s, encode %.1f s, total %.1f s",
                            timings.extractSeconds, timings.tokenizerSeconds, timings.encodeSeconds, timings.totalSeconds))
        return lines.joined(separator: "\n")
    }
}

/// `manifest.json`: what went in (content fingerprints, package versions, settings) and what came
/// out (file sizes). Preparation is skipped when inputs and settings match and outputs are intact.
struct PreparationManifest: Codable, Equatable {
    static let formatVersion = 1

    struct Input: Codable, Equatable {
        var name: String
        var fingerprint: String
    }

    var formatVersion: Int
    var corpus: String
    var inputs: [Input]
    var settings: [String: String]
    var outputs: [String: Int]

    /// True when this manifest describes the same inputs and settings and all outputs exist with
    /// the recorded sizes.
    func isUpToDate(inputs: [Input], settings: [String: String], directory: URL) -> Bool {
        guard formatVersion == PreparationManifest.formatVersion, self.inputs == inputs, self.settings == settings else { return false }
        for (name, size) in outputs {
            let attrs = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
            guard let actual = attrs?[.size] as? NSNumber, actual.intValue == size else { return false }
        }
        return true
    }
}
