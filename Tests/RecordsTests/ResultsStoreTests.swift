import Foundation
import GRDB
import Testing
import TestSupport
import Storage
@testable import Clock
@testable import Records

@Suite struct ResultsStoreTests {
    func newRun(method: String = "baseline", seed: Int = 0) throws -> NewRun {
        NewRun(method: method, model: "small", corpus: "books", seed: seed, budget: try .parse("10m"),
               configJSON: #"{"lr":0.001}"#, profileJSON: String(decoding: try sampleProfile().jsonData(), as: UTF8.self),
               codeVersion: "abc123", pluginsJSON: "[]")
    }

    @Test func defaultPathFollowsNTNGHome() {
        #expect(NTNGHome.resultsDatabase(environment: ["NTNG_HOME": "/data/ntng", "HOME": "/home/u"]).path
                == "/data/ntng/results.sqlite")
        #expect(NTNGHome.resultsDatabase(environment: ["HOME": "/home/u"]).path == "/home/u/.ntng/results.sqlite")
        #expect(NTNGHome.directory(environment: ["NTNG_HOME": "", "HOME": "/home/u"]).path == "/home/u/.ntng")
    }

    /// Several openers of one new store at once (two `ntng run`s given the same new --results)
    /// all get it: creating the file and switching it to WAL is serialised (it failed with
    /// "disk I/O error" before).
    @Test func openersOfOneNewStoreAtOnceAllGetIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-store-race-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        final class Errors: @unchecked Sendable {
            let lock = NSLock()
            var list: [String] = []
            func add(_ e: String) { lock.withLock { list.append(e) } }
        }
        let errors = Errors()
        for round in 0..<8 {
            let url = directory.appendingPathComponent("results-\(round).sqlite")
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do { _ = try ResultsStore(url: url).runs() } catch { errors.add("\(error)") }
            }
        }
        #expect(errors.list.isEmpty, "\(errors.list)")
    }

    @Test func roundTrip() throws {
        let dir = try makeTemporaryDirectory()
        let store = try ResultsStore(url: dir.appendingPathComponent("nested/results.sqlite"))
        let created = try store.createRun(try newRun())
        #expect(created.id.count == 8 && created.id.allSatisfy(\.isHexDigit))
        #expect(created.status == .running)
        #expect(created.effectiveStatus == .running)  // this process is alive

        try store.record(
            runID: created.id,
            lossPoints: [
                LossPoint(step: 1, rstSeconds: 12, wallSeconds: 11.5, tokens: 256, trainLoss: 10.5, learningRate: 1e-5),
                LossPoint(step: 2, rstSeconds: 24, wallSeconds: 23.0, tokens: 512, trainLoss: .nan, learningRate: 2e-5),
            ],
            evaluations: [Evaluation(step: 2, rstSeconds: 24, name: "val_loss", value: 9.75)],
            diagnostics: [Diagnostic(step: 1, rstSeconds: 12, key: "active_layers", value: 4),
                          Diagnostic(step: 2, rstSeconds: 24, key: "active_layers", value: 8),
                          Diagnostic(step: 2, rstSeconds: 24, key: "selection_rate", value: 0.5)],
            log: [RunLogLine(step: 0, rstSeconds: 0, level: "info", source: "rho", message: "proxy training is not charged"),
                  RunLogLine(step: 2, rstSeconds: 24, level: "warning", source: "rho", message: "ünïcode ✓")],
            summary: RunSummary(rstSeconds: 24, wallSeconds: 23, steps: 2, tokens: 512, finalTrainLoss: 10.25))
        try store.finishRun(id: created.id, summary: RunSummary(rstSeconds: 24, wallSeconds: 23.5, steps: 2, tokens: 512,
                                                                finalTrainLoss: 10.25, valLoss: 9.75))

        // Reopen to prove it is on disk.
        let reopened = try ResultsStore(url: store.url)
        let details = try reopened.details(runID: String(created.id.prefix(4)))
        #expect(details.run.id == created.id)
        #expect(details.run.status == .finished)
        #expect(details.run.method == "baseline" && details.run.model == "small" && details.run.corpus == "books")
        #expect(details.run.budget == (try Budget.parse("10m")))
        #expect(details.run.configJSON == #"{"lr":0.001}"#)
        #expect(details.run.codeVersion == "abc123")
        #expect(details.run.summary == RunSummary(rstSeconds: 24, wallSeconds: 23.5, steps: 2, tokens: 512,
                                                  finalTrainLoss: 10.25, valLoss: 9.75))
        #expect(try ReferenceProfile.fromJSON(Data(details.run.profileJSON!.utf8)) == sampleProfile())
        #expect(details.lossCurve.map(\.step) == [1, 2])
        #expect(details.lossCurve[0].trainLoss == 10.5)
        #expect(details.lossCurve[1].trainLoss == nil)  // NaN is stored as NULL
        #expect(details.evaluations == [Evaluation(step: 2, rstSeconds: 24, name: "val_loss", value: 9.75)])
        #expect(details.diagnostics.count == 3)
        #expect(try reopened.diagnostics(runID: created.id, key: "active_layers").map(\.value) == [4, 8])
        #expect(details.log.map(\.message) == ["proxy training is not charged", "ünïcode ✓"])
        #expect(details.log[1] == RunLogLine(step: 2, rstSeconds: 24, level: "warning", source: "rho", message: "ünïcode ✓"))

        // The file is in WAL mode.
        let mode = try DatabaseQueue(path: store.url.path).read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    @Test func listingFiltersAndOrders() throws {
        let dir = try makeTemporaryDirectory()
        let store = try ResultsStore(url: dir.appendingPathComponent("results.sqlite"))
        let a = try store.createRun(try newRun(method: "baseline"), now: Date(timeIntervalSince1970: 1000))
        let b = try store.createRun(try newRun(method: "stacking"), now: Date(timeIntervalSince1970: 2000))
        let c = try store.createRun(try newRun(method: "baseline", seed: 1), now: Date(timeIntervalSince1970: 3000))
        try store.failRun(id: b.id, error: "loss is NaN at step 17", failedStep: 17)
        #expect(try store.runs().map(\.id) == [c.id, b.id, a.id])
        #expect(try store.runs(matching: RunFilter(method: "baseline")).map(\.id) == [c.id, a.id])
        #expect(try store.runs(matching: RunFilter(status: .failed)).map(\.id) == [b.id])
        #expect(try store.runs(matching: RunFilter(limit: 1)).map(\.id) == [c.id])
        let failed = try store.run(id: b.id)
        #expect(failed.error == "loss is NaN at step 17" && failed.failedStep == 17)
        #expect(throws: ResultsStoreError.runNotFound(id: "zzzz")) { try store.run(id: "zzzz") }
        #expect(throws: ResultsStoreError.self) { try store.run(id: "") }
    }

    @Test func failedBatchKeepsPriorData() throws {
        let dir = try makeTemporaryDirectory()
        let store = try ResultsStore(url: dir.appendingPathComponent("results.sqlite"))
        let run = try store.createRun(try newRun())
        let first = (1...3).map { LossPoint(step: $0, rstSeconds: Double($0), wallSeconds: 0, tokens: $0, trainLoss: 5, learningRate: 0) }
        let summary = RunSummary(rstSeconds: 3, wallSeconds: 0, steps: 3, tokens: 3, finalTrainLoss: 5)
        try store.record(runID: run.id, lossPoints: first, summary: summary)

        // Steps 4 and 5 are fine, but step 2 is already stored: the whole batch must be rejected.
        let bad = [4, 5, 2].map { LossPoint(step: $0, rstSeconds: Double($0), wallSeconds: 0, tokens: $0, trainLoss: 1, learningRate: 0) }
        #expect(throws: ResultsStoreError.self) {
            try store.record(runID: run.id, lossPoints: bad,
                             diagnostics: [Diagnostic(step: 4, rstSeconds: 4, key: "k", value: 1)],
                             summary: RunSummary(rstSeconds: 5, wallSeconds: 0, steps: 5, tokens: 5, finalTrainLoss: 1))
        }
        #expect(try store.lossCurve(runID: run.id) == first)
        #expect(try store.diagnostics(runID: run.id).isEmpty)
        #expect(try store.run(id: run.id).summary == summary)

        // Writing to an unknown run changes nothing either.
        #expect(throws: ResultsStoreError.runNotFound(id: "ffffffff")) {
            try store.record(runID: "ffffffff", lossPoints: [first[0]])
        }
    }

    @Test func nonDatabaseFileIsReportedAndLeftUntouched() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("results.sqlite")
        let original = Data("these are my notes, not a database\n".utf8) + Data((0..<5000).map { UInt8($0 % 251) })
        try original.write(to: url)
        do {
            _ = try ResultsStore(url: url)
            Issue.record("a text file was opened as a results store")
        } catch let error as ResultsStoreError {
            #expect(error == .notADatabase(path: url.path))
            #expect(error.description.contains(url.path))
            #expect(error.description.contains("left untouched"))
        }
        #expect(try Data(contentsOf: url) == original)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["results.sqlite"])
    }

    @Test func damagedDatabaseIsReportedAndLeftUntouched() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("results.sqlite")
        do {
            let store = try ResultsStore(url: url)
            let run = try store.createRun(try newRun())
            let points = (1...2000).map { LossPoint(step: $0, rstSeconds: Double($0), wallSeconds: 0, tokens: $0, trainLoss: 5, learningRate: 0) }
            try store.record(runID: run.id, lossPoints: points)
        }
        // Fold the WAL into the main file and leave rollback-journal mode so only one file matters.
        try DatabaseQueue(path: url.path).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE")
        }
        var bytes = [UInt8](try Data(contentsOf: url))
        let pageSize = Int(bytes[16]) << 8 | Int(bytes[17])
        #expect(bytes.count > 4 * pageSize)
        // Scribble over every page after the first (the schema page stays readable).
        for i in pageSize..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
        let damaged = Data(bytes)
        try damaged.write(to: url)

        do {
            _ = try ResultsStore(url: url)
            Issue.record("a damaged database was opened")
        } catch let error as ResultsStoreError {
            switch error {
            case .corrupt(let path, _), .cannotOpen(let path, _): #expect(path == url.path)
            case .notADatabase(let path): #expect(path == url.path)
            default: Issue.record("unexpected error \(error)")
            }
        }
        #expect(try Data(contentsOf: url) == damaged)
    }

    @Test func foreignDatabaseIsLeftUntouched() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("other.sqlite")
        try DatabaseQueue(path: url.path).write { db in
            try db.execute(sql: "CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada')")
        }
        let before = try Data(contentsOf: url)
        #expect(throws: ResultsStoreError.foreignDatabase(path: url.path)) { _ = try ResultsStore(url: url) }
        #expect(try Data(contentsOf: url) == before)
    }

    @Test func unwritableLocationIsReported() throws {
        let url = URL(fileURLWithPath: "/proc/ntng-cannot-exist/results.sqlite")
        do {
            _ = try ResultsStore(url: url)
            Issue.record("opened a store under /proc")
        } catch let error as ResultsStoreError {
            guard case .cannotOpen(let path, _) = error else { Issue.record("\(error)"); return }
            #expect(path == url.path)
        }
    }

    @Test func killedRunIsReportedInterrupted() throws {
        let dir = try makeTemporaryDirectory()
        let store = try ResultsStore(url: dir.appendingPathComponent("results.sqlite"))

        // A process that has exited (and been reaped).
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let me = ProcessIdentity.current()
        let dead = ProcessIdentity(hostname: me.hostname, pid: Int(child.processIdentifier), startTicks: 1, bootID: me.bootID)
        // Our own pid, but a different start time: the pid was reused by another process.
        let reused = ProcessIdentity(hostname: me.hostname, pid: me.pid, startTicks: (me.startTicks ?? 0) + 1, bootID: me.bootID)
        // A run on another host cannot be checked and stays running.
        let remote = ProcessIdentity(hostname: "elsewhere.invalid", pid: 1, startTicks: 1, bootID: "x")

        let alive = try store.createRun(try newRun(), process: me)
        let killed = try store.createRun(try newRun(), process: dead)
        let recycled = try store.createRun(try newRun(), process: reused)
        let far = try store.createRun(try newRun(), process: remote)

        #expect(me.isAlive() == true)
        #expect(dead.isAlive() == false)
        #expect(reused.isAlive() == false)
        #expect(remote.isAlive() == nil)

        let listed = Dictionary(uniqueKeysWithValues: try store.runs().map { ($0.id, $0.effectiveStatus) })
        #expect(listed[alive.id] == .running)
        #expect(listed[killed.id] == .interrupted)
        #expect(listed[recycled.id] == .interrupted)
        #expect(listed[far.id] == .running)
        #expect(try store.runs(matching: RunFilter(status: .interrupted)).count == 2)

        let reconciled = try store.reconcileInterruptedRuns()
        #expect(Set(reconciled) == [killed.id, recycled.id])
        #expect(try store.run(id: killed.id).status == .interrupted)
        #expect(try store.run(id: alive.id).status == .running)
    }

    @Test func resumeTruncatesToTheCheckpoint() throws {
        let dir = try makeTemporaryDirectory()
        let store = try ResultsStore(url: dir.appendingPathComponent("results.sqlite"))
        let me = ProcessIdentity.current()
        let dead = ProcessIdentity(hostname: me.hostname, pid: Int(Int32.max), startTicks: 1, bootID: me.bootID)
        let run = try store.createRun(try newRun(), process: dead)
        try store.record(runID: run.id,
                         lossPoints: (1...5).map { LossPoint(step: $0, rstSeconds: Double($0), wallSeconds: 0, tokens: $0, trainLoss: 1, learningRate: 0) },
                         evaluations: [Evaluation(step: 2, rstSeconds: 2, name: "val_loss", value: 3),
                                       Evaluation(step: 4, rstSeconds: 4, name: "val_loss", value: 2)],
                         diagnostics: (1...5).map { Diagnostic(step: $0, rstSeconds: Double($0), key: "d", value: 0) },
                         log: (0...5).map { RunLogLine(step: $0, rstSeconds: Double($0), level: "info", source: "p", message: "line \($0)") })
        let checkpoint = RunSummary(rstSeconds: 3, wallSeconds: 3, steps: 3, tokens: 3, finalTrainLoss: 1)
        let resumed = try store.resumeRun(id: run.id, checkpointStep: 3, summary: checkpoint, process: me)
        #expect(resumed.status == .running && resumed.pid == me.pid)
        #expect(resumed.summary == checkpoint)
        #expect(try store.lossCurve(runID: run.id).map(\.step) == [1, 2, 3])
        #expect(try store.evaluations(runID: run.id).map(\.step) == [2])
        #expect(try store.diagnostics(runID: run.id).map(\.step) == [1, 2, 3])
        #expect(try store.log(runID: run.id).map(\.step) == [0, 1, 2, 3], "lines after the checkpoint are logged again on resume")

        // A live run cannot be resumed by another process; a finished one not at all.
        #expect(throws: ResultsStoreError.self) {
            try store.resumeRun(id: run.id, checkpointStep: 3, summary: checkpoint, process: dead)
        }
        try store.finishRun(id: run.id, summary: checkpoint)
        #expect(throws: ResultsStoreError.runAlreadyFinished(id: run.id)) {
            try store.resumeRun(id: run.id, checkpointStep: 3, summary: checkpoint, process: me)
        }
    }
}
