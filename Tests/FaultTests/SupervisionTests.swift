import Foundation
import Records
import Testing
import TestSupport
import TrainingFixtures

/// `ntng run` supervises the process that trains: a plugin that crashes, hangs, ignores a stop
/// request or forks leaves a run record that says so, and no process behind.
@Suite(.serialized) struct SupervisionTests {
    let f: TrainingFixture
    let home: URL
    let results: URL

    init() throws {
        f = try TrainingFixture()
        home = f.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        results = f.directory.appendingPathComponent("supervised.sqlite")
    }

    func arguments(_ plugin: String, _ extra: [String] = []) -> [String] {
        ["run", "--method", plugin, "--model", "tiny", "--corpus", f.corpusPath, "--budget", "0.3s", "--profile", f.profilePath,
         "--data-dir", f.data.root.path, "--results", results.path, "--threads", "1"] + extra
    }

    func onlyRun() throws -> RunRecord {
        let runs = try ResultsStore(url: results).runs()
        try #require(runs.count == 1, "\(runs.count) runs")
        return runs[0]
    }

    @Test func aCrashInsideAHookIsRecordedWithTheSignalAndTheHook() throws {
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let outcome = try NTNGBinary.run(arguments(try buildProbe(["CRASH_ON_STEP"])), home: home)
        #expect(outcome.status == 1 && !outcome.timedOut)
        #expect(outcome.output.contains("killed by signal 11"), "\(outcome.output)")
        let run = try onlyRun()
        #expect(run.status == .failed)
        #expect(run.error?.contains("signal 11") == true && run.error?.contains("inside on_step of plugin test.probe") == true, "\(run.error ?? "")")
    }

    @Test func aHungHookFailsTheRunAtItsLimit() throws {
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let started = Date()
        let outcome = try NTNGBinary.run(arguments(try buildProbe(["HANG_ON_STEP"]), ["--hook-timeout", "2"]), home: home, timeout: 60)
        #expect(Date().timeIntervalSince(started) < 30 && !outcome.timedOut)
        #expect(outcome.status == 1)
        let run = try onlyRun()
        #expect(run.status == .failed && run.error?.contains("plugin test.probe did not return from on_step within 2 s") == true, "\(run.error ?? "")")
    }

    /// SIGTERM while a hook hangs: the supervisor gives the worker 5 s, then kills it and stores
    /// the run as interrupted, resumable from its last checkpoint.
    @Test func aStopRequestDuringAHungHookEndsPromptly() throws {
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: PluginPaths.ntng)
        p.arguments = arguments(try buildProbe(["HANG_ON_STEP"]))
        p.environment = ProcessInfo.processInfo.environment.merging(["NTNG_HOME": home.path]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until the run is recorded (the hook is then hanging in the first step).
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, (try? ResultsStore(url: results, existingOnly: true).runs().isEmpty) ?? true { usleep(100_000) }
        usleep(500_000)
        let stopped = Date()
        kill(p.processIdentifier, SIGTERM)
        let limit = Date().addingTimeInterval(30)
        while p.isRunning && Date() < limit { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); Issue.record("the supervisor ignored SIGTERM") }
        p.waitUntilExit()
        #expect(Date().timeIntervalSince(stopped) < 15)
        #expect(p.terminationStatus == 130)
        let run = try onlyRun()
        #expect(run.status == .interrupted && run.error?.contains("inside on_step") == true, "\(run.status) \(run.error ?? "")")
    }

    /// A plugin that forks a child which never exits: the run finishes and the child is gone.
    @Test func aPluginsForkedChildDiesWithTheRun() throws {
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let pids = f.directory.appendingPathComponent("pids")
        setenv("NTNG_PROBE_PIDFILE", pids.path, 1)
        defer { unsetenv("NTNG_PROBE_PIDFILE") }
        let outcome = try NTNGBinary.run(arguments(try buildProbe(["FORK_GRANDCHILD"])), home: home, timeout: 60)
        #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.output)")
        #expect(try onlyRun().status == .finished)
        usleep(200_000)
        for pid in try String(contentsOf: pids, encoding: .utf8).split(separator: "\n").compactMap({ Int32($0) }) {
            let alive = ProcessIdentity.isRunning(pid: Int(pid))
            #expect(!alive, "the plugin's child \(pid) outlived the run")
        }
    }
}
