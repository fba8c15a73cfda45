import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Storage

/// Settings of `ntng data prepare`.
public struct PreparationOptions: Sendable {
    /// `books`, `docs`, `lexicon`, `all`, or a path to a text file or folder.
    public var corpus: String
    /// Vocabulary size of a trained tokenizer.
    public var vocabSize: Int = 8192
    /// A user's existing SentencePiece `.model` (then nothing is trained).
    public var tokenizerPath: String? = nil
    /// Worker threads for extraction and encoding (tokenizer training always uses
    /// ``DataPreparer/tokenizerTrainingThreads``).
    public var threads: Int = 2
    /// Cap on the training-split text sampled for tokenizer training, in bytes. It bounds the
    /// training time (a few minutes on 2 cores for `all`).
    public var tokenizerSampleBytes: Int = 24_000_000
    public var splitRule: SplitRule = .standard
    /// Rebuild even when the manifest says everything is up to date.
    public var force: Bool = false
    /// Progress messages.
    public var log: @Sendable (String) -> Void = { _ in }

    public init(corpus: String) { self.corpus = corpus }
}

/// What `DataPreparer.prepare` did.
public struct PreparationResult: Sendable {
    public var directory: URL
    public var stats: CorpusStats
    /// True when nothing had changed and no work was done.
    public var wasUpToDate: Bool
}

/// Extracts, splits, trains the tokenizer, encodes and writes a prepared corpus.
public enum DataPreparer {
    /// SentencePiece trains with this many threads whatever `--threads` says (its model depends on
    /// the count; 2 is the count every corpus prepared so far was trained with).
    public static let tokenizerTrainingThreads = 2

    public static let tokenizerFileName = "tokenizer.model"

    /// The folder name of the trained tokenizer for a vocabulary size.
    public static func trainedTokenizerName(vocabSize: Int) -> String { "sp-unigram-\(vocabSize)" }

    /// The corpus folder name for a `--corpus` value (a built-in name, or `user-…` for a path).
    public static func corpusName(for corpus: String) -> String {
        CorpusName(rawValue: corpus)?.rawValue ?? UserText.corpusName(for: corpus)
    }

