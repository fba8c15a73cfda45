import Foundation

/// The three built-in pre-training corpora (data.md §1.2) and their union.
public enum CorpusName: String, CaseIterable, Sendable, Codable {
    /// Technical documentation, heterogeneous and web-like (≈ C4).
    case docs
    /// Long-form book prose (≈ BookCorpus).
    case books
    /// Dictionaries, definitional register (≈ Wikipedia).
    case lexicon
    /// books ∪ docs ∪ lexicon.
    case all

    /// The single corpora this name stands for.
    public var members: [CorpusName] { self == .all ? [.books, .docs, .lexicon] : [self] }
}

/// One Debian-packaged text source and how to turn it into documents.
public struct DebianSource: Sendable {
    /// Stable source name, part of every split key ("<source>/<doc id>#<piece>").
    public let name: String
    public let corpus: CorpusName
    /// Debian packages it needs (text and, where the format demands it, the reader program).
    public let packages: [String]
    let extract: @Sendable () throws -> [TextDocument]

    /// What the source's extracted text depends on: the extractor version and its packages'
    /// installed versions. The manifest records it and the source-text cache is keyed by it.
    func fingerprint(versions: [String: String]) -> String {
        "extractor\(CorpusCatalog.extractorVersion);" + packages.map { "\($0)=\(versions[$0] ?? "?")" }.joined(separator: ",")
    }
}

/// Installed Debian packages, as dpkg knows them.
public enum DebianPackages {
    /// Installed versions of `packages` (missing ones are absent from the result).
    public static func installedVersions(_ packages: [String]) throws -> [String: String] {
        let output = try ProcessRunner.run("dpkg-query", ["-W", "-f=${Package}\t${Version}\t${db:Status-Status}\n"] + packages,
                                           package: "dpkg", allowFailure: true)
        var versions = [String: String]()
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            if f.count >= 3, f[2] == "installed" {
                versions[String(f[0]).split(separator: ":").first.map(String.init) ?? String(f[0])] = String(f[1])
            }
        }
        return versions
    }
}

/// The source list and the Debian packages behind each corpus.
///
/// Leakage rules: WordNet and the World English Bible are deliberately absent (downstream tasks
/// are built from them), and GCIDE's embedded WordNet 1.5 senses are dropped by the extractor.
public enum CorpusCatalog {
    /// Bumped whenever an extractor's output changes, so cached source text is rebuilt.
    public static let extractorVersion = 3

