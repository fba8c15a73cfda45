import Corpus
import Foundation
import Models
import TensorCore
import Testing
import TestSupport
import TrainingFixtures
@testable import Host
import Storage
import Clock
@testable import Preparation
@testable import PluginHost

/// RHO-LOSS's preparation (`Sources/Preparation`): the proxy and its irreducible-loss table,
/// prepared once, shared between processes, and used by a real run of the plugin.
@Suite(.serialized) struct RHOPreparationTests {
    /// Two `ntng rho prepare` processes asking for the same missing table at once: one prepares
    /// it, the other waits on the lock and then finds it — one proxy trained, one table.
    @Test func concurrentPreparationsWaitForEachOther() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let home = f.directory.appendingPathComponent("home")
        // 60 s of the fixture's made-up profile is about a second of real work: long enough to overlap.
        let arguments = ["rho", "prepare", "--corpus", f.corpusPath, "--model", "tiny", "--seed", "0", "--proxy-budget", "60s",
                         "--profile", f.profilePath, "--data-dir", f.directory.appendingPathComponent("data").path, "--threads", "1"]
        let processes = (0..<2).map { _ -> (Process, Pipe) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: PluginPaths.ntng)
            p.arguments = arguments
            p.environment = ProcessInfo.processInfo.environment.merging(["NTNG_HOME": home.path]) { $1 }
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            return (p, pipe)
        }
        for (p, _) in processes { try p.run() }
        let outputs = processes.map { p, pipe in
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (status: p.terminationStatus, text: text)
        }
        #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs.map(\.text))")
        #expect(outputs.filter { $0.text.contains("preparing it") }.count == 1, "\(outputs.map(\.text))")
        #expect(outputs.filter { $0.text.contains("found the prepared") }.count == 1)
        let hashes = outputs.compactMap { $0.text.split(separator: "\n").first { $0.contains("losses.f32") && $0.contains("sha256") } }
        #expect(hashes.count == 2 && hashes[0] == hashes[1])
    }

    /// `ntng run --method rho` end to end on the fixture corpus: `ensureTable` trains the proxy on
    /// the proxy split and writes a table with the run seed's masks; a second call reuses it; the
    /// run records the table in provenance, charges the selection forwards (and nothing for the
    /// proxy), and RST = training + scoring + optimizer.
    @Test func preparationAndARealRun() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let home = f.directory.appendingPathComponent("home")
        var settings = try f.settings(budget: "0.3s", ["rho.proxy_budget=0.2s"])
        settings.method = methodPluginPath("RHO")
        var lines: [String] = []
        let table = try #require(try RHOPreparation.ensureTable(for: &settings, data: f.data, profile: f.profilePath, home: home) { lines.append($0) })
        #expect(lines.contains { $0.contains("preparing it") })

        // The folder, the files and their hashes.
        let request = RHOPreparation.Request(run: settings, proxyBudget: try .parse("0.2s"), profile: f.profilePath)
        #expect(table.directory.standardizedFileURL.path == RHOPreparation.directory(for: request, home: home).standardizedFileURL.path)
        #expect(table.directory.path.hasSuffix("/tiny/seed-0/proxy-0.2s"))
        #expect(try SHA256Digest.hex(ofFileAt: table.tableURL.path) == table.manifest.tableSHA256)
        #expect(try SHA256Digest.hex(ofFileAt: table.proxyURL.path) == table.manifest.proxySHA256)
        #expect(settings.hyperparameters.pluginSettings["rho.table"] == table.tableURL.path)
        #expect(settings.hyperparameters.pluginSettings["rho.table_sha256"] == table.manifest.tableSHA256)
        #expect(settings.hyperparameters.pluginSettings["rho.proxy_sha256"] == table.manifest.proxySHA256)
        #expect(table.manifest.proxySteps > 3 && !table.manifest.charged)

        // NaN exactly on the proxy split; losses for the stream prefix the budget can reach, and
        // "not extracted" beyond it (scoring the whole split would dwarf the proxy's training).
        let corpus = try PreparedCorpus(corpus: settings.corpus, location: f.data)
        let config = try settings.modelConfig(vocabularySize: corpus.vocabSize)
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: config.sequenceLength, batchSize: config.microBatch, seed: settings.seed)
        let losses = try table.losses()
        #expect(losses.count == source.training.count)
        let covered = try #require(table.manifest.coveredPositions)
        #expect(covered == (try RHOPreparation.streamReach(of: settings, poolFactor: 2, data: f.data, profile: f.profilePath)))
        #expect(covered > 0 && covered < source.stream.count / 2, "the 0.3 s budget reaches a small part of the stream")
        let prefix = Set(source.stream.exampleIds(positions: 0 ..< covered))
        for (id, v) in losses.enumerated() {
            if ProxySplit.standard.isProxy(UInt64(id)) {
                #expect(v.isNaN && !RHOTable.isNotExtracted(v))
            } else if prefix.contains(UInt64(id)) {
                #expect(v.isFinite && v > 0)
            } else {
                #expect(RHOTable.isNotExtracted(v))
            }
        }

        // Same masks as the run (mask mismatch fixed): the proxy's loss on the run's masked
        // example is the table entry; another seed's masking gives another loss.
        let proxy = try table.proxyModel()
        let id = (0..<losses.count).first { !losses[$0].isNaN }!
        let example = source.batch(0)[0]
        #expect(!ProxySplit.standard.isProxy(example.exampleId))
        let run = proxy.model.forward(MaskedLMBatch(examples: [example], sequenceLength: config.sequenceLength))
        #expect(abs(run.mean - Double(losses[Int(example.exampleId)])) < 1e-5)
        let otherSeed = try MLMBatchSource(corpus: corpus, sequenceLength: config.sequenceLength, batchSize: config.microBatch, seed: 9)
        let other = proxy.model.forward(MaskedLMBatch(examples: [otherSeed.trainingExample(id: UInt64(id))], sequenceLength: config.sequenceLength))
        #expect(abs(other.mean - Double(losses[id])) > 1e-6)

        // Found, not trained again; another proxy budget gets a table of its own beside it.
        var again = try f.settings(budget: "0.3s")
        again.method = settings.method
        try again.apply(setting: "proxy_budget=0.2s")  // a bare key reaches the plugin settings too
        lines = []
        let reused = try #require(try RHOPreparation.ensureTable(for: &again, data: f.data, profile: f.profilePath, home: home) { lines.append($0) })
        #expect(reused.manifest == table.manifest)
        #expect(lines.contains { $0.contains("found the prepared") } && !lines.contains { $0.contains("preparing it") })
        var otherBudget = try f.settings(budget: "0.3s")
        otherBudget.method = settings.method
        try otherBudget.apply(setting: "rho.proxy_budget=0.1s")
        let otherTable = try #require(try RHOPreparation.ensureTable(for: &otherBudget, data: f.data, profile: f.profilePath, home: home) { _ in })
        #expect(otherTable.manifest.proxyBudget == (try Budget.parse("0.1s")) && otherTable.directory != table.directory)
        #expect(try RHOTable.open(table.directory).manifest == table.manifest)
        // Without proxy_budget the proxy trains for the run's own budget.
        var ownBudget = try f.settings(budget: "0.25s")
        ownBudget.method = settings.method
        let own = try #require(try RHOPreparation.ensureTable(for: &ownBudget, data: f.data, profile: f.profilePath, home: home) { _ in })
        #expect(own.manifest.proxyBudget == (try Budget.parse("0.25s")))
        #expect(try RHOPreparation.proxyBudget(nil, run: .steps(10)) == (try Budget.parse("5m")))
        // … and so is one whose proxy would have been trained with another recipe.
        var otherRecipe = try f.settings(budget: "0.3s", ["rho.proxy_budget=0.2s", "lr=5e-4"])
        otherRecipe.method = settings.method
        do {
            try RHOPreparation.ensureTable(for: &otherRecipe, data: f.data, profile: f.profilePath, home: home) { _ in }
            Issue.record("a table trained with lr 1e-3 was reused for a run with lr 5e-4")
        } catch { #expect("\(error)".contains("another recipe")) }
        // The baseline needs no table.
        var baseline = try f.settings()
        #expect(try RHOPreparation.ensureTable(for: &baseline, data: f.data, profile: f.profilePath, home: home) { _ in } == nil)

        // The run: free proxy, charged selection, provenance.
        let trainer = try f.start(settings)
        var pluginLines: [String] = []
        trainer.pluginLog = { pluginLines.append($0) }
        guard case .finished(let summary) = try trainer.train() else { Issue.record("not finished"); return }
        let clock = trainer.clock, profile = clock.profile
        let layers = config.layers, b = config.microBatch
        let scored = try f.store.diagnostics(runID: trainer.runID, key: "scored_sequences").map(\.value).reduce(0, +)
        #expect(scored == Double(summary.steps * 2 * b), "the whole 2× mega-batch is scored each step")
        let rates = try f.store.diagnostics(runID: trainer.runID, key: "selection_rate").map(\.value)
        #expect(rates.count == summary.steps && rates.allSatisfy { $0 == 0.5 })
        let scoring = profile.forwardOnlyCost(activeLayers: layers, sequences: Int(scored))
        let training = profile.forwardBackwardCost(activeLayers: layers, sequences: summary.steps * b)
        let optimizer = Double(summary.steps) * profile.optimizerUpdateCost(parameters: trainer.workload.parameters.parameterCount)
        #expect(abs((clock.charged[.scoring] ?? 0) - scoring) < 1e-9)
        #expect(abs(clock.rstSeconds - (training + scoring + optimizer)) < 1e-9)
        let record = try f.store.run(id: trainer.runID)
        #expect(record.pluginsJSON?.contains(table.manifest.tableSHA256) == true)
        #expect(record.configJSON.contains(table.manifest.tableSHA256))
        #expect(pluginLines.contains { $0.contains("amortised and NOT charged") && $0.contains(table.manifest.tableSHA256) })
        let stored = try f.store.log(runID: trainer.runID)
        #expect(stored.contains { $0.source == "rho" && $0.message.contains("amortised and NOT charged") }, "the statement is stored with the run")

        // The reach bound holds (the run drew no position without a loss) and is tight: RHO alone
        // is priced exactly, so it overshoots by the one step added for rounding (and one of ceil).
        let drawn = summary.steps * 2 * b
        #expect(drawn <= covered && covered - drawn <= 2 * 2 * b, "drew \(drawn) of \(covered) covered positions")

        // A longer budget extends the table: values already there keep their bits, and the old
        // hash is kept so the run above may still resume with it.
        var longer = try f.settings(budget: "0.9s", ["rho.proxy_budget=0.2s"])
        longer.method = settings.method
        lines = []
        let extended = try #require(try RHOPreparation.ensureTable(for: &longer, data: f.data, profile: f.profilePath, home: home) { lines.append($0) })
        #expect(lines.contains { $0.contains("extended") } && !lines.contains { $0.contains("preparing it") })
        let grown = try extended.losses()
        #expect((extended.manifest.coveredPositions ?? source.stream.count) > covered)
        #expect(grown.filter { !$0.isNaN }.count > losses.filter { !$0.isNaN }.count)
        for id in losses.indices where !RHOTable.isNotExtracted(losses[id]) { #expect(grown[id].bitPattern == losses[id].bitPattern) }
        #expect(extended.manifest.earlierTableSHA256s == [table.manifest.tableSHA256])
        #expect(extended.manifest.proxySHA256 == table.manifest.proxySHA256)
        #expect(longer.hyperparameters.pluginSettings["rho.table_sha256"] == extended.manifest.tableSHA256)

        // On resume the recorded table must still be the same file, or one extended from it.
        try RHOPreparation.verifyRecordedTable(settings)
        var changed = grown
        changed[id] += 1
        try RHOTable.writeLosses(changed, to: table.tableURL)
        #expect(throws: RHOError.self) { try RHOPreparation.verifyRecordedTable(settings) }
    }
}
