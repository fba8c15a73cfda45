import Corpus
import Foundation
import Testing
import TestSupport
import TrainingFixtures
@testable import Host
@testable import Records
@testable import Comparison
import TensorCore

/// `ntng compare` end to end on the `tiny` preset and a fixture corpus: trials run as child
/// processes of the built `ntng`, broken plugins fail alone, finished trials are reused, and
/// interrupted ones resume.
@Suite(.serialized) struct CompareTests {
    typealias Fixture = TrainingFixture

    static var executable: URL { URL(fileURLWithPath: PluginPaths.ntng) }

    func request(_ f: Fixture, methods: [String], budgets: [String] = ["0.3s"], seeds: Int = 2) -> ComparisonRequest {
        var r = ComparisonRequest(methods: methods, budgets: budgets, seeds: seeds)
        r.model = "tiny"
        r.corpus = f.corpusPath
        r.profiles = [f.profilePath]
        r.settings = ["checkpoint-every=20", "val-sequences=16"]
        r.jobs = 2
        r.cores = 2
        // Healthy tiny trials take a few seconds even on a loaded machine; the hanging one costs one floor.
        r.timeoutFactor = 1
        r.startupAllowance = 2
        r.timeoutFloor = 15
        // The example SGD optimizer has no cost in the fixture profile (estimated charges).
        r.allowEstimated = true
        return r
    }

