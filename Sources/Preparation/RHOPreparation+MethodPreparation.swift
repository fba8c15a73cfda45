import Corpus
import Foundation
import Models
import Storage
import Clock
import Records
import Host
import Workloads
import PluginHost

/// RHO-LOSS's irreducible-loss table as a method preparation: for runs, comparisons and the
/// conformance checker alike.
extension RHOPreparation: MethodPreparation {
    public static func prepare(run settings: inout RunSettings, library: PluginLibrary, data: DataLocation, profile: String?,
                               reachBudget: Budget?, log: (String) -> Void) throws {
        _ = try ensureTable(for: &settings, library: library, data: data, profile: profile, reachBudget: reachBudget, log: log)
    }

    public static func verifyRecorded(_ settings: RunSettings) throws { try verifyRecordedTable(settings) }

    /// `ntng rho prepare` for the trial's corpus, model, seed, recipe and proxy budget, covering
    /// what `reachBudget` can reach with RHO alone (a stack that reaches further has the table
    /// extended when its run prepares).
    public static func preparationArguments(for settings: RunSettings, library: PluginLibrary, reachBudget: Budget,
                                            profile: String?, dataDirectory: String?, hostSettings: [String]) -> [String]? {
        let proxyBudget = ((try? Self.proxyBudget(pluginSetting("proxy_budget", of: library, in: settings), run: settings.budget))
                           ?? settings.budget).amount.description + "s"
        var a = ["rho", "prepare", "--corpus", settings.corpus, "--model", settings.model, "--seed", String(settings.seed),
                 "--proxy-budget", proxyBudget, "--threads", String(settings.threads),
                 "--budget", "\(reachBudget.amount)s", "--pool-factor", String(poolFactor(library, in: settings))]
        for f in settings.free { a += ["--free", f.rawValue] }
        if let dataDirectory { a += ["--data-dir", dataDirectory] }
        if let profile { a += ["--profile", profile] }
        for s in hostSettings { a += ["--set", s] }
        return a
    }

    /// The checker's own table: a tiny proxy trained on synthetic sequences the checker never draws
    /// (ids from 2^32), then its losses on the ids the checker's hosts draw (ids 0 ..< 4096, the
    /// sequences of ``StandaloneHost``'s default seed). A table prepared for a corpus run would not
    /// cover the checker's stream, so host-filled settings given by the user are replaced.
    public static func settingsForCheck(library: PluginLibrary, settings: [String: String], in directory: URL) throws -> [String: String] {
        var run = RunSettings(budget: try .steps(32))
        run.model = "tiny"
        run.seed = 1 ^ ProxyTraining.seedKey
        let config = try run.modelConfig()
        let proxy = try StandaloneHost(settings: run, batches: SyntheticBatches(config: config, seed: 1, firstID: 1 << 32),
                                       profile: StandaloneHost.syntheticProfile(config))
        try proxy.train(nil)

        let checked = SyntheticBatches(config: config, seed: 1)
        let ids = 4096
        var losses = [Float](repeating: RHOTable.notExtracted, count: ids)
        for start in stride(from: 0, to: ids, by: config.microBatch) {
            let chunk = (start ..< min(start + config.microBatch, ids)).map { checked.example(id: UInt64($0)) }
            proxy.workload.forward(MaskedLMBatch(examples: chunk, sequenceLength: config.sequenceLength), activeLayers: nil)
            let (sums, counts) = proxy.workload.exampleLosses
            for (i, example) in chunk.enumerated() {
                losses[Int(example.exampleId)] = counts[i] > 0 ? sums[i] / counts[i] : 0
            }
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tableURL = directory.appendingPathComponent(RHOTable.tableFile)
        let proxyURL = directory.appendingPathComponent(RHOTable.proxyFile)
        try RHOTable.writeLosses(losses, to: tableURL)
        try ProxyTraining.saveProxy(proxy.workload, seed: run.seed, steps: proxy.clock.steps, to: proxyURL)
        var result = settings.filter { key, _ in !hostFilledKeys.contains(String(key.split(separator: ".").last ?? "")) }
        result["table"] = tableURL.path
        result["table_sha256"] = try SHA256Digest.hex(ofFileAt: tableURL.path)
        result["proxy_checkpoint"] = proxyURL.path
        result["proxy_sha256"] = try SHA256Digest.hex(ofFileAt: proxyURL.path)
        return result
    }
}
