import Foundation

/// Everything that can go wrong while preparing or reading data, each with a message that names
/// the problem and says what to do.
public enum CorpusError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case missingDebianPackages(corpus: String, packages: [String])
    case missingTool(tool: String, package: String)
    case unknownCorpus(String)
    case emptyFile(path: String)
    case binaryFile(path: String)
    case unreadableFile(path: String, reason: String)
    case noTextFound(path: String)
    case extractionFailed(source: String, reason: String)
    case tokenizer(String)
    case invalidTokenizerModel(path: String, reason: String)
    case notPrepared(directory: String, corpus: String)
    case corruptPreparedData(path: String, reason: String)
    case invalidParameter(String)
    case epochExceeded(requestedBatches: Int, batchesPerEpoch: Int, batchSize: Int, sequenceLength: Int,
                       trainingSequences: Int, epochs: Int = 1)
    case vocabularyMismatch(corpus: String, tokenizer: String, corpusVocabulary: Int, modelVocabulary: Int)

    public var description: String {
        switch self {
        case let .missingDebianPackages(corpus, packages):
            return "Corpus '\(corpus)' needs Debian packages that are not installed: \(packages.joined(separator: ", ")). "
                + "Install them with:\n  apt-get install --no-install-recommends \(packages.joined(separator: " "))"
        case let .missingTool(tool, package):
            return "The program '\(tool)' was not found. Install it with:\n  apt-get install --no-install-recommends \(package)"
        case let .unknownCorpus(name):
            return "'\(name)' is neither a corpus name (books, docs, lexicon, all) nor an existing file or folder. "
                + "Pass one of those names or a path to your own text."
        case let .emptyFile(path):
            return "The file \(path) holds no text (it is empty or only whitespace). Remove it or point --corpus elsewhere."
        case let .binaryFile(path):
            return "The file \(path) is not UTF-8 text (it looks binary). Pass only plain-text files (.txt, .md, …), "
                + "or gzip'd text ending in .gz."
        case let .unreadableFile(path, reason):
            return "The file \(path) cannot be read (\(reason)). Check that it exists and that you may read it."
        case let .noTextFound(path):
            return "No text files were found under \(path). Put UTF-8 text files (.txt, .md, …) there."
        case let .extractionFailed(source, reason):
            return "Extracting source '\(source)' failed: \(reason)"
        case let .tokenizer(message):
            return "Tokenizer error: \(message)"
        case let .invalidTokenizerModel(path, reason):
            return "\(path) is not a usable SentencePiece model (\(reason)). Pass a .model file written by "
                + "SentencePiece (spm_train or ntng data prepare), or leave out --tokenizer to train one."
        case let .notPrepared(directory, corpus):
            return "No prepared data for corpus '\(corpus)' in \(directory). Run:\n  ntng data prepare --corpus \(corpus)"
        case let .corruptPreparedData(path, reason):
            return "Prepared data at \(path) is damaged (\(reason)). Delete that folder and run `ntng data prepare` again."
        case let .invalidParameter(message):
            return message
        case let .vocabularyMismatch(corpus, tokenizer, corpusVocabulary, modelVocabulary):
            return "The model has a vocabulary of \(modelVocabulary) ids but corpus '\(corpus)' is tokenized with \(tokenizer) "
                + "(\(corpusVocabulary) ids), so its token ids would not fit the model. Prepare the corpus with that vocabulary "
                + "(ntng data prepare --corpus \(corpus) --vocab-size \(modelVocabulary)) or drop --set model.vocab."
        case let .epochExceeded(requested, perEpoch, batchSize, sequenceLength, sequences, epochs):
            let needed = (requested + perEpoch - 1) / max(perEpoch, 1)
            if epochs > 1 {
                return "This run needs \(requested) batches of \(batchSize) sequences of \(sequenceLength) tokens, but \(epochs) epochs "
                    + "of the training split's \(sequences) sequences hold only \(epochs * perEpoch) batches. Allow more "
                    + "(--set epochs=\(needed)), use a larger corpus, or a smaller budget."
            }
            return "This run needs \(requested) batches of \(batchSize) sequences of \(sequenceLength) tokens, but the "
                + "training split holds only \(sequences) sequences = \(perEpoch) batches (one epoch), and by default ntng never "
                + "repeats an example within a run. Use a larger corpus (e.g. --corpus all), a smaller budget, "
                + "a smaller batch size or sequence length, or allow repeats with --set epochs=\(needed) (recorded with the run)."
        }
    }

    public var errorDescription: String? { description }
}
