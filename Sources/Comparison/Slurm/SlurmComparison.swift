import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Clock
import Records
import Storage

/// Runs a ``ComparisonPlan`` on a Slurm cluster (`ntng compare --executor slurm`, docs/cluster.md):
/// the plan's missing trials go to Slurm as **one job array**, one task per trial, each running the
/// very `ntng run` a local trial runs. Slurm schedules; ntng only submits, watches and collects.
///
/// - **No shared SQLite writes**: each task writes its run into the trial's own store,
///   `<results folder>/slurm/trials/<identity>/results.sqlite` (rollback journal: it is written by
///   one process at a time, over a shared filesystem), with its checkpoint beside it. Collecting
///   copies ended runs into the comparison's store in one transaction each
///   (``ResultsStore/importRun(_:from:)``), never twice.
/// - **Resubmitting** submits only what has no finished run: a failed trial afresh, a cancelled,
///   timed-out or node-failed one from its checkpoint (`ntng run --resume`), so the result is the
///   uninterrupted one.
/// - **Watching** reads `squeue` (and `sacct` where accounting is on). Ctrl-C detaches: the array
///   keeps running, and the same command with `--attach` picks it up again.
public final class SlurmComparison {
    /// What this invocation does beyond collecting what has ended.
    public enum Mode: String, Sendable {
        /// Submit the missing trials, then wait for them (unless ``wait`` is false).
        case submit
        /// Submit nothing; wait for the tasks already submitted.
        case attach
        /// Submit nothing, wait for nothing: collect and report what is there.
        case collect
    }

    public let plan: ComparisonPlan
    public let store: ResultsStore
    public let options: SlurmOptions
    /// `<results folder>/slurm/`.
    public let folder: URL
    /// Wait for the submitted tasks to end (false: submit and return, `--no-wait`).
    public var wait = true
    /// Seconds between looks at the queue while waiting.
    public var pollSeconds = 5.0
    /// Progress lines.
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    /// Shared with the local executor: decisions from the store and the trial's `ntng run` arguments.
    private let runner: ComparisonRunner
    private let client: SlurmClient
    /// What Slurm said of the open tasks at the last collection, by array job.
    private var lastStates: [String: [Int: SlurmClient.TaskState]] = [:]
    /// The trial stores already looked at, by trial digest: the task they were looked at after.
    private var examined: [String: String] = [:]

    public init(plan: ComparisonPlan, store: ResultsStore, dataDirectory: String?, options: SlurmOptions,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.plan = plan
        self.store = store
        self.options = options
        folder = store.url.deletingLastPathComponent().appendingPathComponent("slurm")
        runner = ComparisonRunner(plan: plan, store: store, dataDirectory: dataDirectory)
        client = SlurmClient(scratch: folder.appendingPathComponent("tmp"), environment: environment)
    }

    /// The trial's own folder and store, named by its identity, shared by every comparison of
    /// this results folder that contains the trial.
    func trialFolder(_ trial: Trial) -> URL {
        folder.appendingPathComponent("trials").appendingPathComponent(String(trial.identity.digest.prefix(16)))
    }
    func trialStoreURL(_ trial: Trial) -> URL { trialFolder(trial).appendingPathComponent("results.sqlite") }
    private var ledgerURL: URL { folder.appendingPathComponent("submissions.json") }

    // MARK: - The comparison

    /// Collects, submits (``Mode/submit``), waits (unless ``Mode/collect`` or `wait` is false),
    /// and returns one outcome per trial of the plan, as the local executor does.
    public func run(mode: Mode, shouldStop: @escaping @Sendable () -> Bool = { false }) throws -> [TrialOutcome] {
        try FileManager.default.createDirectory(at: client.scratch, withIntermediateDirectories: true)
        try store.reconcileInterruptedRuns()
        let before = Set(try finishedRuns().keys)
        let (firsts, copies) = plan.distinctTrials
        let distinct = firsts.map { plan.trials[$0] }
        var (ledger, submitted) = try update(distinct, submitting: mode == .submit, shouldStop: shouldStop)
        log("compare: \(plan.trialCountText); \(distinct.filter { before.contains($0.identity) }.count) already in \(store.url.path)"
            + (submitted.map { ", the rest submitted to Slurm as array job\($0.contains(",") ? "s" : "") \($0)" } ?? ""))
        if mode != .collect && wait { ledger = try waitForTasks(ledger, of: distinct, shouldStop: shouldStop) }

        let finished = try finishedRuns()
        var outcomes = [TrialOutcome?](repeating: nil, count: plan.trials.count)
        for i in firsts { outcomes[i] = outcome(plan.trials[i], finished: finished, finishedBefore: before, ledger: ledger) }
        return plan.fillCopies(outcomes, copies).enumerated().map { i, o in
            o ?? TrialOutcome(trial: plan.trials[i], status: .interrupted, source: .notStarted, record: nil, error: "not submitted")
        }
    }

