import Tasks

/// The Porter stemmer exactly as NLTK's `PorterStemmer()` computes it (its default
/// NLTK_EXTENSIONS mode), which is what the `rouge-score` package stems with and therefore what
/// SNI's ROUGE-L means. It departs from Porter's 1980 paper in the places NLTK does: a pool of
/// irregular forms, `ies`/`ied` on four-letter words, `y` → `i` only after a consonant, `bli` →
/// `ble`, `fulli` and `logi`, and a two-letter cvc.
///
/// Words are sequences of Unicode scalars, as Python's are of code points. The committed fixture
/// `Tests/EvaluationTests/Fixtures/porter-nltk.tsv` holds NLTK's stems of corpus words
/// (`scripts/rouge-fixtures` regenerates it).
public enum PorterStemmer {
    public static func stem(_ word: String) -> String {
        let lowered = word.pythonLowercased
        if let irregular = irregularForms[lowered] { return irregular }
        if word.unicodeScalars.count <= 2 { return lowered }
        var w = Array(lowered.unicodeScalars)
        w = step1a(w)
        w = step1b(w)
        w = step1c(w)
        w = step2(w)
        w = step3(w)
        w = step4(w)
        w = step5a(w)
        w = step5b(w)
        var result = String.UnicodeScalarView()
        result.append(contentsOf: w)
        return String(result)
    }

    private typealias Word = [Unicode.Scalar]

    private static let irregularForms: [String: String] = [
        "sky": "sky", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
        "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
        "cannings": "canning", "canning": "canning", "howe": "howe", "proceed": "proceed",
        "exceed": "exceed", "succeed": "succeed",
    ]

    private static func isVowel(_ c: Unicode.Scalar) -> Bool {
        c == "a" || c == "e" || c == "i" || c == "o" || c == "u"
    }

    /// Consonant flags: `y` is a consonant at the start and after a vowel, a vowel after a consonant.
    private static func consonantFlags(_ w: ArraySlice<Unicode.Scalar>) -> [Bool] {
        var flags: [Bool] = []
        flags.reserveCapacity(w.count)
        for (i, c) in w.enumerated() {
            if isVowel(c) { flags.append(false) } else if c == "y" { flags.append(i == 0 ? true : !flags[i - 1]) } else { flags.append(true) }
        }
        return flags
    }

    private static func isConsonant(_ w: ArraySlice<Unicode.Scalar>, _ i: Int) -> Bool {
        consonantFlags(w.prefix(i + 1))[i]
    }

    /// Porter's m: the number of vowel–consonant transitions.
    private static func measure(_ w: ArraySlice<Unicode.Scalar>) -> Int {
        let flags = consonantFlags(w)
        var m = 0
        for i in flags.indices.dropFirst() where !flags[i - 1] && flags[i] { m += 1 }
        return m
    }

    private static func measure(_ w: Word) -> Int { measure(w[...]) }

    private static func containsVowel(_ w: Word) -> Bool { consonantFlags(w[...]).contains(false) }

    private static func endsDoubleConsonant(_ w: Word) -> Bool {
        w.count >= 2 && w[w.count - 1] == w[w.count - 2] && isConsonant(w[...], w.count - 1)
    }

    private static func endsCVC(_ w: Word) -> Bool {
        let n = w.count
        if n >= 3 {
            let flags = consonantFlags(w[...])
            if flags[n - 3] && !flags[n - 2] && flags[n - 1] && w[n - 1] != "w" && w[n - 1] != "x" && w[n - 1] != "y" { return true }
        }
        if n == 2 {
            let flags = consonantFlags(w[...])
            return !flags[0] && flags[1]
        }
        return false
    }

    private static func endsWith(_ w: Word, _ suffix: String) -> Bool {
        let s = Array(suffix.unicodeScalars)
        return w.count >= s.count && Array(w.suffix(s.count)) == s
    }

    private static func dropping(_ w: Word, _ count: Int) -> Word { Array(w.prefix(max(0, w.count - count))) }

    private static func appending(_ w: Word, _ text: String) -> Word { w + Array(text.unicodeScalars) }

    /// One rule: a suffix, its replacement, and a condition on the stem left without the suffix.
    private struct Rule {
        var suffix: String
        var replacement: String
        var condition: ((Word) -> Bool)?
        /// NLTK's "*d": a double consonant, of which the replacement keeps one.
        var doubleConsonant = false
    }

