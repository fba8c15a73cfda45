import ArgumentParser
import Comparison

/// Where `ntng compare` runs its trials: local child processes (the default) or a Slurm job
/// array (docs/cluster.md).
struct ExecutorOptions: ParsableArguments {
    enum Executor: String, ExpressibleByArgument, CaseIterable {
        case local
        case slurm
    }

    @Option(help: "Where trials run: local (child processes, --jobs at a time) or slurm (one job array, one task per missing trial; docs/cluster.md).")
    var executor: Executor = .local
    @Option(name: .customLong("slurm-partition"), help: "Slurm partition for the array (default: the cluster's).")
    var slurmPartition: String?
    @Option(name: .customLong("slurm-time"), help: "Time limit per array task in Slurm's syntax, e.g. 30 or 1-00:00:00 (default: --timeout-factor × the longest trial's expected wall time).")
    var slurmTime: String?
    @Option(name: .customLong("slurm-cpus"), parsing: .unconditional, help: "CPUs per array task, and the trial's --threads (default: --threads / --jobs).")
    var slurmCPUs: Int?
    @Option(name: .customLong("slurm-extra"), parsing: .unconditional, help: "Further sbatch arguments, split into words as a shell would (quotes keep spaces), e.g. \"--account=lab --comment='two words'\".")
    var slurmExtra: String?
    @Option(name: .customLong("slurm-max-running"), parsing: .unconditional, help: "At most this many of the array's tasks run at once (sbatch --array=…%K; default: as many as Slurm allows).")
    var slurmMaxRunning: Int?
    @Option(name: .customLong("slurm-poll"), parsing: .unconditional, help: "Seconds between looks at squeue while waiting.")
    var slurmPoll = 10.0
    @Flag(help: "Slurm: submit nothing; wait for the tasks already submitted for this comparison, then print the table.")
    var attach = false
    @Flag(help: "Slurm: submit nothing, wait for nothing; import what has ended and print the table.")
    var collect = false
    @Flag(help: "Slurm: submit and return; collect later with --attach or --collect.")
    var noWait = false

    func check() throws {
        if executor == .local {
            let given = [("--slurm-partition", slurmPartition != nil), ("--slurm-time", slurmTime != nil), ("--slurm-cpus", slurmCPUs != nil),
                         ("--slurm-extra", slurmExtra != nil), ("--slurm-max-running", slurmMaxRunning != nil), ("--attach", attach), ("--collect", collect), ("--no-wait", noWait)]
                .filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ValidationError("\(given.joined(separator: ", ")) only apply with --executor slurm")
            }
        }
        if [attach, collect, noWait].filter({ $0 }).count > 1 {
            throw ValidationError("--attach, --collect and --no-wait exclude each other: --attach waits without submitting, --collect neither submits nor waits, --no-wait submits without waiting")
        }
        if let slurmCPUs { try OptionRange.check(slurmCPUs, "--slurm-cpus", 1...1024) }
        if let slurmMaxRunning { try OptionRange.check(slurmMaxRunning, "--slurm-max-running", 1...1_000_000) }
        try OptionRange.check(slurmPoll, "--slurm-poll", 0.1...3600)
        do { _ = try extraArguments() } catch { throw ValidationError("--slurm-extra: \(error)") }
        if let slurmTime, slurmTime.isEmpty || !slurmTime.allSatisfy({ $0.isNumber || $0 == ":" || $0 == "-" }) {
            throw ValidationError("--slurm-time '\(slurmTime)' is not a Slurm time: give minutes, MM:SS, HH:MM:SS or D-HH:MM:SS, e.g. 90 or 1-12:00:00")
        }
    }

    /// The sbatch options; `cpus` is the trial's thread count (``slurmCPUs`` or its default).
    func slurmOptions(cpus: Int) throws -> SlurmOptions {
        SlurmOptions(partition: slurmPartition, time: slurmTime, cpus: cpus, extra: try extraArguments(), maxRunning: slurmMaxRunning)
    }

    /// `--slurm-extra` as sbatch's arguments, one per shell word.
    func extraArguments() throws -> [String] { try ShellWord.split(slurmExtra ?? "") }
}