    /// A plugin optimizer without a calibrated cost is refused unless estimates are allowed, and
    /// then marked in the table.
    @Test func estimatedChargesAreRefusedOrMarked() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var r = request(f, methods: ["baseline", PluginPaths.sgdExample], seeds: 1)
        r.allowEstimated = false
        do {
            _ = try ComparisonPlan(request: r, data: f.data, executable: Self.executable)
            Issue.record("an uncalibrated optimizer was accepted")
        } catch {
            #expect("\(error)".contains("plugin example.sgd-momentum") && "\(error)".contains("--allow-estimated")
                    && "\(error)".contains("ntng calibrate --model tiny --plugin example.sgd-momentum"), "\(error)")
        }
        r.allowEstimated = true
        let plan = try ComparisonPlan(request: r, data: f.data, executable: Self.executable)
        #expect(plan.estimatedMethods == [PluginPaths.sgdExample: "example.sgd-momentum"])
    }

    /// A library given by a path of another spelling is the same trial, named by its plugin id in
    /// tables, and the reproduce line spells it as an absolute path.
    @Test func librariesGivenByPathAreIdentifiedByTheirContent() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let spelled = PluginPaths.build.path + "/./" + URL(fileURLWithPath: PluginPaths.sgdExample).lastPathComponent
        let plain = try ComparisonPlan(request: request(f, methods: [PluginPaths.sgdExample], seeds: 1), data: f.data, executable: Self.executable)
        let other = try ComparisonPlan(request: request(f, methods: [spelled], seeds: 1), data: f.data, executable: Self.executable)
        #expect(plain.trials.map(\.identity) == other.trials.map(\.identity))
        #expect(other.commandLine.contains("--methods \(PluginPaths.sgdExample) ") && !other.commandLine.contains("/./"))
        let plugin = try #require(other.methodPlugins[spelled]?.first)
        #expect(plugin.id == "example.sgd-momentum" && plugin.version == "1.0.0" && plugin.sha256.count == 64)
        #expect(plugin.charge == "optimizer_step estimated")
        #expect(try ComparisonPlan(request: request(f, methods: ["baseline", "lion"], seeds: 1), data: f.data, executable: Self.executable)
                    .commandLine.contains("--methods baseline,lion "), "names stay search-path names")
    }

    func runner(_ f: Fixture, _ r: ComparisonRequest) throws -> ComparisonRunner {
        let plan = try ComparisonPlan(request: r, data: f.data, executable: Self.executable)
        let runner = ComparisonRunner(plan: plan, store: f.store, dataDirectory: f.data.root.path)
        runner.log = { _ in }
        return runner
    }

    /// A plugin that never returns from `on_step` (sleeps in the hook).
    func hangingPlugin() throws -> String {
        try buildCPlugin(probePluginSource, defines: ["STATUS_ON_STEP=(sleep(100000),0)", "PLUGIN_ID=\"test.hang\""],
                         name: "hang", extraFlags: ["-include", "unistd.h", "-lm"])
    }

    @Test func brokenTrialsFailAloneAndASecondCompareRerunsNothing() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let crash = try buildProbe(["CRASH_ON_STEP"], id: "test.crash")
        let garbage = try buildProbe(["WITH_OPTIMIZER", "NAN_PARAM"], id: "test.garbage")
        let hang = try hangingPlugin()
        let methods = ["baseline", PluginPaths.sgdExample, crash, garbage, hang]
        let r = request(f, methods: methods)
        let outcomes = try runner(f, r).run()
        #expect(outcomes.count == 10)
        func of(_ m: String) -> [TrialOutcome] { outcomes.filter { $0.trial.method == m } }
        for m in methods { #expect(of(m).count == 2, "two seeds of \(m)") }

        // The healthy methods finished every seed, with finite losses, in their own processes.
        for m in ["baseline", PluginPaths.sgdExample] {
            #expect(of(m).allSatisfy { $0.isFinished && $0.source == .ran && $0.record?.valLoss?.isFinite == true })
        }
        // Each broken one failed alone, on record in the store with why.
        for o in of(crash) {
            #expect(o.status == .failed)
            #expect(o.error?.contains("signal 11") == true, "\(o.error ?? "")")
            #expect(try f.store.run(id: o.runID!).status == .failed)
        }
        for o in of(garbage) {
            #expect(o.status == .failed)
            #expect(try f.store.run(id: o.runID!).error?.isEmpty == false)
        }
        for o in of(hang) {
            #expect(o.status == .failed)
            #expect(o.error?.contains("watchdog") == true, "\(o.error ?? "")")
            #expect(try f.store.run(id: o.runID!).status == .failed)
        }
        // The statistics and every export.
        let plan = try ComparisonPlan(request: r, data: f.data, executable: Self.executable)
        let result = try ComparisonSummary(plan: plan, outcomes: outcomes, store: f.store)
        #expect(result.consistencyProblems.isEmpty && result.consistencyChecked == 4)
        let section = try #require(result.sections.first)
        let sgd = try #require(section.rows.first { $0.method == PluginPaths.sgdExample })
        #expect(sgd.finishedCount == 2 && sgd.differences?["val_loss"]?.summary.count == 2)
        #expect(section.rows.first { $0.method == crash }?.summaries["val_loss"]?.count == 0)
        #expect(section.rows.filter { $0.best.contains("val_loss") }.count == 1)
        try checkRenderings(result, f)

        // The same comparison again: every finished trial is reused, nothing new is stored for them.
        let before = try f.store.runs().count
        let healthy = request(f, methods: ["baseline", PluginPaths.sgdExample])
        let again = try runner(f, healthy).run()
        #expect(again.allSatisfy { $0.source == .reused && $0.isFinished })
        #expect(Set(again.compactMap(\.runID)) == Set(outcomes.filter(\.isFinished).compactMap(\.runID)))
        #expect(try f.store.runs().count == before)

        // Threads do not enter the identity; a different budget does.
        var other = healthy
        other.jobs = 1
        #expect(try runner(f, other).plan.trials.map(\.identity) == runner(f, healthy).plan.trials.map(\.identity))
        other.budgets = ["0.25s"]
        #expect(Set(try runner(f, other).plan.trials.map(\.identity)).isDisjoint(with: try runner(f, healthy).plan.trials.map(\.identity)))
    }

    /// `--grid` runs the cross product of its values with the same seeds and budget, a plugin value
    /// only for the methods that load the plugin (the baseline's trial is the same at every value,
    /// run once); the table groups by setting with paired statistics per setting; `--eval-every`
    /// curves and the reference lines reach the table and report.
    @Test func aGridRunsTheCrossProductGroupedBySetting() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var r = request(f, methods: ["baseline", "dropping"], seeds: 1)
        r.grid = ["lr=0.001,0.002", "dropping.gamma_factor=10,100"]
        r.settings.append("eval-every=50")
        let runner = try runner(f, r)
        let plan = runner.plan
        #expect(plan.settingPoints == ["lr=0.001, dropping.gamma_factor=10", "lr=0.001, dropping.gamma_factor=100",
                                       "lr=0.002, dropping.gamma_factor=10", "lr=0.002, dropping.gamma_factor=100"])
        #expect(plan.trials.count == 8)
        let baseline = plan.trials.filter { $0.method == "baseline" }, dropping = plan.trials.filter { $0.method == "dropping" }
        #expect(Set(baseline.map { $0.identity }).count == 2 && Set(dropping.map { $0.identity }).count == 4)
        #expect(baseline.allSatisfy { !$0.setArguments.contains { $0.hasPrefix("dropping.") } })
        #expect(dropping.first?.settings.hyperparameters.pluginSettings["dropping.gamma_factor"] == "10")
        #expect(plan.commandLine.contains("--grid lr=0.001,0.002 --grid dropping.gamma_factor=10,100"))

        let outcomes = try runner.run()
        let errors = outcomes.map { $0.error ?? "" }
        #expect(outcomes.allSatisfy { $0.isFinished }, "\(errors)")
        let runIDs = Set(outcomes.compactMap { $0.runID })
        #expect(runIDs.count == 6, "the baseline ran once per learning rate")
        // Downstream scores stored with the runs, as `ntng eval` stores them, become a column and a chart.
        for (k, id) in runIDs.sorted().enumerated() {
            let record = try f.store.run(id: id)
            try f.store.record(runID: id, evaluations: [Records.Evaluation(step: record.steps, rstSeconds: record.rstSeconds,
                                                                           name: "downstream.average", value: 40 + Double(k))])
        }
        let result = try ComparisonSummary(plan: plan, outcomes: outcomes, store: f.store)
        #expect(result.metrics.map(\.key).contains("downstream.average"))
        #expect(result.consistencyProblems.isEmpty, "\(result.consistencyProblems)")
        #expect(result.sections.map { $0.setting } == plan.settingPoints)
        for section in result.sections {
            let row = try #require(section.rows.first { $0.method == "dropping" })
            #expect(row.finishedCount == 1 && row.differences?["val_loss"]?.summary.count == 1)
            // Paired with the baseline of its own learning rate.
            let reference = try #require(section.rows.first { $0.method == "baseline" }?.outcomes.first?.record)
            #expect(reference.configJSON.contains(section.setting.hasPrefix("lr=0.001") ? "\"peakLearningRate\":0.001" : "\"peakLearningRate\":0.002"))
        }
        let lines = try #require(result.referenceLines)
        #expect(lines.unigram > 0 && lines.unigram < lines.uniform)
        let text = ComparisonTable(result).render(.text)
        #expect(text.contains("budget 0.3s RST, lr=0.002, dropping.gamma_factor=100"), "\(text)")
        #expect(text.contains("reference lines on the validation targets: unigram"), "\(text)")
        #expect(!text.contains("reference.unigram"), "reference lines are not a metric column")
        let report = f.directory.appendingPathComponent("grid.html")
        try ComparisonReport(result: result, store: f.store).write(to: report)
        let html = try String(contentsOf: report, encoding: .utf8)
        #expect(html.contains("Validation loss vs RST") && html.contains("unigram ") && html.contains("dropping [lr=0.002, dropping.gamma_factor=10]"))
        #expect(html.contains("Downstream scores vs budget") && html.contains("downstream.average vs budget"))

        // Grids that cannot be compared fairly or are mistyped.
        func refusedGrid(_ grid: [String], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            var bad = request(f, methods: ["baseline", "dropping"], seeds: 1)
            bad.grid = grid
            planRefusal(f, bad, fragment, sourceLocation: sourceLocation)
        }
        refusedGrid(["model.layers=1,2"], "model shape")
        refusedGrid(["precision=fp32,bf16"], "pin rows")
        refusedGrid(["lr=0.001,0.001"], "listed twice")
        refusedGrid(["lr"], "write KEY=v1,v2")
        refusedGrid(["lr=0.001", "lr=0.002"], "two grids")
        refusedGrid(["val-sequences=8,16"], "also given with --set")
        refusedGrid(["lion.beta1=0.9,0.95"], "no method in --methods")
        refusedGrid(["warmup=abc,1"], "--grid warmup=abc")

        // `host.KEY` (what the ambiguity message advises for Lion's beta1) is a host setting for
        // every method, in --set and in --grid alike.
        var host = request(f, methods: ["baseline", "lion"], seeds: 1)
        host.settings.append("host.beta1=0.8")
        host.grid = ["host.beta2=0.95,0.99"]
        let hostPlan = try self.runner(f, host).plan
        #expect(hostPlan.trials.count == 4 && hostPlan.trials.allSatisfy { $0.settings.hyperparameters.adamW.beta1 == 0.8 })
        #expect(Set(hostPlan.trials.map { $0.settings.hyperparameters.adamW.beta2 }) == [0.95, 0.99])
    }

    /// `baseline,baseline@bf16` makes the precision a compared variable: the pinned row runs in
    /// bf16 and is charged from the bf16 profile, under the same RST budget; the table names both
    /// profiles and the consistency check accepts exactly that difference.
    @Test(.enabled(if: Precision.bf16IsNative)) func aRowPinnedToAPrecisionComparesPrecisions() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var r = request(f, methods: ["baseline", "baseline@bf16"], seeds: 1)
        r.profiles = [f.bf16ProfilePath, f.profilePath]  // in any order: each prices its own precision
        let runner = try runner(f, r)
        let plan = runner.plan
        #expect(plan.rows.map(\.method) == ["baseline", "baseline"] && plan.rows.map(\.precision) == [nil, .bf16])
        #expect(plan.profiles.count == 2 && plan.profiles[.bf16]?.profile.name == "test-tiny-bf16")
        let pinned = try #require(plan.trials.first { $0.row == "baseline@bf16" })
        #expect(pinned.method == "baseline" && pinned.settings.hyperparameters.precision == .bf16)
        #expect(pinned.setArguments.contains("precision=bf16") && pinned.profileJSON == plan.profiles[.bf16]!.json)
        #expect(pinned.profileArgument == f.bf16ProfilePath && plan.trials.first { $0.row == "baseline" }?.profileArgument == f.profilePath)
        #expect(Set(plan.trials.map(\.identity)).count == 2)
        #expect(plan.commandLine.contains("--methods baseline,baseline@bf16"))

        let outcomes = try runner.run()
        let errors = outcomes.map { $0.error ?? "" }
        #expect(outcomes.allSatisfy { $0.isFinished }, "\(errors)")
        let stored = try #require(outcomes.first { $0.trial.row == "baseline@bf16" }?.record)
        #expect(stored.configJSON.contains("\"precision\":\"bf16\"") && stored.profileJSON == pinned.profileJSON)
        let result = try ComparisonSummary(plan: plan, outcomes: outcomes, store: f.store)
        #expect(result.consistencyProblems.isEmpty && result.consistencyChecked == 2, "\(result.consistencyProblems)")
        #expect(result.sections[0].rows.map(\.method) == ["baseline", "baseline@bf16"])
        #expect(result.sections[0].rows.allSatisfy { $0.finishedCount == 1 })
        let text = ComparisonTable(result).render(.text)
        #expect(text.contains("baseline@bf16") && text.contains("bf16 rows: test-tiny-bf16"), "\(text)")

        // A precision is one of two; each precision needs a profile that fits the model (the shipped
        // default-tiny-bf16 is for the 8192-word vocabulary, not this fixture's), and a profile
        // nobody computes in, or a second one for a precision, is refused.
        planRefusal(f, request(f, methods: ["baseline", "baseline@fp16"], seeds: 1), "'@fp16' is not a precision")
        planRefusal(f, request(f, methods: ["baseline", "baseline@bf16"], seeds: 1), "default-tiny-bf16")
        var unused = request(f, methods: ["baseline"], seeds: 1)
        unused.profiles = [f.profilePath, f.bf16ProfilePath]
        planRefusal(f, unused, "no row computes in bf16")
        var twice = r
        twice.profiles = [f.profilePath, f.profilePath]
        planRefusal(f, twice, "already prices fp32")
    }

    func planRefusal(_ f: Fixture, _ r: ComparisonRequest, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: (any Error).self, sourceLocation: sourceLocation) { _ = try runner(f, r) }
        #expect(error.map { "\($0)".contains(fragment) } == true, "\(String(describing: error))", sourceLocation: sourceLocation)
    }

    func checkRenderings(_ result: ComparisonSummary, _ f: Fixture) throws {
        let table = ComparisonTable(result)
        let text = table.render(.text)
        #expect(text.contains("(reference)") && text.contains("budget 0.3s RST") && text.contains("did not finish"))
        #expect(text.contains(" * "), "the best entry is marked")
        #expect(text.contains("example.sgd-momentum †") && text.contains("† charged by estimate"), "estimated charges are marked")
        #expect(text.contains("example.sgd-momentum: plugin example.sgd-momentum 1.0.0 (sha256 ") && text.contains("optimizer_step estimated), \(PluginPaths.sgdExample)"),
                "plugins are named by id, version, hash and charge basis")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(table.render(.json).utf8)) as? [String: Any])
        let budgets = try #require(json["budgets"] as? [[String: Any]])
        #expect(budgets.count == 1 && (budgets[0]["methods"] as? [Any])?.count == 5)
        #expect(json["failed_trials"] as? Int == 6)
        let csv = table.render(.csv).split(separator: "\n")
        #expect(csv.count == 6 && csv[0].hasPrefix("budget,budget_rst_s,setting,method,finished,trials,train_loss_mean"))
        let columns = csv[0].split(separator: ",").count
        #expect(csv.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == columns })
        let markdown = table.render(.markdown)
        #expect(markdown.contains("| method | finished |") && markdown.contains("|---|"))

        let report = f.directory.appendingPathComponent("report.html")
        try ComparisonReport(result: result, store: f.store).write(to: report)
        let html = try String(contentsOf: report, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("<svg") && html.contains("Training loss vs RST"))
        // Self-contained: nothing to fetch.
        for forbidden in ["<script", "http://", "https://", "@import", "<link"] {
            #expect(!html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains(forbidden), "report contains \(forbidden)")
        }
    }

    /// Two comparisons of one plan at once (this process and an `ntng compare` child): every
    /// trial runs exactly once, the other comparison waits for it and reuses its run.
    @Test func twoComparisonsOfOnePlanRunEachTrialOnce() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let r = request(f, methods: ["baseline", PluginPaths.sgdExample], seeds: 2)
        let other = Process()
        other.executableURL = Self.executable
        other.arguments = ["compare", "--methods", "baseline,\(PluginPaths.sgdExample)", "--budgets", "0.3s", "--seeds", "2",
                           "--model", "tiny", "--corpus", f.corpusPath, "--profile", f.profilePath, "--jobs", "2", "--threads", "2",
                           "--set", "checkpoint-every=20", "--set", "val-sequences=16", "--results", f.store.url.path,
                           "--data-dir", f.data.root.path, "--no-report", "--timeout-factor", "1", "--timeout-floor", "15", "--allow-estimated"]
        other.standardOutput = FileHandle.nullDevice
        other.standardError = FileHandle.nullDevice
        try other.run()
        let outcomes = try runner(f, r).run()
        other.waitUntilExit()
        #expect(other.terminationStatus == 0)
        let allFinished = outcomes.allSatisfy { $0.isFinished }
        #expect(allFinished, "\(outcomes.map { "\($0.status) \($0.error ?? "")" })")
        let runs = try f.store.runs()
        #expect(runs.count == 4, "\(runs.count) runs for 4 trials: \(runs.map { "\($0.method) \($0.seed) \($0.status)" })")
        #expect(Set(outcomes.compactMap(\.runID)) == Set(runs.map(\.id)))
    }

    @Test func anInterruptedTrialResumesAndFinishesLikeAnUninterruptedOne() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let r = request(f, methods: ["baseline"], seeds: 1)
        let runner = try runner(f, r)
        let trial = try #require(runner.plan.trials.first)

        // A trial stopped midway (as a killed comparison leaves it), with its checkpoint.
        let trainer = try Trainer.start(settings: trial.settings, data: f.data, store: f.store, profile: f.profilePath,
                                        build: runner.plan.build)
        var steps = 0
        guard case .interrupted = try trainer.train(shouldStop: { steps >= 9 }, progress: { _ in steps += 1 }) else {
            Issue.record("expected an interruption"); return
        }
        let resumed = try #require(try runner.run().first)
        #expect(resumed.source == .resumed && resumed.isFinished)
        #expect(resumed.runID == trainer.runID)

        // The same trial in a fresh store, uninterrupted: the same steps and losses.
        let other = try ResultsStore(url: f.directory.appendingPathComponent("fresh.sqlite"))
        let freshRunner = ComparisonRunner(plan: runner.plan, store: other, dataDirectory: f.data.root.path)
        freshRunner.log = { _ in }
        let fresh = try #require(try freshRunner.run().first)
        #expect(fresh.source == .ran)
        #expect(fresh.record?.steps == resumed.record?.steps)
        #expect(fresh.record?.valLoss == resumed.record?.valLoss)
        #expect(fresh.record?.finalTrainLoss == resumed.record?.finalTrainLoss)
    }

    @Test func stoppingTheComparisonLeavesTrialsToContinueLater() throws {
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        var r = request(f, methods: ["baseline", PluginPaths.sgdExample], seeds: 1)
        r.jobs = 1
        let stop = StopFlag()
        stop.set()
        let outcomes = try runner(f, r).run(shouldStop: { stop.isSet })
        #expect(outcomes.allSatisfy { $0.source == .notStarted && $0.status == .interrupted })
        #expect(try f.store.runs().isEmpty)
    }

    @Test func badInputIsRefusedWithAClearMessage() throws {
        func refused(_ r: ComparisonRequest, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                try r.validate()
                Issue.record("expected an error mentioning \(fragment)", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
            }
        }
        refused(ComparisonRequest(methods: ["baseline", "lion", "baseline"], budgets: ["5m"], seeds: 3), "listed twice")
        refused(ComparisonRequest(methods: [], budgets: ["5m"], seeds: 3), "--methods is empty")
        refused(ComparisonRequest(methods: ["baseline"], budgets: ["5m"], seeds: 0), "--seeds must be at least 1")
        refused(ComparisonRequest(methods: ["baseline"], budgets: ["5m", "0s"], seeds: 1), "greater than zero")
        refused(ComparisonRequest(methods: ["baseline"], budgets: ["five"], seeds: 1), "budget 'five'")
        refused(ComparisonRequest(methods: ["baseline"], budgets: ["5m", "300s"], seeds: 1), "listed twice")
        refused(ComparisonRequest(methods: ["baseline"], budgets: [], seeds: 1), "--budgets is empty")
        refused(ComparisonRequest(methods: ["baseline", ""], budgets: ["5m"], seeds: 1), "unknown method")
        // Budgets need not be ascending.
        #expect(throws: Never.self) { try ComparisonRequest(methods: ["baseline"], budgets: ["10m", "5m"], seeds: 1).validate() }
        #expect(ComparisonRequest.list("baseline, lion ,sophia") == ["baseline", "lion", "sophia"])

        // What needs the corpus and the plugins: an unknown method, a setting no method takes.
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        func planRefused(_ r: ComparisonRequest, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let error = #expect(throws: (any Error).self, sourceLocation: sourceLocation) { _ = try runner(f, r) }
            #expect(error.map { "\($0)".contains(fragment) } == true, "\(String(describing: error))", sourceLocation: sourceLocation)
        }
        planRefused(request(f, methods: ["baseline", "no-such-method"]), "unknown method 'no-such-method'")
        var orphan = request(f, methods: ["baseline"])
        orphan.settings.append("lion.beta1=0.9")
        planRefused(orphan, "no method in --methods")
        var unknownKey = request(f, methods: ["baseline"])
        unknownKey.settings.append("learning-rate=1")
        planRefused(unknownKey, "unknown setting")
    }

    @Test func aCorruptOrHalfWrittenStoreIsReportedAndLeftUntouched() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Not a database at all.
        let garbage = dir.appendingPathComponent("garbage.sqlite")
        try Data("these are not the results you are looking for".utf8).write(to: garbage)
        let error = #expect(throws: ResultsStoreError.self) { _ = try ResultsStore(url: garbage) }
        #expect(error.map { "\($0)".contains("not an SQLite database") } == true)
        #expect(try Data(contentsOf: garbage) == Data("these are not the results you are looking for".utf8))

        // A real store cut off halfway (a copy interrupted mid-write).
        let whole = dir.appendingPathComponent("whole.sqlite")
        do {
            // Closed at the end of this scope, which folds the WAL into the main file.
            let store = try ResultsStore(url: whole)
            for i in 0..<40 {
                let run = try store.createRun(NewRun(method: "baseline", model: "tiny", corpus: "c", seed: i, budget: try .parse("1s"),
                                                     configJSON: String(repeating: "{}", count: 400), codeVersion: "test"))
                try store.finishRun(id: run.id, summary: RunSummary(rstSeconds: 1, wallSeconds: 1, steps: 1, tokens: 1))
            }
        }
        let bytes = try Data(contentsOf: whole)
        let half = dir.appendingPathComponent("half.sqlite")
        let truncated = bytes.prefix(bytes.count / 2)
        try truncated.write(to: half)
        #expect(throws: ResultsStoreError.self) { _ = try ResultsStore(url: half) }
        #expect(try Data(contentsOf: half) == truncated)
    }
}

/// A flag tests flip to stop a comparison.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
