import Foundation
import GRDB

/// Copying an ended run from another store into this one: how a Slurm task's result (written to
/// the trial's own small store on a shared filesystem) reaches the comparison's store without two
/// machines ever writing one SQLite file.
extension ResultsStore {
    /// What ``importRun(_:from:)`` did.
    public enum ImportResult: Sendable, Equatable {
        /// The run is now in this store, under this record (its id kept unless taken here).
        case imported(RunRecord)
        /// It was imported before; nothing was written. The record is the earlier copy.
        case alreadyImported(RunRecord)

        public var record: RunRecord {
            switch self {
            case .imported(let r), .alreadyImported(let r): return r
            }
        }
    }

    /// Where a run was made: its id, host, process and creation time. Two stores' runs with equal
    /// origins are copies of one run (the same trial store collected twice, or copied around).
    public static func origin(of run: RunRecord) -> String {
        "\(run.id)@\(run.hostname ?? "?"):\(run.pid ?? 0):\(run.processStartTicks ?? 0):\(run.createdAt.timeIntervalSince1970)"
    }

    /// Copies run `id` of `source` — record, loss curve, evaluations, diagnostics, log and its
    /// checkpoint folder — into this store in **one transaction**, unless a run of the same
    /// ``origin(of:)`` was imported before. Only an ended run (finished or failed) is imported: a
    /// running or interrupted one may still change.
    ///
    /// The checkpoint is copied to a staging folder first and moved into place inside the
    /// transaction, so a failure at any point leaves neither a record without its files nor files
    /// without a record.
    /// - Throws: ``ResultsStoreError`` (this store or the source), ``RunImportError``, file errors.
    @discardableResult
    public func importRun(_ id: String, from source: ResultsStore) throws -> ImportResult {
        let details = try source.details(runID: id)
        var run = details.run
        guard run.status == .finished || run.status == .failed else {
            throw RunImportError.notEnded(id: run.id, status: run.status, path: source.url.path)
        }
        let origin = Self.origin(of: run)
        if let earlier = try importedRun(origin: origin) { return .alreadyImported(earlier) }

        // Keep the id people saw in the task's log unless this store already uses it.
        let newID = try read { db -> String in
            var candidate = run.id
            while try RunRecord.exists(db, key: candidate) { candidate = Self.newRunID() }
            return candidate
        }
        let files = FileManager.default
        let sourceFolder = source.checkpointURL(runID: run.id).deletingLastPathComponent()
        let finalFolder = checkpointURL(runID: newID).deletingLastPathComponent()
        var staging: URL?
        if files.fileExists(atPath: sourceFolder.path) {
            let stage = finalFolder.deletingLastPathComponent()
                .appendingPathComponent(".importing-\(newID)-\(getpid())")
            try? files.removeItem(at: stage)
            try files.createDirectory(at: stage.deletingLastPathComponent(), withIntermediateDirectories: true)
            try files.copyItem(at: sourceFolder, to: stage)
            staging = stage
        }
        defer { if let staging { try? files.removeItem(at: staging) } }

        run.id = newID
        return try write { db in
            if let earlier = try Self.importedRun(db, origin: origin) { return .alreadyImported(earlier) }
            guard try !RunRecord.exists(db, key: newID) else { throw RunImportError.idTaken(id: newID) }
            try run.insert(db)
            try Self.insertProgress(db, newID, lossPoints: details.lossCurve, evaluations: details.evaluations,
                                    diagnostics: details.diagnostics, log: details.log)
            try db.execute(sql: "INSERT INTO imported_run (origin, run_id, imported_at) VALUES (?, ?, ?)",
                           arguments: [origin, newID, Date().timeIntervalSince1970])
            // Last, so that a failed move rolls the rows back.
            if let staging {
                if files.fileExists(atPath: finalFolder.path) { try files.removeItem(at: finalFolder) }
                try files.moveItem(at: staging, to: finalFolder)
            }
            return .imported(run)
        }
    }

    /// The run imported from `origin`, if any.
    public func importedRun(origin: String) throws -> RunRecord? {
        try read { db in try Self.importedRun(db, origin: origin) }
    }

    private static func importedRun(_ db: Database, origin: String) throws -> RunRecord? {
        guard let id = try String.fetchOne(db, sql: "SELECT run_id FROM imported_run WHERE origin = ?", arguments: [origin]) else { return nil }
        return try RunRecord.fetchOne(db, key: id)
    }
}

/// Why a run could not be imported.
public enum RunImportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The run has not ended (it is running, or interrupted and resumable).
    case notEnded(id: String, status: RunStatus, path: String)
    /// Another process took the chosen id meanwhile; importing again picks another.
    case idTaken(id: String)

    public var description: String {
        switch self {
        case .notEnded(let id, let status, let path):
            return "run \(id) in \(path) is \(status.rawValue), not finished or failed; only ended runs are imported"
        case .idTaken(let id):
            return "run id \(id) was taken while importing; import again"
        }
    }
}