    /// Under the folder's lock: loads the ledger, collects what has ended, submits the missing
    /// trials when `submitting`, and saves it. Returns it with the new array's job id, if any.
    private func update(_ trials: [Trial], submitting: Bool, shouldStop: @escaping @Sendable () -> Bool) throws -> (SlurmLedger, String?) {
        try withLock {
            var ledger = try SlurmLedger.load(ledgerURL)
            try collect(&ledger, trials: trials)
            let jobID = submitting ? try submit(&ledger, trials: trials, shouldStop: shouldStop) : nil
            try ledger.save(ledgerURL)
            return (ledger, jobID)
        }
    }

    /// Polls until no task of `trials` is queued or running, printing progress when it changes
    /// and a line per task that ends; returns early (detached) when asked to stop.
    private func waitForTasks(_ start: SlurmLedger, of trials: [Trial], shouldStop: @escaping @Sendable () -> Bool) throws -> SlurmLedger {
        var ledger = start
        var lastProgress = ""
        var reported = Set(ledger.submissions.flatMap { s in s.tasks.filter { $0.ended != nil }.map { SlurmLedger.taskID(s.jobID, $0.index) } })
        while true {
            let live = liveTasks(ledger, trials: trials)
            let progress = progressLine(ledger, trials: trials)
            if progress != lastProgress { log(progress); lastProgress = progress }
            if live.isEmpty { return ledger }
            if !sleep(pollSeconds, unless: shouldStop) {
                let jobs = Set(live.map(\.jobID)).sorted().joined(separator: ", ")
                log("compare: detached; Slurm job \(jobs) keeps running. Run the same command with --attach to wait for it again, or `scancel \(jobs)` to cancel it.")
                return ledger
            }
            ledger = try update(trials, submitting: false, shouldStop: shouldStop).0
            for s in ledger.submissions {
                for t in s.tasks where t.ended != nil && reported.insert(SlurmLedger.taskID(s.jobID, t.index)).inserted {
                    log("task \(SlurmLedger.taskID(s.jobID, t.index)) \(t.label): \(describeEnd(t))")
                }
            }
        }
    }

    /// The finished run the comparison's store holds for each trial identity, by the local
    /// executor's rule for reusing one (``ComparisonRunner/decide(_:matching:checkpoints:)``).
    private func finishedRuns() throws -> [TrialIdentity: RunRecord] {
        let stored = try runner.storedRuns()
        var finished: [TrialIdentity: RunRecord] = [:]
        for trial in plan.trials {
            if case .reuse(let run) = runner.decide(trial, matching: stored[trial.identity] ?? []) { finished[trial.identity] = run }
        }
        return finished
    }

    // MARK: - Collecting

