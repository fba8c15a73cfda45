import ArgumentParser
import Corpus
import Tasks
import Foundation

/// `ntng data …`: pre-training data management.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Prepare pre-training corpora, tokenizers and downstream tasks.",
        subcommands: [Prepare.self, Packages.self])

    /// `ntng data prepare`: extract, split, train the tokenizer, encode, write token files.
    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a corpus's token files (a no-op when nothing changed).",
            discussion: """
            CORPUS is books, docs, lexicon, all, or a path to your own text file or folder. \
            Built-in corpora need Debian packages; `ntng data packages CORPUS` prints the apt-get line. \
            With --tasks, builds the downstream task suite instead (`ntng data packages tasks` lists its packages); \
            with --instructions, the instruction suite in SNI's layout (`ntng data packages instructions`).
            """)

        @Option(name: .long, help: "books | docs | lexicon | all | PATH to text file or folder.")
        var corpus: String = "all"

        @Option(name: .long, parsing: .unconditional, help: "Vocabulary size of the trained SentencePiece tokenizer.")
        var vocabSize: Int = 8192

        @Option(name: .long, help: "Use this existing SentencePiece .model instead of training one.")
        var tokenizer: String?

        @Option(name: .long, help: "Data root (default: $NTNG_HOME/data, NTNG_HOME defaulting to ~/.ntng).")
        var dataDir: String?

        @Option(name: .long, parsing: .unconditional, help: "Worker threads.")
        var threads: Int = 2

        @Option(name: .long, parsing: .unconditional, help: "Bytes of training text sampled for tokenizer training.")
        var tokenizerSampleBytes: Int = 24_000_000

        @Flag(name: .long, help: "Rebuild even when up to date.")
        var force = false

        @Option(name: .long, help: "Also measure batch feeding for this sequence length and batch size, e.g. 128x64.")
        var measureFeeding: String?

        @Flag(name: .long, help: "Build the downstream task suite (wic_wn, def_match, …) instead of a corpus.")
        var tasks = false

        @Option(name: .customLong("task"), help: "With --tasks: build only this task (repeatable).")
        var taskNames: [String] = []

        @Flag(name: .long, help: "Build the instruction suite in SNI's format (wn_define, …, fortune_attribution) instead of a corpus.")
        var instructions = false

        func validate() throws {
            try OptionRange.check(vocabSize, "--vocab-size", 64...1_048_576)
            try OptionRange.check(threads, "--threads", 1...1024)
            try OptionRange.check(tokenizerSampleBytes, "--tokenizer-sample-bytes", 1_000...(1 << 36))
            if let measureFeeding {
                let parts = measureFeeding.lowercased().split(separator: "x").compactMap { Int($0) }
                guard parts.count == 2, (8...4096).contains(parts[0]), (1...4096).contains(parts[1]) else {
                    throw ValidationError("--measure-feeding takes SEQUENCExBATCH with a sequence of 8...4096 and a batch of 1...4096, e.g. 128x64 (got '\(measureFeeding)')")
                }
            }
        }

        func run() throws {
            let location = DataLocation(explicitDirectory: dataDir)
            if tasks {
                try prepareTasks(location)
                return
            }
            if instructions {
                let result = try InstructionPreparer.prepare(location: location, force: force) { message in
                    FileHandle.standardError.write(Data(("ntng data: " + message + "\n").utf8))
                }
                for t in result.tasks {
                    print(String(format: "%@ %5d instances  %@", t.name.padding(toLength: 20, withPad: " ", startingAt: 0), t.instances,
                                 t.isTestTask ? "test task" : "training task"))
                }
                print("  folder: \(result.directory.path)\(result.wasUpToDate ? " (up to date)" : "") (tasks/, splits/default/)")
                return
            }
            var options = PreparationOptions(corpus: corpus)
            options.vocabSize = vocabSize
            options.tokenizerPath = tokenizer
            options.threads = threads
            options.tokenizerSampleBytes = tokenizerSampleBytes
            options.force = force
            options.log = { message in
                FileHandle.standardError.write(Data(("ntng data: " + message + "\n").utf8))
            }
            let result = try DataPreparer.prepare(options, location: location)
            print(result.stats.summary)
            print("  folder: \(result.directory.path)\(result.wasUpToDate ? " (up to date)" : "")")
            if let measureFeeding {
                let parts = measureFeeding.lowercased().split(separator: "x").compactMap { Int($0) }
                guard parts.count == 2 else { throw ValidationError("--measure-feeding takes SxB, e.g. 128x64.") }
                let source = try MLMBatchSource(corpus: PreparedCorpus(directory: result.directory),
                                                sequenceLength: parts[0], batchSize: parts[1], seed: 1)
                let ms = measureBatchFeeding(source: source)
                print(String(format: "  feeding: %.3f ms per batch of %d x %d (%d batches per epoch)",
                             ms, parts[1], parts[0], source.batchesPerEpoch))
            }
        }

        private func prepareTasks(_ location: DataLocation) throws {
            let results = try TaskPreparer.prepare(taskNames, location: location, force: force) { message in
                FileHandle.standardError.write(Data(("ntng data: " + message + "\n").utf8))
            }
            print("task             labels   train    dev   test  metric")
            for r in results {
                let c = r.info.counts
                print(String(format: "%@ %6d %7d %6d %6d  %@%@", r.info.name.padding(toLength: 16, withPad: " ", startingAt: 0),
                             r.info.labels.count, c["train"] ?? 0, c["dev"] ?? 0, c["test"] ?? 0, r.info.metric.rawValue,
                             r.wasUpToDate ? " (up to date)" : ""))
            }
            print("  folder: \(location.tasksDirectory.path)")
        }
    }

    /// `ntng data packages`: the Debian packages a corpus needs.
    struct Packages: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the apt-get line for a built-in corpus or the task suite.")

        @Argument(help: "books | docs | lexicon | all | tasks | instructions | PATH (own text: no packages)")
        var corpus: String = "all"

        func run() throws {
            if corpus == "tasks" {
                print(TaskCatalog.installCommand())
                return
            }
            if corpus == "instructions" {
                print("apt-get install --no-install-recommends " + InstructionCatalog.debianPackages().joined(separator: " "))
                return
            }
            guard let name = CorpusName(rawValue: corpus) else {
                // Own text needs nothing installed: say so on stderr and print no apt-get line, so
                // that a script installing "whatever the corpus needs" works for paths too.
                guard FileManager.default.fileExists(atPath: corpus) else {
                    throw ValidationError("'\(corpus)' is neither a built-in corpus (books, docs, lexicon, all), a task suite (tasks, instructions) nor an existing file or folder. Pass one of those names, or the path of your own text (which needs no packages).")
                }
                FileHandle.standardError.write(Data("'\(corpus)' is your own text: it needs no Debian packages.\n".utf8))
                return
            }
            print(CorpusCatalog.installCommand(for: name))
        }
    }
}