    public static func prepare(_ options: PreparationOptions, location: DataLocation) throws -> PreparationResult {
        let started = Date()
        let log = options.log
        guard options.threads >= 1 else { throw CorpusError.invalidParameter("--threads must be at least 1.") }

        // 1. Identify the inputs and fingerprint them (cheap: package versions or file hashes).
        let builtIn = CorpusName(rawValue: options.corpus)
        let corpusName = corpusName(for: options.corpus)
        var inputs = [PreparationManifest.Input]()
        var packageVersions = [String: String]()
        var userFiles = [UserText.File]()
        if let builtIn {
            packageVersions = try checkPackages(for: builtIn)
            for source in CorpusCatalog.sources(for: builtIn) {
                inputs.append(.init(name: source.name, fingerprint: source.fingerprint(versions: packageVersions)))
            }
        } else {
            userFiles = try UserText.files(at: options.corpus)
        }
        var userTexts = [(String, String)]()  // (relative path, text)
        for file in userFiles {
            let (text, fingerprint) = try UserText.read(file)
            inputs.append(.init(name: file.relative, fingerprint: fingerprint))
            userTexts.append((file.relative, text))
        }

        // 2. Tokenizer identity and settings.
        var userModelData: Data? = nil
        let tokenizerName: String
        if let path = options.tokenizerPath {
            let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
            guard let data = try? Data(contentsOf: url) else {
                throw CorpusError.invalidTokenizerModel(path: url.path, reason: "file not found or not readable")
            }
            _ = try Tokenizer(modelURL: url)  // validate early
            var h = FNV1a64()
            data.withUnsafeBytes { h.update($0) }
            tokenizerName = "user-\(FNV1a64.hex(h.value).prefix(12))"
            userModelData = data
        } else {
            tokenizerName = trainedTokenizerName(vocabSize: options.vocabSize)
        }
        let settings: [String: String] = [
            "tokenizer": tokenizerName,
            "vocabSize": options.tokenizerPath == nil ? String(options.vocabSize) : "model",
            "tokenizerSampleBytes": options.tokenizerPath == nil ? String(options.tokenizerSampleBytes) : "-",
            "splitPieceWords": String(options.splitRule.pieceWords),
            "splitValidationPerMille": String(options.splitRule.validationPerMille),
        ]
        let directory = location.preparedDirectory(corpus: corpusName, tokenizer: tokenizerName)
        let manifestURL = directory.appendingPathComponent("manifest.json")
        if !options.force, let data = try? Data(contentsOf: manifestURL),
           let manifest = try? JSONDecoder().decode(PreparationManifest.self, from: data),
           manifest.isUpToDate(inputs: inputs, settings: settings, directory: directory),
           let statsData = try? Data(contentsOf: directory.appendingPathComponent("stats.json")),
           let stats = try? JSONDecoder().decode(CorpusStats.self, from: statsData) {
            // A killed `prepare --force` may have left its staging folder: it goes even when
            // nothing needs doing.
            removeStaleStaging(in: location.corpusDirectory(corpusName))
            log("\(corpusName)/\(tokenizerName) is up to date (\(directory.path)); nothing to do.")
            return PreparationResult(directory: directory, stats: stats, wasUpToDate: true)
        }

        // 3. Extract documents.
        let extractStart = Date()
        var sourceDocuments = [(name: String, documents: [TextDocument])]()
        if let builtIn {
            sourceDocuments = try extractSources(CorpusCatalog.sources(for: builtIn), versions: packageVersions,
                                                 location: location, threads: options.threads, log: log)
        } else {
            let docs = userTexts.map { TextDocument(id: $0.0, paragraphs: TextTools.paragraphs(of: $0.1)) }.filter { !$0.paragraphs.isEmpty }
            sourceDocuments = [(name: "user", documents: docs)]
        }
        let extractSeconds = Date().timeIntervalSince(extractStart)

        // 4. Split.
        var trainTexts = [String](), validationTexts = [String]()
        var trainWords = 0, validationWords = 0
        var sourceStats = [SourceStats]()
        for (name, documents) in sourceDocuments {
            var s = SourceStats(name: name, documents: documents.count, words: 0, trainWords: 0, validationWords: 0)
            for document in documents {
                for part in options.splitRule.assign(source: name, document: document) {
                    if part.split == .train {
                        trainTexts.append(part.text); s.trainWords += part.words
                    } else {
                        validationTexts.append(part.text); s.validationWords += part.words
                    }
                }
            }
            s.words = s.trainWords + s.validationWords
            trainWords += s.trainWords
            validationWords += s.validationWords
            sourceStats.append(s)
        }
        guard !trainTexts.isEmpty else {
            throw CorpusError.noTextFound(path: options.corpus)
        }
        log("split: \(trainTexts.count) train documents (\(trainWords) words), \(validationTexts.count) validation documents (\(validationWords) words)")

        // 5. Build everything in a temporary folder next to the destination, then swap it in.
        let corpusDirectory = location.corpusDirectory(corpusName)
        try FileManager.default.createDirectory(at: corpusDirectory, withIntermediateDirectories: true)
        removeStaleStaging(in: corpusDirectory)
        let staging = corpusDirectory.appendingPathComponent(".\(tokenizerName).staging-\(getpid())")
        try? FileManager.default.removeItem(at: staging)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        var committed = false
        defer { if !committed { try? FileManager.default.removeItem(at: staging) } }

        let tokenizerStart = Date()
        let modelURL = staging.appendingPathComponent(tokenizerFileName)
        if let userModelData {
            try AtomicFile.write(userModelData, to: modelURL)
        } else {
            let sampleURL = staging.appendingPathComponent("tokenizer-sample.txt")
            let sampleBytes = try writeTokenizerSample(trainTexts, to: sampleURL, capBytes: options.tokenizerSampleBytes)
            log("training SentencePiece unigram tokenizer, vocab \(options.vocabSize), on \(sampleBytes / 1_000_000) MB of training text…")
            // SentencePiece's result depends on its thread count, so it always trains with the same
            // number: --threads changes how fast a corpus is prepared, never its tokens.
            let trained = try Tokenizer.train(inputFile: sampleURL, outputDirectory: staging, name: "tokenizer",
                                              vocabSize: options.vocabSize, threads: Self.tokenizerTrainingThreads)
            try? FileManager.default.removeItem(at: sampleURL)
            if trained != modelURL { try FileManager.default.moveItem(at: trained, to: modelURL) }
        }
        let tokenizer = try Tokenizer(modelURL: modelURL)
        let tokenizerSeconds = Date().timeIntervalSince(tokenizerStart)

        let encodeStart = Date()
        let tokenWidth = tokenizer.vocabSize <= 65536 ? 2 : 4
        var splitStats = [Split: SplitStats]()
        var outputs = [String: Int]()
        for (split, texts, words) in [(Split.train, trainTexts, trainWords), (.validation, validationTexts, validationWords)] {
            let (tokenCount, documentCount) = try encodeAndWrite(texts, tokenizer: tokenizer, tokenWidth: tokenWidth,
                                                                 directory: staging, split: split, threads: options.threads)
            splitStats[split] = SplitStats(documents: documentCount, words: words, tokens: tokenCount)
            outputs["\(split.rawValue).tokens"] = tokenCount * tokenWidth
            outputs["\(split.rawValue).docs"] = (documentCount + 1) * 8
        }
        let encodeSeconds = Date().timeIntervalSince(encodeStart)
        log("encoded: \(splitStats[.train]!.tokens) train tokens, \(splitStats[.validation]!.tokens) validation tokens")

        let content = try ContentFingerprint.measure(directory: staging, tokenizerFile: tokenizerFileName, tokenWidth: tokenWidth)
        try AtomicFile.writeJSON(content, to: staging.appendingPathComponent(ContentFingerprint.fileName))
        let stats = CorpusStats(
            corpus: corpusName, tokenizer: tokenizerName, tokenizerFile: tokenizerFileName, vocabSize: tokenizer.vocabSize,
            tokenType: tokenWidth == 2 ? "uint16" : "uint32", sources: sourceStats,
            train: splitStats[.train]!, validation: splitStats[.validation]!,
            timings: PreparationTimings(extractSeconds: extractSeconds, tokenizerSeconds: tokenizerSeconds,
                                        encodeSeconds: encodeSeconds, totalSeconds: Date().timeIntervalSince(started)))
        try AtomicFile.writeJSON(stats, to: staging.appendingPathComponent("stats.json"))
        for name in [tokenizerFileName, "stats.json", ContentFingerprint.fileName] {
            let size = (try FileManager.default.attributesOfItem(atPath: staging.appendingPathComponent(name).path)[.size] as? NSNumber)?.intValue ?? -1
            outputs[name] = size
        }
        // The manifest goes in last: its presence means the folder is complete.
        let manifest = PreparationManifest(formatVersion: PreparationManifest.formatVersion, corpus: corpusName,
                                           inputs: inputs, settings: settings, outputs: outputs)
        try AtomicFile.writeJSON(manifest, to: staging.appendingPathComponent("manifest.json"))

        // Swap: old folder aside, new folder in, old folder removed.
        let old = corpusDirectory.appendingPathComponent(".\(tokenizerName).old-\(getpid())")
        if FileManager.default.fileExists(atPath: directory.path) { try FileManager.default.moveItem(at: directory, to: old) }
        try FileManager.default.moveItem(at: staging, to: directory)
        committed = true
        try? FileManager.default.removeItem(at: old)
        log("prepared \(directory.path)")
        return PreparationResult(directory: directory, stats: stats, wasUpToDate: false)
    }

