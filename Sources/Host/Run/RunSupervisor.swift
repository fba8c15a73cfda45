import Clock
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PluginHost
import Records

/// Watches the process that trains a run, so that whatever a plugin does, the run's record says
/// what happened: `ntng run` starts itself again as a **worker** (same arguments plus
/// `--supervised-trace FILE`) and supervises it.
///
/// - A crash (any signal) is stored on the run as failed, with the signal and the hook of the
///   plugin that was running (from the worker's ``PluginCallTrace`` record).
/// - A hook that runs past its limit (``hookLimit(profile:sequencesPerStep:parameters:)``, or
///   `--hook-timeout`) is killed and stored as failed, naming plugin and hook.
/// - SIGINT/SIGTERM are passed on as SIGTERM (the worker stops at the next step boundary with a
///   checkpoint); if a hook keeps it from getting there within ``stopGrace`` seconds, the worker is
///   killed and the run stored as interrupted, to resume from its last checkpoint.
/// - The worker leads its own process group, and the whole group is killed when it ends, so a
///   plugin's forked children die with it; the worker gets SIGTERM if the supervisor dies.
public struct RunSupervisor {
    public var executable: URL
    /// The worker's arguments (the command line without the executable).
    public var arguments: [String]
    public var store: ResultsStore
    /// Seconds a worker stuck in a hook gets after a stop request.
    public var stopGrace: Double = 5

    public init(executable: URL, arguments: [String], store: ResultsStore) {
        self.executable = executable
        self.arguments = arguments
        self.store = store
    }

    /// The longest a single hook may run: far beyond any honest hook (a hundred full training
    /// steps at the profile's reference cost, at least ten minutes), so only a hang trips it.
    public static func hookLimit(profile: ReferenceProfile, sequencesPerStep: Int, parameters: Int) -> Double {
        let step = profile.forwardBackwardCost(activeLayers: profile.shape.layers, sequences: sequencesPerStep)
            + profile.optimizerUpdateCost(parameters: parameters)
        return Swift.min(Swift.max(600, 100 * step), 7 * 24 * 3600)
    }

    /// Runs the worker to its end and returns the exit status `ntng run` should have.
    public func run(stopRequested: () -> Bool, log: (String) -> Void) throws -> Int32 {
        let trace = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-run-trace-\(getpid())-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: trace.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: trace) }
        var command = [executable.path] + arguments + ["--supervised-trace", trace.path]
        if FileManager.default.isExecutableFile(atPath: ChildProcess.setpriv) {
            command = [ChildProcess.setpriv, "--pdeathsig", "TERM", "--"] + command
        }
        let pid = try ChildProcess.spawn(command, environment: ProcessInfo.processInfo.environment, stdout: nil, stderr: nil)
        defer { _ = kill(-pid, SIGKILL) }  // whatever the worker left behind

        var status: Int32 = 0
        var stopSentAt: Date?
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            let hook = Self.currentHook(trace)
            if stopSentAt == nil && stopRequested() {
                kill(pid, SIGTERM)
                stopSentAt = Date()
            }
            if let since = stopSentAt, Date().timeIntervalSince(since) > stopGrace, let hook {
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                try record(pid: pid, interrupted: true,
                           "stopped by signal while plugin \(hook.plugin) was inside \(hook.hook) (it did not return within \(Int(stopGrace)) s of the stop request); resume from the last checkpoint with --resume")
                log("ntng run: plugin \(hook.plugin) did not return from \(hook.hook) after the stop request; the worker was killed, the run is interrupted")
                return 130
            }
            if let hook, hook.elapsed > hook.limit {
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                let message = "plugin \(hook.plugin) did not return from \(hook.hook) within \(Self.format(hook.limit)) (a hang?); the run is stored as failed. Raise the limit with --hook-timeout SECONDS if the hook really needs longer"
                try record(pid: pid, interrupted: false, message)
                log("Error: \(message)")
                return 1
            }
            usleep(50_000)
        }
        let ended = ChildProcess.decode(status)
        guard let signal = ended.signal else { return ended.exitCode ?? 1 }
        let place = Self.currentHook(trace).map { " inside \($0.hook) of plugin \($0.plugin)" } ?? ""
        let message = "the training process was killed by signal \(signal) (\(ProcessSignal.describe(signal)))\(place); the run is stored as failed"
        try record(pid: pid, interrupted: false, message)
        log("Error: \(message)")
        return 1
    }

    /// Marks the worker's run (the running run recorded with its pid) failed or interrupted.
    private func record(pid: pid_t, interrupted: Bool, _ message: String) throws {
        guard let run = try store.runs().first(where: { $0.status == .running && $0.pid == Int(pid) }) else { return }
        if interrupted {
            try store.markInterrupted(id: run.id, reason: message)
        } else {
            try store.failRun(id: run.id, error: message, failedStep: run.steps + 1)
        }
    }

    struct Hook {
        var plugin: String
        var hook: String
        var elapsed: Double
        var limit: Double
    }

    /// The hook running now, from the worker's trace record (nil between hooks or unreadable).
    static func currentHook(_ trace: URL) -> Hook? {
        guard let text = try? String(contentsOf: trace, encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count >= 5, parts[0] == "E", let start = Double(parts[1]), let limit = Double(parts[2]) else { return nil }
        return Hook(plugin: String(parts[3]), hook: String(parts[4]).trimmingCharacters(in: .whitespacesAndNewlines),
                    elapsed: Date().timeIntervalSince1970 - start / 1000, limit: limit / 1000)
    }

    static func format(_ seconds: Double) -> String { seconds >= 120 ? "\(Int(seconds / 60)) min" : "\(Int(seconds)) s" }
}
