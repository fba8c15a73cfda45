import Corpus
import Foundation

/// One labelled example of a downstream task, as text: a single text or a pair, a label name and
/// the group key that decided its split (lemma, headword, chapter, …).
public struct TaskExample: Codable, Sendable, Equatable {
    public var text: String
    /// The second text of a pair task (nil for single-text tasks).
    public var textB: String?
    public var label: String
    /// The key the split is a function of; examples sharing it are always in the same split.
    public var group: String

    public init(text: String, textB: String? = nil, label: String, group: String) {
        self.text = text
        self.textB = textB
        self.label = label
        self.group = group
    }

    enum CodingKeys: String, CodingKey {
        case text
        case textB = "text_b"
        case label
        case group
    }
}

/// The three splits of a task.
public enum TaskSplit: String, Codable, Sendable, CaseIterable {
    case train, dev, test
}

/// The split rule of every built-in task (data.md §2.1): `hash(group key) % 10` → 0 test, 1 dev,
/// else train. The hash is FNV-1a-64 of the key's UTF-8 followed by one SplitMix64 output
/// (golden-ratio increment, then the finaliser):
/// FNV-1a's low bits are weak (its lowest bit is the parity of the bytes' lowest bits), and `% 10`
/// reads them, so they are mixed first. Both steps are fixed and endian-free, so the assignment is
/// identical on every machine. (data.md used MD5; the exact assignment differs, the rule does not.)
public enum TaskSplitRule {
    /// The split of a group key.
    public static func split(group: String) -> TaskSplit {
        switch bucket(group: group) {
        case 0: return .test
        case 1: return .dev
        default: return .train
        }
    }

    /// `hash(group) % 10`.
    public static func bucket(group: String) -> Int {
        Int(stableHash(group) % 10)
    }

    /// FNV-1a-64 then one SplitMix64 output (increment + finaliser): a well-mixed stable 64-bit hash, also used to
    /// order examples deterministically when capping.
    public static func stableHash(_ s: String) -> UInt64 {
        CorpusRandom.mix(FNV1a64.hash(s))
    }
}
