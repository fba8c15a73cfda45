import Tasks

/// ROUGE-L as the `rouge-score` package computes it with `use_stemmer=True`, the configuration of
/// SNI's official evaluation: the F-measure of the longest common subsequence of two token lists.
public enum RougeL {
    /// `rouge-score`'s default English tokenisation: lower-case, every run of characters outside
    /// `[a-z0-9]` becomes a space, split on spaces, Porter-stem the tokens longer than three
    /// characters, drop empty tokens.
    public static func tokens(_ text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            guard !current.isEmpty else { return }
            let word = String(current)
            words.append(word.unicodeScalars.count > 3 ? PorterStemmer.stem(word) : word)
            current = String.UnicodeScalarView()
        }
        for scalar in text.pythonLowercased.unicodeScalars {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) { current.append(scalar) } else { flush() }
        }
        flush()
        return words
    }

    /// Precision, recall and F-measure of `prediction` against `target` (all 0 when either has no
    /// token).
    public static func score(prediction: String, target: String) -> Score {
        score(predictionTokens: tokens(prediction), targetTokens: tokens(target))
    }

    public static func score(predictionTokens: [String], targetTokens: [String]) -> Score {
        guard !predictionTokens.isEmpty, !targetTokens.isEmpty else { return Score(precision: 0, recall: 0, fmeasure: 0) }
        let lcs = Double(longestCommonSubsequence(targetTokens, predictionTokens))
        let precision = lcs / Double(predictionTokens.count)
        let recall = lcs / Double(targetTokens.count)
        // The same operations in the same order as rouge_score.scoring.fmeasure, so the doubles agree.
        let fmeasure = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        return Score(precision: precision, recall: recall, fmeasure: fmeasure)
    }

    public struct Score: Sendable, Equatable, Codable {
        public var precision: Double
        public var recall: Double
        public var fmeasure: Double
    }

    /// Length of the longest common subsequence, with one row of the dynamic-programming table.
    static func longestCommonSubsequence(_ a: [String], _ b: [String]) -> Int {
        var previous = [Int](repeating: 0, count: b.count + 1)
        var row = previous
        for x in a {
            for j in 1...b.count {
                row[j] = x == b[j - 1] ? previous[j - 1] + 1 : max(previous[j], row[j - 1])
            }
            swap(&previous, &row)
        }
        return previous[b.count]
    }
}

/// SNI's exact match: both strings normalised as its `normalize_answer` does (lower-case, ASCII
/// punctuation removed, whitespace runs collapsed to one space; articles are kept, unlike SQuAD),
/// then compared code point by code point, as Python compares strings.
public enum ExactMatch {
    public static func normalized(_ text: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var pendingSpace = false
        for scalar in text.pythonLowercased.unicodeScalars where !scalar.isPythonPunctuation {
            if scalar.isPythonWhitespace {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(scalar)
        }
        return out
    }

    public static func matches(prediction: String, target: String) -> Bool {
        normalized(prediction) == normalized(target)
    }
}
