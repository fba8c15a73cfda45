/// Turns HTML (Sphinx, DocBook, asciidoc output) into paragraphs of prose. It is a tolerant byte
/// scanner, not a parser: it drops scripts, code blocks and navigation chrome (sidebars, headers,
/// footers, tables of contents), breaks paragraphs at block-level tags, decodes entities and
/// collapses whitespace.
enum HTMLText {
    /// Elements whose whole content is dropped.
    static let skippedElements: Set<String> = [
        "script", "style", "pre", "nav", "header", "footer", "head", "form", "button", "select",
        "textarea", "svg", "math", "noscript", "title", "iframe", "object",
    ]
    /// Class names of navigation chrome and code listings in Sphinx/DocBook/asciidoc pages.
    static let skippedClasses: Set<String> = [
        "sphinxsidebar", "sphinxsidebarwrapper", "related", "headerlink", "navheader", "navfooter", "toc",
        "highlight", "rst-footer-buttons", "footer", "breadcrumbs", "version_switcher_placeholder",
        "language_switcher_placeholder", "inline-search", "toctree-wrapper", "nav", "navbar", "wy-nav-side",
        "wy-side-scroll", "wy-nav-top", "clearer", "programlisting", "screen", "synopsis", "cmdsynopsis",
        "literallayout", "listingblock", "literalblock", "viewcode-link", "docutils container",
    ]
    static let skippedRoles: Set<String> = ["navigation", "search", "contentinfo", "banner"]
    /// Tags that end a paragraph when they open or close.
    static let blockElements: Set<String> = [
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table",
        "section", "article", "blockquote", "caption", "figure", "figcaption", "body", "main", "aside", "br",
        "hr", "tbody", "thead", "center", "address",
    ]
    static let voidElements: Set<String> = ["br", "hr", "img", "meta", "link", "input", "wbr", "area", "base", "col", "source"]

    static func paragraphs(_ html: [UInt8]) -> [String] {
        var paragraphs = [String]()
        var current = [UInt8]()
        current.reserveCapacity(4096)
        var pendingSpace = false
        var skipName: String? = nil
        var skipDepth = 0

        func flush() {
            if !current.isEmpty {
                paragraphs.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            }
            pendingSpace = false
        }
        func appendText(_ byte: UInt8) {
            if byte == 32 || byte == 10 || byte == 9 || byte == 13 || byte == 12 {
                pendingSpace = !current.isEmpty
            } else {
                if pendingSpace { current.append(32); pendingSpace = false }
                current.append(byte)
            }
        }

        let n = html.count
        var i = 0
        html.withUnsafeBufferPointer { h in
            while i < n {
                let c = h[i]
                if c == UInt8(ascii: "<") {
                    // Comments, doctype, processing instructions.
                    if i + 3 < n && h[i + 1] == UInt8(ascii: "!") && h[i + 2] == UInt8(ascii: "-") && h[i + 3] == UInt8(ascii: "-") {
                        var j = i + 4
                        while j + 2 < n && !(h[j] == UInt8(ascii: "-") && h[j + 1] == UInt8(ascii: "-") && h[j + 2] == UInt8(ascii: ">")) { j += 1 }
                        i = j + 3
                        continue
                    }
                    if i + 1 < n && (h[i + 1] == UInt8(ascii: "!") || h[i + 1] == UInt8(ascii: "?")) {
                        var j = i + 1
                        while j < n && h[j] != UInt8(ascii: ">") { j += 1 }
                        i = j + 1
                        continue
                    }
                    var j = i + 1
                    var closing = false
                    if j < n && h[j] == UInt8(ascii: "/") { closing = true; j += 1 }
                    let nameStart = j
                    while j < n, isNameByte(h[j]) { j += 1 }
                    if j == nameStart {
                        // A bare '<' in text.
                        if skipName == nil { appendText(c) }
                        i += 1
                        continue
                    }
                    let name = String(decoding: UnsafeBufferPointer(rebasing: h[nameStart..<j]), as: UTF8.self).lowercased()
                    // Attributes up to '>', honouring quotes.
                    let attrStart = j
                    var quote: UInt8 = 0
                    while j < n {
                        let b = h[j]
                        if quote != 0 { if b == quote { quote = 0 } } else if b == 34 || b == 39 { quote = b } else if b == UInt8(ascii: ">") { break }
                        j += 1
                    }
                    let selfClosing = j > attrStart && h[j - 1] == UInt8(ascii: "/")
                    let attrEnd = j
                    i = j + 1

                    if let skipping = skipName {
                        if name == skipping && !voidElements.contains(name) && !selfClosing {
                            skipDepth += closing ? -1 : 1
                            if skipDepth == 0 { skipName = nil }
                        }
                        continue
                    }
                    if !closing && !voidElements.contains(name) && !selfClosing
                        && (skippedElements.contains(name) || hasSkippedAttribute(UnsafeBufferPointer(rebasing: h[attrStart..<attrEnd]))) {
                        skipName = name
                        skipDepth = 1
                        if blockElements.contains(name) { flush() }
                        continue
                    }
                    if blockElements.contains(name) {
                        flush()
                    } else if name == "td" || name == "th" {
                        pendingSpace = !current.isEmpty
                    }
                    continue
                }
                if skipName != nil { i += 1; continue }
                if c == UInt8(ascii: "&") {
                    var j = i + 1
                    while j < n && j - i <= 10 && h[j] != UInt8(ascii: ";") && h[j] != UInt8(ascii: "<") && h[j] != 32 { j += 1 }
                    if j < n && h[j] == UInt8(ascii: ";"), let decoded = decodeEntity(UnsafeBufferPointer(rebasing: h[(i + 1)..<j])) {
                        for b in decoded { appendText(b) }
                        i = j + 1
                        continue
                    }
                }
                appendText(c)
                i += 1
            }
        }
        flush()
        return paragraphs
    }

