import Foundation

/// Helpers that walk installed documentation trees. Document ids are paths relative to the
/// tree's root, so they are stable across machines.
enum FileSources {
    /// Regular files under `root` (sorted by relative path) whose names end with one of `suffixes`.
    static func files(root: String, suffixes: [String], recursive: Bool = true) throws -> [(relative: String, url: URL)] {
        let rootURL = URL(fileURLWithPath: root)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw CorpusError.unreadableFile(path: root, reason: "folder not found")
        }
        var result = [(String, URL)]()
        let rootPath = rootURL.standardizedFileURL.path
        if recursive {
            guard let e = FileManager.default.enumerator(at: rootURL, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey]) else { return [] }
            for case let url as URL in e {
                let name = url.lastPathComponent
                guard suffixes.contains(where: { name.hasSuffix($0) }) else { continue }
                let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
                guard values?.isRegularFile == true, values?.isSymbolicLink != true else { continue }
                var rel = url.standardizedFileURL.path
                if rel.hasPrefix(rootPath + "/") { rel = String(rel.dropFirst(rootPath.count + 1)) }
                result.append((rel, url))
            }
        } else {
            for name in try FileManager.default.contentsOfDirectory(atPath: root) where suffixes.contains(where: { name.hasSuffix($0) }) {
                let url = rootURL.appendingPathComponent(name)
                let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
                guard values?.isRegularFile == true, values?.isSymbolicLink != true else { continue }
                result.append((name, url))
            }
        }
        return result.sorted { $0.0 < $1.0 }.map { (relative: $0.0, url: $0.1) }
    }

    /// One document per file, converted by `convert` (given the decompressed text).
    static func documents(root: String, suffixes: [String], recursive: Bool = true, skip: (String) -> Bool = { _ in false },
                          convert: (String) -> [String]) throws -> [TextDocument] {
        try files(root: root, suffixes: suffixes, recursive: recursive).compactMap { file in
            if skip(file.relative) { return nil }
            let data = try Gzip.readMaybeCompressed(file.url)
            let paragraphs = convert(String(decoding: data, as: UTF8.self)).filter { !$0.isEmpty }
            return paragraphs.isEmpty ? nil : TextDocument(id: file.relative, paragraphs: paragraphs)
        }
    }

    /// Sphinx or DocBook HTML trees: every page except indexes, search and source listings.
    static func sphinx(root: String) throws -> [TextDocument] {
        try documents(root: root, suffixes: [".html", ".htm", ".html.gz"], skip: { rel in
            let first = rel.split(separator: "/").first.map(String.init) ?? rel
            let name = (rel as NSString).lastPathComponent
            return first.hasPrefix("_") || name.hasPrefix("genindex") || name.hasPrefix("search") || name.hasPrefix("py-modindex")
                || name.hasPrefix("bookindex") || name == "objects.inv"
        }) { HTMLText.paragraphs(Array($0.utf8)) }
    }

    /// The first directory `<glob>/<prefix>*<suffix>` that exists (highest version first).
    static func firstExisting(glob directory: String, prefix: String, suffix: String) throws -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.filter({ $0.hasPrefix(prefix) }).sorted(by: >) {
            let candidate = directory + "/" + name + suffix
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw CorpusError.unreadableFile(path: "\(directory)/\(prefix)*\(suffix)", reason: "folder not found")
    }

    /// Man pages of sections 1-8 that the given packages install (dpkg's file lists).
    static func manPages(packages: [String]) throws -> [TextDocument] {
        let listing = String(decoding: try ProcessRunner.run("dpkg", ["-L"] + packages, package: "dpkg"), as: UTF8.self)
        var paths = [String]()
        for line in listing.split(separator: "\n") {
            let path = String(line)
            guard path.hasPrefix("/usr/share/man/man"), path.hasSuffix(".gz") else { continue }
            let section = path.dropFirst("/usr/share/man/man".count).prefix(1)
            guard let digit = section.first, ("1"..."8").contains(digit) else { continue }
            let attrs = try? FileManager.default.attributesOfItem(atPath: path)
            guard attrs?[.type] as? FileAttributeType == .typeRegular else { continue }
            paths.append(path)
        }
        return try paths.sorted().compactMap { path in
            let data = try Gzip.readMaybeCompressed(URL(fileURLWithPath: path))
            let paragraphs = RoffText.paragraphs(String(decoding: data, as: UTF8.self))
            return paragraphs.isEmpty ? nil : TextDocument(id: String(path.dropFirst("/usr/share/man/".count)), paragraphs: paragraphs)
        }
    }

    /// A plain-text book: documents are its numbered top-level sections ("1. Title" at column 0),
    /// or the whole file when it has none.
    static func plainTextSections(path: String) throws -> [TextDocument] {
        let text = String(decoding: try Gzip.readMaybeCompressed(URL(fileURLWithPath: path)), as: UTF8.self)
        var documents = [TextDocument]()
        var current = [Substring]()
        var title = "front"
        func flush() {
            let paragraphs = TextTools.paragraphs(of: current.joined(separator: "\n")).filter { p in
                // Drop rules and box-drawing lines.
                p.contains(where: { $0.isLetter })
            }
            if !paragraphs.isEmpty { documents.append(TextDocument(id: "\(documents.count):\(title)", paragraphs: paragraphs)) }
            current.removeAll()
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first.isNumber, let dot = line.firstIndex(of: "."),
               line[..<dot].allSatisfy(\.isNumber), line[line.index(after: dot)...].hasPrefix(" "), line.count < 90 {
                flush()
                title = String(line).trimmingCharacters(in: .whitespaces)
            }
            current.append(line)
        }
        flush()
        return documents
    }
}
