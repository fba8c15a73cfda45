import Corpus
import Foundation
import Models
import TensorCore
import Storage
import Clock
import Records
import Host
import PluginHost

/// Host-side preparation for RHO-LOSS (docs/methods/rho.md): trains the irreducible-loss ("proxy") model
/// and computes its per-example losses over the training split, once per (corpus, model, seed).
///
/// The seed code's two pitfalls (docs/methods/rho.md) are fixed by construction:
/// - **split mismatch**: the proxy split is a fixed rule on the example id (``ProxySplit``) applied
///   by the data layer itself; every run's training stream excludes it and the proxy trains only
///   on it, so table ids and run ids cannot drift apart. The plugin also refuses proxy-split ids.
/// - **mask mismatch**: masking is a pure function of (run seed, example id) (``MLMMasking``), and
///   the table is extracted with the masks of the run seed it is stored under, so ℓ_train and
///   ℓ_IL are losses on the very same masked sequence. A table is therefore per seed.
///
/// All of it is amortised and charged to no run (as in the paper); the run records the table's
/// path and SHA-256 in the plugin's config (provenance) and the plugin logs it.
public enum RHOPreparation {
    /// The plugin's descriptor id.
    public static let pluginID = "rho"

    /// The plugin settings the host fills in for provenance (`rho.table`, …), not chosen by the
    /// user; a trial's identity leaves them out (they follow from corpus, model and seed).
    public static let hostFilledKeys: Set<String> = ["table", "table_sha256", "proxy_checkpoint", "proxy_sha256"]

    /// What to prepare.
    public struct Request: Sendable, Equatable {
        public var corpus: String
        public var model: String
        public var modelOverrides: [String: String] = [:]
        public var seed: UInt64
        public var proxyBudget: Budget
        /// Reference profile (name or path) that prices the proxy budget; nil: `default-<model>`.
        public var profile: String?
        /// The proxy's recipe: the target's (learning rate, AdamW, clipping, batch).
        public var hyperparameters = Hyperparameters()
        public var threads = 2
        /// Positions of the seed's training stream whose losses the table must hold (nil: every
        /// training id). ``ensureTable(for:data:profile:reachBudget:home:log:)`` sets it to what the
        /// run's budget can reach.
        public var coverage: Int?

        public init(corpus: String, model: String, seed: UInt64, proxyBudget: Budget) {
            self.corpus = corpus
            self.model = model
            self.seed = seed
            self.proxyBudget = proxyBudget
        }

        /// The request matching a run's settings (same corpus, architecture, seed and recipe).
        public init(run: RunSettings, proxyBudget: Budget, profile: String?) {
            self.init(corpus: run.corpus, model: run.model, seed: run.seed, proxyBudget: proxyBudget)
            modelOverrides = run.modelOverrides
            self.profile = profile
            hyperparameters = run.hyperparameters
            hyperparameters.pluginSettings = [:]
            threads = run.threads
        }

        /// `<model>` or, with `--set model.KEY=…` overrides, `<model>-<hash of the overrides>`.
        var modelKey: String {
            guard !modelOverrides.isEmpty else { return model }
            let text = modelOverrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return model + "-" + String(SHA256Digest.hex(Array(text.utf8)).prefix(8))
        }
    }

    /// `$NTNG_HOME/rho/<corpus>/<model>/seed-<S>/proxy-<budget>/`.
    public static func directory(for request: Request, home: URL = NTNGHome.directory()) -> URL {
        home.appendingPathComponent("rho").appendingPathComponent(DataPreparer.corpusName(for: request.corpus))
            .appendingPathComponent(request.modelKey).appendingPathComponent("seed-\(request.seed)")
            .appendingPathComponent(String(format: "proxy-%gs", request.proxyBudget.amount))
    }

    // MARK: - The hook `ntng run` calls

