import CSentencePiece
import Foundation

/// A SentencePiece model with ntng's fixed special ids (see `SpecialTokens`).
///
/// Models trained by ntng have the layout natively ([PAD]=0, [UNK]=1, control [CLS], [SEP],
/// [MASK] = 2, 3, 4). A user's model with another layout (e.g. T5's) is used in *shifted* mode:
/// ntng id = SentencePiece id + 5, SentencePiece's unknown maps to [UNK]=1, so the special ids
/// still hold and `vocabSize` grows by 5. Encoding and decoding are safe from several threads.
public final class Tokenizer: @unchecked Sendable {
    /// The `.model` file this tokenizer was loaded from.
    public let modelURL: URL
    /// Number of ids (all ids are in 0 ..< vocabSize).
    public let vocabSize: Int
    /// 0 for ntng's native layout, `SpecialTokens.count` for a shifted user model.
    public let idOffset: Int32
    private let handle: OpaquePointer
    private let sentencePieceUnk: Int32

    /// Loads a `.model` file.
    public init(modelURL: URL) throws {
        var error: UnsafeMutablePointer<CChar>? = nil
        guard FileManager.default.isReadableFile(atPath: modelURL.path) else {
            throw CorpusError.invalidTokenizerModel(path: modelURL.path, reason: "file not found or not readable")
        }
        guard let h = ntng_sp_load(modelURL.path, &error) else {
            let message = error.map { String(cString: $0) } ?? "unknown error"
            ntng_sp_free_string(error)
            throw CorpusError.invalidTokenizerModel(path: modelURL.path, reason: message)
        }
        handle = h
        self.modelURL = modelURL
        let size = ntng_sp_vocab_size(h)
        sentencePieceUnk = ntng_sp_unk_id(h)
        func piece(_ id: Int32) -> String? {
            guard let p = ntng_sp_id_to_piece(h, id) else { return nil }
            defer { ntng_sp_free_string(p) }
            return String(cString: p)
        }
        let native = size > 5 && ntng_sp_pad_id(h) == SpecialTokens.pad && ntng_sp_unk_id(h) == SpecialTokens.unk
            && (2...4).allSatisfy { piece(Int32($0)) == SpecialTokens.pieces[$0] && ntng_sp_is_control(h, Int32($0)) == 1 }
        idOffset = native ? 0 : SpecialTokens.count
        vocabSize = Int(size) + Int(idOffset)
        if vocabSize > Int(UInt32.max) { throw CorpusError.invalidTokenizerModel(path: modelURL.path, reason: "vocabulary too large") }
    }

    deinit { ntng_sp_free(handle) }

    /// True when the model has ntng's layout itself (ids equal SentencePiece ids).
    public var isNativeLayout: Bool { idOffset == 0 }

    /// Encodes text to ids, appending them to `ids`.
    public func encode(_ text: String, appendingTo ids: inout [Int32]) throws {
        var text = text
        try text.withUTF8 { bytes in
            let capacity = bytes.count + 1
            let start = ids.count
            ids.append(contentsOf: repeatElement(0, count: capacity))
            let n = bytes.withMemoryRebound(to: CChar.self) { chars in
                ids.withUnsafeMutableBufferPointer { out in
                    ntng_sp_encode(handle, chars.baseAddress, chars.count, out.baseAddress! + start, capacity)
                }
            }
            guard n >= 0, n <= capacity else {
                ids.removeSubrange(start...)
                throw CorpusError.tokenizer("SentencePiece could not encode a text of \(bytes.count) bytes")
            }
            ids.removeSubrange((start + Int(n))...)
            if idOffset != 0 {
                for k in start..<ids.count {
                    ids[k] = ids[k] == sentencePieceUnk ? SpecialTokens.unk : ids[k] + idOffset
                }
            }
        }
    }

    /// Encodes text to ids.
    public func encode(_ text: String) throws -> [Int32] {
        var ids = [Int32]()
        try encode(text, appendingTo: &ids)
        return ids
    }

    /// Decodes ids to text. Special ids ([PAD], [CLS], [SEP], [MASK]) are skipped.
    public func decode(_ ids: [Int32]) throws -> String {
        var mapped = [Int32]()
        mapped.reserveCapacity(ids.count)
        for id in ids {
            guard id >= 0, Int(id) < vocabSize else { throw CorpusError.tokenizer("id \(id) is outside the vocabulary (size \(vocabSize))") }
            if SpecialTokens.isStructural(id) { continue }
            if idOffset == 0 { mapped.append(id) } else { mapped.append(id == SpecialTokens.unk ? sentencePieceUnk : id - idOffset) }
        }
        var error: UnsafeMutablePointer<CChar>? = nil
        guard let text = mapped.withUnsafeBufferPointer({ ntng_sp_decode(handle, $0.baseAddress, $0.count, &error) }) else {
            let message = error.map { String(cString: $0) } ?? "unknown error"
            ntng_sp_free_string(error)
            throw CorpusError.tokenizer(message)
        }
        defer { ntng_sp_free_string(text) }
        return String(cString: text)
    }

    /// The piece of an id ("▁the", "[MASK]"); nil when out of range.
    public func piece(for id: Int32) -> String? {
        if id >= 0 && id < SpecialTokens.count { return SpecialTokens.pieces[Int(id)] }
        guard id >= 0, Int(id) < vocabSize else { return nil }
        guard let p = ntng_sp_id_to_piece(handle, id - idOffset) else { return nil }
        defer { ntng_sp_free_string(p) }
        return String(cString: p)
    }


    /// Trains a unigram model on a text file (one sentence or paragraph per line) and writes
    /// `<directory>/<name>.model` (and `.vocab`). The file is complete when this returns; callers
    /// write into a temporary directory and rename, so no half-written model is ever visible.
    public static func train(inputFile: URL, outputDirectory: URL, name: String = "tokenizer", vocabSize: Int,
                             threads: Int = 2, modelType: String = "unigram", seed: UInt32 = 20_240_601) throws -> URL {
        guard vocabSize > Int(SpecialTokens.count) + 1, vocabSize <= 1 << 20 else {
            throw CorpusError.invalidParameter("--vocab-size must be between 7 and 1048576 (got \(vocabSize)).")
        }
        let prefix = outputDirectory.appendingPathComponent(name).path
        let options: [(String, String)] = [
            ("input", inputFile.path), ("model_prefix", prefix), ("vocab_size", String(vocabSize)),
            ("model_type", modelType), ("character_coverage", "0.9995"),
            ("pad_id", "0"), ("unk_id", "1"), ("bos_id", "-1"), ("eos_id", "-1"),
            ("pad_piece", "[PAD]"), ("unk_piece", "[UNK]"), ("control_symbols", "[CLS],[SEP],[MASK]"),
            ("num_threads", String(max(1, threads))), ("input_sentence_size", "0"), ("shuffle_input_sentence", "false"),
            ("max_sentence_length", "8192"), ("hard_vocab_limit", "false"), ("minloglevel", "1"),
        ]
        ntng_sp_set_random_seed(seed)
        let keys = options.map { strdup($0.0) }
        let values = options.map { strdup($0.1) }
        defer { (keys + values).forEach { free($0) } }
        let error: UnsafeMutablePointer<CChar>? = keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                ntng_sp_train(k.baseAddress, v.baseAddress, options.count)
            }
        }
        if let error {
            defer { ntng_sp_free_string(error) }
            throw CorpusError.tokenizer("training failed: \(String(cString: error))")
        }
        return URL(fileURLWithPath: prefix + ".model")
    }
}
