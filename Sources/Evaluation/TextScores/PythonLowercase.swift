extension String {
    /// What Python's `str.lower()` returns, which both SNI scores start from: every code point's
    /// full lower-case mapping, and capital sigma as final sigma (ς) at the end of a word (Unicode's
    /// Final_Sigma context), which Swift's `lowercased()` does not apply.
    var pythonLowercased: String {
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
