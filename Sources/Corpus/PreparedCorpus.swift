import Foundation
import Storage

/// A prepared corpus opened for training: the memory-mapped splits, stats and tokenizer file.
public final class PreparedCorpus: @unchecked Sendable {
    public let directory: URL
    public let stats: CorpusStats
    public let train: TokenSplit
    public let validation: TokenSplit
    /// Content hashes and token ranges of the files, verified when the folder was opened.
    public let content: ContentFingerprint

    /// The data fingerprint runs record: one hash of the tokenizer and the token files.
    public var fingerprint: String { content.digest }

    /// Number of token ids (the model's vocabulary size).
    public var vocabSize: Int { stats.vocabSize }
    /// The SentencePiece model the ids come from.
    public var tokenizerURL: URL { directory.appendingPathComponent(stats.tokenizerFile) }

    /// Opens a prepared folder (as returned by `DataPreparer.prepare`).
    public init(directory: URL) throws {
        self.directory = directory
        let statsURL = directory.appendingPathComponent("stats.json")
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("manifest.json").path),
              let data = try? Data(contentsOf: statsURL) else {
            throw CorpusError.notPrepared(directory: directory.path, corpus: directory.deletingLastPathComponent().lastPathComponent)
        }
        do { stats = try JSONDecoder().decode(CorpusStats.self, from: data) } catch {
            throw CorpusError.corruptPreparedData(path: statsURL.path, reason: "\(error)")
        }
        let width = stats.tokenType == "uint16" ? 2 : 4
        train = try TokenSplit(tokensURL: directory.appendingPathComponent("train.tokens"),
                               documentsURL: directory.appendingPathComponent("train.docs"), tokenWidth: width)
        validation = try TokenSplit(tokensURL: directory.appendingPathComponent("validation.tokens"),
                                    documentsURL: directory.appendingPathComponent("validation.docs"), tokenWidth: width)
        guard train.tokenCount == stats.train.tokens, validation.tokenCount == stats.validation.tokens else {
            throw CorpusError.corruptPreparedData(path: directory.path, reason: "token counts differ from stats.json")
        }
        // Folders prepared before content.json existed are measured and range-checked all the same.
        let recordedURL = directory.appendingPathComponent(ContentFingerprint.fileName)
        var recorded: ContentFingerprint?
        if let data = try? Data(contentsOf: recordedURL) {
            do { recorded = try JSONDecoder().decode(ContentFingerprint.self, from: data) } catch {
                throw CorpusError.corruptPreparedData(path: recordedURL.path, reason: "\(error)")
            }
        }
        content = try ContentFingerprint.measure(directory: directory, tokenizerFile: stats.tokenizerFile, tokenWidth: width)
        try content.verify(recorded: recorded, vocabularySize: stats.vocabSize, directory: directory, corpus: stats.corpus)
    }

    /// Opens `--corpus NAME|PATH` under a data location. With no tokenizer name, the trained
    /// tokenizer of `vocabSize` (nil: 8192) is used if prepared, else the only prepared tokenizer.
    public convenience init(corpus: String, tokenizer: String? = nil, vocabSize: Int? = nil, location: DataLocation) throws {
        let vocabSize = vocabSize ?? 8192
        let name = DataPreparer.corpusName(for: corpus)
        let corpusDirectory = location.corpusDirectory(name)
        var chosen = tokenizer ?? DataPreparer.trainedTokenizerName(vocabSize: vocabSize)
        if tokenizer == nil, !FileManager.default.fileExists(atPath: corpusDirectory.appendingPathComponent(chosen).path) {
            let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: corpusDirectory.path)) ?? []).filter { !$0.hasPrefix(".") }
            if candidates.count == 1 { chosen = candidates[0] }
        }
        let directory = location.preparedDirectory(corpus: name, tokenizer: chosen)
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("manifest.json").path) else {
            throw CorpusError.notPrepared(directory: location.root.path, corpus: corpus)
        }
        try self.init(directory: directory)
    }
}

extension PreparedCorpus {
    /// Throws unless a model of `modelVocabulary` ids can read these tokens: every id must fit
    /// its embedding (a model with another vocabulary than the corpus's would index past it).
    public func requireVocabulary(_ modelVocabulary: Int) throws {
        guard vocabSize == modelVocabulary else {
            throw CorpusError.vocabularyMismatch(corpus: stats.corpus, tokenizer: stats.tokenizer, corpusVocabulary: vocabSize,
                                                 modelVocabulary: modelVocabulary)
        }
    }
}

/// Everything the trainer needs to feed MLM batches: packed sequences of both splits, the seeded
/// stream order and the masking, for one (corpus, S, B, seed).
///
/// The stream draws from one part of the training split (``StreamPart``): `.training` (the
/// default, used by every run of every method) leaves out the proxy split that RHO-LOSS's
/// irreducible-loss model trains on (`.proxy`). Masking does not depend on the part: a sequence is
/// masked the same way (a pure function of the run seed and its id) wherever it is drawn or scored.
public final class MLMBatchSource: @unchecked Sendable {
    /// Seed of the fixed validation masking (identical for every method and run).
    public static let validationSeed: UInt64 = 0x56414C4944  // "VALID"

