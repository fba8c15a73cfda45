import Corpus
import Foundation

/// Task examples as token ids: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` (crammed BERT has no
/// segment embeddings; the separator alone marks the pair), truncated longest-first to at most
/// `maxLength` tokens, as BERT's fine-tuning scripts do.
public struct EncodedExamples: Sendable {
    /// Ids of each example, unpadded.
    public var sequences: [[Int32]]
    /// Class id of each example.
    public var labels: [Int32]
    /// How many examples were cut to fit `maxLength`.
    public var truncated: Int

    public var count: Int { labels.count }
    public var longest: Int { sequences.map(\.count).max() ?? 0 }

    /// Encodes `examples`; labels not in `labels` are an error (a dev label never seen in training).
    public init(_ examples: [TaskExample], task: String, labels: [String], tokenizer: Tokenizer, maxLength: Int) throws {
        precondition(maxLength >= 4, "sequences need room for [CLS], [SEP] and text")
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, Int32($0)) })
        sequences = []
        sequences.reserveCapacity(examples.count)
        self.labels = []
        self.labels.reserveCapacity(examples.count)
        truncated = 0
        for e in examples {
            guard let label = index[e.label] else {
                throw TaskError.unsupported(task: task, reason: "label '\(e.label)' (group \(e.group)) is not one of the training labels \(labels)")
            }
            var a = try tokenizer.encode(e.text)
            var b = try e.textB.map { try tokenizer.encode($0) }
            let room = maxLength - (b == nil ? 2 : 3)
            if a.count + (b?.count ?? 0) > room {
                truncated += 1
                while a.count + (b?.count ?? 0) > room {
                    if let bb = b, bb.count > a.count { b!.removeLast() } else { a.removeLast() }
                }
            }
            var ids: [Int32] = [SpecialTokens.cls]
            ids += a
            ids.append(SpecialTokens.sep)
            if let b {
                ids += b
                ids.append(SpecialTokens.sep)
            }
            sequences.append(ids)
            self.labels.append(label)
        }
    }
}
