import Foundation
import Records

/// Slurm's own commands, run as child processes: `sbatch` submits an array, `squeue` (and `sacct`,
/// where the cluster keeps accounting) says how its tasks stand, `scancel` cancels. ntng schedules
/// nothing itself; everything here is what a user would type.
public struct SlurmClient: Sendable {
    /// Where the commands' output goes while they run (small files, removed after reading).
    var scratch: URL
    /// The environment they run in (`SLURM_CONF` picks a cluster).
    var environment: [String: String]
    /// Seconds a command may take before it is stopped (a hung controller must not hang ntng).
    var timeout: Double = 120

    public init(scratch: URL, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.scratch = scratch
        self.environment = environment
    }

    /// How a Slurm task stands.
    public struct TaskState: Sendable, Equatable, Codable {
        /// Slurm's job state name: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT,
        /// NODE_FAIL, OUT_OF_MEMORY, PREEMPTED…; `UNKNOWN` when Slurm no longer knows the task.
        public var state: String
        /// squeue's reason (why pending, or how it ended), or sacct's exit code.
        public var detail: String

        public init(state: String, detail: String = "") {
            self.state = state
            self.detail = detail
        }

        /// Still queued or running: its result is yet to come.
        public var isLive: Bool {
            ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "STAGE_OUT", "SIGNALING"]
                .contains(state)
        }
        /// Ended from outside the trial — cancelled, out of time or memory, its node failed — or
        /// so long ago that Slurm forgot how: its result is missing, not wrong, and resubmitting
        /// may finish it.
        public var wasStopped: Bool {
            ["CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "UNKNOWN"].contains(state)
        }
        public static let unknown = TaskState(state: "UNKNOWN", detail: "no longer known to squeue or sacct")

        /// `FAILED (NonZeroExitCode)`.
        public var summary: String { detail.isEmpty ? state : "\(state) (\(detail))" }
    }

