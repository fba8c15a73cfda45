import Foundation
import Models
import Clock
import PluginHost
import TensorCore

/// Everything that defines a training run; stored with the run so it can be audited and resumed.
public struct RunSettings: Codable, Equatable, Sendable {
    /// `baseline`, a plugin id, or a path to a plugin library; `a+b` stacks plugins.
    public var method = "baseline"
    /// Model preset name. Choosing a T5 preset swaps the BERT recipe for T5's
    /// (``Hyperparameters/t5``), so set the model before any `--set`; decoding stored settings
    /// never does (observers do not run in a decoder's initialiser).
    public var model = "small" {
        didSet {
            let isT5 = (try? ModelConfig.preset(model))?.encoderDecoder != nil
            if isT5 && hyperparameters.schedule == nil { hyperparameters.useT5Recipe() }
        }
    }
    /// `--set model.KEY=VALUE` overrides of the preset.
    public var modelOverrides: [String: String] = [:]
    /// Corpus name or path, as `ntng data prepare --corpus` takes it.
    public var corpus = "books"
    public var seed: UInt64 = 0
    public var budget: Budget
    /// Charge kinds not charged (`--free scoring`).
    public var free: [ChargeKind] = []
    /// Compute threads (budgets do not depend on it; wall time does).
    public var threads = 2
    /// Extra folders to search for plugin libraries (`--plugin-path`).
    public var pluginPaths: [String] = []
    public var hyperparameters = Hyperparameters()
    /// The prepared data the run trains on, set when it starts; resume uses exactly this data.
    /// Nil in runs recorded before data was fingerprinted.
    public var data: RecordedData?

    public init(budget: Budget) { self.budget = budget }

    /// Applies `--set KEY=VALUE`: `model.KEY` changes the model shape, `PLUGIN.KEY` is handed to
    /// that plugin, `host.KEY` or a bare host hyperparameter key sets it, and with a plugin method
    /// any other bare key goes to the plugins (which refuse keys they do not declare). Set
    /// `method` first.
    public mutating func apply(setting: String) throws {
        guard let eq = setting.firstIndex(of: "="), eq != setting.startIndex else {
            throw RunSettingsError.malformedSetting(setting)
        }
        let key = String(setting[..<eq]), value = String(setting[setting.index(after: eq)...])
        if key.hasPrefix("host.") {
            // The host's own hyperparameter, spelled so it cannot be a plugin's key of the same name.
            try hyperparameters.apply(key: String(key.dropFirst("host.".count)), value: value)
        } else if key.hasPrefix("model.") {
            let modelKey = String(key.dropFirst("model.".count))
            var overrides = modelOverrides
            overrides[modelKey] = value
            do { _ = try ModelConfig.preset(model, overrides: overrides) } catch { throw RunSettingsError.invalid("\(error)") }
            modelOverrides = overrides
        } else if key.contains(".") {
            hyperparameters.pluginSettings[key] = value
        } else if method != "baseline" && !Hyperparameters.keys.contains(key) {
            // Not a host hyperparameter: the method's plugins get it, and refuse it if no plugin
            // declares it (before training starts).
            hyperparameters.pluginSettings[key] = value
        } else {
            try hyperparameters.apply(key: key, value: value)
        }
    }

    /// The model shape this run trains.
    public func modelConfig(vocabularySize: Int? = nil) throws -> ModelConfig {
        var overrides = modelOverrides
        if let vocabularySize, overrides["vocab"] == nil { overrides["vocab"] = String(vocabularySize) }
        var config = try ModelConfig.preset(model, overrides: overrides)
        if let batch = hyperparameters.microBatch { config.microBatch = batch }
        return config
    }
}

extension RunSettings {
    /// Why one of `settings` is ambiguous for a method made of `libraries`, or nil: a bare
    /// `--set KEY` that is both a host hyperparameter and a key a plugin declares (Lion's `beta1`)
    /// would silently set the host's, so it must be spelled out.
    public static func ambiguity(in settings: [String], libraries: [PluginLibrary]) -> String? {
        for setting in settings {
            guard let eq = setting.firstIndex(of: "=") else { continue }
            let key = String(setting[..<eq]), value = setting[setting.index(after: eq)...]
            guard !key.contains("."), Hyperparameters.keys.contains(key) else { continue }
            let owners = libraries.filter { $0.descriptor.configKeys.contains { $0.key == key } }.map(\.descriptor.id)
            if let owner = owners.first {
                return "--set \(setting) is ambiguous: \(key) is a host hyperparameter and a setting of plugin \(owners.joined(separator: ", ")); write --set \(owner).\(key)=\(value) for the plugin or --set host.\(key)=\(value) for the host"
            }
        }
        return nil
    }
}

/// Where a run's prepared data was and what it held.
public struct RecordedData: Codable, Equatable, Sendable {
    /// The prepared folder (corpus and tokenizer).
    public var directory: String
    /// Its content fingerprint (``PreparedCorpus/fingerprint``).
    public var fingerprint: String

