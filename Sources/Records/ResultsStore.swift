import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import Clock
import Storage

/// The SQLite store of runs, loss curves, evaluations and diagnostics (GRDB over the system SQLite).
///
/// - The file defaults to ``NTNGHome/resultsDatabase(environment:)`` (`$NTNG_HOME/results.sqlite`,
///   `~/.ntng/results.sqlite`); callers may pass any path.
/// - WAL journal and a busy timeout, so several `ntng` processes can write at once; every write
///   is one transaction, so a killed process leaves the database consistent, and its run `running`.
/// - A `running` run whose process is gone is reported as `interrupted`
///   (``RunRecord/effectiveStatus``); ``reconcileInterruptedRuns()`` stores that.
/// - A file that is not an SQLite database, is damaged, belongs to another application or to a newer
///   ntng is reported with ``ResultsStoreError`` and **never modified**: it is checked read-only
///   before it is opened for writing.
///
/// Schema (migration `v1`): `run` (one row per run), `loss_point` (run_id, step, rst_s, wall_s,
/// tokens, train_loss, lr), `evaluation` (run_id, step, rst_s, name, value), `diagnostic` (run_id,
/// step, rst_s, key, value). Child rows are deleted with their run.
public final class ResultsStore: Sendable {
    /// The database file.
    public let url: URL

    /// Where a run's checkpoint lives: beside the store that records the run,
    /// `<store folder>/checkpoints/<run id>/latest.safetensors` (`$NTNG_HOME/checkpoints/…` for the
    /// default store), so a run, its record and its checkpoint move together.
    public func checkpointURL(runID: String) -> URL {
        url.deletingLastPathComponent().appendingPathComponent("checkpoints").appendingPathComponent(runID)
            .appendingPathComponent("latest.safetensors")
    }
    private let dbQueue: DatabaseQueue

    /// Opens (creating if needed) the store at `url`.
    /// - Throws: ``ResultsStoreError`` naming the file and what to do.
    /// Opens the store at `url`, creating it (and its folder) unless `existingOnly`: commands that
    /// only read runs never create a database for a mistyped path.
    ///
    /// `journal` is how SQLite keeps writes atomic: ``Journal/wal`` (the default) lets several
    /// processes of one machine write at once; ``Journal/rollback`` is for a file on a shared
    /// filesystem that one process writes at a time (a Slurm task's trial store), where WAL's
    /// shared-memory index does not work across machines.
    public init(url: URL = NTNGHome.resultsDatabase(), existingOnly: Bool = false, journal: Journal = .wal) throws {
        self.url = url
        let path = url.path
        let directory = url.deletingLastPathComponent()
        if existingOnly && !FileManager.default.fileExists(atPath: path) {
            throw ResultsStoreError.missing(path: path)
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ResultsStoreError.cannotOpen(path: path, detail: "cannot create directory \(directory.path): \(FileErrorText.describe(error))")
        }

        // Openers of one store are serialised until it exists and is migrated: two processes
        // creating the same new file at once saw each other's half-made database ("disk I/O
        // error", or "a database of another application"). The advisory lock
        // is taken on the folder itself (no file is left beside the store); where the folder cannot
        // be opened, opening goes on unlocked and reports its own error.
        let lockDescriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if lockDescriptor >= 0 { flock(lockDescriptor, LOCK_EX) }
        defer {
            if lockDescriptor >= 0 {
                flock(lockDescriptor, LOCK_UN)
                close(lockDescriptor)
            }
        }

        let existingSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        if let existingSize, existingSize > 0 {
            try Self.checkExistingFile(path: path, size: existingSize)
        }

        var config = Configuration()
        // .default leaves the file's mode as it is: a new file gets SQLite's rollback journal.
        config.journalMode = journal == .wal ? .wal : .default
        config.busyMode = .timeout(10)
        config.foreignKeysEnabled = true
        config.label = "ntng.results"
        do {
            dbQueue = try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(dbQueue)
        } catch let error as DatabaseError {
            throw ResultsStoreError.from(error, path: path, opening: true)
        }
    }

