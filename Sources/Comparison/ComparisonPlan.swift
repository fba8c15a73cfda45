import Corpus
import Foundation
import Models
import Storage
import Clock
import Records
import Host
import PluginHost
import TensorCore

/// Every trial of a comparison, built and checked before anything runs: the corpus must be
/// prepared, the profile must fit the model, every method must resolve to loadable plugins, and
/// every `--set` must be taken by some method.
///
/// Every trial of one seed gets the same model, corpus, seed, budget, recipe and profile, so
/// initial weights, data order, masks and validation set are shared by construction (they are pure
/// functions of the seed); only the method and its own plugin settings differ.
public struct ComparisonPlan: Sendable {
    public let request: ComparisonRequest
    public let budgets: [Budget]
    /// Trials ordered budget-major, then grid point, then seed, then method (so a smaller budget's
    /// table fills first).
    public let trials: [Trial]
    /// The grid points as trials name them (`KEY=VALUE, …`); one empty point without --grid.
    public let settingPoints: [String]
    /// The rows as `--methods` names them (a method, maybe pinned to a precision).
    public let rows: [ComparedMethod]
    /// The reference profile the comparison's own precision is charged from, its JSON and SHA-256.
    public let profile: ReferenceProfile
    public let profileJSON: String
    public let profileSHA256: String
    /// The profile of each precision the rows compute in (one entry unless a row pins another
    /// precision: then the precision is a compared variable and each is priced by its own).
    public let profiles: [Precision: PricedProfile]
    /// The executable the trials run (`ntng`).
    public let executable: URL
    /// Its build identity, which its runs record and every trial identity includes.
    public let build: String
    /// Methods whose plugin optimizer is charged by estimate (allowed with `allowEstimated`):
    /// method → plugin id. Their results are not reproducible step for step.
    public let estimatedMethods: [String: String]
    /// The plugins of each method, in stack order (empty for the baseline): what the table and
    /// report name them by.
    public let methodPlugins: [String: [MethodPlugin]]
    /// The `ntng compare` command that asks for the same trials, with every library given by path
    /// spelled as its absolute path (so it works from any folder); names stay search-path names.
    public let commandLine: String

    /// Builds and checks the plan.
    /// - Parameters:
    ///   - executable: the `ntng` binary children run; its folder is on the plugin search path.
    public init(request: ComparisonRequest, data: DataLocation, executable: URL) throws {
        try request.validate()
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw CompareError.executableMissing(executable.path)
        }
        self.request = request
        self.executable = executable
        let build = NTNGVersion.of(executableAt: executable.path)
        self.build = build
        budgets = try request.parsedBudgets()
        _ = try ModelConfig.preset(request.model)

        // The settings shared by every trial, checked once (unknown keys fail here, not per trial).
        var base = RunSettings(budget: budgets[0])
        base.model = request.model
        base.corpus = request.corpus
        base.threads = request.threadsPerTrial
        base.pluginPaths = request.pluginPaths
        base.free = try request.free.map(ChargeKind.parseFree)
        for s in request.settings {
            do { try base.apply(setting: s) } catch { throw CompareError.badSetting(s, detail: "\(error)") }
        }
        let points = try request.gridPoints()
        settingPoints = points.map { $0.joined(separator: ", ") }
        for setting in Set(points.joined()) where !Self.isPluginSetting(setting) {
            var probe = base
            do { try probe.apply(setting: setting) } catch { throw CompareError.badGrid(setting, detail: "\(error)") }
        }
        // `PLUGIN.KEY=VALUE` settings (RunSettings.apply's rule: a dot, not `model.`) go only to the
        // trials whose method loads that plugin; the baseline refuses plugin settings.
        let pluginSettings = request.settings.filter(Self.isPluginSetting)
        base.hyperparameters.pluginSettings = [:]