    public static let sources: [DebianSource] = [
        // books
        DebianSource(name: "austen", corpus: .books, packages: ["r-cran-janeaustenr"]) {
            try AustenText.documents(rdbPath: "/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb")
        },
        DebianSource(name: "kjv", corpus: .books, packages: ["bible-kjv", "bible-kjv-text"]) { try BibleText.kjvDocuments() },
        DebianSource(name: "mhcc", corpus: .books, packages: ["sword-comm-mhcc", "diatheke"]) {
            try SwordCommentaryText.documents(module: "MHCC", range: "Genesis 1:1-Revelation 22:21", package: "sword-comm-mhcc")
        },
        DebianSource(name: "tdavid", corpus: .books, packages: ["sword-comm-tdavid", "diatheke"]) {
            try SwordCommentaryText.documents(module: "TDavid", range: "Psalms 1:1-150:6", package: "sword-comm-tdavid")
        },
        DebianSource(name: "scofield", corpus: .books, packages: ["sword-comm-scofield", "diatheke"]) {
            try SwordCommentaryText.documents(module: "Scofield", range: "Genesis 1:1-Revelation 22:21", package: "sword-comm-scofield")
        },
        DebianSource(name: "anarchist_faq", corpus: .books, packages: ["anarchism"]) {
            try FileSources.documents(root: "/usr/share/doc/anarchism/markdown", suffixes: [".md.gz", ".md"]) { MarkdownText.paragraphs($0) }
        },
        DebianSource(name: "cfi", corpus: .books, packages: ["cfi-en"]) {
            try FileSources.documents(root: "/usr/share/doc/cfi-en/html", suffixes: [".htm", ".html"],
                                      skip: { $0.hasPrefix("index") || $0.hasPrefix("mainindex") }) { HTMLText.paragraphs(Array($0.utf8)) }
        },
        // docs
        DebianSource(name: "linux_doc", corpus: .docs, packages: ["linux-doc"]) {
            try FileSources.sphinx(root: FileSources.firstExisting(glob: "/usr/share/doc", prefix: "linux-doc-", suffix: "/html"))
        },
        DebianSource(name: "python_doc", corpus: .docs, packages: ["python3-doc"]) {
            try FileSources.sphinx(root: FileSources.firstExisting(glob: "/usr/share/doc", prefix: "python3.", suffix: "/html"))
        },
        DebianSource(name: "perl_doc", corpus: .docs, packages: ["perl-doc"]) {
            try FileSources.documents(root: FileSources.firstExisting(glob: "/usr/share/perl", prefix: "5", suffix: "/pod"),
                                      suffixes: [".pod"]) { PODText.paragraphs($0) }
        },
        DebianSource(name: "postgresql_doc", corpus: .docs, packages: ["postgresql-doc-15"]) {
            try FileSources.sphinx(root: "/usr/share/doc/postgresql-doc-15/html")
        },
        DebianSource(name: "django_doc", corpus: .docs, packages: ["python-django-doc"]) {
            try FileSources.sphinx(root: "/usr/share/doc/python-django-doc/html")
        },
        DebianSource(name: "git_doc", corpus: .docs, packages: ["git-doc"]) {
            try FileSources.documents(root: "/usr/share/doc/git-doc", suffixes: [".html"], recursive: false) { HTMLText.paragraphs(Array($0.utf8)) }
        },
        DebianSource(name: "manpages", corpus: .docs, packages: ["manpages", "manpages-dev"]) { try FileSources.manPages(packages: ["manpages", "manpages-dev"]) },
        DebianSource(name: "debian_handbook", corpus: .docs, packages: ["debian-handbook"]) {
            try FileSources.documents(root: "/usr/share/doc/debian-handbook/html/en-US", suffixes: [".html"], recursive: false) { HTMLText.paragraphs(Array($0.utf8)) }
        },
        DebianSource(name: "debian_reference", corpus: .docs, packages: ["debian-reference-en"]) {
            try FileSources.plainTextSections(path: "/usr/share/debian-reference/debian-reference.en.txt.gz")
        },
        DebianSource(name: "debian_faq", corpus: .docs, packages: ["debian-faq"]) {
            try FileSources.plainTextSections(path: "/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz")
        },
        // lexicon
        DebianSource(name: "gcide", corpus: .lexicon, packages: ["dict-gcide"]) { try GCIDEText.documents(directory: "/usr/share/dictd") },
        DebianSource(name: "foldoc", corpus: .lexicon, packages: ["dict-foldoc"]) { try DictD.documents(directory: "/usr/share/dictd", name: "foldoc") },
        DebianSource(name: "jargon", corpus: .lexicon, packages: ["dict-jargon"]) { try DictD.documents(directory: "/usr/share/dictd", name: "jargon") },
        DebianSource(name: "devil", corpus: .lexicon, packages: ["dict-devil"]) { try DictD.documents(directory: "/usr/share/dictd", name: "devil") },
    ]

    /// Sources of a corpus (of all three for `.all`), in catalogue order.
    public static func sources(for corpus: CorpusName) -> [DebianSource] {
        let members = corpus.members
        return sources.filter { members.contains($0.corpus) }
    }

    /// Debian packages a corpus needs, sorted and unique; a demo script installs these with
    /// `apt-get install --no-install-recommends`.
    public static func debianPackages(for corpus: CorpusName) -> [String] {
        Array(Set(sources(for: corpus).flatMap(\.packages))).sorted()
    }

    /// The exact install line for a corpus.
    public static func installCommand(for corpus: CorpusName) -> String {
        "apt-get install --no-install-recommends " + debianPackages(for: corpus).joined(separator: " ")
    }
}