    /// How the store keeps its writes atomic (see ``init(url:existingOnly:journal:)``).
    public enum Journal: String, Sendable, CaseIterable {
        case wal
        case rollback
    }

    /// Read-only checks of an existing, non-empty file, before anything may write to it.
    private static func checkExistingFile(path: String, size: Int) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ResultsStoreError.cannotOpen(path: path, detail: "the file cannot be read (permissions?)")
        }
        let magic = (try? handle.read(upToCount: 16)) ?? nil
        try? handle.close()
        guard let magic, magic == Data("SQLite format 3\0".utf8) else {
            throw ResultsStoreError.notADatabase(path: path)
        }

        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        do {
            let reader = try DatabaseQueue(path: path, configuration: config)
            defer { try? reader.close() }
            try reader.read { db in
                let problems = try String.fetchAll(db, sql: "PRAGMA quick_check")
                if problems != ["ok"] {
                    throw ResultsStoreError.corrupt(path: path, detail: problems.prefix(3).joined(separator: "; "))
                }
                let hasMigrations = try db.tableExists("grdb_migrations")
                let tableCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0
                if !hasMigrations && tableCount > 0 {
                    throw ResultsStoreError.foreignDatabase(path: path)
                }
                if hasMigrations {
                    if try !db.tableExists("run") { throw ResultsStoreError.foreignDatabase(path: path) }
                    if try migrator.hasBeenSuperseded(db) { throw ResultsStoreError.newerSchema(path: path) }
                }
            }
        } catch let error as DatabaseError {
            throw ResultsStoreError.from(error, path: path, opening: true)
        }
    }

    private static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE run (
                    id TEXT PRIMARY KEY NOT NULL,
                    method TEXT NOT NULL,
                    model TEXT NOT NULL,
                    corpus TEXT NOT NULL,
                    seed INTEGER NOT NULL,
                    budget_amount REAL NOT NULL,
                    budget_kind TEXT NOT NULL CHECK (budget_kind IN ('rst', 'wall', 'steps')),
                    config_json TEXT NOT NULL,
                    profile_json TEXT,
                    code_version TEXT NOT NULL,
                    plugins_json TEXT,
                    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
                    error TEXT,
                    failed_step INTEGER,
                    hostname TEXT,
                    pid INTEGER,
                    process_start_ticks INTEGER,
                    boot_id TEXT,
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    rst_s REAL NOT NULL DEFAULT 0,
                    wall_s REAL NOT NULL DEFAULT 0,
                    steps INTEGER NOT NULL DEFAULT 0,
                    tokens INTEGER NOT NULL DEFAULT 0,
                    final_train_loss REAL,
                    val_loss REAL
                );
                CREATE INDEX run_created ON run(created_at);
                CREATE TABLE loss_point (
                    run_id TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    rst_s REAL NOT NULL,
                    wall_s REAL NOT NULL,
                    tokens INTEGER NOT NULL,
                    train_loss REAL,
                    lr REAL NOT NULL,
                    PRIMARY KEY (run_id, step)
                );
                CREATE TABLE evaluation (
                    id INTEGER PRIMARY KEY,
                    run_id TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    rst_s REAL NOT NULL,
                    name TEXT NOT NULL,
                    value REAL
                );
                CREATE INDEX evaluation_run ON evaluation(run_id, step);
                CREATE TABLE diagnostic (
                    id INTEGER PRIMARY KEY,
                    run_id TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    rst_s REAL NOT NULL,
                    key TEXT NOT NULL,
                    value REAL
                );
                CREATE INDEX diagnostic_run ON diagnostic(run_id, step);
                """)
        }
        migrator.registerMigration("v2: run_log") { db in
            try db.execute(sql: """
                CREATE TABLE run_log (
                    id INTEGER PRIMARY KEY,
                    run_id TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    rst_s REAL NOT NULL,
                    level TEXT NOT NULL,
                    source TEXT NOT NULL,
                    message TEXT NOT NULL
                );
                CREATE INDEX run_log_run ON run_log(run_id, id);
                """)
        }
        migrator.registerMigration("v3: trial_claim") { db in
            try db.execute(sql: """
                CREATE TABLE trial_claim (
                    identity TEXT PRIMARY KEY,
                    hostname TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    process_start_ticks INTEGER,
                    boot_id TEXT,
                    claimed_at REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4: imported_run") { db in
            // Runs copied in from other stores (Slurm tasks' trial stores), by where they came from,
            // so that collecting again never imports one twice.
            try db.execute(sql: """
                CREATE TABLE imported_run (
                    origin TEXT PRIMARY KEY NOT NULL,
                    run_id TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    imported_at REAL NOT NULL
                );
                """)
        }
        return migrator
    }()

    /// Runs `body` in one write transaction, mapping SQLite errors to ``ResultsStoreError``.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try dbQueue.write(body)
        } catch let error as DatabaseError {
            throw ResultsStoreError.from(error, path: url.path, opening: false)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try dbQueue.read(body)
        } catch let error as DatabaseError {
            throw ResultsStoreError.from(error, path: url.path, opening: false)
        }
    }

    // MARK: - Writing

    /// Creates a `running` run with a fresh id, recording `process` so that a kill can be detected.
    public func createRun(_ new: NewRun, process: ProcessIdentity = .current(), now: Date = Date()) throws -> RunRecord {
        try write { db in
            var id = Self.newRunID()
            // 2^32 ids: collisions are rare but cheap to rule out inside the transaction.
            while try RunRecord.exists(db, key: id) { id = Self.newRunID() }
            let record = RunRecord(
                id: id, method: new.method, model: new.model, corpus: new.corpus, seed: new.seed,
                budgetAmount: new.budget.amount, budgetKind: new.budget.kind,
                configJSON: new.configJSON, profileJSON: new.profileJSON, codeVersion: new.codeVersion,
                pluginsJSON: new.pluginsJSON, status: .running, error: nil, failedStep: nil,
                hostname: process.hostname, pid: process.pid, processStartTicks: process.startTicks,
                bootID: process.bootID, createdAt: now, updatedAt: now,
                rstSeconds: 0, wallSeconds: 0, steps: 0, tokens: 0, finalTrainLoss: nil, valLoss: nil)
            try record.insert(db)
            return record
        }
    }

    /// Eight random lowercase hex digits.
    static func newRunID() -> String {
        let value = UInt32.random(in: 0...UInt32.max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// Appends progress of a run in **one transaction**: loss points, evaluations, diagnostics and
    /// (optionally) new summary numbers. If anything fails — e.g. a loss point for a step already
    /// stored — nothing of the batch is written.
    public func record(runID: String, lossPoints: [LossPoint] = [], evaluations: [Evaluation] = [],
                       diagnostics: [Diagnostic] = [], log: [RunLogLine] = [], summary: RunSummary? = nil,
                       now: Date = Date()) throws {
        try write { db in
            try Self.requireRun(db, runID)
            try Self.insertProgress(db, runID, lossPoints: lossPoints, evaluations: evaluations, diagnostics: diagnostics, log: log)
            if let summary { try Self.updateSummary(db, runID, summary, now) }
            try Self.touch(db, runID, now)
        }
    }

    /// Inserts a run's progress rows (non-finite numbers stored as NULL, as readers expect).
    static func insertProgress(_ db: Database, _ runID: String, lossPoints: [LossPoint], evaluations: [Evaluation],
                               diagnostics: [Diagnostic], log: [RunLogLine]) throws {
        let lossStatement = try db.cachedStatement(sql: """
            INSERT INTO loss_point (run_id, step, rst_s, wall_s, tokens, train_loss, lr) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for p in lossPoints {
            let loss = p.trainLoss.flatMap { $0.isFinite ? $0 : nil }
            try lossStatement.execute(arguments: [runID, p.step, p.rstSeconds, p.wallSeconds, p.tokens, loss, p.learningRate])
        }
        let evalStatement = try db.cachedStatement(sql: """
            INSERT INTO evaluation (run_id, step, rst_s, name, value) VALUES (?, ?, ?, ?, ?)
            """)
        for e in evaluations {
            try evalStatement.execute(arguments: [runID, e.step, e.rstSeconds, e.name, e.value.isNaN ? nil : e.value])
        }
        let diagStatement = try db.cachedStatement(sql: """
            INSERT INTO diagnostic (run_id, step, rst_s, key, value) VALUES (?, ?, ?, ?, ?)
            """)
        for d in diagnostics {
            try diagStatement.execute(arguments: [runID, d.step, d.rstSeconds, d.key, d.value.isNaN ? nil : d.value])
        }
        let logStatement = try db.cachedStatement(sql: """
            INSERT INTO run_log (run_id, step, rst_s, level, source, message) VALUES (?, ?, ?, ?, ?, ?)
            """)
        for l in log {
            try logStatement.execute(arguments: [runID, l.step, l.rstSeconds, l.level, l.source, l.message])
        }
    }

    /// Replaces the plugin provenance of a run (it grows during the run: how the optimizer was
    /// charged, per-hook timings).
    public func updatePluginProvenance(id: String, json: String, now: Date = Date()) throws {
        try write { db in
            try Self.requireRun(db, id)
            try db.execute(sql: "UPDATE run SET plugins_json = ? WHERE id = ?", arguments: [json, id])
            try Self.touch(db, id, now)
        }
    }

    /// Marks a run `finished` with its final summary.
    public func finishRun(id: String, summary: RunSummary, now: Date = Date()) throws {
        try setStatus(id: id, .finished, error: nil, failedStep: nil, summary: summary, now: now)
    }

    /// Marks a run `failed` with an error message and (when known) the step that failed, e.g. the
    /// step whose loss was not finite.
    public func failRun(id: String, error: String, failedStep: Int?, summary: RunSummary? = nil, now: Date = Date()) throws {
        try setStatus(id: id, .failed, error: error, failedStep: failedStep, summary: summary, now: now)
    }

    // MARK: - Trial claims (comparisons)

    /// Who holds a comparison trial.
    public enum TrialClaim: Equatable, Sendable {
        /// This process holds it now.
        case claimed
        /// A live process (or one on another host, claimed less than a day ago) holds it.
        case heldBy(ProcessIdentity)
    }

    /// Claims the trial with identity `identity` for `process`, in one transaction: two
    /// comparisons of one plan never run a trial twice. A claim whose process is gone (or, on
    /// another host, older than a day) is taken over.
    public func claimTrial(_ identity: String, by process: ProcessIdentity = .current(), now: Date = Date()) throws -> TrialClaim {
        try write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT hostname, pid, process_start_ticks, boot_id, claimed_at FROM trial_claim WHERE identity = ?",
                                          arguments: [identity]) {
                let holder = ProcessIdentity(hostname: row["hostname"], pid: row["pid"], startTicks: row["process_start_ticks"], bootID: row["boot_id"])
                let claimedAt: Double = row["claimed_at"]
                let alive = holder.isAlive() ?? (now.timeIntervalSince1970 - claimedAt < 86_400)
                if holder == process { return .claimed }
                if alive { return .heldBy(holder) }
            }
            try db.execute(sql: """
                INSERT OR REPLACE INTO trial_claim (identity, hostname, pid, process_start_ticks, boot_id, claimed_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [identity, process.hostname, process.pid, process.startTicks, process.bootID, now.timeIntervalSince1970])
            return .claimed
        }
    }

    /// Gives up `process`'s claim on a trial (a claim of another process is left alone).
    public func releaseTrial(_ identity: String, by process: ProcessIdentity = .current()) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM trial_claim WHERE identity = ? AND hostname = ? AND pid = ?",
                           arguments: [identity, process.hostname, process.pid])
        }
    }

    /// Marks a run `interrupted` (e.g. on SIGINT), optionally with a reason.
    public func markInterrupted(id: String, reason: String? = nil, summary: RunSummary? = nil, now: Date = Date()) throws {
        try setStatus(id: id, .interrupted, error: reason, failedStep: nil, summary: summary, now: now)
    }

    private func setStatus(id: String, _ status: RunStatus, error: String?, failedStep: Int?,
                           summary: RunSummary?, now: Date) throws {
        try write { db in
            try Self.requireRun(db, id)
            try db.execute(sql: "UPDATE run SET status = ?, error = ?, failed_step = ? WHERE id = ?",
                           arguments: [status.rawValue, error, failedStep, id])
            if let summary { try Self.updateSummary(db, id, summary, now) }
            try Self.touch(db, id, now)
        }
    }

    /// Prepares a run to continue from a checkpoint taken after step `checkpointStep`: in one
    /// transaction, deletes loss points, evaluations and diagnostics of later steps (the resumed
    /// process will produce them again), restores the checkpoint's summary, clears any error, and
    /// marks the run `running` under `process`.
    ///
    /// - Throws: ``ResultsStoreError/runStillActive(id:hostname:pid:)`` if the run's process is
    ///   still alive, ``ResultsStoreError/runAlreadyFinished(id:)`` for a finished run.
    @discardableResult
    public func resumeRun(id: String, checkpointStep: Int, summary: RunSummary,
                          process: ProcessIdentity = .current(), now: Date = Date()) throws -> RunRecord {
        try write { db in
            guard let run = try RunRecord.fetchOne(db, key: id) else { throw ResultsStoreError.runNotFound(id: id) }
            if run.status == .finished { throw ResultsStoreError.runAlreadyFinished(id: id) }
            if run.effectiveStatus == .running, run.process != process {
                throw ResultsStoreError.runStillActive(id: id, hostname: run.hostname ?? "?", pid: run.pid ?? 0)
            }
            for table in ["loss_point", "evaluation", "diagnostic", "run_log"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE run_id = ? AND step > ?", arguments: [id, checkpointStep])
            }
            try db.execute(sql: """
                UPDATE run SET status = 'running', error = NULL, failed_step = NULL,
                    hostname = ?, pid = ?, process_start_ticks = ?, boot_id = ? WHERE id = ?
                """, arguments: [process.hostname, process.pid, process.startTicks, process.bootID, id])
            try Self.updateSummary(db, id, summary, now)
            try Self.touch(db, id, now)
            return try RunRecord.fetchOne(db, key: id)!
        }
    }

    /// Stores `interrupted` for every `running` run whose process is gone; returns their ids.
    @discardableResult
    public func reconcileInterruptedRuns(now: Date = Date()) throws -> [String] {
        try write { db in
            let stale = try RunRecord.filter(sql: "status = 'running'").fetchAll(db)
                .filter { $0.effectiveStatus == .interrupted }
            for run in stale {
                try db.execute(sql: "UPDATE run SET status = 'interrupted', error = coalesce(error, ?) WHERE id = ?",
                               arguments: ["process \(run.pid ?? 0) on \(run.hostname ?? "?") ended without finishing", run.id])
                try Self.touch(db, run.id, now)
            }
            return stale.map(\.id)
        }
    }

    private static func requireRun(_ db: Database, _ id: String) throws {
        guard try RunRecord.exists(db, key: id) else { throw ResultsStoreError.runNotFound(id: id) }
    }

    private static func updateSummary(_ db: Database, _ id: String, _ s: RunSummary, _ now: Date) throws {
        func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }
        try db.execute(sql: """
            UPDATE run SET rst_s = ?, wall_s = ?, steps = ?, tokens = ?, final_train_loss = ?, val_loss = ? WHERE id = ?
            """, arguments: [s.rstSeconds, s.wallSeconds, s.steps, s.tokens, finite(s.finalTrainLoss), finite(s.valLoss), id])
    }

    private static func touch(_ db: Database, _ id: String, _ now: Date) throws {
        try db.execute(sql: "UPDATE run SET updated_at = ? WHERE id = ?", arguments: [now, id])
    }

    // MARK: - Queries

    /// Runs, newest first, with ``RunRecord/effectiveStatus`` used for the status filter.
    public func runs(matching filter: RunFilter = RunFilter()) throws -> [RunRecord] {
        let all = try read { db -> [RunRecord] in
            var request = RunRecord.order(Column("created_at").desc, Column("id"))
            if let method = filter.method { request = request.filter(Column("method") == method) }
            if let model = filter.model { request = request.filter(Column("model") == model) }
            if let corpus = filter.corpus { request = request.filter(Column("corpus") == corpus) }
            return try request.fetchAll(db)
        }
        var result = all
        if let status = filter.status { result = result.filter { $0.effectiveStatus == status } }
        if let limit = filter.limit { result = Array(result.prefix(max(0, limit))) }
        return result
    }

    /// The run with id `idOrPrefix`, or the only run whose id starts with it (like git's short hashes).
    /// - Throws: ``ResultsStoreError/runNotFound(id:)`` or ``ResultsStoreError/ambiguousRunID(prefix:matches:)``.
    public func run(id idOrPrefix: String) throws -> RunRecord {
        try read { db in try Self.resolve(db, idOrPrefix) }
    }

    private static func resolve(_ db: Database, _ idOrPrefix: String) throws -> RunRecord {
        if let exact = try RunRecord.fetchOne(db, key: idOrPrefix) { return exact }
        let text = idOrPrefix.lowercased()
        guard !text.isEmpty, text.allSatisfy({ $0.isHexDigit }) else { throw ResultsStoreError.runNotFound(id: idOrPrefix) }
        let matches = try RunRecord.filter(sql: "substr(id, 1, ?) = ?", arguments: [text.count, text]).fetchAll(db)
        switch matches.count {
        case 0: throw ResultsStoreError.runNotFound(id: idOrPrefix)
        case 1: return matches[0]
        default: throw ResultsStoreError.ambiguousRunID(prefix: idOrPrefix, matches: matches.map(\.id).sorted())
        }
    }

    /// The loss curve of a run, by step.
    public func lossCurve(runID: String) throws -> [LossPoint] {
        try read { db in try Self.lossCurve(db, runID) }
    }

    /// The evaluations of a run, in the order they were made.
    public func evaluations(runID: String) throws -> [Evaluation] {
        try read { db in try Self.evaluations(db, runID) }
    }

    /// The diagnostics of a run (optionally one key), by step.
    public func diagnostics(runID: String, key: String? = nil) throws -> [Diagnostic] {
        try read { db in try Self.diagnostics(db, runID, key: key) }
    }

    /// The lines plugins logged during a run, in order.
    public func log(runID: String) throws -> [RunLogLine] {
        try read { db in try Self.log(db, runID) }
    }

    /// Everything about one run (id or unique prefix), read in one transaction so the parts agree.
    public func details(runID idOrPrefix: String) throws -> RunDetails {
        try read { db in
            let run = try Self.resolve(db, idOrPrefix)
            return RunDetails(run: run, lossCurve: try Self.lossCurve(db, run.id),
                              evaluations: try Self.evaluations(db, run.id),
                              diagnostics: try Self.diagnostics(db, run.id, key: nil), log: try Self.log(db, run.id))
        }
    }

    private static func log(_ db: Database, _ runID: String) throws -> [RunLogLine] {
        try Row.fetchAll(db, sql: "SELECT step, rst_s, level, source, message FROM run_log WHERE run_id = ? ORDER BY id",
                         arguments: [runID]).map {
            RunLogLine(step: $0["step"], rstSeconds: $0["rst_s"], level: $0["level"], source: $0["source"], message: $0["message"])
        }
    }

    private static func lossCurve(_ db: Database, _ runID: String) throws -> [LossPoint] {
        try Row.fetchAll(db, sql: """
            SELECT step, rst_s, wall_s, tokens, train_loss, lr FROM loss_point WHERE run_id = ? ORDER BY step
            """, arguments: [runID]).map {
            LossPoint(step: $0["step"], rstSeconds: $0["rst_s"], wallSeconds: $0["wall_s"], tokens: $0["tokens"],
                      trainLoss: $0["train_loss"], learningRate: $0["lr"])
        }
    }

    private static func evaluations(_ db: Database, _ runID: String) throws -> [Evaluation] {
        try Row.fetchAll(db, sql: """
            SELECT step, rst_s, name, value FROM evaluation WHERE run_id = ? ORDER BY step, id
            """, arguments: [runID]).map {
            Evaluation(step: $0["step"], rstSeconds: $0["rst_s"], name: $0["name"], value: $0["value"] ?? .nan)
        }
    }

    private static func diagnostics(_ db: Database, _ runID: String, key: String?) throws -> [Diagnostic] {
        var sql = "SELECT step, rst_s, key, value FROM diagnostic WHERE run_id = ?"
        var arguments: StatementArguments = [runID]
        if let key { sql += " AND key = ?"; arguments += [key] }
        sql += " ORDER BY step, id"
        return try Row.fetchAll(db, sql: sql, arguments: arguments).map {
            Diagnostic(step: $0["step"], rstSeconds: $0["rst_s"], key: $0["key"], value: $0["value"] ?? .nan)
        }
    }
}