    public init(directory: String, fingerprint: String) {
        self.directory = directory
        self.fingerprint = fingerprint
    }
}

/// The optimisation recipe. Defaults follow the seed paper's BERT baseline (docs/clock.md) at
/// CPU scale: AdamW β = (0.9, 0.98), ε = 1e-12, weight decay 0.01 on matrices only, clip 0.5, and a
/// one-cycle learning rate peaking at 1e-3 halfway through the budget.
public struct Hyperparameters: Codable, Equatable, Sendable {
    public var peakLearningRate = 1e-3
    /// Budget fraction at which the one-cycle schedule peaks.
    public var warmupFraction = 0.5
    /// Sequences per optimizer step (nil: one micro-batch). Must be a multiple of the micro-batch.
    public var batchSequences: Int? = nil
    /// Sequences per forward/backward pass (nil: the preset's).
    public var microBatch: Int? = nil
    public var clipNorm = 0.5
    public var adamW = AdamW.Settings()
    /// Validation every this many percent of the budget (0: only at the end).
    public var evaluateEveryPercent = 0.0
    /// Checkpoint every this many percent of the budget (0: only at the end).
    public var checkpointEveryPercent = 25.0
    /// Validation sequences (a fixed set, the same for every run on a corpus).
    public var validationSequences = 256
    /// Settings addressed to plugins, `PLUGIN.KEY` → value.
    public var pluginSettings: [String: String] = [:]
    /// The matrix library (`--set backend=onednn`). A new run records the one it uses (asked for,
    /// or chosen by ``chooseMatrixLibrary()``); nil, in runs recorded before there was a choice,
    /// is OpenBLAS, so their settings (and trial identities) read the same.
    public var matrixLibrary: MatrixLibrary?
    /// The matrix products' precision (`--set precision=bf16`); nil is fp32, as in every run
    /// recorded before the choice. bf16 computes with oneDNN.
    public var precision: Precision?
    /// The learning-rate schedule; nil is the BERT baseline's one-cycle, as in every run recorded
    /// before there was a choice.
    public var schedule: ScheduleKind?
    /// Passes over the training split a run may make (`--set epochs=N`); nil is 1, as in every run
    /// recorded before repeats were allowed: no example is seen twice. Later epochs reshuffle
    /// (a pure function of seed and epoch) and keep each example's masks.
    public var epochs: Int?

    /// Records the library a new run computes with when none was asked for: oneDNN for bf16,
    /// else ``MatrixLibrary/preferred`` on this machine. Stored settings that never had one keep
    /// nil, which stays OpenBLAS (runs recorded before the choice).
    public mutating func chooseMatrixLibrary() {
        if matrixLibrary == nil { matrixLibrary = precision == .bf16 ? .oneDNN : .preferred }
    }

    /// The compute backend the run's model is built on (bf16 refused where the CPU lacks it).
    public var backend: CPUBackend {
        get throws {
            guard precision == .bf16 else { return matrixLibrary == .oneDNN ? .oneDNN : .shared }
            guard matrixLibrary == nil || matrixLibrary == .oneDNN else {
                throw RunSettingsError.invalid("--set precision=bf16 needs the oneDNN backend (OpenBLAS has no bf16 products here); drop --backend openblas (--set backend=openblas)")
            }
            guard Precision.bf16IsNative else {
                throw RunSettingsError.invalid("--set precision=bf16: this CPU has no native bf16 dot products (AVX512-BF16 or AMX), and oneDNN's emulation would run many times slower than fp32; use fp32 here")
            }
            return .oneDNNBF16
        }
    }

    public init() {}

    /// The schedules a run can follow (`--set schedule=…`).
    public enum ScheduleKind: String, Codable, Sendable, CaseIterable {
        /// 0 → peak at `warmup` → 0 at the budget (the BERT baseline).
        case oneCycle = "one-cycle"
        /// From half the peak up to it over `warmup`, then a cosine to 1e-5 × peak exactly at the
        /// budget (the paper's T5 "cosine-budget").
        case cosine
    }

    /// The learning-rate schedule these settings define.
    public var learningRateSchedule: LearningRateSchedule {
        switch schedule {
        case nil, .oneCycle?: return .oneCycle(peak: peakLearningRate, warmupFraction: warmupFraction)
        case .cosine?: return .cosineToMinimum(peak: peakLearningRate, warmupFraction: warmupFraction, initialFactor: 0.5, minimumFactor: 1e-5)
        }
    }

