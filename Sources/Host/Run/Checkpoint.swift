import Foundation
import Storage
import Models
import Clock
import Records
import PluginHost
import Workloads
import TensorCore

/// Everything needed to continue a run exactly: the workload's kind, weights and shape, optimizer moments, the
/// clock, the step and the data position, stored as one safetensors file. All randomness in
/// ntng is counter-based (keyed by seed, step and example id), so no generator state is needed.
public struct Checkpoint {
    /// Format 2 binds the file to its run and checksums it; format 1 files (older builds) are
    /// read without those checks.
    public static let format = "ntng-checkpoint-2"
    static let unverifiedFormat = "ntng-checkpoint-1"

    /// What a checkpoint belongs to: resume refuses a file whose binding differs from the run's.
    public struct Binding: Equatable, Sendable {
        public var runID: String
        /// SHA-256 of the run's recorded settings JSON.
        public var settingsSHA256: String
        /// The prepared data's fingerprint (``PreparedCorpus/fingerprint``).
        public var dataFingerprint: String

        public init(runID: String, settingsSHA256: String, dataFingerprint: String) {
            self.runID = runID
            self.settingsSHA256 = settingsSHA256
            self.dataFingerprint = dataFingerprint
        }
    }

    public var step: Int
    /// The next stream batch index to draw.
    public var dataPosition: Int
    public var clock: RSTClock
    public var modelConfig: ModelConfig
    public var lastTrainLoss: Double?
    /// Budget fractions at which the next checkpoint and evaluation are due.
    public var nextCheckpointFraction: Double
    public var nextEvaluationFraction: Double
    /// The method plugins' state: private bytes, state tensors and counters.
    public var plugins: PluginStackCheckpoint?
    /// The weights evaluation uses when a plugin chooses them ("ntng.evaluation_weights/1"), in
    /// the flat parameter layout; nil when they are the training weights. `ntng eval` reads
    /// these; resume continues from the training weights.
    public var evaluationWeights: [Float]?

    /// What the metadata keeps of a plugin; its state tensors are stored as tensors.
    private struct PluginEntryHeader: Codable {
        var id: String
        var version: String
        var stateBytes: Data
        var tensors: [String: Float]  // name → fill
        /// The tensors in allocation order: restoring in that order gives every tensor the id it
        /// had (ids are allocation positions; a plugin may allocate in a hook or keep ids in its
        /// state). Absent in older checkpoints, which restore in name order.
        var order: [String]?
    }

    private struct PluginsHeader: Codable {
        var optimizerUpdates: Int
        /// Absent in checkpoints written before PluginAPI v1.1.
        var parameterUpdates: [String: Int]?
        var plugins: [PluginEntryHeader]
    }

