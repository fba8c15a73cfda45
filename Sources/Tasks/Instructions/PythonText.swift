/// The few Python string rules SNI's prompt and scoring depend on, in one place: the prompt
/// (Tk-Instruct's template) and the scores (SNI's `normalize_answer`, `rouge-score`) use them.
extension Unicode.Scalar {
    /// In Python's `string.punctuation` (ASCII punctuation).
    public var isPythonPunctuation: Bool {
        switch value {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        default: return false
        }
    }

    /// What Python's `str.split()` and `str.strip()` treat as whitespace: Unicode White_Space
    /// plus the four ASCII separators U+001C–U+001F.
    public var isPythonWhitespace: Bool { (0x1C...0x1F).contains(value) || properties.isWhitespace }
}

extension String {
    /// Python's `str.strip()`.
    public var pythonStripped: String {
        let scalars = Array(unicodeScalars)
        guard let first = scalars.firstIndex(where: { !$0.isPythonWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.isPythonWhitespace })!
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[first...last])
        return String(out)
    }

    /// What Python's `str.lower()` returns, which both SNI scores start from: every code point's
    /// full lower-case mapping, and capital sigma as final sigma (ς) at the end of a word (Unicode's
    /// Final_Sigma context), which Swift's `lowercased()` does not apply.
    public var pythonLowercased: String {
        let scalars = Array(unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, scalar) in scalars.enumerated() {
            if scalar == "\u{03A3}" {
                out.append(Self.isFinalSigma(scalars, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    /// `\p{cased}\p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased})`, as CPython tests it.
    private static func isFinalSigma(_ s: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0, s[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0, s[j].properties.isCased else { return false }
        j = i + 1
        while j < s.count, s[j].properties.isCaseIgnorable { j += 1 }
        return j == s.count || !s[j].properties.isCased
    }
}