        let corpus = try PreparedCorpus(corpus: request.corpus, vocabSize: ModelConfig.corpusVocabulary(preset: base.model, overrides: base.modelOverrides), location: data)
        // Every trial records the data it trained on; its fingerprint is part of the identity, so
        // a re-prepared corpus never mixes with trials trained on the old tokens.
        base.data = RecordedData(directory: corpus.directory.path, fingerprint: corpus.fingerprint)
        let config = try base.modelConfig(vocabularySize: corpus.vocabSize)
        let rows = try request.comparedMethods
        self.rows = rows
        // Each row's settings: the shared ones, with its own precision if it pins one.
        var rowSettings: [String: RunSettings] = [:]
        var precisions: [Precision] = []
        for row in rows {
            var s = base
            if let p = row.precision { s.hyperparameters.precision = p }
            // The library each trial computes with, chosen here (as `ntng run` would) and passed on.
            s.hyperparameters.chooseMatrixLibrary()
            let precision: Precision
            do { precision = try s.hyperparameters.backend.precision } catch { throw CompareError.badSetting(row.precision.map { "\(row.entry) (precision=\($0.rawValue))" } ?? "precision", detail: "\(error)") }
            rowSettings[row.entry] = s
            if !precisions.contains(precision) { precisions.append(precision) }
        }
        let named = try Self.profileNames(request.profiles, for: precisions)
        var priced: [Precision: PricedProfile] = [:]
        for precision in precisions {
            let name = named[precision]
            priced[precision] = try PricedProfile(ProfileCatalog.load(name, preset: request.model, shape: ProfileCatalog.shape(of: config), precision: precision),
                                                  argument: name)
        }
        profiles = priced
        // The first row's profile names the comparison (the only one unless precision is compared).
        let main = priced[try rowSettings[rows[0].entry]!.hyperparameters.backend.precision]!
        profile = main.profile
        profileJSON = main.json
        profileSHA256 = main.sha256

