import ArgumentParser
import Corpus
import Foundation
import PluginHost
import Models
import Host
import Storage
import Clock
import Records
import Preparation

/// `ntng run`: one training run under a budget.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train one method under a budget and store the run.",
        discussion: """
            Example: ntng run --method baseline --model small --corpus books --budget 10m --seed 0
            Budgets are reference-system time (RST) of the profile unless --budget-kind says otherwise. \
            Ctrl-C stops at the next step boundary with a checkpoint; continue with --resume RUN_ID.
            """)

    @Option(help: "baseline, a plugin id, or a path to a plugin library.") var method = "baseline"
    @Option(help: "Model preset: \(ModelConfig.presetNames.joined(separator: ", ")).") var model = "small"
    @Option(help: "Prepared corpus: books, docs, lexicon, all, or a path given to `ntng data prepare`.") var corpus = "books"
    @Option(parsing: .unconditional, help: "Budget, e.g. 10m, 2h, 90s (RST or wall) or a step count.") var budget: String?
    @Option(help: "What the budget counts: rst, wall or steps.") var budgetKind = "rst"
    @Option(parsing: .unconditional, help: "Seed for initial weights, data order and masking.") var seed = 0
    @Option(help: "Reference profile name or path (default: default-<preset>).") var profile: String?
    @Option(name: .customLong("free"), help: "Charge kind not to charge (scoring, curvature); repeatable.") var free: [String] = []
    @Option(name: .customLong("set"), help: "KEY=VALUE hyperparameter, model.KEY or PLUGIN.KEY; repeatable.") var settings: [String] = []
    @OptionGroup var compute: ThreadOptions
    @OptionGroup var choice: ComputeChoiceOptions
    @Option(help: "Extra folder to search for plugin libraries; repeatable.") var pluginPath: [String] = []
    @Option(help: "Resume the interrupted run with this id.") var resume: String?
    @OptionGroup var storage: StoreOptions
    @Flag(help: "Print one JSON object with the run's summary.") var json = false
    @Option(parsing: .unconditional, help: "Seconds a plugin hook may run before the run is failed (default: from the profile, at least 10 minutes).")
    var hookTimeout: Double?
    /// Set by the supervisor when it starts this process as its worker (see `RunSupervisor`).
    @Option(help: .hidden) var supervisedTrace: String?

    func validate() throws {
        if resume == nil && budget == nil { throw ValidationError("--budget is required (for example --budget 10m), unless --resume is given") }
        _ = try OptionRange.seed(seed)
        if let hookTimeout { try OptionRange.check(hookTimeout, "--hook-timeout", 1...(7 * 24 * 3600)) }
    }

    func run() throws {
        // Resuming acts on a recorded run: a mistyped --results must not create an empty store.
        let store = try resume == nil ? storage.store() : storage.existingStore()
        if supervisedTrace == nil && ProcessInfo.processInfo.environment["NTNG_UNSUPERVISED"] != "1",
           let executable = PluginSearchPath.currentExecutable {
            // This process supervises; a worker (this command again) trains.
            let stop = StopSignal.install()
            let status = try RunSupervisor(executable: executable, arguments: Array(CommandLine.arguments.dropFirst()), store: store)
                .run(stopRequested: { stop.requested }, log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
            if status != 0 { throw ExitCode(status) }
            return
        }
        if let supervisedTrace {
            PluginCallTrace.traceFileDescriptor = open(supervisedTrace, O_WRONLY | O_CLOEXEC)
        }
        let data = storage.data
        let trainer: Trainer
        if let resume {
            let record = try store.run(id: resume)
            try MethodPreparations.verifyRecorded(try JSONDecoder().decode(RunSettings.self, from: Data(record.configJSON.utf8)))
            trainer = try Trainer.resume(runID: resume, data: data, store: store)
        } else {
            var settings = try makeSettings()
            // What the method needs prepared (RHO-LOSS's table): found, or prepared once (uncharged).
            try MethodPreparations.prepare(run: &settings, data: data, profile: profile) {
                FileHandle.standardError.write(Data(($0 + "\n").utf8))
            }
            trainer = try Trainer.start(settings: settings, data: data, store: store, profile: profile)
        }
        let stop = StopSignal.install()
        let perStep = (trainer.settings.hyperparameters.batchSequences ?? trainer.workload.config.microBatch)
        PluginCallTrace.hookLimitMilliseconds = Int(1000 * (hookTimeout ?? RunSupervisor.hookLimit(
            profile: trainer.clock.profile, sequencesPerStep: perStep, parameters: trainer.workload.parameters.parameterCount)))
        let reporter = ProgressLine(enabled: !json)
        reporter.note("run \(trainer.runID): \(trainer.settings.method) on \(trainer.settings.model)/\(trainer.settings.corpus), budget \(trainer.settings.budget), seed \(trainer.settings.seed)")
        let outcome: RunOutcome
        do {
            outcome = try trainer.train(shouldStop: { stop.requested }, progress: reporter.update)
        } catch {
            reporter.finish()
            throw error
        }
        reporter.finish()
        let record = try store.run(id: trainer.runID)
        let report = RunReport(record: record, evaluations: try store.evaluations(runID: record.id))
        if json {
            print(try report.json())
        } else {
            switch outcome {
            case .finished: print(report.text)
            case .interrupted:
                print("run \(trainer.runID) interrupted at step \(record.steps); continue with: ntng run --resume \(trainer.runID)")
            }
        }
        if case .interrupted = outcome { throw ExitCode(130) }
    }

    func makeSettings() throws -> RunSettings {
        guard let kind = Budget.Kind(rawValue: budgetKind) else {
            throw ValidationError("--budget-kind must be rst, wall or steps (got '\(budgetKind)')")
        }
        var s = RunSettings(budget: try Budget.parse(budget ?? "", kind: kind))
        s.method = method
        s.model = model
        s.corpus = corpus
        s.seed = UInt64(seed)
        s.threads = compute.threads
        s.free = try free.map(ChargeKind.parseFree)
        s.pluginPaths = pluginPath
        _ = try ModelConfig.preset(model)
        for setting in choice.settings + settings { try s.apply(setting: setting) }
        try Self.refuseAmbiguousSettings(settings, method: method, pluginPaths: pluginPath)
        return s
    }

    /// A bare `--set KEY` that is both a host hyperparameter and a plugin's key is refused.
    static func refuseAmbiguousSettings(_ settings: [String], method: String, pluginPaths: [String]) throws {
        guard method != "baseline" else { return }
        let libraries = try PluginResolver.resolve(method: method, searchPath: .standard(extra: pluginPaths))
        if let problem = RunSettings.ambiguity(in: settings, libraries: libraries) { throw ValidationError(problem) }
    }
}

/// Ctrl-C and SIGTERM ask the run to stop at the next step boundary (with a checkpoint).
final class StopSignal: @unchecked Sendable {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0
    var requested: Bool { Self.flag != 0 }

    static func install() -> StopSignal {
        signal(SIGINT) { _ in StopSignal.flag = 1 }
        signal(SIGTERM) { _ in StopSignal.flag = 1 }
        // A parent may have started us with these blocked (a child inherits the blocked set of the
        // thread that spawned it); blocked, a stop request would wait forever.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
        return StopSignal()
    }
}
