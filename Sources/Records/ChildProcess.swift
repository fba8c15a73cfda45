import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process run under a watchdog, in a process group of its own, with its output in files.
///
/// - **Its own process group**: the watchdog and the final clean-up kill the whole group, so a
///   plugin that forks a grandchild which never exits cannot keep anything open or hang the
///   parent (the child is started with posix_spawn and reaped with waitpid; see ``spawn``).
/// - **Files, not pipes**: nothing to drain, so neither a chatty child nor a grandchild holding
///   the write end can block the parent; only the tail of each file is read back (a 1 GB log
///   costs 64 kB of memory).
/// - **A death signal** (`setpriv --pdeathsig TERM`, where installed): if the parent dies, even by
///   SIGKILL, the child gets SIGTERM. It follows the *thread* that started the child, so start
///   children from threads that outlive them.
///
/// `setpriv` execs its argument, so the child keeps the pid `run` reports.
public struct ChildProcess {
    /// How a child ended.
    public struct Ending: Sendable {
        public var pid: Int32
        public var launchedAt: Date
        public var wallSeconds: Double
        /// Exit status when it exited, nil when a signal ended it.
        public var exitCode: Int32?
        /// The signal that ended it, if any.
        public var signal: Int32?
        /// The watchdog killed it.
        public var timedOut: Bool
        /// `shouldStop` asked for it to stop.
        public var stopped: Bool
        /// The last ``tailBytes`` of its stdout and stderr.
        public var stdout: String
        public var stderr: String
    }

    public var executable: URL
    public var arguments: [String]
    public var environment: [String: String]?
    public var stdoutURL: URL
    public var stderrURL: URL
    /// Seconds after which the watchdog stops the child.
    public var timeout: Double
    /// Seconds between SIGTERM (to the child) and SIGKILL (to its whole group).
    public var grace: Double = 10
    /// Bytes of each output file read back.
    public var tailBytes = 65_536

    public static let setpriv = "/usr/bin/setpriv"

    public init(executable: URL, arguments: [String], environment: [String: String]? = nil,
                stdoutURL: URL, stderrURL: URL, timeout: Double) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.stdoutURL = stdoutURL
        self.stderrURL = stderrURL
        self.timeout = timeout
    }

    /// Starts the child and waits for it; `shouldStop` is polled twenty times a second.
    public func run(shouldStop: () -> Bool = { false }) throws -> Ending {
        let fm = FileManager.default
        for url in [stdoutURL, stderrURL] {
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = fm.createFile(atPath: url.path, contents: nil)
        }
        var command = [executable.path] + arguments
        if fm.isExecutableFile(atPath: Self.setpriv) { command = [Self.setpriv, "--pdeathsig", "TERM", "--"] + command }
        let launchedAt = Date()
        let pid = try Self.spawn(command, environment: environment ?? ProcessInfo.processInfo.environment,
                                 stdout: stdoutURL.path, stderr: stderrURL.path)
        // The child leads its own process group: this reaches everything it started.
        func killAll(_ signal: Int32) { _ = kill(-pid, signal) }

        var timedOut = false, stopped = false
        var termSentAt: Date?
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            let now = Date()
            if termSentAt == nil {
                if now.timeIntervalSince(launchedAt) > timeout { timedOut = true }
                if shouldStop() { stopped = true }
                if timedOut || stopped {
                    // SIGTERM to the child first: a healthy run checkpoints at the next step boundary.
                    kill(pid, SIGTERM)
                    termSentAt = now
                }
            } else if now.timeIntervalSince(termSentAt!) > grace {
                // Hung inside a hook, or ignoring SIGTERM: it will never reach a step boundary.
                killAll(SIGKILL)
            }
            usleep(50_000)
        }
        // Grandchildren the child left behind die with it.
        killAll(SIGKILL)
        let ended = Self.decode(status)
        return Ending(pid: pid, launchedAt: launchedAt, wallSeconds: Date().timeIntervalSince(launchedAt),
                      exitCode: ended.exitCode, signal: ended.signal,
                      timedOut: timedOut, stopped: stopped && !timedOut,
                      stdout: Self.tail(of: stdoutURL, bytes: tailBytes), stderr: Self.tail(of: stderrURL, bytes: tailBytes))
    }

    /// posix_spawn, not Foundation's Process: Process watches its child through a socket the child
    /// inherits, so a grandchild that keeps it open makes the child look alive forever. Here the
    /// child gets stdin from /dev/null, stdout and stderr appended to the files, and a new process
    /// group; the parent waits with waitpid.
    /// `stdout`/`stderr` nil: the child shares the parent's.
    public static func spawn(_ command: [String], environment: [String: String], stdout: String?, stderr: String?) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let stdout { posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
        if let stderr { posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)   // the child starts with no signal blocked
        posix_spawnattr_setsigdefault(&attributes, &all) // and every handler at its default
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw ChildProcessError(message: "cannot start \(command[0]): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// A waitpid status as an exit code or the signal that ended the process (the WIFEXITED /
    /// WIFSIGNALED macros, which Swift does not import).
    public static func decode(_ status: Int32) -> (exitCode: Int32?, signal: Int32?) {
        let signal = status & 0x7f
        return signal != 0 && signal != 0x7f ? (nil, signal) : ((status >> 8) & 0xff, nil)
    }

    /// The last `bytes` bytes of a file as text (a cut first line is dropped).
    public static func tail(of url: URL, bytes: Int) -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > UInt64(bytes) ? size - UInt64(bytes) : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        var text = String(decoding: data, as: UTF8.self)
        if start > 0, let newline = text.firstIndex(of: "\n") { text = "…" + text[text.index(after: newline)...] }
        return text
    }
}

/// A child that could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
