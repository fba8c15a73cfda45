import ArgumentParser
import Corpus
import Foundation
import Records
import Storage
import TensorCore

/// `--results` and `--data-dir`, declared once for every command that reads or writes runs.
struct StoreOptions: ParsableArguments {
    @Option(help: "Results database (default: $NTNG_HOME/results.sqlite).") var results: String?
    @Option(help: "Data directory (default: $NTNG_HOME/data).") var dataDir: String?
    @Option(help: ArgumentHelp("How the results database keeps writes atomic: wal (several processes of one machine) or rollback (a file on a shared filesystem written by one process at a time, as a Slurm task's trial store is).", visibility: .hidden))
    var resultsJournal: ResultsStore.Journal = .wal

    /// The results database's file.
    var resultsURL: URL { results.map { URL(fileURLWithPath: $0) } ?? NTNGHome.resultsDatabase() }
    /// The opened results store (created if missing).
    func store() throws -> ResultsStore { try ResultsStore(url: resultsURL, journal: resultsJournal) }
    /// The results store for commands that act on recorded runs only: never created.
    func existingStore() throws -> ResultsStore { try ResultsStore(url: resultsURL, existingOnly: true, journal: resultsJournal) }
    /// Where prepared corpora are.
    var data: DataLocation { DataLocation(explicitDirectory: dataDir) }
}

/// `--threads`, declared once: compute threads change wall time, never a budget's steps.
/// `--precision` and `--backend`, declared once for `run` and `compare`: shorthands for
/// `--set precision=…` and `--set backend=…`, recorded with every run (and in trial identity).
struct ComputeChoiceOptions: ParsableArguments {
    @Option(help: "Matrix products in fp32 or bf16 (bf16: oneDNN, bfloat16 inputs, float32 accumulation; needs a CPU with native bf16).")
    var precision: Precision?
    @Option(help: "Matrix library: openblas or onednn (default: chosen per machine — oneDNN where it runs AVX-512 kernels, else OpenBLAS — and recorded with the run).")
    var backend: MatrixLibrary?

    /// The `--set` texts these stand for.
    var settings: [String] {
        (backend.map { ["backend=\($0.rawValue)"] } ?? []) + (precision.map { ["precision=\($0.rawValue)"] } ?? [])
    }
}

struct ThreadOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Compute threads (changes wall time, never the budget's steps).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        try OptionRange.check(threads, "--threads", 1...1024)
    }
}

/// Range checks for numeric options. Every numeric option is parsed `.unconditional`ly, so a
/// negative number reaches these checks ("--seed must be 0 or more") instead of being taken for
/// an option name, and every bound is checked before any work, so no value can trap or hang later.
enum OptionRange {
    static func check(_ value: Int, _ option: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else { throw ValidationError("\(option) must be \(describe(range)) (got \(value))") }
    }

    static func check(_ value: Double, _ option: String, _ range: ClosedRange<Double>) throws {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError("\(option) must be a number in \(range.lowerBound)...\(range.upperBound) (got \(value))")
        }
    }

    /// Seeds are recorded as SQLite integers: 0 ... 2^63 − 1.
    static func seed(_ value: Int, _ option: String = "--seed") throws -> UInt64 {
        try check(value, option, 0...Int.max)
        return UInt64(value)
    }

    /// A profile or report name: a file name, never a path that escapes its folder.
    static func fileName(_ name: String, _ option: String) throws {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix("."), !name.contains("\0") else {
            throw ValidationError("\(option) '\(name)' must be a plain file name (no '/', not starting with '.'); use --output for a path")
        }
    }

    private static func describe(_ r: ClosedRange<Int>) -> String {
        if r.upperBound == Int.max { return r.lowerBound == 0 ? "0 or more" : "at least \(r.lowerBound)" }
        return "between \(r.lowerBound) and \(r.upperBound)"
    }
}

extension MatrixLibrary: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// One command-line word of comma-separated values, so a list option takes `1,2` (as compare's
/// `--budgets` and `--methods` do) as well as `1 2`.
struct CommaList<Value: ExpressibleByArgument>: ExpressibleByArgument {
    var values: [Value]
    init(_ values: [Value]) { self.values = values }
    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { Value(argument: String($0)) }
        guard !parts.isEmpty, !parts.contains(where: { $0 == nil }) else { return nil }
        values = parts.compactMap { $0 }
    }
    var defaultValueDescription: String { values.map(\.defaultValueDescription).joined(separator: ",") }
}

extension ResultsStore.Journal: ExpressibleByArgument {}