    /// Settles every open task that Slurm says has ended, then imports every ended run of the
    /// trials' stores that is not in the comparison's store yet.
    private func collect(_ ledger: inout SlurmLedger, trials: [Trial]) throws {
        try settlePending(&ledger)
        let open = ledger.openTasks
        var states: [String: [Int: SlurmClient.TaskState]] = [:]
        for jobID in Set(open.map(\.jobID)) { states[jobID] = try client.taskStates(arrayJob: jobID) }
        lastStates = states
        let byDigest = Dictionary(trials.map { ($0.identity.digest, $0) }, uniquingKeysWith: { a, _ in a })
        for (jobID, task) in open {
            let state = states[jobID]?[task.index] ?? .unknown
            guard !state.isLive else { continue }
            let name = "Slurm task \(SlurmLedger.taskID(jobID, task.index))"
            if let trial = byDigest[task.trial], let (trialStore, runs) = readTrialStore(trial) {
                // The task's process is gone: a run it left `running` is resumable, not running.
                for run in runs where run.status == .running {
                    try trialStore?.markInterrupted(id: run.id, reason: "\(name) ended \(state.state)")
                }
                // A task that failed before its run was recorded (a node without the binary, a bad
                // path): its failure goes on record, as the local executor records a crashed child's.
                let submitted = ledger.submissions.first { $0.jobID == jobID }?.submittedAt ?? .distantPast
                let touched = runs.contains { $0.updatedAt >= submitted.addingTimeInterval(-1) }
                if !touched && !state.wasStopped {
                    _ = runner.recordFailure(trial, error: "\(name) ended \(state.state) before it recorded a run: \(Self.logTail(task.log)) (log: \(task.log))", source: .ran)
                }
            }
            ledger.markEnded(jobID: jobID, index: task.index, state)
        }
        for trial in trials {
            let latest = ledger.latestTask(of: trial.identity.digest)
            // A task still queued or running has nothing to import yet.
            if let latest, latest.task.ended == nil { continue }
            // A trial store looked at since its last task ended has nothing new.
            let mark = latest.map { SlurmLedger.taskID($0.jobID, $0.task.index) } ?? "-"
            if examined[trial.identity.digest] == mark { continue }
            guard let (trialStore, runs) = readTrialStore(trial) else { continue }
            if let trialStore {
                for run in runs.reversed() where run.status == .finished || run.status == .failed {
                    guard TrialIdentity(record: run) == trial.identity else { continue }
                    if case .imported(let copy) = try store.importRun(run.id, from: trialStore) {
                        log("\(trial.label): collected run \(copy.id) (\(copy.status.rawValue)) from \(trialStore.url.path)")
                    }
                }
            }
            examined[trial.identity.digest] = mark
        }
    }

    /// Arrays recorded as about to be submitted by a process that stopped before recording their
    /// job id: one Slurm knows by its name becomes a submission like any other; one it does not
    /// know was never submitted (or has left Slurm's records, and its trial stores are collected
    /// below all the same), so its trials count as missing again.
    private func settlePending(_ ledger: inout SlurmLedger) throws {
        for p in ledger.pending {
            if let jobID = try client.arrayJobs(named: p.jobName, since: p.createdAt).first {
                ledger.submissions.append(p.submitted(as: jobID, at: p.createdAt))
                log("slurm: found array job \(jobID) (\(p.jobName)), submitted by a compare that stopped before recording it; it is collected, not submitted again")
            } else {
                log("slurm: array \(p.jobName) was about to be submitted by a compare that stopped; Slurm knows no job of that name, so its trials count as missing")
            }
        }
        ledger.pending = []
    }

    /// The trial's own store and its runs (nil and none before a task made it), or nil when it
    /// cannot be read: one damaged trial store is reported and left out, and must not stop the
    /// collection of the others.
    private func readTrialStore(_ trial: Trial) -> (ResultsStore?, [RunRecord])? {
        do {
            guard let trialStore = try openTrialStore(trial) else { return (nil, []) }
            return (trialStore, try trialStore.runs())
        } catch {
            log("\(trial.label): its trial store \(trialStoreURL(trial).path) cannot be read (\(error)); the trial is left out until it is fixed or moved aside")
            return nil
        }
    }

    /// The trial's own store, if a task has made it.
    private func openTrialStore(_ trial: Trial) throws -> ResultsStore? {
        let url = trialStoreURL(trial)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try ResultsStore(url: url, existingOnly: true, journal: .rollback)
    }

    // MARK: - Submitting

    /// Submits every trial with no finished run and no live task, as one array (several when the
    /// cluster's MaxArraySize is smaller); returns the job ids (nil when nothing was missing).
    private func submit(_ ledger: inout SlurmLedger, trials: [Trial], shouldStop: @escaping @Sendable () -> Bool) throws -> String? {
        let finished = try finishedRuns()
        let missing = trials.filter { trial in
            if finished[trial.identity] != nil { return false }
            if let latest = ledger.latestTask(of: trial.identity.digest), latest.task.ended == nil { return false }
            return true
        }
        guard !missing.isEmpty else { return nil }

        // An array's indices must stay below the cluster's MaxArraySize: a larger plan goes as
        // several arrays, each its own submission.
        let chunk = try client.maxArraySize()
        var jobIDs: [String] = []
        for start in stride(from: 0, to: missing.count, by: chunk) {
            let part = Array(missing[start..<min(start + chunk, missing.count)])
            jobIDs.append(try submitArray(part, &ledger, shouldStop: shouldStop))
        }
        return jobIDs.joined(separator: ", ")
    }

