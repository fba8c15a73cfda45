import Corpus
import Foundation
import Models
import Testing
import TestSupport
import TrainingFixtures
import Workloads
@testable import Clock
@testable import Host
@testable import Records
import Storage

/// A checkpoint is bound to its run, settings and data and carries a content hash: resume
/// refuses a foreign, edited or damaged file, and a killed write leaves no temporary file behind.
@Suite(.serialized) struct CheckpointTests {
    static let binding = Checkpoint.Binding(runID: "run-a", settingsSHA256: "s", dataFingerprint: "d")

    /// A small sound checkpoint at `url`.
    static func write(to url: URL, binding: Checkpoint.Binding = binding) throws {
        let config = try ModelConfig.preset("tiny")
        let model = try MaskedLMWorkload(config: config, seed: 1)
        let checkpoint = Checkpoint(step: 3, dataPosition: 6, clock: RSTClock(budget: try .parse("1m"), profile: StandaloneHost.syntheticProfile(config)),
                                    modelConfig: config, lastTrainLoss: 7.5, nextCheckpointFraction: 0.5, nextEvaluationFraction: 1)
        try Checkpoint.save(checkpoint, workload: model, optimizer: AdamW(parameterCount: model.parameters.count), binding: binding, to: url)
    }

    func expectRefusal(_ url: URL, _ fragment: String, expecting binding: Checkpoint.Binding = binding,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Checkpoint.load(from: url, adamW: AdamW.Settings(), expecting: binding)
            Issue.record("the checkpoint was accepted", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains(fragment) && "\(error)".contains(url.path), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func aSoundCheckpointOfTheRunLoads() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("latest.safetensors")
        try Self.write(to: url)
        let (checkpoint, workload, _) = try Checkpoint.load(from: url, adamW: AdamW.Settings(), expecting: Self.binding)
        #expect(checkpoint.step == 3 && checkpoint.dataPosition == 6 && workload.kind == "masked-lm")
    }

    @Test func aFlippedBitIsFound() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("latest.safetensors")
        try Self.write(to: url)
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count - 100] ^= 0x10  // inside the last tensor's data
        try bytes.write(to: url)
        expectRefusal(url, "content hash")
    }

    @Test func editedMetadataIsFound() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("latest.safetensors")
        try Self.write(to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        var metadata = file.metadata
        metadata["data_position"] = "0"  // rewind the data stream, keep everything else
        let entries = try file.names.map { name in
            SafeTensorsFile.Entry(name: name, dtype: file[name]!.dtype, shape: file[name]!.shape, bytes: try file.bytes(of: name))
        }
        try SafeTensorsFile.write(entries, metadata: metadata, to: url)
        expectRefusal(url, "content hash")
    }

    @Test func anotherRunsCheckpointIsRefused() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("latest.safetensors")
        try Self.write(to: url, binding: Checkpoint.Binding(runID: "run-b", settingsSHA256: "s", dataFingerprint: "d"))
        expectRefusal(url, "belongs to another run (run-b, the run's is run-a)")
        try Self.write(to: url, binding: Checkpoint.Binding(runID: "run-a", settingsSHA256: "other", dataFingerprint: "d"))
        expectRefusal(url, "belongs to another settings")
        try Self.write(to: url, binding: Checkpoint.Binding(runID: "run-a", settingsSHA256: "s", dataFingerprint: "other"))
        expectRefusal(url, "belongs to another data")
    }

    /// A writer killed mid-write leaves `.latest.safetensors.tmp-<pid>-…`; the next save removes
    /// those of dead processes and keeps a live writer's.
    @Test func temporaryFilesOfKilledWritersAreRemoved() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("latest.safetensors")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = dir.appendingPathComponent(".latest.safetensors.tmp-\(child.processIdentifier)-1")
        let live = dir.appendingPathComponent(".latest.safetensors.tmp-1-2")  // pid 1 is alive
        for f in [dead, live] { try Data([1, 2, 3]).write(to: f) }
        try Self.write(to: url)
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: live.path))
    }

    /// Resume trains on the data the run recorded, wherever `--data-dir` points, and refuses
    /// data whose content changed.
    @Test func resumeUsesTheRecordedDataAndRefusesOtherData() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let interrupted = try f.start(try f.settings())
        var steps = 0
        guard case .interrupted = try interrupted.train(shouldStop: { steps >= 5 }, progress: { _ in steps += 1 }) else {
            Issue.record("expected an interruption"); return
        }
        let recorded = try #require(interrupted.settings.data)
        #expect(recorded.fingerprint == (try PreparedCorpus(directory: URL(fileURLWithPath: recorded.directory)).fingerprint))
        // Another (empty) data location: the recorded folder is used all the same.
        let elsewhere = DataLocation(explicitDirectory: f.directory.appendingPathComponent("elsewhere").path)
        let resumed = try Trainer.resume(runID: interrupted.runID, data: elsewhere, store: f.store)
        #expect(resumed.clock.steps == 5)
        _ = try resumed.train(shouldStop: { true })  // interrupt again at once

        // Edit one token in range: the corpus no longer opens, so nothing resumes on it.
        let tokens = URL(fileURLWithPath: recorded.directory).appendingPathComponent("train.tokens")
        var bytes = try Data(contentsOf: tokens)
        bytes[10] = bytes[10] == 5 ? 6 : 5
        try bytes.write(to: tokens)
        do {
            _ = try Trainer.resume(runID: interrupted.runID, data: f.data, store: f.store)
            Issue.record("resumed on edited data")
        } catch {
            #expect("\(error)".contains(recorded.fingerprint), "\(error)")
        }
    }
}
