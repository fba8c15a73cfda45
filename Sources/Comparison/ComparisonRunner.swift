import Corpus
import Foundation
import Clock
import Records
import Storage
import Host
import Preparation

/// Runs a ``ComparisonPlan``: reuses what the results store already has, runs the rest in child
/// processes (`--jobs` at a time), and returns one ``TrialOutcome`` per trial.
///
/// For each trial, in this order:
/// 1. a **finished** run with the same ``TrialIdentity`` is reused (nothing is run);
/// 2. a run with that identity still **running** in another live process is awaited;
/// 3. an **interrupted** one with a checkpoint is resumed (`ntng run --resume`), which gives
///    exactly the result of an uninterrupted run;
/// 4. otherwise the trial runs afresh.
///
/// Each child is `ntng run --json …`; a crash, a hang past the watchdog, a non-zero exit or a
/// non-finite result fails that trial alone. The child records its own failures; when it could not
/// (killed, crashed, never got to create its run) the runner records the failure in the store.
public final class ComparisonRunner: @unchecked Sendable {
    public let plan: ComparisonPlan
    public let store: ResultsStore
    public let data: DataLocation
    /// The data directory passed to children (nil: theirs default to `$NTNG_HOME/data` like ours).
    public let dataDirectory: String?
    /// Where child logs go: `<results folder>/compare-logs/`.
    public var logDirectory: URL
    /// Progress lines (`[3/14] lion, 5m RST, seed 0: finished …`).
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Seconds between looks at the store while awaiting another process's run.
    var awaitPoll: Double = 2

    private let lock = NSLock()
    private let preparationLock = NSLock()

    public init(plan: ComparisonPlan, store: ResultsStore, dataDirectory: String?) {
        self.plan = plan
        self.store = store
        self.dataDirectory = dataDirectory
        self.data = DataLocation(explicitDirectory: dataDirectory)
        logDirectory = store.url.deletingLastPathComponent().appendingPathComponent("compare-logs")
    }

    /// What to do with one trial, decided from the store.
    enum Decision {
        case reuse(RunRecord)
        case await(RunRecord)
        case resume(RunRecord)
        case fresh
    }

    /// Decides a trial from the store's runs of this model and corpus (newest first).
    func decide(_ trial: Trial, among runs: [RunRecord]) -> Decision {
        decide(trial, matching: runs.filter { TrialIdentity(record: $0) == trial.identity })
    }

    /// Decides a trial from the stored runs with its identity (newest first), whose checkpoints
    /// lie beside `checkpoints` (default: the comparison's store; a Slurm trial store for its own).
    func decide(_ trial: Trial, matching: [RunRecord], checkpoints: ResultsStore? = nil) -> Decision {
        if let done = matching.first(where: { $0.status == .finished && $0.valLoss?.isFinite == true }) { return .reuse(done) }
        if let live = matching.first(where: { $0.effectiveStatus == .running }) { return .await(live) }
        let checkpointStore = checkpoints ?? store
        if let stopped = matching.first(where: { $0.effectiveStatus == .interrupted
            && FileManager.default.fileExists(atPath: checkpointStore.checkpointURL(runID: $0.id).path) }) {
            return .resume(stopped)
        }
        return .fresh
    }

    /// The store's runs of the plan's model and corpus by trial identity, newest first. Each stored
    /// configuration is decoded once, not once per trial.
    func storedRuns() throws -> [TrialIdentity: [RunRecord]] {
        var byIdentity: [TrialIdentity: [RunRecord]] = [:]
        for run in try store.runs(matching: RunFilter(model: plan.request.model, corpus: plan.request.corpus)) {
            if let identity = TrialIdentity(record: run) { byIdentity[identity, default: []].append(run) }
        }
        return byIdentity
    }

