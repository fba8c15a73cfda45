import Foundation
import GRDB
import Clock

/// Lifecycle of a run in the results store.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    /// In progress (or killed: see ``RunRecord/effectiveStatus``).
    case running
    /// Reached its budget and was evaluated.
    case finished
    /// Stopped by an error (e.g. a non-finite loss); see ``RunRecord/error`` and ``RunRecord/failedStep``.
    case failed
    /// Its process ended without finishing (killed, crashed, or stopped by the user); resumable.
    case interrupted
}

/// What the trainer knows when a run starts.
public struct NewRun: Sendable, Equatable {
    public var method: String
    public var model: String
    public var corpus: String
    public var seed: Int
    public var budget: Budget
    /// The complete, resolved configuration as JSON (every hyperparameter, after `--set`).
    public var configJSON: String
    /// The reference profile as JSON (``ReferenceProfile/jsonData()``).
    public var profileJSON: String?
    /// Code version, e.g. `git describe --always --dirty`.
    public var codeVersion: String
    /// Provenance of loaded plugins (path, hash, API version…) as JSON.
    public var pluginsJSON: String?

    public init(method: String, model: String, corpus: String, seed: Int, budget: Budget, configJSON: String,
                profileJSON: String? = nil, codeVersion: String, pluginsJSON: String? = nil) {
        self.method = method
        self.model = model
        self.corpus = corpus
        self.seed = seed
        self.budget = budget
        self.configJSON = configJSON
        self.profileJSON = profileJSON
        self.codeVersion = codeVersion
        self.pluginsJSON = pluginsJSON
    }
}

/// The summary numbers of a run, updated as it progresses.
public struct RunSummary: Codable, Sendable, Equatable {
    public var rstSeconds: Double
    public var wallSeconds: Double
    public var steps: Int
    public var tokens: Int
    /// Training loss of the last step (nil if unknown or non-finite).
    public var finalTrainLoss: Double?
    /// Validation loss at the end (nil until evaluated).
    public var valLoss: Double?

    public init(rstSeconds: Double, wallSeconds: Double, steps: Int, tokens: Int,
                finalTrainLoss: Double? = nil, valLoss: Double? = nil) {
        self.rstSeconds = rstSeconds
        self.wallSeconds = wallSeconds
        self.steps = steps
        self.tokens = tokens
        self.finalTrainLoss = finalTrainLoss
        self.valLoss = valLoss
    }
}

/// One row of the `run` table.
public struct RunRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "run"

    /// Eight lowercase hex digits, e.g. `"3fa2c1d9"`.
    public var id: String
    public var method: String
    public var model: String
    public var corpus: String
    public var seed: Int
    public var budgetAmount: Double
    public var budgetKind: Budget.Kind
    public var configJSON: String
    public var profileJSON: String?
    public var codeVersion: String
    public var pluginsJSON: String?
    /// Status as stored; prefer ``effectiveStatus`` for display.
    public var status: RunStatus
    public var error: String?
    public var failedStep: Int?
    /// Process that last ran (or resumed) the run.
    public var hostname: String?
    public var pid: Int?
    public var processStartTicks: Int?
    public var bootID: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var rstSeconds: Double
    public var wallSeconds: Double
    public var steps: Int
    public var tokens: Int
    public var finalTrainLoss: Double?
    public var valLoss: Double?

    enum CodingKeys: String, CodingKey {
        case id, method, model, corpus, seed
        case budgetAmount = "budget_amount", budgetKind = "budget_kind"
        case configJSON = "config_json", profileJSON = "profile_json", codeVersion = "code_version"
        case pluginsJSON = "plugins_json", status, error, failedStep = "failed_step"
        case hostname, pid, processStartTicks = "process_start_ticks", bootID = "boot_id"
        case createdAt = "created_at", updatedAt = "updated_at"
        case rstSeconds = "rst_s", wallSeconds = "wall_s", steps, tokens
        case finalTrainLoss = "final_train_loss", valLoss = "val_loss"
    }

    /// The budget, rebuilt from its stored parts.
    public var budget: Budget? { try? Budget(amount: budgetAmount, kind: budgetKind) }

    /// The summary numbers.
    public var summary: RunSummary {
        RunSummary(rstSeconds: rstSeconds, wallSeconds: wallSeconds, steps: steps, tokens: tokens,
                   finalTrainLoss: finalTrainLoss, valLoss: valLoss)
    }

    /// The process recorded for the run, if any.
    public var process: ProcessIdentity? {
        guard let hostname, let pid else { return nil }
        return ProcessIdentity(hostname: hostname, pid: pid, startTicks: processStartTicks, bootID: bootID)
    }

    /// The status to show: a `running` run whose process is gone (checked on this host via
    /// ``ProcessIdentity/isAlive()``) is `interrupted`. Runs recorded on another host stay `running`.
    public var effectiveStatus: RunStatus {
        guard status == .running, let process else { return status }
        return process.isAlive() == false ? .interrupted : .running
    }
}

