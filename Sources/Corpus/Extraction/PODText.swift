/// Perl POD to paragraphs: keeps ordinary paragraphs and headings, drops verbatim (indented) code
/// blocks and `=begin … =end` regions, and resolves formatting codes (B<>, I<>, C<>, L<text|link>,
/// E<lt>, and drops X<> index entries).
enum PODText {
    static func paragraphs(_ source: String) -> [String] {
        var result = [String]()
        var inPod = true
        var skipRegion = false
        var block = [Substring]()
        func emit() {
            defer { block.removeAll(keepingCapacity: true) }
            guard let first = block.first else { return }
            if first.hasPrefix("=") {
                let text = block.joined(separator: " ")
                let command = text.prefix(while: { !$0.isWhitespace })
                let rest = String(text.dropFirst(command.count))
                switch command {
                case "=cut": inPod = false
                case "=pod", "=encoding", "=over", "=back": inPod = true
                case "=begin": skipRegion = true; inPod = true
                case "=end": skipRegion = false
                case "=for": break
                case "=head1", "=head2", "=head3", "=head4", "=item":
                    inPod = true
                    if skipRegion { return }
                    let t = TextTools.collapseWhitespace(expand(rest))
                    if !t.isEmpty && t != "*" && !(t.allSatisfy { $0.isNumber || $0 == "." }) { result.append(t) }
                default: break
                }
                return
            }
            guard inPod && !skipRegion else { return }
            if first.first == " " || first.first == "\t" { return }  // verbatim code
            let t = TextTools.collapseWhitespace(expand(block.joined(separator: " ")))
            if !t.isEmpty { result.append(t) }
        }
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { emit() } else { block.append(line) }
        }
        emit()
        return result
    }

    static let escapes: [String: String] = ["lt": "<", "gt": ">", "verbar": "|", "sol": "/", "quot": "\"", "amp": "&", "apos": "'"]

    /// Expands formatting codes, recursively.
    static func expand(_ text: String) -> String {
        let chars = Array(text)
        var index = 0
        return expand(chars, &index, closing: nil)
    }

    private static func expand(_ c: [Character], _ i: inout Int, closing: String?) -> String {
        var out = ""
        while i < c.count {
            if let closing, matches(c, i, closing) {
                i += closing.count
                return out
            }
            let ch = c[i]
            if ch.isUppercase, "BICLEFSXZ".contains(ch), i + 1 < c.count, c[i + 1] == "<" {
                var k = 0
                while i + 1 + k < c.count && c[i + 1 + k] == "<" { k += 1 }
                var inner = ""
                i += 1 + k
                if k >= 2 {
                    // C<< text >>: the content ends at whitespace followed by k '>'.
                    while i < c.count && c[i] == " " { i += 1 }
                    inner = expand(c, &i, closing: " " + String(repeating: ">", count: k))
                } else {
                    inner = expand(c, &i, closing: ">")
                }
                switch ch {
                case "X", "Z": break
                case "E":
                    if let e = escapes[inner] { out += e }
                    else if let v = UInt32(inner.hasPrefix("0x") ? String(inner.dropFirst(2)) : inner, radix: inner.hasPrefix("0x") ? 16 : 10),
                            let s = Unicode.Scalar(v) { out.append(Character(s)) }
                case "L":
                    if let bar = inner.firstIndex(of: "|") { out += inner[..<bar] }
                    else { out += inner.replacingOccurrences(of: "\"", with: "") }
                default: out += inner
                }
                continue
            }
            out.append(ch)
            i += 1
        }
        return out
    }

    private static func matches(_ c: [Character], _ i: Int, _ s: String) -> Bool {
        var j = i
        for ch in s {
            guard j < c.count, c[j] == ch else { return false }
            j += 1
        }
        return true
    }
}