    /// For a run whose method includes the RHO plugin: finds the prepared table for the run's
    /// (corpus, model, seed), or prepares it (training the proxy — minutes), and sets the plugin
    /// settings `rho.table`, `rho.table_sha256`, `rho.proxy_checkpoint`, `rho.proxy_sha256`, so the
    /// run's provenance records which proxy and table it used. Does nothing for other methods.
    ///
    /// Call it in `ntng run` on a fresh start, after the settings are made and before
    /// `Trainer.start` (not on `--resume`: the stored settings already name the table).
    /// A table given explicitly (`--set rho.table=PATH`) is used as is, after checking the manifest
    /// beside it (if any) against the run's corpus, model and seed.
    /// Only the stream positions the run can reach within its budget (or `reachBudget`, when a
    /// comparison prepares for its largest budget at once) get losses; see ``streamReach``.
    /// Returns the table used, or nil when the method does not include RHO.
    @discardableResult
    public static func ensureTable(for settings: inout RunSettings, data: DataLocation, profile: String?,
                                   reachBudget: Budget? = nil, home: URL = NTNGHome.directory(),
                                   log: (String) -> Void) throws -> RHOTable? {
        guard let library = rhoLibrary(in: settings) else { return nil }
        if (try? ModelConfig.preset(settings.model))?.encoderDecoder != nil {
            throw RHOError.invalid("RHO-LOSS runs on the masked-LM (BERT) presets only: the paper ran it on BERT, and its irreducible-loss model is a masked LM; '\(settings.model)' is T5")
        }
        return try ensureTable(for: &settings, library: library, data: data, profile: profile, reachBudget: reachBudget,
                               home: home, log: log)
    }

    /// ``ensureTable(for:data:profile:reachBudget:home:log:)`` for the run's RHO `library`, already resolved.
    static func ensureTable(for settings: inout RunSettings, library: PluginLibrary, data: DataLocation, profile: String?,
                            reachBudget: Budget?, home: URL = NTNGHome.directory(), log: (String) -> Void) throws -> RHOTable {
        func spellings(_ key: String) -> [String] { library.settingPrefixes.map { "\($0).\(key)" } + [key] }
        func setting(_ key: String) -> String? { pluginSetting(key, of: library, in: settings) }
        var request = Request(run: settings, proxyBudget: try proxyBudget(setting("proxy_budget"), run: settings.budget), profile: profile)
        var reachSettings = settings
        if let reachBudget { reachSettings.budget = reachBudget }
        request.coverage = try streamReach(of: reachSettings, poolFactor: poolFactor(library, in: settings), data: data, profile: profile)

        let table: RHOTable
        if let explicit = setting("table"), !explicit.isEmpty {
            table = try checkExplicitTable(explicit, request: request, data: data, log: log)
            // The manifest-less case returned a stand-in record; provenance still gets the file's hash.
        } else {
            table = try findOrPrepare(request, data: data, home: home, log: log)
        }
        // Record what was used under the plugin's id (the key every stack accepts).
        var plugin = settings.hyperparameters.pluginSettings
        for k in hostFilledKeys { for key in spellings(k) { plugin.removeValue(forKey: key) } }
        plugin["\(pluginID).table"] = table.tableURL.path
        plugin["\(pluginID).table_sha256"] = table.manifest.tableSHA256
        plugin["\(pluginID).proxy_checkpoint"] = FileManager.default.fileExists(atPath: table.proxyURL.path) ? table.proxyURL.path : ""
        plugin["\(pluginID).proxy_sha256"] = table.manifest.proxySHA256
        settings.hyperparameters.pluginSettings = plugin
        log("RHO-LOSS: using irreducible losses \(table.tableURL.path) (sha256 \(table.manifest.tableSHA256)) from proxy \(table.proxyURL.path); amortised, not charged")
        return table
    }

