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
/// The child's stdout and stderr go to files (no pipes to drain, so a chatty child cannot block).
/// Where `setpriv` exists the child is started through `setpriv --pdeathsig TERM`, so if the
/// comparison itself is killed (even with SIGKILL) its children stop at their next step with a
/// checkpoint instead of running on as orphans; `setpriv` execs `ntng`, so the pid stays the same.
/// The death signal follows the *thread* that started the child, so children must be started
/// from threads that outlive them (``ComparisonRunner`` uses one long-lived thread per job).
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

    static let setpriv = "/usr/bin/setpriv"

    func run(shouldStop: () -> Bool) throws -> Result {
        let fm = FileManager.default
        try fm.createDirectory(at: logURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        let stdoutURL = logURL.deletingPathExtension().appendingPathExtension("stdout")
        _ = fm.createFile(atPath: logURL.path, contents: nil)
        _ = fm.createFile(atPath: stdoutURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: stdoutURL), err = try FileHandle(forWritingTo: logURL)
        defer { try? out.close(); try? err.close(); try? fm.removeItem(at: stdoutURL) }

        let process = Process()
        if fm.isExecutableFile(atPath: Self.setpriv) {
            process.executableURL = URL(fileURLWithPath: Self.setpriv)
            process.arguments = ["--pdeathsig", "TERM", "--", executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let launchedAt = Date()
        try process.run()
        let pid = process.processIdentifier

        var timedOut = false, stopped = false
        var termSentAt: Date?
        while process.isRunning {
            let now = Date()
            if termSentAt == nil {
                if now.timeIntervalSince(launchedAt) > timeout { timedOut = true }
                if shouldStop() { stopped = true }
                if timedOut || stopped {
                    // SIGTERM first: a healthy child checkpoints at the next step boundary.
                    kill(pid, SIGTERM)
                    termSentAt = now
                }
            } else if now.timeIntervalSince(termSentAt!) > grace {
                // Hung inside a hook: it will never reach a step boundary.
                kill(pid, SIGKILL)
            }
            usleep(100_000)
        }
        process.waitUntilExit()
        let wall = Date().timeIntervalSince(launchedAt)
        let signal: Int32? = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
        let stdoutText = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
        let stderrText = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        return Result(pid: pid, launchedAt: launchedAt, wallSeconds: wall,
                      exitCode: signal == nil ? process.terminationStatus : nil, signal: signal,
                      timedOut: timedOut, stopped: stopped && !timedOut, stdout: stdoutText, stderr: stderrText)
    }
}