        // Resolve each method once: its libraries' hashes go into the identity, their setting
        // prefixes decide which plugin settings it gets.
        let searchPath = PluginSearchPath.standard(extra: request.pluginPaths, executable: executable)
        var libraries: [String: [PluginLibrary]] = [:]
        for row in rows {
            do { libraries[row.entry] = try PluginResolver.resolve(method: row.method, searchPath: searchPath) } catch {
                throw CompareError.unknownMethod(row.entry, detail: "\(error)")
            }
        }
        for method in request.methods {
            if let problem = RunSettings.ambiguity(in: request.settings, libraries: libraries[method]!) {
                throw CompareError.ambiguousSetting(method: method, problem)
            }
        }
        // A plugin optimizer (or after_optimizer_step) without a calibrated cost is charged from
        // measured wall time: the step count would depend on this machine's load. Refused unless
        // asked for, and marked.
        var estimated: [String: String] = [:]
        var plugins: [String: [MethodPlugin]] = [:]
        for row in rows {
            let method = row.entry
            let profile = profiles[try rowSettings[method]!.hyperparameters.backend.precision]!.profile
            plugins[method] = libraries[method]!.map { MethodPlugin(library: $0, profile: profile) }
            for plugin in plugins[method]! where plugin.charge.contains(MethodPlugin.estimated) { estimated[method] = plugin.id }
        }
        methodPlugins = plugins
        var reproducible = request
        reproducible.methods = rows.map { row in
            Self.absoluteMethod(row.method, libraries: libraries[row.entry]!) + (row.precision.map { "@" + $0.rawValue } ?? "")
        }
        commandLine = reproducible.commandLine
        if !estimated.isEmpty && !request.allowEstimated {
            throw CompareError.estimatedCharges(methods: estimated, profile: profile.name, model: request.model)
        }
        estimatedMethods = estimated
        var claimed = Set<String>()
        var perMethodSettings: [String: [String]] = [:]
        for method in request.methods {
            let prefixes = libraries[method]!.flatMap(\.settingPrefixes)
            perMethodSettings[method] = pluginSettings.filter { s in
                let key = String(s[..<s.firstIndex(of: "=")!])
                let taken = prefixes.contains { key.hasPrefix($0 + ".") }
                if taken { claimed.insert(s) }
                return taken
            }
        }
        if let orphan = pluginSettings.first(where: { !claimed.contains($0) }) {
            throw CompareError.badSetting(orphan, detail: "no method in --methods (\(request.methods.joined(separator: ", "))) takes this plugin setting")
        }
        // A grid's plugin values, like --set's, go only to the methods that load that plugin; the
        // others run the same trial at every point (and the store runs it once).
        func takes(_ method: String, _ setting: String) -> Bool {
            let key = String(setting[..<setting.firstIndex(of: "=")!])
            return libraries[method]!.flatMap(\.settingPrefixes).contains { key.hasPrefix($0 + ".") }
        }
        for setting in Set(points.joined()) where Self.isPluginSetting(setting) && !request.methods.contains(where: { takes($0, setting) }) {
            throw CompareError.badGrid(setting, detail: "no method in --methods (\(request.methods.joined(separator: ", "))) takes this plugin setting")
        }
        var trials: [Trial] = []
        for (budgetText, budget) in zip(request.budgets, budgets) {
            for point in points {
                for seed in request.seedList {
                    for row in rows {
                        var s = rowSettings[row.entry]!
                        s.method = row.method
                        s.budget = budget
                        s.seed = seed
                        let pointSettings = point.filter { !Self.isPluginSetting($0) || takes(row.entry, $0) }
                        let own = perMethodSettings[row.entry]! + pointSettings
                        for setting in own { try s.apply(setting: setting) }
                        let hashes = libraries[row.entry]!.map(\.sha256)
                        let nonPlugin = request.settings.filter { !pluginSettings.contains($0) }
                        let pinned = (row.precision.map { ["precision=\($0.rawValue)"] } ?? [])
                            + ["backend=\(s.hyperparameters.matrixLibrary!.rawValue)"]
                        let priced = profiles[try s.hyperparameters.backend.precision]!
                        var trial = Trial(method: row.method, row: row.entry, budgetText: budgetText, budget: budget, seed: seed, settings: s,
                                          setArguments: nonPlugin + pinned + own, profileJSON: priced.json, profileArgument: priced.argument,
                                          identity: TrialIdentity(settings: s, profileJSON: priced.json, pluginSHA256: hashes, build: build))
                        trial.setting = point.joined(separator: ", ")
                        trials.append(trial)
                    }
                }
            }
        }
        self.trials = trials
    }

    /// Which `--profile` prices which precision: one profile for one precision is that precision's
    /// (loading it checks it really prices it); otherwise each goes to the precision it records.
    /// Precisions without one get their default profile.
    static func profileNames(_ given: [String], for precisions: [Precision]) throws -> [Precision: String] {
        if given.isEmpty { return [:] }
        if given.count == 1 && precisions.count == 1 { return [precisions[0]: given[0]] }
        var named: [Precision: String] = [:]
        for name in given {
            let recorded: String?
            do { recorded = try ReferenceProfile.load(from: try ProfileCatalog.locate(name)).precision } catch {
                throw CompareError.badSetting("--profile \(name)", detail: "\(error)")
            }
            let precision = Precision(rawValue: recorded ?? "fp32") ?? .fp32
            guard precisions.contains(precision) else {
                throw CompareError.badSetting("--profile \(name)", detail: "it prices \(precision.rawValue) work, and no row computes in \(precision.rawValue) (rows compute in \(precisions.map(\.rawValue).joined(separator: " and ")))")
            }
            if let other = named[precision] {
                throw CompareError.badSetting("--profile \(name)", detail: "\(other) already prices \(precision.rawValue); give one profile per precision")
            }
            named[precision] = name
        }
        return named
    }

    /// `method` with each part given as a path (`./libMine.so`) replaced by its library's absolute
    /// path; parts given by name stay names.
    static func absoluteMethod(_ method: String, libraries: [PluginLibrary]) -> String {
        let parts = method.split(separator: "+").map(String.init)
        guard parts.count == libraries.count else { return method }
        return zip(parts, libraries).map { part, library in PluginResolver.isPath(part) ? library.path : part }.joined(separator: "+")
    }

    static func isPluginSetting(_ setting: String) -> Bool {
        guard let eq = setting.firstIndex(of: "=") else { return false }
        let key = setting[..<eq]
        return key.contains(".") && !key.hasPrefix("model.") && !key.hasPrefix("host.")
    }

    /// The first trial of each identity, and for each the later trials that are copies of it (a
    /// grid point a method does not read): a copy runs once and shares its outcome.
    public var distinctTrials: (firsts: [Int], copies: [Int: [Int]]) {
        var firstOf: [TrialIdentity: Int] = [:], firsts: [Int] = [], copies: [Int: [Int]] = [:]
        for (i, trial) in trials.enumerated() {
            if let first = firstOf[trial.identity] { copies[first, default: []].append(i); continue }
            firstOf[trial.identity] = i
            firsts.append(i)
        }
        return (firsts, copies)
    }

    /// `outcomes` with each copy given its first trial's outcome (as reused: it did not run again).
    func fillCopies(_ outcomes: [TrialOutcome?], _ copies: [Int: [Int]]) -> [TrialOutcome?] {
        var results = outcomes
        for (first, list) in copies {
            for i in list {
                results[i] = outcomes[first].map { o in
                    var copy = o
                    copy.trial = trials[i]
                    if copy.source == .ran || copy.source == .resumed { copy.source = .reused }
                    return copy
                }
            }
        }
        return results
    }

    /// `14 trials (7 methods × 2 budgets × 1 seed)`, with the distinct count when copies exist.
    var trialCountText: String {
        let distinct = distinctTrials.firsts.count
        func counted(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        let factors = [counted(request.methods.count, "method"), counted(budgets.count, "budget")]
            + (settingPoints.count > 1 ? [counted(settingPoints.count, "setting")] : []) + [counted(request.seeds, "seed")]
        return "\(counted(trials.count, "trial")) (\(factors.joined(separator: " × "))\(distinct == trials.count ? "" : "; \(distinct) distinct"))"
    }

    /// Expected wall seconds of a trial: its RST budget, slowed by running on fewer threads than
    /// its profile was measured with, plus start-up and validation.
    public func expectedWallSeconds(_ trial: Trial) -> Double {
        let threads = profiles.values.first { $0.json == trial.profileJSON }?.profile.threads ?? profile.threads
        let slowdown = max(1, Double(threads) / Double(max(trial.settings.threads, 1)))
        return trial.budget.amount * slowdown + request.startupAllowance
    }

    /// The watchdog's limit for a trial: `timeoutFactor` × the expected wall time × `load` (how
    /// much slower than idle the machine is), at least `timeoutFloor`.
    public func timeoutSeconds(_ trial: Trial, load: Double = 1) -> Double {
        max(request.timeoutFloor, request.timeoutFactor * expectedWallSeconds(trial) * max(load, 1))
    }
}

/// A reference profile with its canonical JSON (what runs record) and that JSON's SHA-256.
public struct PricedProfile: Sendable {
    public let profile: ReferenceProfile
    public let json: String
    public let sha256: String
    /// The `--profile` it was given as (nil: the default, which the child finds itself).
    public let argument: String?

    init(_ profile: ReferenceProfile, argument: String?) throws {
        self.profile = profile
        self.argument = argument
        json = String(decoding: try profile.jsonData(), as: UTF8.self)
        sha256 = SHA256Digest.hex(Array(json.utf8))
    }
}