    /// Writes the checkpoint atomically (temp file, fsync, rename), bound to `binding` and with a
    /// content hash over its metadata and tensors. Temporary files of killed earlier writes are
    /// removed first.
    public static func save(_ c: Checkpoint, workload: any Workload, optimizer: AdamW, binding: Binding, to url: URL) throws {
        let store = workload.parameters
        var entries: [SafeTensorsFile.Entry] = store.entries.map { e in
            SafeTensorsFile.Entry(name: "model." + e.name, dtype: .F32, shape: e.shape, storage: .external(
                byteCount: e.count * 4, provide: { sink in try sink(UnsafeRawBufferPointer(start: store.values + e.offset, count: e.count * 4)) }))
        }
        entries.append(SafeTensorsFile.Entry(name: "optimizer.first_moment", shape: [optimizer.firstMoment.count], floats: optimizer.firstMoment))
        entries.append(SafeTensorsFile.Entry(name: "optimizer.second_moment", shape: [optimizer.secondMoment.count], floats: optimizer.secondMoment))
        var pluginsHeader: PluginsHeader?
        if let plugins = c.plugins {
            pluginsHeader = PluginsHeader(optimizerUpdates: plugins.optimizerUpdates, parameterUpdates: plugins.parameterUpdates,
                                          plugins: plugins.plugins.enumerated().map { i, p in
                for t in p.tensors {
                    entries.append(SafeTensorsFile.Entry(name: "plugin.\(i).\(t.name)", shape: [t.values.count], floats: t.values))
                }
                return PluginEntryHeader(id: p.id, version: p.version, stateBytes: Data(p.stateBytes),
                                         tensors: Dictionary(uniqueKeysWithValues: p.tensors.map { ($0.name, $0.fill) }),
                                         order: p.tensors.map(\.name))
            })
        }
        if let weights = c.evaluationWeights {
            precondition(weights.count == store.count, "evaluation weights do not match the parameter layout")
            entries.append(SafeTensorsFile.Entry(name: "evaluation.weights", shape: [weights.count], floats: weights))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var metadata: [String: String] = [
            "format": format,
            "workload": workload.kind,
            // The backend and precision the weights were trained with (informational for
            // `ntng eval`; resume rebuilds on the run's recorded backend, which must match).
            "backend": workload.backend.name,
            "precision": workload.backend.precision.rawValue,
            "step": String(c.step),
            "data_position": String(c.dataPosition),
            "optimizer_step": String(optimizer.step),
            "optimizer_parameter_steps": String(decoding: try encoder.encode(optimizer.parameterSteps), as: UTF8.self),
            "clock": try c.clock.jsonString(),
            "model_config": String(decoding: try encoder.encode(c.modelConfig), as: UTF8.self),
            "next_checkpoint_fraction": String(c.nextCheckpointFraction),
            "next_evaluation_fraction": String(c.nextEvaluationFraction),
            "plugins": String(decoding: try encoder.encode(pluginsHeader), as: UTF8.self),
        ]
        if let loss = c.lastTrainLoss { metadata["last_train_loss"] = String(loss.bitPattern) }
        metadata["run_id"] = binding.runID
        metadata["settings_sha256"] = binding.settingsSHA256
        metadata["data_fingerprint"] = binding.dataFingerprint
        var hash = ContentHash64()
        hashMetadata(metadata, into: &hash)
        for entry in entries.sorted(by: { $0.name < $1.name }) {
            hash.update("\(entry.name):\(entry.dtype.rawValue):\(entry.shape)\n")
            try entry.write { hash.update($0) }
        }
        metadata["content_hash"] = hash.hex
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        AtomicFile.removeOrphans(of: url)
        try SafeTensorsFile.write(entries, metadata: metadata, to: url)
    }

    /// Reads a checkpoint and rebuilds the workload (its resizable stack bounded by `maxLayers`,
    /// default its depth) and the optimizer it describes. Files from before workloads were
    /// recorded hold a masked LM.
    public static func load(from url: URL, adamW settings: AdamW.Settings, maxLayers: Int? = nil,
                            expecting binding: Binding? = nil, backend: CPUBackend = .shared) throws -> (Checkpoint, any Workload, AdamW) {
        let file = try SafeTensorsFile(contentsOf: url)
        func meta(_ key: String) throws -> String {
            guard let v = file.metadata[key] else { throw CheckpointError.corrupt(url.path, "metadata '\(key)' is missing") }
            return v
        }
        switch file.metadata["format"] {
        case format?:
            try verifyContent(file, url: url)
            if let binding {
                for (key, expected, what) in [("run_id", binding.runID, "run"), ("settings_sha256", binding.settingsSHA256, "settings"),
                                              ("data_fingerprint", binding.dataFingerprint, "data")] where file.metadata[key] != expected {
                    throw CheckpointError.foreign(url.path, what: what, found: file.metadata[key] ?? "none", expected: expected)
                }
            }
        case unverifiedFormat?:
            break  // written before checkpoints were bound and hashed
        default:
            throw CheckpointError.corrupt(url.path, "not an \(format) file (format \(file.metadata["format"] ?? "none"))")
        }
        let config = try JSONDecoder().decode(ModelConfig.self, from: Data(try meta("model_config").utf8))
        let workload: any Workload
        do {
            workload = try Workloads.make(kind: file.metadata["workload"] ?? MaskedLMWorkload.kind, config: config, seed: 0,
                                          maxLayers: maxLayers.map { Swift.max($0, config.layers) }, backend: backend)
        } catch {
            throw CheckpointError.corrupt(url.path, "\(error)")
        }
        if binding != nil, let recorded = file.metadata["backend"], recorded != backend.name {
            throw CheckpointError.corrupt(url.path, "it was written by a run on \(recorded), but the run resumes on \(backend.name); a run resumes only on the backend it recorded")
        }
        let store = workload.parameters
        for e in store.entries {
            try file.copyBytes(of: "model." + e.name, into: UnsafeMutableRawBufferPointer(start: store.values + e.offset, count: e.count * 4))
        }
        let optimizer = AdamW(parameterCount: store.count, settings: settings)
        guard let optimizerStep = Int(try meta("optimizer_step")), let step = Int(try meta("step")),
              let position = Int(try meta("data_position")),
              let nextCheckpoint = Double(try meta("next_checkpoint_fraction")),
              let nextEvaluation = Double(try meta("next_evaluation_fraction")) else {
            throw CheckpointError.corrupt(url.path, "a numeric metadata field does not parse")
        }
        let parameterSteps = try JSONDecoder().decode([String: Int].self, from: Data(try meta("optimizer_parameter_steps").utf8))
        optimizer.restore(step: optimizerStep, parameterSteps: parameterSteps, firstMoment: try file.array("optimizer.first_moment"),
                          secondMoment: try file.array("optimizer.second_moment"))
        var checkpoint = Checkpoint(
            step: step, dataPosition: position, clock: try RSTClock.fromJSON(try meta("clock")), modelConfig: config,
            lastTrainLoss: file.metadata["last_train_loss"].flatMap(UInt64.init).map(Double.init(bitPattern:)),
            nextCheckpointFraction: nextCheckpoint, nextEvaluationFraction: nextEvaluation)
        if let header = try JSONDecoder().decode(PluginsHeader?.self, from: Data(try meta("plugins").utf8)) {
            checkpoint.plugins = PluginStackCheckpoint(optimizerUpdates: header.optimizerUpdates, parameterUpdates: header.parameterUpdates,
                                                       plugins: try header.plugins.enumerated().map { i, p in
                PluginStackCheckpoint.Entry(id: p.id, version: p.version, stateBytes: [UInt8](p.stateBytes), tensors: try (p.order?.filter { p.tensors[$0] != nil } ?? p.tensors.keys.sorted()).map {
                    PluginStateTensorSnapshot(name: $0, fill: p.tensors[$0]!, values: try file.array("plugin.\(i).\($0)"))
                })
            })
        }
        if file.metadata["format"] == format, file.names.contains("evaluation.weights") {
            let weights: [Float] = try file.array("evaluation.weights")
            guard weights.count == store.count else {
                throw CheckpointError.corrupt(url.path, "evaluation.weights has \(weights.count) values, the model's layout \(store.count)")
            }
            checkpoint.evaluationWeights = weights
        }
        return (checkpoint, workload, optimizer)
    }
}

extension Checkpoint {
    /// The workload to evaluate from a checkpoint: its weights are the evaluation copy when a
    /// method stored one (schedule-free's x, an EMA), else the training weights.
    public static func loadForEvaluation(from url: URL, adamW settings: AdamW.Settings) throws -> any Workload {
        let (checkpoint, workload, _) = try load(from: url, adamW: settings)
        if let weights = checkpoint.evaluationWeights {
            weights.withUnsafeBufferPointer { workload.parameters.values.update(from: $0.baseAddress!, count: $0.count) }
        }
        return workload
    }

