import Foundation
import Testing
import TestSupport
@testable import Clock
@testable import Records

/// Importing a trial store's run into the comparison's store (the Slurm executor's collection).
@Suite struct RunImportTests {
    func newRun(seed: Int = 0) throws -> NewRun {
        NewRun(method: "baseline", model: "tiny", corpus: "books", seed: seed, budget: try .parse("10m"),
               configJSON: #"{"lr":0.001}"#, profileJSON: "{}", codeVersion: "abc123", pluginsJSON: "[]")
    }

    /// A finished run with a loss curve, evaluations, a diagnostic, a log line and a checkpoint,
    /// in a store of its own with a rollback journal (as a Slurm task writes it).
    func trialStore(_ dir: URL, name: String = "trial") throws -> (ResultsStore, RunRecord) {
        let store = try ResultsStore(url: dir.appendingPathComponent("\(name)/results.sqlite"), journal: .rollback)
        let run = try store.createRun(try newRun())
        try store.record(runID: run.id,
                         lossPoints: [LossPoint(step: 1, rstSeconds: 0.5, wallSeconds: 0.7, tokens: 64, trainLoss: 5.25, learningRate: 1e-4),
                                      LossPoint(step: 2, rstSeconds: 1.0, wallSeconds: 1.3, tokens: 128, trainLoss: .nan, learningRate: 2e-4)],
                         evaluations: [Evaluation(step: 2, rstSeconds: 1, name: "val_loss", value: 4.875)],
                         diagnostics: [Diagnostic(step: 1, rstSeconds: 0.5, key: "active_layers", value: 2)],
                         log: [RunLogLine(step: 1, rstSeconds: 0.5, level: "info", source: "probe", message: "hello")])
        let checkpoint = store.checkpointURL(runID: run.id)
        try FileManager.default.createDirectory(at: checkpoint.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("weights".utf8).write(to: checkpoint)
        try store.finishRun(id: run.id, summary: RunSummary(rstSeconds: 1, wallSeconds: 1.3, steps: 2, tokens: 128, finalTrainLoss: 5.25, valLoss: 4.875))
        return (store, try store.run(id: run.id))
    }

    @Test func rollbackJournalIsNotWAL() throws {
        let dir = try makeTemporaryDirectory()
        let (store, _) = try trialStore(dir)
        _ = try store.runs()
        // WAL would leave its shared-memory index beside the file; a rollback journal does not.
        #expect(!FileManager.default.fileExists(atPath: store.url.path + "-shm"))
        let header = try FileHandle(forReadingFrom: store.url).read(upToCount: 20) ?? Data()
        #expect(header.count == 20 && header[18] == 1 && header[19] == 1)  // 1 = rollback; WAL writes 2
    }

    @Test func importCopiesEverythingOnceWithItsCheckpoint() throws {
        let dir = try makeTemporaryDirectory()
        let (source, run) = try trialStore(dir)
        let main = try ResultsStore(url: dir.appendingPathComponent("main/results.sqlite"))

        let first = try main.importRun(run.id, from: source)
        guard case .imported(let copy) = first else { Issue.record("not imported: \(first)"); return }
        #expect(copy.id == run.id)
        let a = try source.details(runID: run.id), b = try main.details(runID: copy.id)
        #expect(b.run == a.run)
        #expect(b.lossCurve.map(\.step) == a.lossCurve.map(\.step) && b.lossCurve[0] == a.lossCurve[0])
        #expect(b.lossCurve[1].trainLoss == nil || b.lossCurve[1].trainLoss!.isNaN)
        #expect(b.evaluations == a.evaluations && b.diagnostics == a.diagnostics && b.log == a.log)
        #expect(try Data(contentsOf: main.checkpointURL(runID: copy.id)) == Data("weights".utf8))

        // Collecting again, even from a copy of the trial folder, imports nothing.
        #expect(try main.importRun(run.id, from: source) == .alreadyImported(copy))
        let copied = dir.appendingPathComponent("copied")
        try FileManager.default.copyItem(at: source.url.deletingLastPathComponent(), to: copied)
        let again = try ResultsStore(url: copied.appendingPathComponent("results.sqlite"), journal: .rollback)
        #expect(try main.importRun(run.id, from: again) == .alreadyImported(copy))
        #expect(try main.runs().count == 1)
        let staging = try FileManager.default.contentsOfDirectory(atPath: main.url.deletingLastPathComponent().appendingPathComponent("checkpoints").path)
        #expect(staging == [copy.id])
    }

    @Test func aTakenIDGetsANewOneAndTheCheckpointFollows() throws {
        let dir = try makeTemporaryDirectory()
        let (source, run) = try trialStore(dir)
        let main = try ResultsStore(url: dir.appendingPathComponent("main/results.sqlite"))
        // Another run already uses the id.
        var other = run
        other.method = "lion"
        try main.write { db in try other.insert(db) }
        let copy = try main.importRun(run.id, from: source).record
        #expect(copy.id != run.id && copy.method == "baseline")
        #expect(try main.lossCurve(runID: copy.id).count == 2)
        #expect(try Data(contentsOf: main.checkpointURL(runID: copy.id)) == Data("weights".utf8))
        #expect(!FileManager.default.fileExists(atPath: main.checkpointURL(runID: run.id).path))
    }

    @Test func runsThatHaveNotEndedAreRefused() throws {
        let dir = try makeTemporaryDirectory()
        let source = try ResultsStore(url: dir.appendingPathComponent("t/results.sqlite"), journal: .rollback)
        let main = try ResultsStore(url: dir.appendingPathComponent("main/results.sqlite"))
        let running = try source.createRun(try newRun())
        #expect(throws: RunImportError.notEnded(id: running.id, status: .running, path: source.url.path)) {
            try main.importRun(running.id, from: source)
        }
        try source.markInterrupted(id: running.id, reason: "Slurm task 3_0 ended CANCELLED")
        #expect(throws: RunImportError.self) { try main.importRun(running.id, from: source) }
        #expect(try main.runs().isEmpty)
        // A failed run is on record like a local failure.
        try source.failRun(id: running.id, error: "loss not finite at step 7", failedStep: 7)
        #expect(try main.importRun(running.id, from: source).record.error == "loss not finite at step 7")
    }
}
