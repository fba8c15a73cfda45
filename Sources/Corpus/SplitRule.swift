/// Which split a piece of text belongs to.
public enum Split: String, Sendable, Codable, CaseIterable {
    case train
    case validation
}

/// The deterministic train/validation split (data.md §1.2).
///
/// Each document is cut into pieces of about `pieceWords` words on paragraph boundaries; piece
/// `p` of document `d` of source `s` goes to validation iff
/// `FNV1a64("<s>/<d>#<p>") % 1000 < validationPerMille`. The rule depends only on the
/// extractors' document ids, so every machine makes the same assignment.
public struct SplitRule: Sendable, Codable, Equatable {
    public var pieceWords: Int
    public var validationPerMille: UInt64

    public static let standard = SplitRule(pieceWords: 1000, validationPerMille: 10)

    public init(pieceWords: Int, validationPerMille: UInt64) {
        self.pieceWords = pieceWords
        self.validationPerMille = validationPerMille
    }

    /// The hashed key of a piece.
    public static func key(source: String, documentId: String, piece: Int) -> String { "\(source)/\(documentId)#\(piece)" }

    public func split(source: String, documentId: String, piece: Int) -> Split {
        FNV1a64.hash(SplitRule.key(source: source, documentId: documentId, piece: piece)) % 1000 < validationPerMille
            ? .validation : .train
    }

    /// Paragraph index ranges of the pieces of a document: a piece closes as soon as it holds at
    /// least `pieceWords` words.
    public func pieces(paragraphWordCounts counts: [Int]) -> [Range<Int>] {
        var result = [Range<Int>]()
        var start = 0
        var words = 0
        for (k, c) in counts.enumerated() {
            words += c
            if words >= pieceWords {
                result.append(start..<(k + 1))
                start = k + 1
                words = 0
            }
        }
        if start < counts.count { result.append(start..<counts.count) }
        return result
    }

    /// Splits a document into split-documents: maximal runs of consecutive pieces that share a
    /// split are joined (so training text keeps its order), each returned as its text.
    public func assign(source: String, document: TextDocument) -> [(split: Split, text: String, words: Int)] {
        let counts = document.paragraphs.map(TextTools.wordCount)
        var result = [(split: Split, text: String, words: Int)]()
        var runSplit: Split? = nil
        var runParagraphs = [String]()
        var runWords = 0
        for (p, range) in pieces(paragraphWordCounts: counts).enumerated() {
            let s = split(source: source, documentId: document.id, piece: p)
            if s != runSplit, let previous = runSplit {
                result.append((previous, runParagraphs.joined(separator: "\n"), runWords))
                runParagraphs.removeAll()
                runWords = 0
            }
            runSplit = s
            runParagraphs.append(contentsOf: document.paragraphs[range])
            runWords += counts[range].reduce(0, +)
        }
        if let last = runSplit, !runParagraphs.isEmpty { result.append((last, runParagraphs.joined(separator: "\n"), runWords)) }
        return result
    }
}