    /// Metadata in key order, without the hash itself.
    static func hashMetadata(_ metadata: [String: String], into hash: inout ContentHash64) {
        for key in metadata.keys.sorted() where key != "content_hash" { hash.update("\(key)=\(metadata[key]!)\n") }
    }

    /// Recomputes the content hash of a format-2 file and compares it with the recorded one.
    static func verifyContent(_ file: SafeTensorsFile, url: URL) throws {
        guard let recorded = file.metadata["content_hash"] else { throw CheckpointError.corrupt(url.path, "metadata 'content_hash' is missing") }
        var hash = ContentHash64()
        hashMetadata(file.metadata, into: &hash)
        for name in file.names.sorted() {
            let info = file[name]!
            hash.update("\(name):\(info.dtype.rawValue):\(info.shape)\n")
            try file.withUnsafeBytes(of: name) { hash.update($0) }
        }
        guard hash.hex == recorded else {
            throw CheckpointError.corrupt(url.path, "its content hash is \(hash.hex) but the file records \(recorded): it was edited or damaged after it was written")
        }
    }
}

public enum CheckpointError: Error, CustomStringConvertible {
    case missing(runID: String, path: String)
    case corrupt(String, String)
    /// A sound checkpoint of another run, settings or data.
    case foreign(String, what: String, found: String, expected: String)

    public var description: String {
        switch self {
        case .missing(let id, let path):
            return "run \(id) has no checkpoint at \(path); it stopped before its first checkpoint, so start it again (lower --set checkpoint-every to checkpoint more often)"
        case .corrupt(let path, let reason):
            return "checkpoint \(path) cannot be used: \(reason). The run cannot resume from it; start the run again"
        case .foreign(let path, let what, let found, let expected):
            return "checkpoint \(path) belongs to another \(what) (\(found), the run's is \(expected)); it was copied or left from elsewhere, so the run cannot resume from it"
        }
    }
}