    public let corpus: PreparedCorpus
    public let sequenceLength: Int
    public let batchSize: Int
    public let seed: UInt64
    public let training: PackedSequences
    public let validation: PackedSequences
    public let stream: ExampleStream
    public let masking: MLMMasking
    /// The hold-out rule that separates the training and proxy parts.
    public var proxySplit: ProxySplit { stream.proxySplit }

    public init(corpus: PreparedCorpus, sequenceLength: Int, batchSize: Int, seed: UInt64,
                part: StreamPart = .training, proxySplit: ProxySplit = .standard, epochs: Int = 1) throws {
        self.corpus = corpus
        self.sequenceLength = sequenceLength
        self.batchSize = batchSize
        self.seed = seed
        training = try PackedSequences(split: corpus.train, sequenceLength: sequenceLength)
        validation = try PackedSequences(split: corpus.validation, sequenceLength: sequenceLength)
        stream = try ExampleStream(exampleCount: training.count, batchSize: batchSize, seed: seed, part: part, proxySplit: proxySplit,
                                   epochs: epochs)
        masking = MLMMasking(vocabSize: corpus.vocabSize, seed: seed)
    }

    /// Whole batches in one epoch of the training split.
    public var batchesPerEpoch: Int { stream.batchesPerEpoch }

    /// Call before training: throws `CorpusError.epochExceeded` (with advice) when the run would
    /// need more batches than one epoch holds.
    public func requireBatches(_ batches: Int) throws { try stream.requireBatches(batches, sequenceLength: sequenceLength) }

    /// The most masked positions per sequence (the size of the model's MLM head buffers).
    public var maxMaskedPositions: Int { MLMMasking.maxMaskedPositions(sequenceLength: sequenceLength) }

    /// Fills `buffers` with batch `index` of the stream. No allocation.
    public func fillBatch(_ index: Int, into buffers: inout MLMBatchBuffers) {
        precondition(buffers.batchSize == batchSize && buffers.sequenceLength == sequenceLength, "buffers were made for another shape")
        let s = sequenceLength
        let mm = buffers.maxMasked
        buffers.inputTokens.withUnsafeMutableBufferPointer { tokens in
            buffers.maskedPositions.withUnsafeMutableBufferPointer { positions in
                buffers.labels.withUnsafeMutableBufferPointer { labels in
                    for b in 0..<batchSize {
                        let id = stream.exampleId(batch: index, slot: b)
                        let row = tokens.baseAddress! + b * s
                        let length = training.fill(id, into: row)
                        let m = masking.apply(tokens: row, count: length, exampleId: UInt64(id),
                                              positions: positions.baseAddress! + b * mm, labels: labels.baseAddress! + b * mm)
                        for k in m..<mm {
                            positions[b * mm + k] = -1
                            labels[b * mm + k] = SpecialTokens.pad
                        }
                        buffers.exampleIds[b] = UInt64(id)
                        buffers.lengths[b] = Int32(length)
                        buffers.maskedCounts[b] = Int32(m)
                    }
                }
            }
        }
    }

    /// Batch `index` of the stream as `MaskedExample`s.
    public func batch(_ index: Int) -> [MaskedExample] {
        var buffers = MLMBatchBuffers(batchSize: batchSize, sequenceLength: sequenceLength)
        fillBatch(index, into: &buffers)
        return (0..<batchSize).map { buffers.example($0) }
    }

    /// A training example by id, masked exactly as in `batch` (for scoring passes such as RHO loss).
    public func trainingExample(id: UInt64) -> MaskedExample {
        MLMBatchSource.masked(training, masking: masking, id: Int(id))
    }

    /// A fixed list of masked validation examples: up to `maxCount` sequences spread evenly over
    /// the validation split (so every source is represented), masked with `validationSeed`.
    public func validationExamples(maxCount: Int = 1024) -> [MaskedExample] {
        let n = validation.count
        guard n > 0, maxCount > 0 else { return [] }
        let count = min(n, maxCount)
        let fixedMasking = MLMMasking(vocabSize: corpus.vocabSize, seed: MLMBatchSource.validationSeed)
        return (0..<count).map { j in MLMBatchSource.masked(validation, masking: fixedMasking, id: j * n / count) }
    }

    static func masked(_ packed: PackedSequences, masking: MLMMasking, id: Int) -> MaskedExample {
        let s = packed.sequenceLength
        var tokens = [Int32](repeating: 0, count: s)
        let maxMasked = MLMMasking.maxMaskedPositions(sequenceLength: s)
        var positions = [Int32](repeating: 0, count: maxMasked)
        var labels = [Int32](repeating: 0, count: maxMasked)
        var length = 0
        var m = 0
        tokens.withUnsafeMutableBufferPointer { t in
            length = packed.fill(id, into: t.baseAddress!)
            positions.withUnsafeMutableBufferPointer { p in
                labels.withUnsafeMutableBufferPointer { l in
                    m = masking.apply(tokens: t.baseAddress!, count: length, exampleId: UInt64(id), positions: p.baseAddress!, labels: l.baseAddress!)
                }
            }
        }
        return MaskedExample(exampleId: UInt64(id), inputTokens: tokens, length: length,
                             maskedPositions: Array(positions.prefix(m)), labels: Array(labels.prefix(m)))
    }
}