    /// The first rule whose suffix matches decides: its replacement if its condition holds, else
    /// the word unchanged.
    private static func apply(_ w: Word, _ rules: [Rule]) -> Word {
        for rule in rules {
            if rule.doubleConsonant {
                if endsDoubleConsonant(w) {
                    let stem = dropping(w, 2)
                    return rule.condition?(stem) ?? true ? appending(stem, rule.replacement) : w
                }
                continue
            }
            if endsWith(w, rule.suffix) {
                let stem = dropping(w, rule.suffix.unicodeScalars.count)
                return rule.condition?(stem) ?? true ? appending(stem, rule.replacement) : w
            }
        }
        return w
    }

    private static func positiveMeasure(_ w: Word) -> Bool { measure(w) > 0 }
    private static func measureAboveOne(_ w: Word) -> Bool { measure(w) > 1 }

    private static func step1a(_ w: Word) -> Word {
        if endsWith(w, "ies") && w.count == 4 { return appending(dropping(w, 3), "ie") }
        return apply(w, [Rule(suffix: "sses", replacement: "ss"), Rule(suffix: "ies", replacement: "i"),
                         Rule(suffix: "ss", replacement: "ss"), Rule(suffix: "s", replacement: "")])
    }

    private static func step1b(_ w: Word) -> Word {
        if endsWith(w, "ied") { return appending(dropping(w, 3), w.count == 4 ? "ie" : "i") }
        if endsWith(w, "eed") {
            let stem = dropping(w, 3)
            return measure(stem) > 0 ? appending(stem, "ee") : w
        }
        var intermediate: Word?
        for suffix in ["ed", "ing"] where endsWith(w, suffix) {
            let stem = dropping(w, suffix.unicodeScalars.count)
            if containsVowel(stem) { intermediate = stem; break }
        }
        guard let stem = intermediate else { return w }
        // NLTK reads the stem's last letter even for an empty stem only if a rule gets that far,
        // which needs a vowel in the stem, so `stem` is never empty here.
        let last = stem.last.map { String($0) } ?? ""
        return apply(stem, [
            Rule(suffix: "at", replacement: "ate"), Rule(suffix: "bl", replacement: "ble"), Rule(suffix: "iz", replacement: "ize"),
            Rule(suffix: "", replacement: last, condition: { _ in !(last == "l" || last == "s" || last == "z") }, doubleConsonant: true),
            Rule(suffix: "", replacement: "e", condition: { measure($0) == 1 && endsCVC($0) }),
        ])
    }

    private static func step1c(_ w: Word) -> Word {
        apply(w, [Rule(suffix: "y", replacement: "i", condition: { $0.count > 1 && isConsonant($0[...], $0.count - 1) })])
    }

    private static func step2(_ w: Word) -> Word {
        if endsWith(w, "alli") && measure(dropping(w, 4)) > 0 { return step2(appending(dropping(w, 4), "al")) }
        let pairs: [(String, String)] = [
            ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
            ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
            ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
            ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"),
        ]
        var rules = pairs.map { Rule(suffix: $0.0, replacement: $0.1, condition: positiveMeasure) }
        // NLTK's `logi` rule tests the word without its last three letters, not the stem.
        let withoutOgi = dropping(w, 3)
        rules.append(Rule(suffix: "logi", replacement: "log", condition: { _ in measure(withoutOgi) > 0 }))
        return apply(w, rules)
    }

    private static func step3(_ w: Word) -> Word {
        let pairs: [(String, String)] = [
            ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""),
        ]
        return apply(w, pairs.map { Rule(suffix: $0.0, replacement: $0.1, condition: positiveMeasure) })
    }

    private static func step4(_ w: Word) -> Word {
        var rules: [Rule] = []
        for suffix in ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent"] {
            rules.append(Rule(suffix: suffix, replacement: "", condition: measureAboveOne))
        }
        rules.append(Rule(suffix: "ion", replacement: "", condition: { stem in
            measure(stem) > 1 && (stem.last == "s" || stem.last == "t")
        }))
        for suffix in ["ou", "ism", "ate", "iti", "ous", "ive", "ize"] {
            rules.append(Rule(suffix: suffix, replacement: "", condition: measureAboveOne))
        }
        return apply(w, rules)
    }

    private static func step5a(_ w: Word) -> Word {
        guard w.last == "e" else { return w }
        let stem = dropping(w, 1)
        let m = measure(stem)
        if m > 1 || (m == 1 && !endsCVC(stem)) { return stem }
        return w
    }

    private static func step5b(_ w: Word) -> Word {
        let withoutLast = dropping(w, 1)
        return apply(w, [Rule(suffix: "ll", replacement: "l", condition: { _ in measure(withoutLast) > 1 })])
    }
}