    /// On `--resume`: checks that the table a stored run recorded (`rho.table`, `rho.table_sha256`)
    /// is still the same file, so a table prepared again (`--force`) in between cannot change the
    /// selection halfway through a run. Does nothing for runs without those settings.
    public static func verifyRecordedTable(_ settings: RunSettings) throws {
        let plugin = settings.hyperparameters.pluginSettings
        guard let path = plugin["\(pluginID).table"], let expected = plugin["\(pluginID).table_sha256"], !expected.isEmpty else { return }
        let actual = (try? SHA256Digest.hex(ofFileAt: path)) ?? "missing"
        if actual != expected, let table = try? RHOTable.open(URL(fileURLWithPath: path).deletingLastPathComponent()),
           table.tableURL.path == URL(fileURLWithPath: path).path, table.manifest.tableSHA256 == actual,
           table.manifest.earlierTableSHA256s?.contains(expected) == true,
           plugin["\(pluginID).proxy_sha256"].map({ $0 == table.manifest.proxySHA256 }) ?? true {
            return  // extended since: the run's ids keep exactly their values
        }
        guard actual == expected else {
            throw RHOError.mismatch("the run used the RHO table \(path) with SHA-256 \(expected), but that file now has \(actual); it was prepared again or removed, so the run cannot resume with the same selection")
        }
    }

    /// The RHO library of the run's method, if it has one.
    static func rhoLibrary(in settings: RunSettings) -> PluginLibrary? {
        guard settings.method != "baseline",
              let libraries = try? PluginResolver.resolve(method: settings.method, searchPath: .standard(extra: settings.pluginPaths))
        else { return nil }  // an unresolvable method is reported by Trainer.start
        return libraries.first { $0.descriptor.id == pluginID }
    }

