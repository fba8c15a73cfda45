import ArgumentParser
import Corpus
import Foundation
import Records
import Storage

/// `--results` and `--data-dir`, declared once for every command that reads or writes runs.
struct StoreOptions: ParsableArguments {
    @Option(help: "Results database (default: $NTNG_HOME/results.sqlite).") var results: String?
    @Option(help: "Data directory (default: $NTNG_HOME/data).") var dataDir: String?

    /// The results database's file.
    var resultsURL: URL { results.map { URL(fileURLWithPath: $0) } ?? NTNGHome.resultsDatabase() }
    /// The opened results store.
    func store() throws -> ResultsStore { try ResultsStore(url: resultsURL) }
    /// Where prepared corpora are.
    var data: DataLocation { DataLocation(explicitDirectory: dataDir) }
}

/// `--threads`, declared once: compute threads change wall time, never a budget's steps.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Compute threads (changes wall time, never the budget's steps).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}
