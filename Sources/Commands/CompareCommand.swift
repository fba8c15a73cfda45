import ArgumentParser
import Corpus
import Foundation
import Host
import Storage
import Records
import Comparison
import PluginHost

/// `ntng compare`: methods × budgets × seeds under identical budgets, a table with honest
/// statistics, and a self-contained HTML report (docs/compare.md).
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare methods under identical RST budgets over several seeds; print the table and write an HTML report.",
        discussion: """
            Example: ntng compare --methods baseline,stacking,dropping,selective-backprop,rho,lion,sophia \
            --budgets 5m,10m --seeds 3 --model small --corpus books
            Every trial runs in its own `ntng run` process; a crash, a hang past the watchdog or a garbage \
            result fails that trial alone. Finished trials are kept in the results store: running the same \
            command again (for example after Ctrl-C) reuses them and runs only what is missing.
            """)

    @Option(help: "Comma-separated methods: baseline, plugin names or ids, library paths, a+b stacks; a row ending in @fp32 or @bf16 computes in that precision (baseline,baseline@bf16 compares the precisions, each priced by its own profile).") var methods: String
    @Option(help: "Comma-separated RST budgets, e.g. 5m,10m (any order).") var budgets: String
    @Option(parsing: .unconditional, help: "Number of seeds (0, 1, … n−1); every method runs every seed.") var seeds = 3
    @Option(help: "Model preset.") var model = "small"
    @Option(help: "Prepared corpus (as for ntng run).") var corpus = "books"
    @Option(parsing: .unconditional, help: "Trials to run at once; the cores are split between them.") var jobs = 1
    @Option(parsing: .unconditional, help: "Cores to split between the jobs (default: all).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Write the HTML report here (default: $NTNG_HOME/reports/compare-<model>-<corpus>-<time>.html).") var report: String?
    @Flag(help: "Do not write an HTML report.") var noReport = false
    @Option(help: "Table format: text, json, csv or markdown.") var format = "text"
    @OptionGroup var storage: StoreOptions
    @OptionGroup var choice: ComputeChoiceOptions
    @Option(name: .customLong("set"), help: "KEY=VALUE for every trial (PLUGIN.KEY only for methods with that plugin); repeatable.") var settings: [String] = []
    @Option(name: .customLong("grid"), help: "KEY=v1,v2,…: run every method at each value, with the same seeds and budgets (repeatable: the cross product); plugin or host keys, e.g. dropping.gamma_f=20,100 or lr=5e-4,1e-3. The table groups by setting.") var grid: [String] = []
    @Option(name: .customLong("eval-every"), parsing: .unconditional, help: "Evaluate the validation set every P percent of each trial's budget (uncharged); the report draws validation loss against RST.") var evalEvery: Double?
    @Option(name: .customLong("free"), help: "Charge kind not to charge in every trial (scoring, curvature); repeatable.") var free: [String] = []
    @Option(help: "Reference profile name or path (default: default-<preset>, and default-<preset>-bf16 for bf16 rows); repeat it to give one per precision.") var profile: [String] = []
    @Option(help: "Extra folder to search for plugin libraries; repeatable.") var pluginPath: [String] = []
    @Option(help: "Method the others are compared with (default: baseline if listed, else the first).") var reference: String?
    @Option(parsing: .unconditional, help: "Watchdog: kill a trial after this many times its expected wall time.") var timeoutFactor = 4.0
    @Option(parsing: .unconditional, help: "Watchdog: the shortest timeout in seconds.") var timeoutFloor = 120.0
    @Flag(help: "Exit with status 3 when any trial did not finish.") var strict = false
    @Flag(help: "Accept plugin optimizers without a calibrated cost in the profile (charged by estimate, marked †).") var allowEstimated = false
    @OptionGroup(title: "Executor") var executor: ExecutorOptions

    func validate() throws {
        guard ComparisonTable.Format(rawValue: format) != nil else {
            throw ValidationError("--format must be text, json, csv or markdown (got '\(format)')")
        }
        try OptionRange.check(threads, "--threads", 1...1024)
        if let evalEvery { try OptionRange.check(evalEvery, "--eval-every", 1...100) }
        try OptionRange.check(seeds, "--seeds", 1...1000)
        try OptionRange.check(jobs, "--jobs", 1...256)
        try OptionRange.check(timeoutFactor, "--timeout-factor", 1...1000)
        try OptionRange.check(timeoutFloor, "--timeout-floor", 1...(7 * 24 * 3600))
        try executor.check()
    }

    func run() throws {
        var request = ComparisonRequest(methods: ComparisonRequest.list(methods), budgets: ComparisonRequest.list(budgets), seeds: seeds)
        request.model = model
        request.corpus = corpus
        request.settings = choice.settings + settings + (evalEvery.map { ["eval-every=\($0)"] } ?? [])
        request.grid = grid
        request.free = free
        request.profiles = profile
        request.pluginPaths = pluginPath
        request.jobs = jobs
        request.cores = threads
        if executor.executor == .slurm {
            // A Slurm task's threads are its --cpus-per-task.
            request.jobs = 1
            request.cores = executor.slurmCPUs ?? max(1, threads / max(jobs, 1))
        }
        request.allowEstimated = allowEstimated
        request.timeoutFactor = timeoutFactor
        request.timeoutFloor = timeoutFloor
        request.reference = reference
        if let reference, !request.methods.contains(reference) {
            throw ValidationError("--reference \(reference) is not one of --methods (\(request.methods.joined(separator: ", ")))")
        }
        // Cheap checks first, so a typo fails before the store or the corpus is touched.
        try request.validate()

        let storeURL = storage.resultsURL
        let store = try ResultsStore(url: storeURL)
        guard let executable = PluginSearchPath.currentExecutable else { throw ValidationError("cannot find the ntng executable to run trials with") }
        let plan = try ComparisonPlan(request: request, data: storage.data, executable: executable)

        let stop = StopSignal.install()
        let outcomes: [TrialOutcome]
        switch executor.executor {
        case .local:
            let runner = ComparisonRunner(plan: plan, store: store, dataDirectory: storage.dataDir)
            outcomes = try runner.run(shouldStop: { stop.requested })
        case .slurm:
            let slurm = SlurmComparison(plan: plan, store: store, dataDirectory: storage.dataDir,
                                        options: try executor.slurmOptions(cpus: request.threadsPerTrial))
            slurm.wait = !executor.noWait
            slurm.pollSeconds = executor.slurmPoll
            let mode: SlurmComparison.Mode = executor.collect ? .collect : executor.attach ? .attach : .submit
            outcomes = try slurm.run(mode: mode, shouldStop: { stop.requested })
            if executor.noWait && mode == .submit {
                let open = outcomes.filter { !$0.isFinished }.count
                print("compare: \(open) trial(s) are with Slurm (\(slurm.folder.path)); run the same command with --attach to wait for them, or --collect to report what has ended")
                return
            }
        }
        let result = try ComparisonSummary(plan: plan, outcomes: outcomes, store: store)
        let table = ComparisonTable(result)
        print(table.render(ComparisonTable.Format(rawValue: format)!), terminator: "")

        if !noReport {
            let url = report.map { URL(fileURLWithPath: $0) } ?? Self.defaultReportURL(model: model, corpus: corpus)
            try ComparisonReport(result: result, store: store).write(to: url)
            let line = "report: \(url.path)"
            if format == "text" { print(line) } else { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        if stop.requested && executor.executor == .local {
            let finished = outcomes.filter(\.isFinished).count
            FileHandle.standardError.write(Data("compare: stopped; \(finished) of \(outcomes.count) trials are finished and stored. Run the same command again to continue — finished trials are reused, interrupted ones resume from their checkpoints.\n".utf8))
            throw ExitCode(130)
        }
        if outcomes.contains(where: \.unrecorded) {
            FileHandle.standardError.write(Data("compare: some failures could not be recorded in \(storage.resultsURL.path); see the table\n".utf8))
            throw ExitCode(4)
        }
        if stop.requested { throw ExitCode(130) }
        if strict && outcomes.contains(where: { !$0.isFinished }) { throw ExitCode(3) }
    }

    static func defaultReportURL(model: String, corpus: String) -> URL {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let safeCorpus = DataPreparer.corpusName(for: corpus)
        return NTNGHome.directory().appendingPathComponent("reports")
            .appendingPathComponent("compare-\(model)-\(safeCorpus)-\(formatter.string(from: Date())).html")
    }
}