    /// Runs every trial that has no result yet. `shouldStop` is polled; when it turns true no new
    /// trial starts, running children are asked to stop (they checkpoint) and the outcomes so far
    /// are returned (the rest `interrupted` or `not started`).
    public func run(shouldStop: @escaping @Sendable () -> Bool = { false }) throws -> [TrialOutcome] {
        try store.reconcileInterruptedRuns()
        let byIdentity = try storedRuns()
        var outcomes = [TrialOutcome?](repeating: nil, count: plan.trials.count)
        var pending: [(Int, Decision)] = []
        // The store's claims cannot keep two jobs of this process apart: a trial listed twice runs once.
        let (firsts, copies) = plan.distinctTrials
        for i in firsts {
            let trial = plan.trials[i]
            let decision = decide(trial, matching: byIdentity[trial.identity] ?? [])
            if case .reuse(let record) = decision {
                outcomes[i] = TrialOutcome(trial: trial, status: .finished, source: .reused, record: record)
            } else {
                pending.append((i, decision))
            }
        }
        let reused = firsts.count - pending.count
        log("compare: \(plan.trialCountText); "
            + "\(reused) already in \(store.url.path), \(pending.count) to run, \(min(plan.request.jobs, max(pending.count, 1))) at a time with \(plan.request.threadsPerTrial) thread(s) each")

        let schedule = Schedule(pending: pending, outcomes: outcomes)
        let total = pending.count
        let workers = min(plan.request.jobs, pending.count)
        let group = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            // A Thread per job, alive until the last trial: children's parent-death signal is tied
            // to the thread that started them.
            let thread = Thread { [self] in
                defer { group.leave() }
                while let (index, decision) = schedule.take(unless: shouldStop) {
                    let trial = plan.trials[index]
                    let outcome = executeClaimed(trial, decision, shouldStop: shouldStop)
                    let done = schedule.complete(index, outcome)
                    lock.withLock { log("[\(done)/\(total)] \(trial.label): \(describe(outcome))") }
                }
            }
            thread.stackSize = 1 << 22
            thread.start()
        }
        group.wait()
        let results = plan.fillCopies(schedule.outcomes, copies)
        return plan.trials.enumerated().map { i, trial in
            results[i] ?? TrialOutcome(trial: trial, status: .interrupted, source: .notStarted, record: nil,
                                       error: "not started: the comparison was stopped")
        }
    }

    /// The trials left to run and the outcomes so far, shared by the job threads.
    private final class Schedule: @unchecked Sendable {
        private let lock = NSLock()
        private let pending: [(Int, Decision)]
        private var next = 0, done = 0
        private var results: [TrialOutcome?]

        init(pending: [(Int, Decision)], outcomes: [TrialOutcome?]) {
            self.pending = pending
            results = outcomes
        }

        /// The next trial to run, or nil when none is left or the comparison is stopping.
        func take(unless stop: () -> Bool) -> (Int, Decision)? {
            lock.withLock {
                guard next < pending.count, !stop() else { return nil }
                defer { next += 1 }
                return pending[next]
            }
        }

        /// Stores an outcome; returns how many trials are done.
        func complete(_ index: Int, _ outcome: TrialOutcome) -> Int {
            lock.withLock {
                results[index] = outcome
                done += 1
                return done
            }
        }

        var outcomes: [TrialOutcome?] { lock.withLock { results } }
    }

    private func describe(_ o: TrialOutcome) -> String {
        guard let r = o.record, o.status == .finished else {
            return "\(o.status.rawValue)\(o.source == .resumed ? " (resumed)" : "") — \(o.error ?? "no result")"
        }
        return String(format: "finished (%@), %d steps, train loss %.4f, val loss %.4f, wall %@", o.source.rawValue, r.steps,
                      r.finalTrainLoss ?? .nan, r.valLoss ?? .nan, Budget.formatReadable(r.wallSeconds))
    }

    // MARK: - One trial

    /// Runs a trial under a claim in the store, so two comparisons of one plan never run it
    /// twice: while another comparison holds the claim this waits, then decides again from what
    /// that one left (usually a finished run to reuse).
    private func executeClaimed(_ trial: Trial, _ planned: Decision, shouldStop: @escaping @Sendable () -> Bool) -> TrialOutcome {
        var waiting = false
        while true {
            let claim: ResultsStore.TrialClaim
            do { claim = try store.claimTrial(trial.identity.digest) } catch {
                var outcome = TrialOutcome(trial: trial, status: .failed, source: .notStarted, record: nil,
                                           error: "could not claim the trial in the results store: \(error)")
                outcome.unrecorded = true
                return outcome
            }
            switch claim {
            case .claimed:
                defer { try? store.releaseTrial(trial.identity.digest) }
                // Nobody else can run it now; another comparison may have finished it meanwhile.
                var decision = planned
                if let runs = try? store.runs(matching: RunFilter(model: plan.request.model, corpus: plan.request.corpus)) {
                    decision = decide(trial, among: runs)
                }
                if case .reuse(let record) = decision {
                    return TrialOutcome(trial: trial, status: .finished, source: .awaited, record: record)
                }
                return execute(trial, decision, shouldStop: shouldStop)
            case .heldBy(let holder):
                if !waiting {
                    log("\(trial.label): another comparison (process \(holder.pid) on \(holder.hostname)) is running this trial; waiting for it")
                    waiting = true
                }
                if shouldStop() {
                    return TrialOutcome(trial: trial, status: .interrupted, source: .notStarted, record: nil, error: "not started: the comparison was stopped")
                }
                usleep(UInt32(awaitPoll * 1e6))
            }
        }
    }

    private func execute(_ trial: Trial, _ decision: Decision, shouldStop: @escaping @Sendable () -> Bool) -> TrialOutcome {
        switch decision {
        case .reuse(let record):
            return TrialOutcome(trial: trial, status: .finished, source: .reused, record: record)
        case .await(let record):
            log("\(trial.label): run \(record.id) is in progress in process \(record.pid ?? 0); waiting for it")
            while !shouldStop() {
                guard let current = try? store.run(id: record.id) else { break }
                if current.effectiveStatus != .running {
                    // Decide again: finished → its result, interrupted → resume, failed → afresh.
                    switch decide(trial, among: [current]) {
                    case .reuse(let r): return TrialOutcome(trial: trial, status: .finished, source: .awaited, record: r)
                    case .resume(let r): return execute(trial, .resume(r), shouldStop: shouldStop)
                    default: return execute(trial, .fresh, shouldStop: shouldStop)
                    }
                }
                usleep(UInt32(awaitPoll * 1e6))
            }
            return TrialOutcome(trial: trial, status: .interrupted, source: .notStarted, record: record, error: "not started: the comparison was stopped")
        case .resume(let record):
            let outcome = runChild(trial, arguments: resumeArguments(record.id), knownRunID: record.id, source: .resumed, shouldStop: shouldStop)
            if outcome.status == .failed && !shouldStop() {
                log("\(trial.label): resuming run \(record.id) failed (\(outcome.error ?? "?")); running the trial afresh")
                return execute(trial, .fresh, shouldStop: shouldStop)
            }
            return outcome
        case .fresh:
            var arguments: [String]
            do { arguments = try freshArguments(trial, shouldStop: shouldStop) } catch {
                return recordFailure(trial, error: error is CompareError ? "\(error)" : "preparing the trial failed: \(error)", source: .ran)
            }
            if shouldStop() { return TrialOutcome(trial: trial, status: .interrupted, source: .notStarted, record: nil, error: "not started: the comparison was stopped") }
            return runChild(trial, arguments: arguments, knownRunID: nil, source: .ran, shouldStop: shouldStop)
        }
    }

    /// `ntng run --json …` for a fresh trial. Preparation a method needs before its first run
    /// (``MethodPreparations``: RHO-LOSS's irreducible-loss table, once per corpus, model and
    /// seed) happens here, one at a time, so parallel jobs never prepare the same thing twice.
    ///
    /// `trialStore` sends the run to a store of its own (a Slurm task's, on a shared filesystem,
    /// with a rollback journal) instead of the comparison's.
    func freshArguments(_ trial: Trial, trialStore: URL? = nil, shouldStop: @escaping @Sendable () -> Bool = { false }) throws -> [String] {
        var settings = trial.settings
        let before = settings.hyperparameters.pluginSettings
        // Only trials whose method needs preparing take the lock: others need not wait.
        for (preparation, library) in MethodPreparations.needed(by: settings) {
            try preparationLock.withLock {
                // The work runs in a child (a no-op when it is done), so Ctrl-C stops it and a crash
                // fails only this method's trials; then the host finds it and names it in the settings.
                if let arguments = preparation.preparationArguments(
                    for: settings, library: library, reachBudget: largestBudget, profile: trial.profileArgument,
                    dataDirectory: dataDirectory, hostSettings: plan.request.settings.filter { !ComparisonPlan.isPluginSetting($0) }) {
                    try runPreparation(trial, arguments: arguments, what: preparation.pluginID, shouldStop: shouldStop)
                }
                try preparation.prepare(run: &settings, library: library, data: data, profile: trial.profileArgument,
                                        reachBudget: largestBudget, log: log)
            }
        }
        // Settings the preparation derived (the table's path and hashes) go to the child explicitly.
        let derived = settings.hyperparameters.pluginSettings.filter { before[$0.key] != $0.value }
            .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }

        var a = ["run", "--json", "--method", trial.method, "--model", plan.request.model, "--corpus", plan.request.corpus,
                 "--budget", trial.budgetText, "--budget-kind", "rst", "--seed", String(trial.seed),
                 "--threads", String(trial.settings.threads)]
        a += commonArguments(trialStore: trialStore)
        if let profile = trial.profileArgument { a += ["--profile", profile] }
        for p in plan.request.pluginPaths { a += ["--plugin-path", p] }
        for f in plan.request.free { a += ["--free", f] }
        for s in trial.setArguments + derived { a += ["--set", s] }
        return a
    }

    /// The comparison's largest budget: what preparations reach, once.
    private var largestBudget: Budget { plan.budgets.max { $0.amount < $1.amount } ?? plan.budgets[0] }

    /// Runs a method's preparation (`ntng rho prepare …`) as a child process.
    private func runPreparation(_ trial: Trial, arguments: [String], what: String, shouldStop: @escaping @Sendable () -> Bool) throws {
        log("\(trial.label): preparing what \(what) needs for seed \(trial.seed) (once; not charged to any trial)")
        let child = TrialProcess(executable: plan.executable, arguments: arguments, timeout: 7 * 24 * 3600,
                                 logURL: logDirectory.appendingPathComponent("prepare-\(what)-seed\(trial.seed)-\(Int(Date().timeIntervalSince1970)).log"))
        let result = try child.run(shouldStop: shouldStop)
        guard result.exitCode == 0 else {
            throw CompareError.preparationFailed("ntng \(arguments.prefix(2).joined(separator: " ")) \(result.ending): \(result.stderrTail) (log: \(child.logURL.path))")
        }
    }

    func resumeArguments(_ runID: String, trialStore: URL? = nil) -> [String] {
        ["run", "--json", "--resume", runID] + commonArguments(trialStore: trialStore)
    }

    private func commonArguments(trialStore: URL? = nil) -> [String] {
        var a = ["--results", (trialStore ?? store.url).path]
        if trialStore != nil { a += ["--results-journal", ResultsStore.Journal.rollback.rawValue] }
        if let dataDirectory { a += ["--data-dir", dataDirectory] }
        return a
    }

    /// How much slower than idle the machine is now: the 1-minute load average per core, at least 1.
    /// A wall-clock watchdog must allow for other work on the machine (RST budgets do not care).
    static func loadFactor() -> Double {
        var load = [Double](repeating: 0, count: 1)
        guard getloadavg(&load, 1) == 1, load[0].isFinite else { return 1 }
        return max(1, load[0] / Double(max(ProcessInfo.processInfo.activeProcessorCount, 1)))
    }

    /// Runs the child and turns how it ended into the trial's outcome, recording failures the
    /// child could not record itself.
    private func runChild(_ trial: Trial, arguments: [String], knownRunID: String?, source: TrialOutcome.Source,
                          shouldStop: @escaping @Sendable () -> Bool) -> TrialOutcome {
        let stamp = String(format: "%.0f", Date().timeIntervalSince1970 * 1000)
        let name = "\(trial.method)-\(trial.budgetText)-seed\(trial.seed)-\(stamp)".map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }
        let child = TrialProcess(executable: plan.executable, arguments: arguments, timeout: plan.timeoutSeconds(trial, load: Self.loadFactor()),
                                 logURL: logDirectory.appendingPathComponent(String(name) + ".log"))
        let result: TrialProcess.Result
        do { result = try child.run(shouldStop: shouldStop) } catch {
            return recordFailure(trial, error: "could not start \(plan.executable.path): \(error)", source: source)
        }

        // Find the run the child created: by the id it printed, or by its pid.
        var record: RunRecord?
        if let id = knownRunID ?? (result.json?["run_id"] as? String) {
            record = try? store.run(id: id)
        }
        if record == nil {
            record = try? store.runs(matching: RunFilter(method: trial.method, model: plan.request.model, corpus: plan.request.corpus))
                .first { $0.pid == Int(result.pid) && $0.createdAt >= result.launchedAt.addingTimeInterval(-5) }
        }
        let logNote = " (log: \(child.logURL.path))"

        if result.timedOut {
            let message = String(format: "watchdog: no result after %.0f s (%.1f × the expected %.0f s wall time, allowing for the machine's load); the trial's process was stopped",
                                 child.timeout, plan.request.timeoutFactor, plan.expectedWallSeconds(trial)) + logNote
            return recordFailure(trial, error: message, record: record, source: source)
        }
        if result.stopped {
            if let r = record, r.status == .running {
                try? store.markInterrupted(id: r.id, reason: "stopped with the comparison")
            }
            let current = record.flatMap { try? store.run(id: $0.id) }
            if let current, current.status == .finished { return TrialOutcome(trial: trial, status: .finished, source: source, record: current) }
            return TrialOutcome(trial: trial, status: .interrupted, source: source, record: current,
                                error: "stopped with the comparison; run it again to continue")
        }
        guard let r = record.flatMap({ try? store.run(id: $0.id) }) else {
            return recordFailure(trial, error: "the trial's process \(result.ending) before it recorded a run: \(result.stderrTail)" + logNote, source: source)
        }
        switch r.status {
        case .finished:
            guard result.exitCode == 0 else {
                return recordFailure(trial, error: "the trial's process \(result.ending) after finishing: \(result.stderrTail)" + logNote, record: r, source: source)
            }
            guard let val = r.valLoss, val.isFinite, let train = r.finalTrainLoss, train.isFinite else {
                return recordFailure(trial, error: "the run finished without a finite training and validation loss (garbage result)" + logNote,
                                     record: r, source: source)
            }
            return TrialOutcome(trial: trial, status: .finished, source: source, record: r)
        case .failed:
            // The child recorded why.
            return TrialOutcome(trial: trial, status: .failed, source: source, record: r, error: (r.error ?? result.stderrTail) + logNote)
        case .running, .interrupted:
            return recordFailure(trial, error: "the trial's process \(result.ending) at step \(r.steps): \(result.stderrTail)" + logNote,
                                 record: r, source: source)
        }
    }

    /// Stores the trial as failed: marks its run, or creates one (so the failure is on record with
    /// the trial's full configuration) when the child never got that far.
    func recordFailure(_ trial: Trial, error: String, record: RunRecord? = nil, source: TrialOutcome.Source) -> TrialOutcome {
        var stored = record
        do {
            if stored == nil {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                stored = try store.createRun(NewRun(
                    method: trial.method, model: trial.settings.model, corpus: trial.settings.corpus, seed: Int(trial.seed),
                    budget: trial.budget, configJSON: String(decoding: try encoder.encode(trial.settings), as: UTF8.self),
                    profileJSON: trial.profileJSON, codeVersion: plan.build))
            }
            try store.failRun(id: stored!.id, error: error, failedStep: nil)
            stored = try store.run(id: stored!.id)
        } catch let storeError {
            log("\(trial.label): could not record the failure in the results store: \(storeError)")
            var outcome = TrialOutcome(trial: trial, status: .failed, source: source, record: stored,
                                       error: "\(error) — and this failure could not be recorded in the results store: \(storeError)")
            outcome.unrecorded = true
            return outcome
        }
        return TrialOutcome(trial: trial, status: .failed, source: source, record: stored, error: error)
    }
}