    /// The prepared table for `request`, preparing it when there is none. A table prepared with
    /// other inputs (corpus re-prepared, another proxy budget, …) is an error, not silently replaced.
    /// Holds a lock file beside the folder while it looks, prepares or extends, so two processes
    /// (two `ntng run --method rho`, or two comparisons) never prepare or extend one table at once:
    /// the second waits and then finds the first one's table.
    public static func findOrPrepare(_ request: Request, data: DataLocation, home: URL = NTNGHome.directory(),
                                     log: (String) -> Void) throws -> RHOTable {
        let directory = directory(for: request, home: home)
        let lock = try PreparationLock(beside: directory)
        defer { lock.release() }
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent(RHOTable.manifestFile).path) {
            let table = try RHOTable.open(directory)
            try check(table.manifest, against: request, data: data, location: directory.path)
            log("RHO-LOSS: found the prepared irreducible-loss table in \(directory.path)")
            if let covered = table.manifest.coveredPositions, request.coverage.map({ $0 > covered }) ?? true {
                return try extend(table, to: request.coverage, request: request, data: data, log: log)
            }
            return table
        }
        log("RHO-LOSS: no irreducible-loss table for \(request.corpus)/\(request.modelKey)/seed \(request.seed) yet; preparing it (amortised, not charged)")
        return try prepare(request, data: data, home: home, force: false, log: log)
    }

    /// Checks a stored manifest against what the run needs.
    static func check(_ m: RHOManifest, against request: Request, data: DataLocation, location: String) throws {
        let corpus = try PreparedCorpus(corpus: request.corpus, vocabSize: ModelConfig.corpusVocabulary(preset: request.model, overrides: request.modelOverrides), location: data)
        let config = try modelConfig(request, corpus: corpus)
        var problems: [String] = []
        if m.seed != request.seed { problems.append("it was made with the masks of seed \(m.seed), the run uses seed \(request.seed) (mask mismatch)") }
        if m.corpusFingerprint != (try corpusFingerprint(corpus)) { problems.append("the corpus \(request.corpus) was prepared again since (split mismatch)") }
        if m.tokenizer != corpus.stats.tokenizer { problems.append("tokenizer \(m.tokenizer) ≠ \(corpus.stats.tokenizer)") }
        if m.modelConfig != config { problems.append("the proxy's architecture differs from the run's model") }
        if m.proxySplit != .standard { problems.append("proxy split \(m.proxySplitRule) ≠ the data layer's \(ProxySplit.standard.rule) (split mismatch)") }
        let training = try PackedSequences(split: corpus.train, sequenceLength: config.sequenceLength).count
        if m.trainingSequences != training { problems.append("\(m.trainingSequences) training ids ≠ the corpus's \(training)") }
        if m.proxyBudget != request.proxyBudget { problems.append("proxy budget \(m.proxyBudget) ≠ the requested \(request.proxyBudget)") }
        // The proxy trains with the run's recipe, priced by the run's profile.
        let (a, b) = (m.hyperparameters, request.hyperparameters)
        if a.peakLearningRate != b.peakLearningRate || a.warmupFraction != b.warmupFraction || a.batchSequences != b.batchSequences
            || a.clipNorm != b.clipNorm || a.adamW != b.adamW {
            problems.append("the proxy was trained with another recipe (lr, warm-up, batch, clip or AdamW settings)")
        }
        let profile = try ProfileCatalog.load(request.profile, preset: request.model, shape: ProfileCatalog.shape(of: config))
        if m.profile != profile.name { problems.append("the proxy budget was priced by profile \(m.profile), the run uses \(profile.name)") }
        guard problems.isEmpty else {
            throw RHOError.mismatch("the RHO table in \(location) does not fit this run: \(problems.joined(separator: "; ")). Prepare a matching one with `ntng rho prepare --corpus \(request.corpus) --model \(request.model) --seed \(request.seed) --proxy-budget \(request.proxyBudget) --force`")
        }
    }

    /// A table named by the user: its manifest (if any) must fit the run.
    static func checkExplicitTable(_ path: String, request: Request, data: DataLocation, log: (String) -> Void) throws -> RHOTable {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.path) else { throw RHOError.invalid("rho.table=\(path): no such file") }
        let directory = url.deletingLastPathComponent()
        if url.lastPathComponent == RHOTable.tableFile,
           FileManager.default.fileExists(atPath: directory.appendingPathComponent(RHOTable.manifestFile).path) {
            let table = try RHOTable.open(directory)
            var tolerant = request
            tolerant.proxyBudget = table.manifest.proxyBudget  // any proxy budget is fine for a table given by hand
            try check(table.manifest, against: tolerant, data: data, location: directory.path)
            return table
        }
        log("RHO-LOSS: warning: \(path) has no manifest beside it, so nothing shows it was made with this run's masks (seed \(request.seed)) and split")
        let sha = try SHA256Digest.hex(ofFileAt: url.path)
        let corpus = try PreparedCorpus(corpus: request.corpus, vocabSize: ModelConfig.corpusVocabulary(preset: request.model, overrides: request.modelOverrides), location: data)
        let config = try modelConfig(request, corpus: corpus)
        let stub = RHOManifest(
            corpus: request.corpus, corpusFingerprint: "", tokenizer: corpus.stats.tokenizer, model: request.model, modelConfig: config,
            seed: request.seed, trainingSequences: 0, proxySequences: 0, proxySplit: .standard, proxySplitRule: ProxySplit.standard.rule,
            proxyBudget: request.proxyBudget, profile: "", hyperparameters: request.hyperparameters, proxySteps: 0, proxyEpochs: 0,
            proxyFinalTrainLoss: nil, proxyValidationLoss: .nan, tableMeanLoss: .nan, tableSHA256: sha, proxySHA256: "",
            trainingWallSeconds: 0, extractionWallSeconds: 0, createdAt: "", codeVersion: "")
        return RHOTable(directory: directory, manifest: stub, tableURL: url)
    }

    static func modelConfig(_ request: Request, corpus: PreparedCorpus) throws -> ModelConfig {
        var overrides = request.modelOverrides
        if overrides["vocab"] == nil { overrides["vocab"] = String(corpus.vocabSize) }
        var config = try ModelConfig.preset(request.model, overrides: overrides)
        if config.encoderDecoder != nil {
            throw RHOError.invalid("RHO-LOSS runs on the masked-LM (BERT) presets only: the paper ran it on BERT, and its irreducible-loss model is a masked LM; '\(request.model)' is T5")
        }
        if let micro = request.hyperparameters.microBatch { config.microBatch = micro }
        return config
    }

    static func corpusFingerprint(_ corpus: PreparedCorpus) throws -> String {
        try SHA256Digest.hex(ofFileAt: corpus.directory.appendingPathComponent("manifest.json").path)
    }

    // MARK: - Preparation

    /// Trains the proxy on the proxy split under `request.proxyBudget` (RST of the profile, AdamW,
    /// the target's recipe), computes its loss on every training id with the run seed's masks, and
    /// writes the folder atomically. `force` replaces an existing table.
    public static func prepare(_ request: Request, data: DataLocation, home: URL = NTNGHome.directory(), force: Bool,
                               log: (String) -> Void) throws -> RHOTable {
        let directory = directory(for: request, home: home)
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.path) && !force {
            throw RHOError.invalid("\(directory.path) already exists; pass --force to prepare it again")
        }
        let corpus = try PreparedCorpus(corpus: request.corpus, vocabSize: ModelConfig.corpusVocabulary(preset: request.model, overrides: request.modelOverrides), location: data)
        let config = try modelConfig(request, corpus: corpus)
        let profile = try ProfileCatalog.load(request.profile, preset: request.model, shape: ProfileCatalog.shape(of: config))
        ComputeThreads.set(request.threads)

        let trained = try ProxyTraining.train(request: request, corpus: corpus, config: config, profile: profile, log: log)
        let extractionStart = Date()
        var (losses, proxyCount) = try ProxyTraining.emptyTable(corpus: corpus, sequenceLength: config.sequenceLength)
        let covered = try coverage(request.coverage, corpus: corpus, config: config, seed: request.seed)
        try ProxyTraining.extract(model: trained.model, corpus: corpus, seed: request.seed, positions: covered.map { 0 ..< $0 },
                                  into: &losses, log: log)
        let extractionSeconds = Date().timeIntervalSince(extractionStart)
        let finite = losses.filter { !$0.isNaN }
        let mean = finite.isEmpty ? Double.nan : finite.reduce(0.0) { $0 + Double($1) } / Double(finite.count)

        // Write into a staging folder, then swap it in, so a crash never leaves a half table.
        let staging = directory.deletingLastPathComponent().appendingPathComponent(".seed-\(request.seed).staging-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        let tableURL = staging.appendingPathComponent(RHOTable.tableFile)
        let proxyURL = staging.appendingPathComponent(RHOTable.proxyFile)
        try RHOTable.writeLosses(losses, to: tableURL)
        try ProxyTraining.saveProxy(trained.model, seed: request.seed, steps: trained.steps, to: proxyURL)
        var hyper = request.hyperparameters
        hyper.pluginSettings = [:]
        let manifest = RHOManifest(
            corpus: DataPreparer.corpusName(for: request.corpus), corpusFingerprint: try corpusFingerprint(corpus),
            tokenizer: corpus.stats.tokenizer, model: request.model, modelConfig: config, seed: request.seed,
            trainingSequences: losses.count, proxySequences: proxyCount, proxySplit: .standard, proxySplitRule: ProxySplit.standard.rule,
            proxyBudget: request.proxyBudget, profile: profile.name, hyperparameters: hyper, proxySteps: trained.steps,
            proxyEpochs: trained.epochs, proxyFinalTrainLoss: trained.finalLoss, proxyValidationLoss: trained.validationLoss,
            coveredPositions: covered, tableMeanLoss: mean, tableSHA256: try SHA256Digest.hex(ofFileAt: tableURL.path),
            proxySHA256: try SHA256Digest.hex(ofFileAt: proxyURL.path), trainingWallSeconds: trained.wallSeconds,
            extractionWallSeconds: extractionSeconds, createdAt: ISO8601DateFormatter().string(from: Date()),
            codeVersion: NTNGVersion.string)
        try manifest.write(to: staging.appendingPathComponent(RHOTable.manifestFile))
        if fm.fileExists(atPath: directory.path) { try fm.removeItem(at: directory) }
        try fm.moveItem(at: staging, to: directory)
        log(String(format: "RHO-LOSS: prepared %@ — proxy: %d steps (%.2f epochs of %d proxy sequences), validation loss %.4f; table: %d of %d ids, mean loss %.4f; %.0f s training + %.0f s extraction (not charged)",
                   directory.path, trained.steps, trained.epochs, proxyCount, trained.validationLoss, finite.count, losses.count, mean,
                   trained.wallSeconds, extractionSeconds))
        return try RHOTable.open(directory)
    }
}