    /// Submits `script` as one job array over `indices`; returns the array's job id.
    public func submitArray(script: URL, indices: [Int], jobName: String, logPattern: String, workingDirectory: String,
                            options: SlurmOptions) throws -> String {
        let throttle = options.maxRunning.map { "%\($0)" } ?? ""
        var arguments = ["--parsable", "--array=\(Self.arraySpec(indices))\(throttle)", "--job-name=\(jobName)",
                         "--output=\(logPattern)", "--chdir=\(workingDirectory)", "--cpus-per-task=\(options.cpus)",
                         "--ntasks=1", "--nodes=1"]
        if let partition = options.partition { arguments.append("--partition=\(partition)") }
        if let time = options.time { arguments.append("--time=\(time)") }
        arguments += options.extra
        arguments.append(script.path)
        let result = try execute("sbatch", arguments)
        guard result.exitCode == 0 else {
            throw SlurmError.commandFailed("sbatch \(arguments.dropLast().joined(separator: " "))", result.stderr.isEmpty ? result.stdout : result.stderr)
        }
        // --parsable prints "jobid" or "jobid;cluster".
        let id = result.stdout.split(whereSeparator: \.isNewline).last.map { String($0.split(separator: ";")[0]) } ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SlurmError.commandFailed("sbatch", "it printed no job id (\(result.stdout.prefix(200)))")
        }
        return id
    }

    /// The state of every task of array job `jobID` that Slurm still knows: squeue for queued,
    /// running and recently ended tasks (`MinJobAge`), then sacct, where accounting is on, for
    /// older ones. Tasks neither knows are missing from the result.
    public func taskStates(arrayJob jobID: String) throws -> [Int: TaskState] {
        var states: [Int: TaskState] = [:]
        let queue = try execute("squeue", ["--array", "--states=all", "--noheader", "--jobs=\(jobID)", "--format=%F|%K|%T|%r"])
        if queue.exitCode == 0 {
            states = Self.parseSqueue(queue.stdout, arrayJob: jobID)
        } else if !queue.stderr.contains("Invalid job id") {
            throw SlurmError.commandFailed("squeue --jobs=\(jobID)", queue.stderr)
        }
        // sacct is optional: a cluster without accounting says so, and the trial stores decide.
        if let accounting = try? execute("sacct", ["--noheader", "--parsable2", "--allocations", "--jobs=\(jobID)",
                                                   "--format=JobID,State,ExitCode"]), accounting.exitCode == 0 {
            for (index, state) in Self.parseSacct(accounting.stdout, arrayJob: jobID) where states[index] == nil {
                states[index] = state
            }
        }
        return states
    }

    /// The array jobs named `name` that Slurm knows: squeue for live and recently ended ones, then
    /// sacct, where accounting is on, for jobs since `since`.
    public func arrayJobs(named name: String, since: Date) throws -> [String] {
        let queue = try execute("squeue", ["--noheader", "--states=all", "--name=\(name)", "--format=%F"])
        guard queue.exitCode == 0 else { throw SlurmError.commandFailed("squeue --name=\(name)", queue.stderr) }
        var ids = Self.parseJobIDs(queue.stdout)
        // An hour early: `since` is this machine's clock, sacct compares with the controller's.
        if ids.isEmpty, let accounting = try? execute("sacct", ["--noheader", "--parsable2", "--allocations", "--name=\(name)",
                                                                "--starttime=\(Self.sacctTime(since.addingTimeInterval(-3600)))",
                                                                "--format=JobID"]), accounting.exitCode == 0 {
            ids = Self.parseJobIDs(accounting.stdout)
        }
        return ids
    }

    /// Distinct array job ids, in order, from lines that start with one (`12`, `12_3`, `12_[0-4]`).
    static func parseJobIDs(_ text: String) -> [String] {
        var ids: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let id = String(line.prefix { $0.isNumber })
            if !id.isEmpty && !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    /// sacct's `--starttime` form, `2026-12-03T13:05:00`, in local time as sacct reads it.
    static func sacctTime(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return f.string(from: date)
    }

    /// The cluster's `MaxArraySize`: array indices must stay below it (Slurm's default is 1001).
    public func maxArraySize() throws -> Int {
        let result = try execute("scontrol", ["show", "config"])
        guard result.exitCode == 0 else { throw SlurmError.commandFailed("scontrol show config", result.stderr) }
        return Self.parseMaxArraySize(result.stdout) ?? 1001
    }

    /// `MaxArraySize = 1001` from `scontrol show config`.
    static func parseMaxArraySize(_ text: String) -> Int? {
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("MaxArraySize") {
            if let value = line.split(separator: "=").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), value > 0 {
                return value
            }
        }
        return nil
    }

    /// Cancels array job `jobID` (all its tasks).
    public func cancel(_ jobID: String) throws {
        let result = try execute("scancel", [jobID])
        guard result.exitCode == 0 else { throw SlurmError.commandFailed("scancel \(jobID)", result.stderr) }
    }

    // MARK: - Parsing (Slurm's output formats)

    /// `0-3,7,9-10` for [0, 1, 2, 3, 7, 9, 10].
    static func arraySpec(_ indices: [Int]) -> String {
        var parts: [String] = []
        var sorted = indices.sorted()[...]
        while let first = sorted.first {
            var last = first
            sorted = sorted.dropFirst()
            while sorted.first == last + 1 { last += 1; sorted = sorted.dropFirst() }
            parts.append(first == last ? "\(first)" : "\(first)-\(last)")
        }
        return parts.joined(separator: ",")
    }

    /// Lines `arrayjob|task|STATE|reason` (squeue `--format=%F|%K|%T|%r`). A pending range is
    /// printed per task with `--array`; a line whose task field is a range (older Slurm) is expanded.
    static func parseSqueue(_ text: String, arrayJob: String) -> [Int: TaskState] {
        var states: [Int: TaskState] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 4, fields[0] == arrayJob else { continue }
            for index in expandTaskField(fields[1]) {
                states[index] = TaskState(state: fields[2], detail: fields[3])
            }
        }
        return states
    }

    /// Lines `JOB_TASK|STATE|EXIT` (sacct `--parsable2 --format=JobID,State,ExitCode`); a state
    /// such as `CANCELLED by 0` keeps its first word.
    static func parseSacct(_ text: String, arrayJob: String) -> [Int: TaskState] {
        var states: [Int: TaskState] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3 else { continue }
            let id = fields[0].split(separator: "_", maxSplits: 1)
            guard id.count == 2, id[0] == arrayJob else { continue }
            let state = fields[1].split(separator: " ").first.map(String.init) ?? fields[1]
            for index in expandTaskField(String(id[1])) {
                states[index] = TaskState(state: state, detail: "exit code \(fields[2])")
            }
        }
        return states
    }

    /// `7`, `[0-3,5]`, `0-3%2` → the task indices.
    static func expandTaskField(_ field: String) -> [Int] {
        // `%2` is a concurrency limit, not an index.
        let body = field.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: "%").first ?? ""
        var indices: [Int] = []
        for part in body.split(separator: ",") {
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 1 { indices.append(bounds[0]) }
            else if bounds.count == 2, bounds[0] <= bounds[1], bounds[1] - bounds[0] < 1_000_000 { indices += Array(bounds[0]...bounds[1]) }
        }
        return indices
    }

    // MARK: - Running a command

    struct CommandResult {
        var exitCode: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs one of Slurm's commands, found on `PATH`.
    func execute(_ tool: String, _ arguments: [String]) throws -> CommandResult {
        guard let executable = Self.find(tool, path: environment["PATH"] ?? "/usr/bin:/bin") else {
            throw SlurmError.missingCommand(tool)
        }
        let stamp = "\(tool)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let out = scratch.appendingPathComponent(stamp + ".out"), err = scratch.appendingPathComponent(stamp + ".err")
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        var child = ChildProcess(executable: executable, arguments: arguments, environment: environment,
                                 stdoutURL: out, stderrURL: err, timeout: timeout)
        child.grace = 2
        child.tailBytes = 4 << 20
        let ending = try child.run()
        if ending.timedOut { throw SlurmError.commandFailed("\(tool) \(arguments.joined(separator: " "))", "no answer within \(Int(timeout)) s (is slurmctld up?)") }
        return CommandResult(exitCode: ending.exitCode ?? -1, stdout: ending.stdout,
                             stderr: ending.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func find(_ tool: String, path: String) -> URL? {
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent(tool)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}

/// What `--slurm-…` asks of each array task.
public struct SlurmOptions: Sendable, Equatable {
    /// `--partition` (nil: the cluster's default).
    public var partition: String?
    /// `--time` in Slurm's syntax (nil: derived from the trials' budgets by the caller).
    public var time: String?
    /// `--cpus-per-task`; also the trial's `--threads`.
    public var cpus: Int = 1
    /// Further sbatch arguments, passed as given (e.g. `--account=x --qos=y`).
    public var extra: [String] = []
    /// At most this many tasks of an array run at once (`--array=…%K`; nil: as many as Slurm allows).
    public var maxRunning: Int?

    public init(partition: String? = nil, time: String? = nil, cpus: Int = 1, extra: [String] = [], maxRunning: Int? = nil) {
        self.partition = partition
        self.time = time
        self.cpus = cpus
        self.extra = extra
        self.maxRunning = maxRunning
    }

    /// Slurm's `--time` for `seconds`, rounded up to whole minutes: `D-HH:MM:SS`.
    public static func timeLimit(seconds: Double) -> String {
        let minutes = max(1, Int((seconds / 60).rounded(.up)))
        let days = minutes / 1440, hours = (minutes % 1440) / 60, rest = minutes % 60
        return String(format: "%d-%02d:%02d:00", days, hours, rest)
    }
}

/// Why talking to Slurm failed; each names the command and what to check.
public enum SlurmError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingCommand(String)
    case commandFailed(String, String)

    public var description: String {
        switch self {
        case .missingCommand(let tool):
            return "\(tool) is not on PATH: --executor slurm needs Slurm's client commands on this machine (Debian: slurm-client), or use --executor local"
        case .commandFailed(let command, let detail):
            return "Slurm: `\(command)` failed: \(detail.isEmpty ? "no message" : detail)"
        }
    }
}
