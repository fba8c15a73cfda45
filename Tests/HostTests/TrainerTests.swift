import Workloads
import Corpus
import Foundation
import Testing
import TestSupport
import TrainingFixtures
@testable import Models
import TensorCore
@testable import Host
import Storage
@testable import Clock
@testable import Records
@testable import PluginHost

/// End-to-end runs of the trainer on a small prepared corpus with the `tiny` model.
@Suite(.serialized) struct TrainerTests {
    typealias Fixture = TrainingFixture

    /// Losses of every recorded step.
    func losses(_ store: ResultsStore, _ id: String) throws -> [Double?] { try store.lossCurve(runID: id).map(\.trainLoss) }

    /// A run's checkpoint lives beside the store that records it, never in `$NTNG_HOME` (so tests
    /// with a temporary store leave the user's home alone).
    @Test func checkpointsLiveBesideTheResultsStore() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let trainer = try f.start(try f.settings(budget: "0.1s"))
        guard case .finished = try trainer.train() else { Issue.record("not finished"); return }
        let expected = f.directory.appendingPathComponent("checkpoints/\(trainer.runID)/latest.safetensors")
        #expect(f.store.checkpointURL(runID: trainer.runID) == expected)
        #expect(FileManager.default.fileExists(atPath: expected.path))
        #expect(!FileManager.default.fileExists(atPath: NTNGHome.directory().appendingPathComponent("checkpoints/\(trainer.runID)").path))
    }

    @Test func sameSeedAndBudgetGiveTheSameStepsAndLossesOnABusyMachine() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let first = try f.start(try f.settings())
        guard case .finished(let a) = try first.train() else { Issue.record("not finished"); return }

        // Keep another core busy during the second run: RST comes from the profile, not the clock.
        let busy = BusyLoop()
        busy.start()
        let second = try f.start(try f.settings())
        guard case .finished(let b) = try second.train() else { Issue.record("not finished"); return }
        busy.stop()

        #expect(a.steps == b.steps && a.steps > 10)
        #expect(a.finalTrainLoss == b.finalTrainLoss && a.valLoss == b.valLoss)
        #expect(a.rstSeconds == b.rstSeconds)
        #expect(try losses(f.store, first.runID) == losses(f.store, second.runID))
        // The stop rule: the step that crosses the budget completes; no step starts after it.
        let perStep = 4 * 3e-3 + 1e-9 * Double(first.workload.parameters.parameterCount)
        #expect(a.rstSeconds >= 0.4 && a.rstSeconds < 0.4 + perStep + 1e-9)
        #expect(try f.store.lossCurve(runID: first.runID).count == a.steps)
    }

    /// Plugin state tensors come back in allocation order (their ids are allocation positions),
    /// not in name order.
    @Test func checkpointsKeepPluginStateTensorsInAllocationOrder() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try ModelConfig.preset("tiny")
        let model = try MaskedLMWorkload(config: config, seed: 0)
        let optimizer = AdamW(parameterCount: model.parameters.count)
        var checkpoint = Checkpoint(step: 0, dataPosition: 0, clock: RSTClock(budget: try .parse("1m"), profile: StandaloneHost.syntheticProfile(config)),
                                    modelConfig: config, lastTrainLoss: nil, nextCheckpointFraction: 1, nextEvaluationFraction: 1)
        let tensors = [PluginStateTensorSnapshot(name: "momentum", fill: 0, values: [1, 2]),
                       PluginStateTensorSnapshot(name: "hessian", fill: 0, values: [3, 4]),
                       PluginStateTensorSnapshot(name: "a_scratch", fill: -1, values: [5, 6])]
        checkpoint.plugins = PluginStackCheckpoint(optimizerUpdates: 3, plugins: [.init(id: "p", version: "1", stateBytes: [7], tensors: tensors)])
        let url = dir.appendingPathComponent("c.safetensors")
        try Checkpoint.save(checkpoint, workload: model, optimizer: optimizer, binding: CheckpointTests.binding, to: url)
        let (loaded, _, _) = try Checkpoint.load(from: url, adamW: AdamW.Settings())
        #expect(loaded.plugins?.plugins.first?.tensors == tensors)
    }

    @Test func anInterruptedRunResumesToExactlyTheUninterruptedResult() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        guard case .finished(let reference) = try f.start(try f.settings()).train() else { Issue.record("not finished"); return }

        let interrupted = try f.start(try f.settings())
        var stepsSeen = 0
        let outcome = try interrupted.train(shouldStop: { stepsSeen >= 17 }, progress: { _ in stepsSeen += 1 })
        guard case .interrupted = outcome else { Issue.record("expected an interruption"); return }
        #expect(try f.store.run(id: interrupted.runID).status == .interrupted)

        let resumed = try Trainer.resume(runID: interrupted.runID, data: f.data, store: f.store)
        #expect(resumed.clock.steps == 17)
        guard case .finished(let result) = try resumed.train() else { Issue.record("not finished"); return }
        #expect(result.steps == reference.steps)
        #expect(result.finalTrainLoss == reference.finalTrainLoss)
        #expect(result.valLoss == reference.valLoss)
        #expect(result.rstSeconds.bitPattern == reference.rstSeconds.bitPattern)
        #expect(try f.store.lossCurve(runID: interrupted.runID).count == result.steps)
    }

    /// `--set backend=onednn` builds the model on oneDNN, is recorded with the run (and absent
    /// from the settings of an OpenBLAS run, as in runs recorded before the choice), and a resumed
    /// oneDNN run ends exactly where an uninterrupted one does.
    @Test func theOneDNNBackendIsRecordedAndResumesExactly() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let plain = try f.settings()
        #expect(!String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("matrixLibrary"))
        // Settings that never chose (runs recorded before the choice) mean OpenBLAS; a new run
        // records the library it was given by capability, and uses it.
        #expect(try plain.hyperparameters.backend === CPUBackend.shared)
        let chosen = try f.start(plain)
        #expect(chosen.workload.backend === CPUBackend.with(MatrixLibrary.preferred, .fp32))
        #expect(try f.store.run(id: chosen.runID).configJSON.contains("\"matrixLibrary\":\"\(MatrixLibrary.preferred.rawValue)\""))
        // oneDNN's avx512_core needs AVX-512 F, BW, VL and DQ; read independently from the kernel.
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains)
        #expect(MatrixLibrary.preferred == (avx512 ? .oneDNN : .openBLAS), "flags: \(avx512)")
        let settings = try f.settings(["backend=onednn"])
        #expect(try settings.hyperparameters.backend === CPUBackend.oneDNN)
        let straightTrainer = try f.start(settings)
        #expect(straightTrainer.workload.backend.name == "cpu-onednn")
        guard case .finished(let reference) = try straightTrainer.train() else { Issue.record("not finished"); return }
        #expect(try f.store.run(id: straightTrainer.runID).configJSON.contains("\"matrixLibrary\":\"onednn\""))
        let interrupted = try f.start(settings)
        var seen = 0
        guard case .interrupted = try interrupted.train(shouldStop: { seen >= 9 }, progress: { _ in seen += 1 }) else {
            Issue.record("expected an interruption"); return
        }
        let resumed = try Trainer.resume(runID: interrupted.runID, data: f.data, store: f.store)
        #expect(resumed.workload.backend.name == "cpu-onednn")
        guard case .finished(let result) = try resumed.train() else { Issue.record("not finished"); return }
        #expect(result.steps == reference.steps && result.finalTrainLoss == reference.finalTrainLoss && result.valLoss == reference.valLoss)
        #expect(throws: RunSettingsError.self) { try f.settings(["backend=mkl"]) }
        // The checkpoint names its backend and precision; resuming it on another backend is refused.
        let url = f.store.checkpointURL(runID: interrupted.runID)
        let metadata = try SafeTensorsFile(contentsOf: url).metadata
        #expect(metadata["backend"] == "cpu-onednn" && metadata["precision"] == "fp32")
        let record = try f.store.run(id: interrupted.runID)
        let binding = Checkpoint.Binding(runID: record.id, settingsSHA256: SHA256Digest.hex(Array(record.configJSON.utf8)),
                                         dataFingerprint: settings.data?.fingerprint ?? record.configJSON.components(separatedBy: "\"fingerprint\":\"").last!.components(separatedBy: "\"").first!)
        do {
            _ = try Checkpoint.load(from: url, adamW: settings.hyperparameters.adamW, expecting: binding, backend: .shared)
            Issue.record("a oneDNN checkpoint was resumed on OpenBLAS")
        } catch {
            #expect("\(error)".contains("written by a run on cpu-onednn"), "\(error)")
        }
    }

    /// Every preset a user trains has a shipped fp32 default that fits its shape, priced in
    /// reference time (the transferred ones say so); `t5-base` is for `ntng bench` only.
    @Test func everyTrainedPresetHasAShippedDefault() throws {
        for preset in ModelConfig.presetNames where preset != "t5-base" {
            let profile = try ProfileCatalog.load(nil, preset: preset, shape: ProfileCatalog.shape(of: try ModelConfig.preset(preset)))
            #expect(profile.name == "default-\(preset)" && profile.preset == preset)
            #expect(profile.forwardBackwardPerSequence.allSatisfy { $0 > 0 } && profile.optimizerUpdatePerParameter > 0)
            if preset.hasPrefix("t5") { #expect(profile.notes?.hasPrefix("TRANSFERRED") == true, "\(profile.notes ?? "")") }
        }
    }

    /// The shipped bf16 defaults price bf16 work only, and are what a bf16 run gets by default.
    @Test func shippedBF16ProfilesAreChosenByPrecision() throws {
        for preset in ["tiny", "small"] {
            let shape = ProfileCatalog.shape(of: try ModelConfig.preset(preset))
            let bf16 = try ProfileCatalog.load(nil, preset: preset, shape: shape, precision: .bf16)
            #expect(bf16.name == "default-\(preset)-bf16" && bf16.precision == "bf16" && bf16.blas.hasPrefix("oneDNN"))
            let fp32 = try ProfileCatalog.load(nil, preset: preset, shape: shape)
            #expect(fp32.precision == nil && bf16.pluginCostPerParameter == fp32.pluginCostPerParameter)
            #expect(throws: ProfileCatalogError.self) { _ = try ProfileCatalog.load("default-\(preset)-bf16", preset: preset, shape: shape) }
        }
        do {
            _ = try ProfileCatalog.load(nil, preset: "medium", shape: ProfileCatalog.shape(of: try ModelConfig.preset("medium")), precision: .bf16)
            Issue.record("a bf16 medium profile was found")
        } catch {
            #expect("\(error)".contains("ntng calibrate --model medium --precision bf16"), "\(error)")
        }
    }

    /// `--set precision=bf16` computes with oneDNN's bf16 products, is recorded, and is refused
    /// with OpenBLAS (or, on a CPU without native bf16, with the reason).
    @Test func bf16IsRecordedAndRefusedWhereItCannotRun() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let settings = try f.settings(["precision=bf16"])
        #expect(String(decoding: try JSONEncoder().encode(settings), as: UTF8.self).contains("\"precision\":\"bf16\""))
        do {
            _ = try f.settings(["backend=openblas", "precision=bf16"]).hyperparameters.backend
            Issue.record("bf16 on OpenBLAS was accepted")
        } catch {
            #expect("\(error)".contains("needs the oneDNN backend"), "\(error)")
        }
        guard Precision.bf16IsNative else {
            #expect(throws: RunSettingsError.self) { _ = try settings.hyperparameters.backend }
            return
        }
        // An fp32 profile does not price bf16 work; a bf16 one does.
        do {
            _ = try f.start(settings)
            Issue.record("an fp32 profile priced a bf16 run")
        } catch {
            #expect("\(error)".contains("prices fp32 work but the run computes in bf16"), "\(error)")
        }
        var profile = try ReferenceProfile.load(from: URL(fileURLWithPath: f.profilePath))
        profile.precision = "bf16"
        let bf16Profile = f.directory.appendingPathComponent("test-tiny-bf16.json").path
        try profile.save(to: URL(fileURLWithPath: bf16Profile))
        let trainer = try Trainer.start(settings: settings, data: f.data, store: f.store, profile: bf16Profile)
        #expect(trainer.workload.backend.name == "cpu-onednn-bf16")
        guard case .finished(let summary) = try trainer.train() else { Issue.record("not finished"); return }
        #expect(summary.valLoss?.isFinite == true)
    }

    @Test func aNaNLossStopsTheRunAndStoresItAsFailed() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let trainer = try f.start(try f.settings())
        trainer.workload.parameters.value("head.dense.weight").base[0] = .nan
        #expect(throws: TrainingFailure.self) { _ = try trainer.train() }
        let record = try f.store.run(id: trainer.runID)
        #expect(record.status == .failed)
        #expect(record.failedStep == 1)
        #expect(record.error?.contains("training loss became NaN at step 1") == true)
    }

    @Test func badSettingsAreRefusedBeforeTraining() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var s = try f.settings()
        #expect(throws: RunSettingsError.unknownKey("learning-rate")) { try s.apply(setting: "learning-rate=1") }
        #expect(throws: RunSettingsError.malformedSetting("lr")) { try s.apply(setting: "lr") }
        #expect(throws: RunSettingsError.self) { try s.apply(setting: "lr=-1") }
        #expect(throws: (any Error).self) { try s.apply(setting: "model.heads=3") }
        #expect(throws: BudgetError.self) { _ = try Budget.parse("0m") }
        // A profile measured for another shape is refused with a message saying what to do.
        var other = try f.settings()
        other.model = "small"
        do {
            _ = try Trainer.start(settings: other, data: f.data, store: f.store, profile: f.profilePath)
            Issue.record("a tiny profile was accepted for the small preset")
        } catch {
            #expect("\(error)".contains("ntng calibrate"))
        }
        #expect(try f.store.runs().isEmpty)  // nothing half-created
        // A batch that is not a multiple of the micro-batch.
        #expect(throws: RunSettingsError.self) { _ = try f.start(try f.settings(["batch=6"])) }
    }
}

