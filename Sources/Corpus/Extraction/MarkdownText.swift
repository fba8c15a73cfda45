/// Markdown (the Anarchist FAQ) to paragraphs: removes heading/quote/list markers, images, link
/// targets, emphasis and inline HTML, and skips fenced code.
enum MarkdownText {
    static func paragraphs(_ source: String) -> [String] {
        var lines = [String]()
        var inFence = false
        for raw in source.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(raw)
            if line.hasPrefix("```") { inFence.toggle(); continue }
            if inFence { continue }
            // Block markers.
            while let f = line.first, f == ">" || f == "#" { line = line.dropFirst().drop(while: { $0 == " " }) }
            if line.hasPrefix("* ") || line.hasPrefix("- ") || line.hasPrefix("+ ") { line = line.dropFirst(2) }
            lines.append(inline(String(line)))
        }
        return TextTools.paragraphs(of: lines.joined(separator: "\n"))
    }

    /// Resolves inline syntax on one line.
    static func inline(_ line: String) -> String {
        guard line.contains(where: { "[]*_`<!".contains($0) }) else { return line }
        let c = Array(line)
        var out = ""
        var i = 0
        while i < c.count {
            let ch = c[i]
            if ch == "!" && i + 1 < c.count && c[i + 1] == "[" {
                // Image: drop entirely.
                if let close = c[(i + 1)...].firstIndex(of: "]"), close + 1 < c.count, c[close + 1] == "(",
                   let end = c[(close + 1)...].firstIndex(of: ")") {
                    i = end + 1
                    continue
                }
            }
            if ch == "[" {
                if let close = c[i...].firstIndex(of: "]") {
                    let text = String(c[(i + 1)..<close])
                    if close + 1 < c.count, c[close + 1] == "(", let end = c[(close + 1)...].firstIndex(of: ")") {
                        out += text
                        i = end + 1
                        continue
                    }
                }
            }
            if ch == "<" {
                // Inline HTML or autolink: drop the tag.
                if let close = c[i...].firstIndex(of: ">"), close - i < 200 {
                    let inside = String(c[(i + 1)..<close])
                    if inside.hasPrefix("http") || inside.hasPrefix("mailto:") { out += inside }
                    i = close + 1
                    continue
                }
            }
            if ch == "*" || ch == "`" { i += 1; continue }
            if ch == "_" {
                // Emphasis underscores sit at word edges; keep snake_case words intact.
                let prevIsWord = i > 0 && (c[i - 1].isLetter || c[i - 1].isNumber)
                let nextIsWord = i + 1 < c.count && (c[i + 1].isLetter || c[i + 1].isNumber)
                if !(prevIsWord && nextIsWord) { i += 1; continue }
            }
            out.append(ch)
            i += 1
        }
        return out
    }
}
