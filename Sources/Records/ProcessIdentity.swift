import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Identifies one process instance, so that a run left `running` by a killed process can be told
/// apart from one still in progress.
///
/// A pid alone is not enough: pids are reused, and they restart after a reboot. The identity adds
/// the process start time (field 22 of `/proc/<pid>/stat`, in clock ticks since boot) and the
/// kernel's boot id; the process is alive only if all three still match.
public struct ProcessIdentity: Codable, Sendable, Hashable {
    /// Host name (`gethostname`).
    public var hostname: String
    /// Process id.
    public var pid: Int
    /// Start time of the process in clock ticks after boot, when known.
    public var startTicks: Int?
    /// `/proc/sys/kernel/random/boot_id`, when known.
    public var bootID: String?

    public init(hostname: String, pid: Int, startTicks: Int?, bootID: String?) {
        self.hostname = hostname
        self.pid = pid
        self.startTicks = startTicks
        self.bootID = bootID
    }

    /// The identity of the calling process.
    public static func current() -> ProcessIdentity {
        let pid = Int(getpid())
        return ProcessIdentity(hostname: currentHostname(), pid: pid,
                               startTicks: processState(pid: pid)?.startTicks, bootID: currentBootID())
    }

    /// Whether this process is still alive: `true` or `false` on this host, `nil` when the identity
    /// belongs to another host and cannot be checked (e.g. a results file on a shared disk).
    public func isAlive() -> Bool? {
        guard hostname == Self.currentHostname() else { return nil }
        if let bootID, let now = Self.currentBootID(), bootID != now { return false }
        guard Self.isRunning(pid: pid), let state = Self.processState(pid: pid) else { return false }
        if let startTicks, let ticks = state.startTicks, ticks != startTicks { return false }  // pid reused
        return true
    }

    /// Whether process `pid` of this host runs (a zombie waiting for its reaper counts as gone).
    public static func isRunning(pid: Int) -> Bool {
        guard let state = processState(pid: pid) else { return false }
        return state.state != "Z" && state.state != "X"
    }

    static func currentHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func currentBootID() -> String? {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// State letter and start ticks from `/proc/<pid>/stat`, or nil if there is no such process.
    static func processState(pid: Int) -> (state: String, startTicks: Int?)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // The command name (field 2) is in parentheses and may contain spaces; fields after it
        // start with field 3 (state), so field 22 (starttime) is at index 19.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard let state = fields.first else { return nil }
        let ticks = fields.count > 19 ? Int(fields[19]) : nil
        return (String(state), ticks)
    }
}