/// Keeps one core busy until stopped.
final class BusyLoop: @unchecked Sendable {
    private var running = true
    private let lock = NSLock()
    private var thread: Thread?

    func start() {
        thread = Thread { [self] in
            var x = 1.0
            while lock.withLock({ running }) { for _ in 0..<10_000 { x = x * 1.000001 + 1e-9 } }
            _ = x
        }
        thread?.start()
    }

    func stop() { lock.withLock { running = false } }
}

/// The trainer driving real plugins through the ABI: provenance, failures, resume with plugin state.
@Suite(.serialized) struct TrainerPluginTests {
    typealias Fixture = TrainingFixture

    @Test func aPluginOptimizerTrainsAndIsRecordedWithProvenance() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var settings = try f.settings()
        settings.method = PluginPaths.sgdExample
        let trainer = try f.start(settings)
        guard case .finished(let summary) = try trainer.train() else { Issue.record("not finished"); return }
        #expect(summary.steps > 10)
        let record = try f.store.run(id: trainer.runID)
        let provenance = try JSONDecoder().decode([PluginProvenance].self, from: Data((record.pluginsJSON ?? "[]").utf8))
        #expect(provenance.count == 1)
        #expect(provenance.first?.sha256.count == 64)
        #expect(provenance.first?.optimizerCharge == "estimated")  // no calibration in the test profile
        #expect((trainer.clock.charged[.plugin] ?? 0) > 0 && trainer.clock.charged[.optimizer] == nil)
    }

    @Test func aPluginBreakingItsContractFailsTheRunNamingPluginAndHook() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var settings = try f.settings()
        settings.method = try buildProbe(["NAN_LR"])
        let trainer = try f.start(settings)
        do {
            _ = try trainer.train()
            Issue.record("a NaN lr_scale was accepted")
        } catch {
            #expect("\(error)".contains("on_step"))
        }
        let record = try f.store.run(id: trainer.runID)
        #expect(record.status == .failed)
        #expect(record.error?.contains("on_step") == true)
        #expect(record.finalTrainLoss == nil)
    }

    /// Plugin log lines are stored with the run (step, level, plugin), up to a limit that a
    /// plugin logging in a loop cannot get past.
    @Test func pluginLogLinesAreStoredWithTheRunUpToALimit() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var settings = try f.settings()
        settings.method = try buildProbe(["LOG_PER_STEP=40"], id: "test.chatty")
        let trainer = try f.start(settings)
        var echoed = 0
        trainer.pluginLog = { _ in echoed += 1 }
        guard case .finished(let summary) = try trainer.train() else { Issue.record("not finished"); return }
        #expect(summary.steps * 40 > Trainer.maxStoredLogLines, "the run must log more than the limit")
        #expect(echoed == Trainer.maxStoredLogLines, "stderr gets the same bounded lines as the store")
        let log = try f.store.log(runID: trainer.runID)
        #expect(log.count == Trainer.maxStoredLogLines)
        #expect(log.dropLast().allSatisfy { $0.source == "test.chatty" && $0.level == "warning" && $0.message == "probe says hello" })
        #expect(log.first?.step == 1 && log[40].step == 2, "each line carries the step that logged it")
        #expect(log.last?.message.contains("not shown or stored") == true)
        #expect(try f.store.details(runID: trainer.runID).log == log)
    }

    /// A plugin reporting 500 diagnostics a step keeps 64 a step, and says once that it hit the cap.
    @Test func pluginDiagnosticsAreCappedPerStep() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var settings = try f.settings()
        settings.method = try buildProbe(["DIAGNOSTICS_PER_STEP=500"], id: "test.counter")
        let trainer = try f.start(settings)
        trainer.pluginLog = { _ in }
        guard case .finished(let summary) = try trainer.train() else { Issue.record("not finished"); return }
        let details = try f.store.details(runID: trainer.runID)
        let reported = details.diagnostics.filter { $0.key.hasPrefix("probe.") }
        #expect(summary.steps > 2 && reported.count == 64 * summary.steps, "\(reported.count) for \(summary.steps) steps")
        #expect(details.log.filter { $0.message.contains("diagnostics beyond 64 per step") }.count == 1)
    }

    @Test func unknownPluginSettingsAreRefusedBeforeAnythingIsStored() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var settings = try f.settings()
        settings.method = PluginPaths.sgdExample
        try settings.apply(setting: "example.sgd-momentum.no_such_key=1")
        #expect(throws: PluginError.self) { _ = try f.start(settings) }
        #expect(try f.store.runs().isEmpty)
    }

    @Test func aRunWithPluginStateResumesExactly() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var settings = try f.settings()
        settings.method = PluginPaths.lrScaleExample + "+" + PluginPaths.sgdExample
        // A calibrated plugin optimizer charge keeps the budget exactly reproducible.
        var profile = try ReferenceProfile.load(from: URL(fileURLWithPath: f.profilePath))
        profile.pluginCostPerParameter = ["example.sgd-momentum": 2e-9]
        try profile.save(to: URL(fileURLWithPath: f.profilePath))
        guard case .finished(let reference) = try f.start(settings).train() else { Issue.record("not finished"); return }

        let interrupted = try f.start(settings)
        var seen = 0
        guard case .interrupted = try interrupted.train(shouldStop: { seen >= 23 }, progress: { _ in seen += 1 }) else {
            Issue.record("expected an interruption"); return
        }
        guard case .finished(let resumed) = try Trainer.resume(runID: interrupted.runID, data: f.data, store: f.store).train() else {
            Issue.record("not finished"); return
        }
        #expect(resumed.steps == reference.steps)
        #expect(resumed.finalTrainLoss == reference.finalTrainLoss)
        #expect(resumed.valLoss == reference.valLoss)
    }
}