    @inline(__always)
    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b == UInt8(ascii: "-") || b == UInt8(ascii: ":")
    }

    /// True when a class token, or the role, marks navigation chrome or a code listing.
    static func hasSkippedAttribute(_ attrs: UnsafeBufferPointer<UInt8>) -> Bool {
        if attrs.isEmpty { return false }
        let text = String(decoding: attrs, as: UTF8.self)
        for (key, value) in attributeValues(text) {
            if key == "class" {
                for token in value.split(separator: " ") {
                    let t = String(token)
                    if skippedClasses.contains(t) || t.hasPrefix("highlight-") || t.hasPrefix("toctree") { return true }
                }
            } else if key == "role" {
                if skippedRoles.contains(value) { return true }
            }
        }
        return false
    }

    static func attributeValues(_ text: String) -> [(String, String)] {
        var result = [(String, String)]()
        for key in ["class", "role"] {
            for quote in ["\"", "'"] {
                let marker = "\(key)=\(quote)"
                var searchRange = text.startIndex..<text.endIndex
                while let r = text.range(of: marker, range: searchRange) {
                    // Require a word boundary before the key (so data-role= is not role=).
                    if r.lowerBound == text.startIndex || text[text.index(before: r.lowerBound)] == " "
                        || text[text.index(before: r.lowerBound)] == "\n" {
                        if let end = text[r.upperBound...].firstIndex(of: Character(quote)) {
                            result.append((key, String(text[r.upperBound..<end])))
                        }
                    }
                    searchRange = r.upperBound..<text.endIndex
                }
            }
        }
        return result
    }

    static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "mdash": "—", "ndash": "–",
        "hellip": "…", "lsquo": "‘", "rsquo": "’", "ldquo": "“", "rdquo": "”", "copy": "©", "reg": "®",
        "trade": "™", "middot": "·", "bull": "•", "laquo": "«", "raquo": "»", "times": "×", "para": "¶",
        "sect": "§", "deg": "°", "shy": "", "zwj": "", "zwnj": "", "thinsp": " ", "ensp": " ", "emsp": " ",
        "rarr": "→", "larr": "←", "harr": "↔", "le": "≤", "ge": "≥", "ne": "≠", "minus": "−", "eacute": "é",
        "egrave": "è", "aacute": "á", "agrave": "à", "ouml": "ö", "uuml": "ü", "auml": "ä", "szlig": "ß",
        "ccedil": "ç", "iacute": "í", "oacute": "ó", "uacute": "ú", "ntilde": "ñ", "micro": "µ", "plusmn": "±",
    ]

    /// Decodes the name between '&' and ';' (numeric or named); nil when unknown.
    static func decodeEntity(_ name: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard !name.isEmpty else { return nil }
        if name[0] == UInt8(ascii: "#") {
            var value: UInt32 = 0
            var hex = false
            var k = 1
            if name.count > 1 && (name[1] == UInt8(ascii: "x") || name[1] == UInt8(ascii: "X")) { hex = true; k = 2 }
            guard k < name.count else { return nil }
            while k < name.count {
                let b = name[k]
                let digit: UInt32
                if b >= 48 && b <= 57 { digit = UInt32(b - 48) }
                else if hex && b >= 97 && b <= 102 { digit = UInt32(b - 87) }
                else if hex && b >= 65 && b <= 70 { digit = UInt32(b - 55) }
                else { return nil }
                value = value &* (hex ? 16 : 10) &+ digit
                if value > 0x10FFFF { return nil }
                k += 1
            }
            // Non-breaking and zero-width spaces become plain space / nothing.
            if value == 0xA0 { return [32] }
            if value == 0x200B || value == 0xAD { return [] }
            guard let scalar = Unicode.Scalar(value) else { return nil }
            return Array(String(Character(scalar)).utf8)
        }
        guard let s = namedEntities[String(decoding: name, as: UTF8.self)] else { return nil }
        return Array(s.utf8)
    }
}
