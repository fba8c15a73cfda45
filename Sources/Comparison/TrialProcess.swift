import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Clock
import Records
import Storage
import Host

/// Runs one `ntng run --json …` child with a watchdog, and reports how it ended.
///
/// The child runs as a ``ChildProcess``: its own session (a watchdog kill takes the plugin's
/// grandchildren too), output in files of which only the tail is read, and a death signal so
/// that if the comparison itself is killed (even with SIGKILL) its children stop at their next
/// step with a checkpoint. The death signal follows the *thread* that started the child, so
/// ``ComparisonRunner`` starts children from one long-lived thread per job.
struct TrialProcess {
    /// How a child ended.
    struct Result: Sendable {
        var pid: Int32
        var launchedAt: Date
        var wallSeconds: Double
        /// Exit status when it exited, nil when a signal ended it.
        var exitCode: Int32?
        /// The signal that ended it, if any.
        var signal: Int32?
        /// The watchdog killed it.
        var timedOut: Bool
        /// The comparison asked it to stop (SIGINT/SIGTERM to the comparison).
        var stopped: Bool
        var stdout: String
        var stderr: String

        /// The JSON object the child printed last (`ntng run --json`), if any.
        var json: [String: Any]? {
            for line in stdout.split(separator: "\n").reversed() where line.hasPrefix("{") {
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return object }
            }
            return nil
        }

        /// The last few lines of stderr, for error messages.
        var stderrTail: String {
            let lines = stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let text = lines.suffix(3).joined(separator: " | ")
            return text.count > 600 ? "…" + String(text.suffix(600)) : text
        }

        /// How it ended, in words.
        var ending: String {
            if let signal { return "was killed by signal \(signal) (\(ProcessSignal.describe(signal)))" }
            return "exited with status \(exitCode ?? -1)"
        }
    }

    let executable: URL
    let arguments: [String]
    /// Seconds after which the watchdog stops the child.
    let timeout: Double
    /// Where the child's stderr is kept (its log).
    let logURL: URL
    /// Seconds between SIGTERM and SIGKILL when the child must be stopped.
    var grace: Double = 10

    /// Runs the child (``ChildProcess``: its own session, output in files, the whole group
    /// killed when it ends or hangs) and reports how it ended.
    func run(shouldStop: () -> Bool) throws -> Result {
        let stdoutURL = logURL.deletingPathExtension().appendingPathExtension("stdout")
        defer { try? FileManager.default.removeItem(at: stdoutURL) }
        var child = ChildProcess(executable: executable, arguments: arguments, stdoutURL: stdoutURL, stderrURL: logURL, timeout: timeout)
        child.grace = grace
        let e = try child.run(shouldStop: shouldStop)
        return Result(pid: e.pid, launchedAt: e.launchedAt, wallSeconds: e.wallSeconds, exitCode: e.exitCode, signal: e.signal,
                      timedOut: e.timedOut, stopped: e.stopped, stdout: e.stdout, stderr: e.stderr)
    }
}
