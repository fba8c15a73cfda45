/// Man pages (roff with the `man` macros) to paragraphs: drops no-fill/example/table blocks and
/// comments, turns font macros into plain text, resolves the common escapes, and treats a page
/// that is only a `.so` include as an alias (no text of its own).
enum RoffText {
    static let specialCharacters: [String: String] = [
        "em": "—", "en": "–", "aq": "'", "dq": "\"", "lq": "“", "rq": "”", "oq": "‘", "cq": "’", "bu": "•",
        "co": "©", "rg": "®", "tm": "™", "ti": "~", "ha": "^", "mu": "×", "di": "÷", "de": "°", "+-": "±",
        ">=": "≥", "<=": "≤", "!=": "≠", "->": "→", "<-": "←", "hy": "-", "lh": "", "rh": "", "sc": "§",
        "R": "®", "Tm": "™", "ua": "↑", "da": "↓", "aa": "´", "ga": "`", "ul": "_", "rs": "\\", "sl": "/",
        "fo": "«", "fc": "»", "pl": "+", "mi": "-", "eq": "=", "Fo": "«", "Fc": "»", "at": "@", "sh": "#",
        "Do": "$", "ct": "¢", "Po": "£", "Ye": "¥", "Eu": "€", "ss": "ß", "'e": "é", "`e": "è", ":u": "ü",
        ":o": "ö", ":a": "ä", "'a": "á", "~n": "ñ",
    ]