    /// The paper's T5 baseline (nanoT5's AdamWScale recipe, docs/methods/t5.md): base LR 2e-2
    /// with the cosine-budget schedule (warm-up 10,000 of 65,536 fake steps, 15.3 % of any
    /// budget), β = (0.9, 0.999), ε = 1e-6, no weight decay, RMS LR scaling, clip 1.0.
    public mutating func useT5Recipe() {
        peakLearningRate = 2e-2
        warmupFraction = 10_000.0 / 65_536.0
        schedule = .cosine
        clipNorm = 1.0
        adamW.beta1 = 0.9
        adamW.beta2 = 0.999
        adamW.epsilon = 1e-6
        adamW.weightDecay = 0
        adamW.rmsScaling = true
    }

    public static let keys = [
        "schedule", "lr", "warmup", "batch", "micro-batch", "clip", "beta1", "beta2", "eps", "wd", "decay-all",
        "eval-every", "checkpoint-every", "val-sequences", "rms-scaling", "backend", "precision", "epochs",
    ]

    mutating func apply(key: String, value: String) throws {
        func double(_ range: ClosedRange<Double> = -.greatestFiniteMagnitude ... .greatestFiniteMagnitude) throws -> Double {
            guard let v = Double(value), v.isFinite, range.contains(v) else {
                throw RunSettingsError.badValue(key: key, value: value, expected: "a number in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        func positiveInt(atMost limit: Int = 1 << 20) throws -> Int {
            guard let v = Int(value), v > 0, v <= limit else {
                throw RunSettingsError.badValue(key: key, value: value, expected: "a whole number in 1...\(limit)")
            }
            return v
        }
        /// A percentage of the budget: 0 (only at the end) or 1...100, so a run does at most 100
        /// evaluations or checkpoints.
        func percent() throws -> Double {
            guard let v = Double(value), v == 0 || (1...100).contains(v) else {
                throw RunSettingsError.badValue(key: key, value: value, expected: "0 (only at the end) or a percentage of the budget in 1...100")
            }
            return v
        }
        switch key {
        case "schedule":
            guard let kind = ScheduleKind(rawValue: value) else {
                throw RunSettingsError.badValue(key: key, value: value, expected: ScheduleKind.allCases.map(\.rawValue).joined(separator: " or "))
            }
            schedule = kind
        case "lr": peakLearningRate = try double(0...10)
        case "warmup": warmupFraction = try double(0...1)
        case "batch": batchSequences = try positiveInt()
        case "micro-batch": microBatch = try positiveInt()
        case "clip":
            // 0 would scale every gradient to nothing: the run would train nothing and still finish.
            guard let v = Double(value), v > 0, v <= 1e9 else {
                throw RunSettingsError.badValue(key: key, value: value, expected: "a gradient norm > 0 (at most 1e9; use 1e9 for no clipping)")
            }
            clipNorm = v
        case "beta1": adamW.beta1 = Float(try double(0...0.999999))
        case "beta2": adamW.beta2 = Float(try double(0...0.999999))
        case "eps": adamW.epsilon = Float(try double(0...1))
        case "wd": adamW.weightDecay = Float(try double(0...10))
        case "decay-all":
            guard let b = Bool(value) else { throw RunSettingsError.badValue(key: key, value: value, expected: "true or false") }
            adamW.decayEverything = b
        case "rms-scaling":
            guard let b = Bool(value) else { throw RunSettingsError.badValue(key: key, value: value, expected: "true or false") }
            adamW.rmsScaling = b
        case "eval-every": evaluateEveryPercent = try percent()
        case "checkpoint-every": checkpointEveryPercent = try percent()
        case "val-sequences": validationSequences = try positiveInt(atMost: 1 << 16)
        case "epochs":
            let n = try positiveInt(atMost: 10_000)
            epochs = n == 1 ? nil : n
        case "backend":
            guard let library = MatrixLibrary(rawValue: value) else {
                throw RunSettingsError.badValue(key: key, value: value, expected: MatrixLibrary.allCases.map(\.rawValue).joined(separator: " or "))
            }
            matrixLibrary = library
        case "precision":
            guard let p = Precision(rawValue: value) else {
                throw RunSettingsError.badValue(key: key, value: value, expected: Precision.allCases.map(\.rawValue).joined(separator: " or "))
            }
            precision = p == .fp32 ? nil : p
        default: throw RunSettingsError.unknownKey(key)
        }
    }
}

public enum RunSettingsError: Error, CustomStringConvertible, Equatable {
    case malformedSetting(String)
    case unknownKey(String)
    case badValue(key: String, value: String, expected: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .malformedSetting(let s):
            return "--set '\(s)' is not KEY=VALUE (for example --set lr=5e-4)"
        case .unknownKey(let key):
            return "unknown setting '\(key)'; hyperparameters are \(Hyperparameters.keys.joined(separator: ", ")), model shape keys are model.\(ModelConfig.settingKeys.joined(separator: ", model.")), plugin settings are PLUGIN.KEY"
        case .badValue(let key, let value, let expected):
            return "--set \(key)=\(value): expected \(expected)"
        case .invalid(let message):
            return message
        }
    }
}