    /// Removes staging folders left by interrupted runs whose process is gone.
    static func removeStaleStaging(in directory: URL) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix(".") {
            guard name.contains(".staging-") || name.contains(".old-"),
                  let pid = name.split(separator: "-").last.flatMap({ Int32($0) }) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            }
        }
    }

    /// Installed versions of the corpus's packages; throws naming the apt-get line when any is missing.
    static func checkPackages(for corpus: CorpusName) throws -> [String: String] {
        let packages = CorpusCatalog.debianPackages(for: corpus)
        let versions = try DebianPackages.installedVersions(packages)
        let missing = packages.filter { versions[$0] == nil }
        if !missing.isEmpty { throw CorpusError.missingDebianPackages(corpus: corpus.rawValue, packages: missing) }
        return versions
    }

    /// Extracts sources in parallel, reusing cached text (`sources/<name>.txt`) when the package
    /// versions and extractor version are unchanged.
    static func extractSources(_ sources: [DebianSource], versions: [String: String], location: DataLocation,
                               threads: Int, log: @escaping @Sendable (String) -> Void) throws -> [(name: String, documents: [TextDocument])] {
        try FileManager.default.createDirectory(at: location.sourcesDirectory, withIntermediateDirectories: true)
        let results = LockedResults<Result<[TextDocument], Error>>(count: sources.count)
        let next = LockedCounter()
        let workers = max(1, min(threads, sources.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let k = next.take()
                guard k < sources.count else { return }
                let source = sources[k]
                let key = source.fingerprint(versions: versions)
                let textURL = location.sourcesDirectory.appendingPathComponent("\(source.name).txt")
                let keyURL = location.sourcesDirectory.appendingPathComponent("\(source.name).key")
                if let cachedKey = try? String(contentsOf: keyURL, encoding: .utf8), cachedKey == key,
                   let docs = try? SourceTextCache.read(textURL) {
                    results.set(k, .success(docs))
                    continue
                }
                let t0 = Date()
                do {
                    let docs = try source.extract()
                    try SourceTextCache.write(docs, to: textURL)
                    try AtomicFile.write(Data(key.utf8), to: keyURL)
                    let words = docs.reduce(0) { $0 + $1.wordCount }
                    log(String(format: "extracted %@: %d documents, %d words (%.1f s)", source.name, docs.count, words, Date().timeIntervalSince(t0)))
                    results.set(k, .success(docs))
                } catch {
                    results.set(k, .failure(error))
                }
            }
        }
        return try zip(sources, results.values).map { source, result in (source.name, try result!.get()) }
    }

    /// Writes a deterministic sample of the training paragraphs, one per line (long paragraphs
    /// cut at spaces below SentencePiece's sentence-length limit), capped near `capBytes`.
    static func writeTokenizerSample(_ texts: [String], to url: URL, capBytes: Int) throws -> Int {
        let total = texts.reduce(0) { $0 + $1.utf8.count }
        let keepPerMillion = total <= capBytes ? 1_000_000 : UInt64(Double(capBytes) / Double(total) * 1_000_000)
        var out = [UInt8]()
        out.reserveCapacity(min(total, capBytes) + 65536)
        var lineIndex: UInt64 = 0
        for text in texts {
            for paragraph in text.split(separator: "\n") {
                lineIndex += 1
                if keepPerMillion < 1_000_000 && CorpusRandom.mix(lineIndex) % 1_000_000 >= keepPerMillion { continue }
                var rest = Substring(paragraph)
                while !rest.isEmpty {
                    var piece = rest
                    if rest.utf8.count > 4000 {
                        let limit = rest.utf8.index(rest.startIndex, offsetBy: 4000)
                        let cut = rest[..<limit].lastIndex(of: " ") ?? limit
                        piece = rest[..<cut]
                        rest = rest[cut...].drop(while: { $0 == " " })
                    } else {
                        rest = rest[rest.endIndex...]
                    }
                    out.append(contentsOf: piece.utf8)
                    out.append(10)
                }
            }
        }
        try AtomicFile.write(out, to: url)
        return out.count
    }

    /// Encodes split-documents in parallel (order preserved) and writes `<split>.tokens` and
    /// `<split>.docs`. Documents that encode to nothing are left out.
    static func encodeAndWrite(_ texts: [String], tokenizer: Tokenizer, tokenWidth: Int, directory: URL, split: Split,
                               threads: Int) throws -> (tokens: Int, documents: Int) {
        let chunks = max(1, min(texts.count, threads * 16))
        let results = LockedResults<Result<([Int32], [Int]), Error>>(count: chunks)
        let next = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: max(1, threads)) { _ in
            while true {
                let c = next.take()
                guard c < chunks else { return }
                let range = (texts.count * c / chunks)..<(texts.count * (c + 1) / chunks)
                do {
                    var ids = [Int32]()
                    var lengths = [Int]()
                    for k in range {
                        let before = ids.count
                        try tokenizer.encode(texts[k], appendingTo: &ids)
                        lengths.append(ids.count - before)
                    }
                    results.set(c, .success((ids, lengths)))
                } catch {
                    results.set(c, .failure(error))
                }
            }
        }
        var offsets: [UInt64] = [0]
        var total = 0
        var parts = [[Int32]]()
        for r in results.values {
            let (ids, lengths) = try r!.get()
            for n in lengths where n > 0 {
                total += n
                offsets.append(UInt64(total))
            }
            parts.append(ids)
        }
        let tokensURL = directory.appendingPathComponent("\(split.rawValue).tokens")
        if tokenWidth == 2 {
            var narrow = [UInt16]()
            narrow.reserveCapacity(total)
            for p in parts { for id in p { narrow.append(UInt16(truncatingIfNeeded: id)) } }
            try AtomicFile.write(narrow, to: tokensURL)
        } else {
            var wide = [UInt32]()
            wide.reserveCapacity(total)
            for p in parts { for id in p { wide.append(UInt32(bitPattern: id)) } }
            try AtomicFile.write(wide, to: tokensURL)
        }
        try AtomicFile.write(offsets.map { $0.littleEndian }, to: directory.appendingPathComponent("\(split.rawValue).docs"))
        return (total, offsets.count - 1)
    }
}