    static func paragraphs(_ source: String) -> [String] {
        var result = [String]()
        var current = [String]()
        func flush() {
            let text = TextTools.collapseWhitespace(current.joined(separator: " "))
            if !text.isEmpty { result.append(text) }
            current.removeAll(keepingCapacity: true)
        }
        var skipUntil: [String]? = nil
        var sawContent = false
        for rawLine in source.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if let ends = skipUntil {
                let trimmed = line.trimmingLeadingSpaces()
                if ends.contains(where: { trimmed.hasPrefix($0) }) { skipUntil = nil }
                continue
            }
            guard let first = line.first, first == "." || first == "'" else {
                if line.isEmpty { flush(); continue }
                current.append(unescape(line))
                sawContent = true
                continue
            }
            let body = String(line.dropFirst()).trimmingLeadingSpaces()
            if body.hasPrefix("\\\"") || body.isEmpty { continue }
            let parts = macroArguments(body)
            guard let macro = parts.first else { continue }
            let args = Array(parts.dropFirst())
            switch macro {
            case "so":
                if !sawContent { return [] }
            case "nf", "EX":
                flush(); skipUntil = [".fi", ".EE"]
            case "TS":
                flush(); skipUntil = [".TE"]
            case "EQ":
                flush(); skipUntil = [".EN"]
            case "de", "ig":
                skipUntil = [".."]
            case "SH", "SS":
                flush()
                let heading = unescape(args.joined(separator: " "))
                if !heading.isEmpty { result.append(TextTools.collapseWhitespace(heading)) }
                sawContent = true
            case "PP", "P", "LP", "sp", "TP", "HP", "RS", "RE", "IP", "in", "ti", "TQ":
                flush()
                if macro == "IP", let tag = args.first, tag.count > 2 { current.append(unescape(tag)) }
            case "B", "I", "SM", "SB", "UR", "MT":
                current.append(unescape(args.joined(separator: " "))); sawContent = true
            case "BR", "BI", "IB", "RB", "RI", "IR":
                // Alternating fonts: the arguments touch without spaces.
                current.append(unescape(args.joined())); sawContent = true
            case "Nm", "Nd", "Xr", "Ar", "Fl", "Pa", "Em", "Sy", "Dq", "Sq", "Ql":
                current.append(unescape(args.joined(separator: " "))); sawContent = true
            case "Pp", "Sh", "Ss", "It", "Bl", "El":
                flush()
                if macro == "Sh" || macro == "Ss" || macro == "It" {
                    let text = unescape(args.joined(separator: " "))
                    if !text.isEmpty { current.append(text) }
                }
            default:
                continue
            }
        }
        flush()
        return result
    }

    /// Splits macro arguments at spaces, keeping double-quoted groups together.
    static func macroArguments(_ body: String) -> [String] {
        var parts = [String]()
        var current = ""
        var inQuotes = false
        var hadQuotes = false
        for ch in body {
            if ch == "\"" { inQuotes.toggle(); hadQuotes = true; continue }
            if (ch == " " || ch == "\t") && !inQuotes {
                if !current.isEmpty || hadQuotes { parts.append(current) }
                current = ""; hadQuotes = false
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty || hadQuotes { parts.append(current) }
        return parts
    }

    /// Resolves roff escapes (fonts, special characters, strings, spacing) in one line.
    static func unescape(_ line: String) -> String {
        guard line.contains("\\") else { return line }
        var out = ""
        var chars = Array(line)
        var i = 0
        // Normalise "\\" first-class: handled in the loop.
        while i < chars.count {
            let c = chars[i]
            guard c == "\\", i + 1 < chars.count else { out.append(c); i += 1; continue }
            let e = chars[i + 1]
            i += 2
            switch e {
            case "\"", "#": i = chars.count  // comment to end of line
            case "f", "F":
                // \fB, \f(CW, \f[...]
                if i < chars.count {
                    if chars[i] == "(" { i += 3 } else if chars[i] == "[" { i = skipBracket(chars, i) } else { i += 1 }
                }
            case "(":
                if i + 1 < chars.count { out += specialCharacters[String(chars[i..<(i + 2)])] ?? "" }
                i += 2
            case "[":
                let end = skipBracket(chars, i - 1)
                let name = String(chars[min(i, chars.count)..<max(i, end - 1)])
                out += specialCharacters[name] ?? ""  // unknown glyph names (\[u00E9] too) are dropped
                i = end
            case "*":
                if i < chars.count {
                    if chars[i] == "(" {
                        if i + 2 < chars.count { out += specialCharacters[String(chars[(i + 1)..<(i + 3)])] ?? "" }
                        i += 3
                    } else if chars[i] == "[" {
                        i = skipBracket(chars, i)
                    } else { i += 1 }
                }
            case "s":
                // \s+1, \s-1, \s0
                if i < chars.count, chars[i] == "+" || chars[i] == "-" { i += 1 }
                while i < chars.count, chars[i].isNumber { i += 1 }
            case "n", "k", "g":
                if i < chars.count {
                    if chars[i] == "(" { i += 3 } else if chars[i] == "[" { i = skipBracket(chars, i) } else { i += 1 }
                }
            case "h", "v", "w", "l", "L", "o", "b", "x", "D", "Z", "H", "S", "A", "C", "N", "R", "X", "Y", "V", "m", "M":
                // Escapes with a delimited argument: \h'…'
                if i < chars.count {
                    let delim = chars[i]
                    var j = i + 1
                    if delim == "[" { i = skipBracket(chars, i); continue }
                    while j < chars.count && chars[j] != delim { j += 1 }
                    // \w'…' (width) and \N'…' (glyph number) produce nothing; \C'name' is a named glyph.
                    if e == "C" { out += specialCharacters[String(chars[min(i + 1, chars.count)..<j])] ?? "" }
                    i = j + 1
                }
            case "-": out.append("-")
            case "e", "\\": out.append("\\")
            case "&", "c", "|", "^", "%", "{", "}", "d", "u", "r", "p", "z", "a", "t": break
            case " ", "0", "~": out.append(" ")
            case "'": out.append("´")
            case "`": out.append("`")
            case ".": out.append(".")
            default: out.append(e)
            }
        }
        chars.removeAll()
        return out
    }

    static func skipBracket(_ chars: [Character], _ open: Int) -> Int {
        var j = open + 1
        while j < chars.count && chars[j] != "]" { j += 1 }
        return j + 1
    }
}

extension String {
    func trimmingLeadingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }))
    }
}