extension RHOPreparation {
    // MARK: - Coverage: only what a budget can reach

    /// The value of the RHO plugin's config key under the run's settings, else its declared
    /// default. A key may be qualified by any name of the plugin (`rho.table`, `RHO.table`) or bare.
    static func pluginSetting(_ key: String, of library: PluginLibrary, in settings: RunSettings) -> String? {
        let given = settings.hyperparameters.pluginSettings
        for spelling in library.settingPrefixes.map({ "\($0).\(key)" }) + [key] { if let v = given[spelling] { return v } }
        return library.descriptor.configKeys.first { $0.key == key }?.defaultValue
    }

    /// The proxy's training budget: the run's own RST budget unless `proxy_budget` names one
    /// (the paper trains the irreducible-loss model for the budget of the runs it serves; a
    /// fixed 5 minutes made a 20-second run wait 15 minutes for its proxy). A run budgeted in
    /// steps gets the 5-minute proxy of earlier versions.
    public static func proxyBudget(_ setting: String?, run budget: Budget) throws -> Budget {
        if let setting, setting != defaultProxyBudget { return try Budget.parse(setting, kind: .rst) }
        return budget.kind == .rst ? budget : try Budget.parse("5m", kind: .rst)
    }

    /// The `proxy_budget` value that means "the run's budget" (the plugin's declared default).
    public static let defaultProxyBudget = "run"