    /// Writes the scripts of `trials` (task N runs trial N), submits them as one array and
    /// records it in the ledger; returns its job id.
    private func submitArray(_ trials: [Trial], _ ledger: inout SlurmLedger, shouldStop: @escaping @Sendable () -> Bool) throws -> String {
        // One folder per array, never reused: its task-N.sh must stay the trial task N was given
        // (arrays submitted in the same second by one process differ in their ledger position).
        let jobs = folder.appendingPathComponent("jobs")
        let jobFolder = jobs.appendingPathComponent("\(Self.stamp())-\(ledger.submissions.count)")
        try FileManager.default.createDirectory(at: jobs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: jobFolder, withIntermediateDirectories: false)
        var tasks: [SlurmLedger.Task] = []
        for (index, trial) in trials.enumerated() {
            try FileManager.default.createDirectory(at: trialFolder(trial), withIntermediateDirectories: true)
            let arguments = try arguments(for: trial, shouldStop: shouldStop)
            let script = Self.taskScript(executable: plan.executable.path, arguments: arguments, trial: trial)
            try AtomicFile.write(Data(script.utf8), to: jobFolder.appendingPathComponent("task-\(index).sh"))
            tasks.append(SlurmLedger.Task(index: index, trial: trial.identity.digest, label: trial.label,
                                          log: jobFolder.appendingPathComponent("task-\(index).log").path, ended: nil))
        }
        let arrayScript = jobFolder.appendingPathComponent("array.sh")
        try AtomicFile.write(Data(Self.arrayScript(jobFolder: jobFolder.path, count: tasks.count).utf8), to: arrayScript)
        var options = self.options
        if options.time == nil {
            options.time = SlurmOptions.timeLimit(seconds: trials.map { plan.timeoutSeconds($0) }.max() ?? 3600)
        }
        // Recorded before sbatch runs, under a name no other array has: if this process dies
        // between sbatch's answer and the next save, the next collection finds the array by name.
        let jobName = "ntng-" + UUID().uuidString.prefix(8).lowercased()
        let pending = SlurmLedger.Pending(jobName: jobName, createdAt: Date(), folder: jobFolder.path, tasks: tasks)
        ledger.pending.append(pending)
        try ledger.save(ledgerURL)
        let jobID: String
        do {
            jobID = try client.submitArray(script: arrayScript, indices: tasks.map(\.index), jobName: jobName,
                                           logPattern: jobFolder.path + "/task-%a.log",
                                           workingDirectory: FileManager.default.currentDirectoryPath, options: options)
        } catch {
            ledger.pending.removeAll { $0.jobName == jobName }
            try? ledger.save(ledgerURL)
            throw error
        }
        ledger.pending.removeAll { $0.jobName == jobName }
        ledger.submissions.append(pending.submitted(as: jobID, at: Date()))
        do { try ledger.save(ledgerURL) } catch {
            // Without the ledger nothing would collect it: better no job than an orphan.
            try? client.cancel(jobID)
            throw CompareError.slurm("submitted array job \(jobID) but could not record it in \(ledgerURL.path) (\(FileErrorText.describe(error))), so it was cancelled; fix the folder and run the command again")
        }
        return jobID
    }

    /// The trial's `ntng run`: resuming the interrupted run of its store when it left one with a
    /// checkpoint, else afresh (exactly the local executor's arguments, with the trial's store).
    private func arguments(for trial: Trial, shouldStop: @escaping @Sendable () -> Bool) throws -> [String] {
        let url = trialStoreURL(trial)
        if let trialStore = try openTrialStore(trial),
           case .resume(let stopped) = runner.decide(trial, matching: try trialStore.runs().filter { TrialIdentity(record: $0) == trial.identity },
                                                     checkpoints: trialStore) {
            return runner.resumeArguments(stopped.id, trialStore: url)
        }
        return try runner.freshArguments(trial, trialStore: url, shouldStop: shouldStop)
    }

    /// The script of one array task: the trial's `ntng run`, every argument quoted.
    static func taskScript(executable: String, arguments: [String], trial: Trial) -> String {
        """
        #!/bin/bash
        # ntng trial: \(trial.label.replacingOccurrences(of: "\n", with: " "))
        # identity: \(trial.identity.digest)
        exec \(([executable] + arguments).map(ShellWord.quoted).joined(separator: " "))

        """
    }

    /// The array's script: task N runs `task-N.sh` beside it.
    static func arrayScript(jobFolder: String, count: Int) -> String {
        """
        #!/bin/bash
        # ntng compare: one Slurm array task per trial (\(count) here); task N runs task-N.sh.
        exec /bin/bash \(ShellWord.quoted(jobFolder))/task-"$SLURM_ARRAY_TASK_ID".sh

        """
    }