/// Why the results store could not be opened or written. Messages name the file and what to do.
public enum ResultsStoreError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The file is not an SQLite database. It was left untouched.
    case notADatabase(path: String)
    /// The file is an SQLite database but damaged. It was left untouched.
    case corrupt(path: String, detail: String)
    /// An SQLite database of another application. It was left untouched.
    case foreignDatabase(path: String)
    /// A results store written by a newer ntng. It was left untouched.
    case newerSchema(path: String)
    /// The file or its directory cannot be created, opened or written.
    case cannotOpen(path: String, detail: String)
    case runNotFound(id: String)
    case ambiguousRunID(prefix: String, matches: [String])
    case runStillActive(id: String, hostname: String, pid: Int)
    case runAlreadyFinished(id: String)
    /// A write was rejected (e.g. a duplicate loss point); nothing of that write was stored.
    case rejectedWrite(path: String, detail: String)
    /// A command that only reads runs found no database (nothing was created).
    case missing(path: String)

    static let advice = "move it aside or choose another results file (--results PATH or NTNG_HOME)"

    public var description: String {
        switch self {
        case .notADatabase(let path):
            return "results file \(path) is not an SQLite database; it was left untouched — \(Self.advice)"
        case .corrupt(let path, let detail):
            return "results database \(path) is damaged (\(detail)); it was left untouched — \(Self.advice)"
        case .foreignDatabase(let path):
            return "\(path) is an SQLite database of another application, not an ntng results store; "
                + "it was left untouched — \(Self.advice)"
        case .newerSchema(let path):
            return "results database \(path) was written by a newer ntng; it was left untouched — "
                + "upgrade ntng or choose another results file"
        case .cannotOpen(let path, let detail):
            return "cannot open results database \(path): \(detail); check permissions or choose another "
                + "results file (--results PATH or NTNG_HOME)"
        case .missing(let path):
            return "no results database at \(path) (nothing was created); check the path, or run something first with --results \(path)"
        case .runNotFound(let id):
            return "no run with id \"\(id)\" (see `ntng runs list`)"
        case .ambiguousRunID(let prefix, let matches):
            return "run id prefix \"\(prefix)\" matches several runs: \(matches.joined(separator: ", "))"
        case .runStillActive(let id, let hostname, let pid):
            return "run \(id) is still running (pid \(pid) on \(hostname)); stop it before resuming"
        case .runAlreadyFinished(let id):
            return "run \(id) has already finished; nothing to resume"
        case .rejectedWrite(let path, let detail):
            return "results database \(path) rejected a write (\(detail)); nothing of that write was stored"
        }
    }

    public var errorDescription: String? { description }

    static func from(_ error: DatabaseError, path: String, opening: Bool) -> ResultsStoreError {
        let detail = error.message ?? "\(error)"
        switch error.resultCode {
        case .SQLITE_NOTADB: return .notADatabase(path: path)
        case .SQLITE_CORRUPT: return .corrupt(path: path, detail: detail)
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_AUTH:
            return .cannotOpen(path: path, detail: detail)
        default:
            return opening ? .cannotOpen(path: path, detail: detail) : .rejectedWrite(path: path, detail: detail)
        }
    }
}