/// One point of the loss-vs-RST curve (`loss_point` table).
public struct LossPoint: Sendable, Equatable {
    /// Optimizer step just completed (1-based).
    public var step: Int
    public var rstSeconds: Double
    public var wallSeconds: Double
    /// Tokens consumed so far.
    public var tokens: Int
    /// Training loss of the step; nil if non-finite (SQLite stores NaN as NULL).
    public var trainLoss: Double?
    /// Learning rate used by the step.
    public var learningRate: Double

    public init(step: Int, rstSeconds: Double, wallSeconds: Double, tokens: Int, trainLoss: Double?, learningRate: Double) {
        self.step = step
        self.rstSeconds = rstSeconds
        self.wallSeconds = wallSeconds
        self.tokens = tokens
        self.trainLoss = trainLoss
        self.learningRate = learningRate
    }
}

/// An evaluation result (`evaluation` table), e.g. `val_loss` at some RST.
public struct Evaluation: Sendable, Equatable {
    /// Step after which it was measured.
    public var step: Int
    public var rstSeconds: Double
    public var name: String
    public var value: Double

    public init(step: Int, rstSeconds: Double, name: String, value: Double) {
        self.step = step
        self.rstSeconds = rstSeconds
        self.name = name
        self.value = value
    }
}

/// A per-step diagnostic value (`diagnostic` table), e.g. `active_layers` or `selection_rate`.
public struct Diagnostic: Sendable, Equatable {
    public var step: Int
    public var rstSeconds: Double
    public var key: String
    public var value: Double

    public init(step: Int, rstSeconds: Double, key: String, value: Double) {
        self.step = step
        self.rstSeconds = rstSeconds
        self.key = key
        self.value = value
    }
}

/// One line a plugin logged during a run (stored so that statements such as RHO-LOSS's "proxy
/// training is not charged" stay with the result, not only on a terminal).
public struct RunLogLine: Sendable, Equatable {
    public var step: Int
    public var rstSeconds: Double
    public var level: String
    /// Who logged it: the plugin's id.
    public var source: String
    public var message: String

    public init(step: Int, rstSeconds: Double, level: String, source: String, message: String) {
        self.step = step
        self.rstSeconds = rstSeconds
        self.level = level
        self.source = source
        self.message = message
    }
}

/// Everything stored about one run (`ntng runs show`).
public struct RunDetails: Sendable, Equatable {
    public var run: RunRecord
    public var lossCurve: [LossPoint]
    public var evaluations: [Evaluation]
    public var diagnostics: [Diagnostic]
    public var log: [RunLogLine]
}

/// Which runs ``ResultsStore/runs(matching:)`` lists.
public struct RunFilter: Sendable, Equatable {
    public var method: String?
    public var model: String?
    public var corpus: String?
    /// Compared against ``RunRecord/effectiveStatus``.
    public var status: RunStatus?
    /// Newest first; nil for all.
    public var limit: Int?

    public init(method: String? = nil, model: String? = nil, corpus: String? = nil,
                status: RunStatus? = nil, limit: Int? = nil) {
        self.method = method
        self.model = model
        self.corpus = corpus
        self.status = status
        self.limit = limit
    }
}