    static func stamp() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date()) + "-\(getpid())"
    }

    // MARK: - Watching

    private func liveTasks(_ ledger: SlurmLedger, trials: [Trial]) -> [(jobID: String, task: SlurmLedger.Task)] {
        let mine = Set(trials.map(\.identity.digest))
        return ledger.openTasks.filter { mine.contains($0.task.trial) }
    }

    /// `slurm: 1 pending, 2 running, 3 finished, 0 failed or stopped (of 6 submitted)`.
    private func progressLine(_ ledger: SlurmLedger, trials: [Trial]) -> String {
        let mine = Set(trials.map(\.identity.digest))
        let latest = mine.compactMap { ledger.latestTask(of: $0) }
        let open = latest.filter { $0.task.ended == nil }
        let running = open.filter { lastStates[$0.jobID]?[$0.task.index]?.state == "RUNNING" }.count
        let completed = latest.filter { $0.task.ended?.state == "COMPLETED" }.count
        return "slurm: \(open.count - running) pending, \(running) running, \(completed) finished, \(latest.count - open.count - completed) failed or stopped (of \(latest.count) submitted)"
    }

    /// Sleeps `seconds`, waking early (and returning false) when asked to stop.
    private func sleep(_ seconds: Double, unless shouldStop: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if shouldStop() { return false }
            usleep(200_000)
        }
        return !shouldStop()
    }

    private func describeEnd(_ task: SlurmLedger.Task) -> String {
        guard let end = task.ended else { return "open" }
        if end.state == "COMPLETED" { return "completed" }
        let tail = Self.logTail(task.log)
        return "\(end.summary)\(tail.isEmpty ? "" : ": \(tail)") — log: \(task.log)"
    }

    // MARK: - Outcomes

    private func outcome(_ trial: Trial, finished: [TrialIdentity: RunRecord], finishedBefore: Set<TrialIdentity>,
                         ledger: SlurmLedger) -> TrialOutcome {
        if let run = finished[trial.identity] {
            return TrialOutcome(trial: trial, status: .finished, source: finishedBefore.contains(trial.identity) ? .reused : .ran, record: run)
        }
        guard let (jobID, task) = ledger.latestTask(of: trial.identity.digest) else {
            return TrialOutcome(trial: trial, status: .interrupted, source: .notStarted, record: nil,
                                error: "not submitted yet: run the command without --attach/--collect to submit it")
        }
        let name = "Slurm task \(SlurmLedger.taskID(jobID, task.index))"
        guard let end = task.ended else {
            return TrialOutcome(trial: trial, status: .interrupted, source: .notStarted, record: nil,
                                error: "\(name) has not ended yet; wait for it with --attach")
        }
        let tail = Self.logTail(task.log)
        let logText = " (log: \(task.log)\(tail.isEmpty ? "" : "; ends: \(tail)"))"
        // The newest run of the trial in the comparison's store tells the method's own failure.
        let stored = (try? store.runs(matching: RunFilter(method: trial.method, model: plan.request.model, corpus: plan.request.corpus)))?
            .first { TrialIdentity(record: $0) == trial.identity }
        if end.wasStopped {
            return TrialOutcome(trial: trial, status: .interrupted, source: .ran, record: nil,
                                error: "\(name) ended \(end.state) (stopped by Slurm, not by the method); run the same command again to resubmit it — it resumes from its checkpoint if it left one" + logText)
        }
        if let failed = stored, failed.status == .failed, let error = failed.error {
            return TrialOutcome(trial: trial, status: .failed, source: .ran, record: failed,
                                error: error.contains(task.log) ? error : error + " (log: \(task.log))")
        }
        return TrialOutcome(trial: trial, status: .failed, source: .ran, record: nil,
                            error: "\(name) ended \(end.summary) without a finished run" + logText)
    }

    /// The last lines of a task's log, on one line.
    static func logTail(_ path: String) -> String {
        ChildProcess.tail(of: URL(fileURLWithPath: path), bytes: 600).split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | ")
    }

    // MARK: - Locking

    /// Runs `body` holding an exclusive lock on the Slurm folder (`slurm/lock`), so two `ntng
    /// compare` processes never collect or submit at once.
    private func withLock<T>(_ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("lock").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CompareError.slurm("cannot open \(path): \(String(cString: strerror(errno))); check the results folder's permissions") }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
