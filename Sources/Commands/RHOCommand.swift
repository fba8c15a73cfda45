import ArgumentParser
import Corpus
import Foundation
import Models
import Host
import Clock
import Preparation

/// `ntng rho`: the irreducible-loss tables RHO-LOSS selects with (docs/methods/rho.md).
struct RHOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rho",
        abstract: "Prepare or show RHO-LOSS irreducible-loss tables (proxy model + per-example losses).",
        discussion: """
            A table is per (corpus, model, seed): the proxy model trains on the 20 % proxy split that every \
            run's training stream leaves out, and its losses are computed with the masks of the run seed. \
            `ntng run --method rho` prepares a missing table itself. None of this is charged to any run.
            """,
        subcommands: [Prepare.self, Show.self])

    struct Options: ParsableArguments {
        @Option(help: "Prepared corpus, as `ntng run --corpus` takes it.") var corpus = "books"
        @Option(help: "Model preset: \(ModelConfig.presetNames.joined(separator: ", ")).") var model = "small"
        @Option(parsing: .unconditional, help: "The run seed whose masks the losses use.") var seed = 0
        @Option(parsing: .unconditional, help: "RST budget of the proxy's training (as --set rho.proxy_budget in `ntng run`).") var proxyBudget = "5m"
        @Option(help: "Reference profile name or path (default: default-<preset>).") var profile: String?
        @Option(name: .customLong("set"), help: "Hyperparameter or model.KEY=VALUE of the target run (the proxy uses the same); repeatable.") var settings: [String] = []
        @Option(help: "Data directory (default: $NTNG_HOME/data).") var dataDir: String?

        /// The target run's settings as far as the proxy shares them (method rho; budget `budget`).
        func targetRun(threads: Int, budget: String? = nil) throws -> RunSettings {
            var run = RunSettings(budget: try Budget.parse(budget ?? proxyBudget, kind: .rst))
            run.method = RHOPreparation.pluginID
            run.corpus = corpus
            run.model = model
            run.seed = try OptionRange.seed(seed)
            run.threads = threads
            _ = try ModelConfig.preset(model)
            for s in settings {
                try run.apply(setting: s)
                guard run.hyperparameters.pluginSettings.isEmpty || s.hasPrefix("model.") else {
                    throw ValidationError("--set \(s): plugin settings do not apply to the proxy model")
                }
            }
            return run
        }

        func request(threads: Int) throws -> RHOPreparation.Request {
            let run = try targetRun(threads: threads)
            return RHOPreparation.Request(run: run, proxyBudget: try Budget.parse(proxyBudget, kind: .rst), profile: profile)
        }
    }

    /// `ntng rho prepare`
    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train the proxy model and write $NTNG_HOME/rho/<corpus>/<model>/seed-<S>/proxy-<budget>/ (losses.f32, proxy.safetensors, manifest.json).")

        @OptionGroup var options: Options
        @OptionGroup var compute: ThreadOptions
        @Flag(help: "Replace an existing table.") var force = false
        @Option(help: ArgumentHelp("Compute losses only for the sequences a RHO run of this RST budget can reach (default: the whole training split).",
                                   discussion: "A longer run later extends the table by itself."))
        var budget: String?
        @Option(parsing: .unconditional, help: "The RHO plugin's pool factor the reach is computed for (with --budget).") var poolFactor = 2
        @Option(name: .customLong("free"), help: "Charge kind the target run does not charge (with --budget: `scoring` lets it reach further); repeatable.")
        var free: [String] = []

        func validate() throws {
            try OptionRange.check(poolFactor, "--pool-factor", 1...64)
        }

        func run() throws {
            var request = try options.request(threads: compute.threads)
            let data = DataLocation(explicitDirectory: options.dataDir)
            if let budget {
                var target = try options.targetRun(threads: compute.threads, budget: budget)
                target.free = try free.map(ChargeKind.parseFree)
                request.coverage = try RHOPreparation.streamReach(of: target,
                                                                  poolFactor: poolFactor, data: data, profile: options.profile)
            }
            let log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            let table = try force
                ? RHOPreparation.prepare(request, data: data, force: true, log: log)
                : RHOPreparation.findOrPrepare(request, data: data, log: log)
            print(Show.describe(table))
        }
    }

    /// `ntng rho show`
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check and describe the prepared table of a corpus, model and seed.")

        @OptionGroup var options: Options

        func run() throws {
            let request = try options.request(threads: 1)
            print(Show.describe(try RHOTable.open(RHOPreparation.directory(for: request))))
        }

        static func describe(_ table: RHOTable) -> String {
            let m = table.manifest
            return """
                RHO table \(table.directory.path)
                  corpus \(m.corpus) (\(m.tokenizer)), model \(m.model), seed \(m.seed) (the masks of that run seed)
                  proxy split: \(m.proxySplitRule): \(m.proxySequences) of \(m.trainingSequences) training sequences
                  proxy model: \(m.proxySteps) steps under \(m.proxyBudget) of \(m.profile) (\(String(format: "%.2f", m.proxyEpochs)) epochs), validation loss \(String(format: "%.4f", m.proxyValidationLoss))
                  table: mean loss \(String(format: "%.4f", m.tableMeanLoss)) over \(m.coveredPositions.map { "the first \($0) positions of seed \(m.seed)'s stream (what the budget can reach; extended when a longer run needs more)" } ?? "all \(m.trainingSequences - m.proxySequences) training ids")
                  losses.f32        sha256 \(m.tableSHA256)
                  proxy.safetensors sha256 \(m.proxySHA256)
                  amortised: \(String(format: "%.0f", m.trainingWallSeconds)) s proxy training + \(String(format: "%.0f", m.extractionWallSeconds)) s extraction, charged to no run
                """
        }
    }
}