    /// The RHO plugin's pool factor under the run's settings.
    static func poolFactor(_ library: PluginLibrary, in settings: RunSettings) -> Int {
        Int(pluginSetting("pool_factor", of: library, in: settings) ?? "") ?? 2
    }

    /// How many positions of the run's training stream a RHO run with these settings can draw
    /// (nil: no bound, e.g. a wall-clock budget). The clock starts a step only while RST < budget,
    /// so steps ≤ ⌈budget / cheapest step⌉; each step draws pool factor × batch positions. With RHO
    /// alone the cheapest step is exact (scoring the pool and training the batch at full depth, plus
    /// AdamW); with other plugins in the stack (which may run fewer layers) it is priced at zero
    /// layers, a looser bound. One step is added for rounding.
    public static func streamReach(of settings: RunSettings, poolFactor: Int, data: DataLocation, profile name: String?) throws -> Int? {
        let corpus = try PreparedCorpus(corpus: settings.corpus, vocabSize: ModelConfig.corpusVocabulary(preset: settings.model, overrides: settings.modelOverrides), location: data)
        let config = try settings.modelConfig(vocabularySize: corpus.vocabSize)
        let accumulation = try TrainingRecipe(settings: settings, config: config).accumulation
        let poolSequences = poolFactor * accumulation * config.microBatch
        let steps: Int
        switch settings.budget.kind {
        case .wall: return nil
        case .steps: steps = Int(settings.budget.amount.rounded(.up))
        case .rst:
            let profile = try ProfileCatalog.load(name, preset: settings.model, shape: ProfileCatalog.shape(of: config))
            let rhoAlone = ((try? PluginResolver.resolve(method: settings.method, searchPath: .standard(extra: settings.pluginPaths)))?.count ?? 0) == 1
            let layers = rhoAlone ? config.layers : 0
            let scoring = settings.free.contains(.scoring) ? 0 : profile.forwardOnlyCost(activeLayers: layers, sequences: poolSequences)
            let training = profile.forwardBackwardCost(activeLayers: layers, sequences: accumulation * config.microBatch)
            let optimizer = rhoAlone ? profile.optimizerUpdateCost(parameters: config.parameterCount) : 0
            let cheapest = scoring + training + optimizer
            guard cheapest > 0 else { return nil }
            steps = Int((settings.budget.amount / cheapest).rounded(.up)) + 1
        }
        let (product, overflow) = steps.multipliedReportingOverflow(by: poolSequences)
        return overflow ? nil : product
    }