/// Extracted source text cache: each document is a form-feed line holding its id, then one
/// paragraph per line.
enum SourceTextCache {
    static func write(_ documents: [TextDocument], to url: URL) throws {
        var out = [UInt8]()
        for d in documents {
            out.append(12)
            out.append(contentsOf: d.id.replacingOccurrences(of: "\n", with: " ").utf8)
            out.append(10)
            for p in d.paragraphs {
                out.append(contentsOf: p.replacingOccurrences(of: "\n", with: " ").utf8)
                out.append(10)
            }
        }
        try AtomicFile.write(out, to: url)
    }

    static func read(_ url: URL) throws -> [TextDocument] {
        let text = try String(contentsOf: url, encoding: .utf8)
        var documents = [TextDocument]()
        for line in text.split(separator: "\n") {
            if line.first == "\u{0C}" {
                documents.append(TextDocument(id: String(line.dropFirst()), paragraphs: []))
            } else if !documents.isEmpty {
                documents[documents.count - 1].paragraphs.append(String(line))
            }
        }
        return documents
    }
}

/// Fixed-size result slots filled from worker threads.
final class LockedResults<T>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ k: Int, _ value: T) { lock.lock(); slots[k] = value; lock.unlock() }
    var values: [T?] { lock.lock(); defer { lock.unlock() }; return slots }
}

/// A shared work counter.
final class LockedCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func take() -> Int { lock.lock(); defer { value += 1; lock.unlock() }; return value }
}