    /// `requested` clamped to the stream; nil when it covers the whole stream (a full table).
    static func coverage(_ requested: Int?, corpus: PreparedCorpus, config: ModelConfig, seed: UInt64) throws -> Int? {
        guard let requested else { return nil }
        let stream = try ExampleStream(exampleCount: try PackedSequences(split: corpus.train, sequenceLength: config.sequenceLength).count,
                                       batchSize: 1, seed: seed, part: .training)
        return requested >= stream.count ? nil : requested
    }

    /// Computes the losses of stream positions `covered ..< coverage` with the stored proxy and
    /// rewrites the table and its manifest (the earlier SHA-256 is kept, so runs recorded with it
    /// may still resume: every value they could read is unchanged).
    static func extend(_ table: RHOTable, to requested: Int?, request: Request, data: DataLocation,
                       log: (String) -> Void) throws -> RHOTable {
        let corpus = try PreparedCorpus(corpus: request.corpus, vocabSize: ModelConfig.corpusVocabulary(preset: request.model, overrides: request.modelOverrides), location: data)
        let config = try modelConfig(request, corpus: corpus)
        let from = table.manifest.coveredPositions ?? 0
        let to = try coverage(requested, corpus: corpus, config: config, seed: request.seed)
        log("RHO-LOSS: the table covers \(from) stream positions; this budget can reach \(to.map(String.init) ?? "all of them"), so it is extended (not charged)")
        ComputeThreads.set(request.threads)
        let started = Date()
        var losses = try table.losses()
        let proxy = try table.proxyModel()
        try ProxyTraining.extract(model: proxy, corpus: corpus, seed: request.seed, positions: from ..< (to ?? Int.max),
                                  into: &losses, log: log)
        let finite = losses.filter { !$0.isNaN }
        var manifest = table.manifest
        manifest.earlierTableSHA256s = (manifest.earlierTableSHA256s ?? []) + [manifest.tableSHA256]
        manifest.coveredPositions = to
        manifest.tableMeanLoss = finite.isEmpty ? .nan : finite.reduce(0.0) { $0 + Double($1) } / Double(finite.count)
        manifest.extractionWallSeconds += Date().timeIntervalSince(started)
        // Table first, then the manifest naming its hash, each replaced atomically. A reader that
        // comes between the two sees a hash mismatch and is told to prepare again, never wrong values.
        let staged = table.directory.appendingPathComponent(RHOTable.tableFile + ".new-\(getpid())")
        try RHOTable.writeLosses(losses, to: staged)
        manifest.tableSHA256 = try SHA256Digest.hex(ofFileAt: staged.path)
        guard rename(staged.path, table.tableURL.path) == 0 else {
            throw RHOError.invalid("could not replace \(table.tableURL.path): \(String(cString: strerror(errno)))")
        }
        try manifest.write(to: table.manifestURL)
        log(String(format: "RHO-LOSS: extended %@ to %d ids in %.0f s (not charged)", table.directory.path, finite.count, Date().timeIntervalSince(started)))
        return try RHOTable.open(table.directory)
    }
}


extension RHOManifest {
    func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(self), to: url)
    }

    /// Decoding accepts the "nan"/"inf" strings that ``RHOPreparation`` writes for non-finite numbers.
    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}

/// An exclusive `flock` on `<folder>.lock`, held while a table is looked at, prepared or extended.
/// The kernel releases it if the process dies, so a crash never leaves it held.
struct PreparationLock {
    private let descriptor: Int32

    init(beside directory: URL) throws {
        let parent = directory.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let path = parent.appendingPathComponent(".\(directory.lastPathComponent).lock").path
        descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw RHOError.invalid("cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw RHOError.invalid("cannot lock \(path): \(reason)")
            }
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
