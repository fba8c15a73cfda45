import Foundation
import Storage

/// The model dimensions a reference profile was measured for.
///
/// Costs depend on every one of these numbers, so a profile is only valid for the exact shape
/// it was calibrated with (``ReferenceProfile/validate(for:shape:)``).
public struct ModelShape: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Number of encoder layers (the full depth L).
    public var layers: Int
    /// Hidden (model) width.
    public var hidden: Int
    /// Attention heads per layer.
    public var heads: Int
    /// Feed-forward inner width.
    public var ffn: Int
    /// Vocabulary size (embedding and output head rows).
    public var vocab: Int
    /// Tokens per sequence.
    public var seqLen: Int
    /// Sequences per micro-batch the costs were measured with (costs are still stored per sequence).
    public var microBatch: Int
    /// Decoder tokens per sequence of an encoder–decoder (T5); nil for an encoder. Optional, so
    /// stored encoder profiles read and write exactly as before.
    public var targetLength: Int?

    public init(layers: Int, hidden: Int, heads: Int, ffn: Int, vocab: Int, seqLen: Int, microBatch: Int, targetLength: Int? = nil) {
        self.layers = layers
        self.hidden = hidden
        self.heads = heads
        self.ffn = ffn
        self.vocab = vocab
        self.seqLen = seqLen
        self.microBatch = microBatch
        self.targetLength = targetLength
    }

    public var description: String {
        "layers=\(layers) hidden=\(hidden) heads=\(heads) ffn=\(ffn) vocab=\(vocab) seqLen=\(seqLen) microBatch=\(microBatch)"
            + (targetLength.map { " targetLength=\($0)" } ?? "")
    }
}

/// The machine a profile was measured on (recorded for audit; never used in charges).
public struct MachineDescription: Codable, Sendable, Hashable {
    /// CPU model name, from `model name` in `/proc/cpuinfo`.
    public var cpuModel: String
    /// Logical CPU cores available to the process.
    public var cores: Int
    /// Operating system, from `PRETTY_NAME` in `/etc/os-release`.
    public var os: String

    public init(cpuModel: String, cores: Int, os: String) {
        self.cpuModel = cpuModel
        self.cores = cores
        self.os = os
    }

    /// Describes the machine this process runs on ("unknown" where a file cannot be read).
    public static func current() -> MachineDescription {
        MachineDescription(
            cpuModel: readKeyValue(path: "/proc/cpuinfo", key: "model name", separator: ":") ?? "unknown",
            cores: ProcessInfo.processInfo.activeProcessorCount,
            os: readKeyValue(path: "/etc/os-release", key: "PRETTY_NAME", separator: "=") ?? "unknown")
    }

    /// First `key<sep>value` line of a text file, value trimmed and unquoted.
    static func readKeyValue(path: String, key: String, separator: Character) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            guard let sep = line.firstIndex(of: separator) else { continue }
            guard line[..<sep].trimmingCharacters(in: .whitespaces) == key else { continue }
            var value = line[line.index(after: sep)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }
}

/// Measured reference costs of each unit of work, for one model preset on one machine.
///
/// The RST clock charges work at these costs instead of reading the wall clock, which makes runs
/// reproducible on busy machines. Per-layer tables have `shape.layers + 1` entries: entry `k` is the
/// cost for **one sequence** when `k` encoder layers are active (entry 0 = embeddings + MLM head
/// only), so progressive stacking and layer dropping are charged for the depth they actually run.
///
/// Stored as JSON (camelCase keys, ISO 8601 date). Use ``load(from:)`` and ``save(to:)``; both check
/// the costs, and callers should then call ``validate(for:shape:)`` against the model being trained.
public struct ReferenceProfile: Codable, Sendable, Equatable {
    /// Version of the JSON layout, bumped on incompatible changes.
    public static let currentFormatVersion = 1

    /// JSON layout version (``currentFormatVersion`` when written by this code).
    public var formatVersion: Int
    /// Profile name, e.g. `"default-small"`.
    public var name: String
    /// The model preset this profile was calibrated for, e.g. `"small"`.
    public var preset: String
    /// The exact model shape that was measured.
    public var shape: ModelShape
    /// CPU, cores and OS of the calibration machine.
    public var machine: MachineDescription
    /// Toolchain version string, e.g. the first line of `swift --version`.
    public var toolchain: String
    /// BLAS library description, e.g. `"OpenBLAS 0.3.21"`.
    public var blas: String
    /// Number of compute threads used while measuring.
    public var threads: Int
    /// When the measurement was taken.
    public var date: Date

    /// Seconds of forward + backward for one sequence, indexed by active layers `0...L`.
    public var forwardBackwardPerSequence: [Double]
    /// Seconds of a no-grad forward (scoring) pass for one sequence, indexed by active layers `0...L`.
    public var forwardOnlyPerSequence: [Double]
    /// Seconds of a forward + backward against sampled labels (curvature estimate, e.g. Sophia's GNB)
    /// for one sequence, indexed by active layers `0...L`.
    public var sampledLabelPassPerSequence: [Double]
    /// Seconds of AdamW update arithmetic per parameter per step.
    public var optimizerUpdatePerParameter: Double
    /// Optional per-plugin costs: plugin id → seconds per parameter per optimizer step.
    public var pluginCostPerParameter: [String: Double]
    /// Free-form notes, e.g. how the tables were smoothed.
    public var notes: String?
    /// The precision of the matrix products it prices: nil for fp32 (every profile from before the
    /// choice), "bf16" for bf16 work. A run is priced only by a profile of its own precision.
    public var precision: String?

    public init(
        name: String, preset: String, shape: ModelShape,
        machine: MachineDescription = .current(), toolchain: String, blas: String, threads: Int,
        date: Date = Date(),
        forwardBackwardPerSequence: [Double], forwardOnlyPerSequence: [Double],
        sampledLabelPassPerSequence: [Double], optimizerUpdatePerParameter: Double,
        pluginCostPerParameter: [String: Double] = [:], notes: String? = nil
    ) {
        self.formatVersion = Self.currentFormatVersion
        self.name = name
        self.preset = preset
        self.shape = shape
        self.machine = machine
        self.toolchain = toolchain
        self.blas = blas
        self.threads = threads
        self.date = date
        self.forwardBackwardPerSequence = forwardBackwardPerSequence
        self.forwardOnlyPerSequence = forwardOnlyPerSequence
        self.sampledLabelPassPerSequence = sampledLabelPassPerSequence
        self.optimizerUpdatePerParameter = optimizerUpdatePerParameter
        self.pluginCostPerParameter = pluginCostPerParameter
        self.notes = notes
    }

    private enum CodingKeys: String, CodingKey {
        case formatVersion, name, preset, shape, machine, toolchain, blas, threads, date
        case forwardBackwardPerSequence, forwardOnlyPerSequence, sampledLabelPassPerSequence
        case optimizerUpdatePerParameter, pluginCostPerParameter, notes, precision
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        name = try c.decode(String.self, forKey: .name)
        preset = try c.decode(String.self, forKey: .preset)
        shape = try c.decode(ModelShape.self, forKey: .shape)
        machine = try c.decode(MachineDescription.self, forKey: .machine)
        toolchain = try c.decode(String.self, forKey: .toolchain)
        blas = try c.decode(String.self, forKey: .blas)
        threads = try c.decode(Int.self, forKey: .threads)
        date = try c.decode(Date.self, forKey: .date)
        forwardBackwardPerSequence = try c.decode([Double].self, forKey: .forwardBackwardPerSequence)
        forwardOnlyPerSequence = try c.decode([Double].self, forKey: .forwardOnlyPerSequence)
        sampledLabelPassPerSequence = try c.decode([Double].self, forKey: .sampledLabelPassPerSequence)
        optimizerUpdatePerParameter = try c.decode(Double.self, forKey: .optimizerUpdatePerParameter)
        // Optional so that profiles written before any plugin was calibrated stay valid.
        pluginCostPerParameter = try c.decodeIfPresent([String: Double].self, forKey: .pluginCostPerParameter) ?? [:]
        notes = try c.decodeIfPresent(String.self, forKey: .notes)
        precision = try c.decodeIfPresent(String.self, forKey: .precision)
    }

    // MARK: - Cost look-ups

    /// Seconds of forward + backward for `sequences` sequences with `activeLayers` layers.
    public func forwardBackwardCost(activeLayers: Int, sequences: Int) -> Double {
        Self.lookUp(forwardBackwardPerSequence, activeLayers, "forwardBackwardPerSequence") * Double(sequences)
    }

    /// Seconds of no-grad scoring for `sequences` sequences with `activeLayers` layers.
    public func forwardOnlyCost(activeLayers: Int, sequences: Int) -> Double {
        Self.lookUp(forwardOnlyPerSequence, activeLayers, "forwardOnlyPerSequence") * Double(sequences)
    }

    /// Seconds of sampled-label (curvature) passes for `sequences` sequences with `activeLayers` layers.
    public func sampledLabelPassCost(activeLayers: Int, sequences: Int) -> Double {
        Self.lookUp(sampledLabelPassPerSequence, activeLayers, "sampledLabelPassPerSequence") * Double(sequences)
    }

    /// Seconds of one AdamW update over `parameters` parameters.
    public func optimizerUpdateCost(parameters: Int) -> Double {
        optimizerUpdatePerParameter * Double(parameters)
    }

    private static func lookUp(_ table: [Double], _ activeLayers: Int, _ field: String) -> Double {
        precondition(table.indices.contains(activeLayers),
                     "\(field) has no entry for \(activeLayers) active layers (0...\(table.count - 1))")
        return table[activeLayers]
    }

    // MARK: - Checks

    /// Checks that every cost is present, finite and non-negative, and that each per-layer table has
    /// `shape.layers + 1` entries.
    /// Bounds of a plausible cost. Zero would make work free (a budget would never end); a
    /// second per parameter or an hour per sequence is a broken measurement or an edited file.
    public static let maximumSecondsPerSequence = 3600.0
    public static let maximumSecondsPerParameter = 1.0

    private static func plausible(_ seconds: Double, atMost limit: Double) -> Bool {
        seconds.isFinite && seconds > 0 && seconds <= limit
    }

    /// Whether plugin `id`'s optimizer has no calibrated cost here, so it is charged by an
    /// estimate from measured time (``PluginCharging``): not reproducible step for step.
    public func chargesByEstimate(plugin id: String) -> Bool { pluginCostPerParameter[id] == nil }

    public func validateCosts() throws {
        guard formatVersion == Self.currentFormatVersion else {
            throw ReferenceProfileError.unsupportedFormatVersion(profile: name, version: formatVersion)
        }
        guard shape.layers >= 0 else {
            throw ReferenceProfileError.invalidCost(profile: name, field: "shape.layers", detail: "is \(shape.layers)")
        }
        let tables = [
            ("forwardBackwardPerSequence", forwardBackwardPerSequence),
            ("forwardOnlyPerSequence", forwardOnlyPerSequence),
            ("sampledLabelPassPerSequence", sampledLabelPassPerSequence),
        ]
        for (field, table) in tables {
            guard table.count == shape.layers + 1 else {
                throw ReferenceProfileError.invalidCost(
                    profile: name, field: field,
                    detail: "has \(table.count) entries, expected \(shape.layers + 1) (active layers 0...\(shape.layers))")
            }
            for (k, value) in table.enumerated() where !Self.plausible(value, atMost: Self.maximumSecondsPerSequence) {
                throw ReferenceProfileError.invalidCost(profile: name, field: "\(field)[\(k)]",
                                                        detail: "is \(value); a cost must be > 0 and at most \(Self.maximumSecondsPerSequence) s per sequence")
            }
        }
        guard Self.plausible(optimizerUpdatePerParameter, atMost: Self.maximumSecondsPerParameter) else {
            throw ReferenceProfileError.invalidCost(
                profile: name, field: "optimizerUpdatePerParameter",
                detail: "is \(optimizerUpdatePerParameter); a cost must be > 0 and at most \(Self.maximumSecondsPerParameter) s per parameter")
        }
        for (id, value) in pluginCostPerParameter.sorted(by: { $0.key < $1.key })
        where !Self.plausible(value, atMost: Self.maximumSecondsPerParameter) {
            throw ReferenceProfileError.invalidCost(profile: name, field: "pluginCostPerParameter[\(id)]",
                                                    detail: "is \(value); a cost must be > 0 and at most \(Self.maximumSecondsPerParameter) s per parameter")
        }
    }

    /// Checks the costs and that this profile was calibrated for `presetName` with exactly `shape`.
    ///
    /// Call this before training: charging a model with another model's costs would silently make
    /// the budget meaningless.
    public func validate(for presetName: String, shape expected: ModelShape) throws {
        guard preset == presetName else {
            throw ReferenceProfileError.presetMismatch(profile: name, calibratedFor: preset, requested: presetName)
        }
        guard shape == expected else {
            throw ReferenceProfileError.shapeMismatch(profile: name, calibrated: shape, requested: expected)
        }
        try validateCosts()
    }

    // MARK: - Files

    /// Reads and checks a profile (format and costs; not the preset, see ``validate(for:shape:)``).
    ///
    /// - Throws: ``ReferenceProfileError`` naming the file: `.fileMissing`, `.unreadable`, `.corrupt`
    ///   (not JSON, or a field missing or of the wrong type), `.invalidCost`.
    public static func load(from url: URL) throws -> ReferenceProfile {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            if !FileManager.default.fileExists(atPath: url.path) {
                throw ReferenceProfileError.fileMissing(path: url.path)
            }
            throw ReferenceProfileError.unreadable(path: url.path, detail: "\(FileErrorText.describe(error))")
        }
        let profile: ReferenceProfile
        do {
            profile = try makeDecoder().decode(ReferenceProfile.self, from: data)
        } catch let error as DecodingError {
            throw ReferenceProfileError.corrupt(path: url.path, detail: describe(error))
        } catch {
            throw ReferenceProfileError.corrupt(path: url.path, detail: "\(error)")
        }
        do {
            try profile.validateCosts()
        } catch let error as ReferenceProfileError {
            throw ReferenceProfileError.inFile(path: url.path, error)
        }
        return profile
    }

    /// Writes the profile as pretty-printed JSON, atomically (``AtomicFile``), after checking the
    /// costs. Missing parent directories are created.
    public func save(to url: URL) throws {
        try validateCosts()
        let data = try Self.makeEncoder().encode(self)
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(data, to: url)
    }

    /// Encodes to the on-disk JSON form (also used to store the profile beside a run).
    public func jsonData() throws -> Data { try Self.makeEncoder().encode(self) }

    /// Decodes the on-disk JSON form.
    public static func fromJSON(_ data: Data) throws -> ReferenceProfile {
        try makeDecoder().decode(ReferenceProfile.self, from: data)
    }

    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let prefix = path(context)
            return "field \"\(prefix.isEmpty ? key.stringValue : prefix + "." + key.stringValue)\" is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field \"\(path(context))\" has the wrong type: \(context.debugDescription)"
        case .dataCorrupted(let context):
            let where_ = path(context)
            return where_.isEmpty ? "not valid JSON (\(context.debugDescription))"
                                  : "field \"\(where_)\": \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

// MARK: - Smoothing by a linear fit

/// A least-squares line `cost(k) = intercept + slope · k` through per-layer cost measurements.
///
/// Per-layer cost is linear in the number of active layers (each layer does the same work; the
/// intercept is embeddings + head). The original NTNG table contained a typo at one depth
/// (0.01052 instead of ≈0.1052); measuring a few depths and fitting a line removes
/// such outliers and noise, and lets calibration measure only some depths. Use
/// ``ReferenceProfile/smoothedByLinearFit()`` or ``table(layers:)`` to build full tables.
public struct LinearCostFit: Codable, Sendable, Equatable {
    /// Cost with zero active layers.
    public var intercept: Double
    /// Added cost per active layer.
    public var slope: Double

    public init(intercept: Double, slope: Double) {
        self.intercept = intercept
        self.slope = slope
    }

    /// Ordinary least squares over `(activeLayers, seconds)` points; needs at least two distinct
    /// layer counts.
    public static func fit(_ points: [(activeLayers: Int, seconds: Double)]) throws -> LinearCostFit {
        let distinct = Set(points.map(\.activeLayers))
        guard distinct.count >= 2 else {
            throw ReferenceProfileError.fitNeedsTwoDepths(count: distinct.count)
        }
        guard points.allSatisfy({ $0.seconds.isFinite }) else {
            throw ReferenceProfileError.invalidCost(profile: "(fit)", field: "seconds", detail: "contains a non-finite value")
        }
        let n = Double(points.count)
        let meanX = points.reduce(0.0) { $0 + Double($1.activeLayers) } / n
        let meanY = points.reduce(0.0) { $0 + $1.seconds } / n
        var sxx = 0.0, sxy = 0.0
        for p in points {
            let dx = Double(p.activeLayers) - meanX
            sxx += dx * dx
            sxy += dx * (p.seconds - meanY)
        }
        let slope = sxy / sxx
        return LinearCostFit(intercept: meanY - slope * meanX, slope: slope)
    }

    /// Fits a full table `[cost(0), …, cost(L)]`, i.e. every index is a layer count.
    public static func fit(table: [Double]) throws -> LinearCostFit {
        try fit(table.enumerated().map { (activeLayers: $0.offset, seconds: $0.element) })
    }

    /// Cost at `activeLayers`.
    public func cost(activeLayers: Int) -> Double { intercept + slope * Double(activeLayers) }

    /// The fitted table for active layers `0...layers`, floored at 0 (a noisy fit can give a
    /// slightly negative intercept, and a negative charge would make no sense).
    public func table(layers: Int) -> [Double] {
        (0...layers).map { max(0, cost(activeLayers: $0)) }
    }
}

extension ReferenceProfile {
    /// A copy whose three per-layer tables are replaced by least-squares lines through them
    /// (``LinearCostFit``), with a note recording the fitted coefficients.
    ///
    /// Smoothing trades exactness at each depth for robustness against outliers such as the NTNG
    /// typo; it changes charges by at most the measurement noise when the data is linear.
    public func smoothedByLinearFit() throws -> ReferenceProfile {
        guard shape.layers >= 1 else { throw ReferenceProfileError.fitNeedsTwoDepths(count: shape.layers + 1) }
        var copy = self
        let fb = try LinearCostFit.fit(table: forwardBackwardPerSequence)
        let fo = try LinearCostFit.fit(table: forwardOnlyPerSequence)
        let sl = try LinearCostFit.fit(table: sampledLabelPassPerSequence)
        // A table floored at zero would charge nothing for a pass and be refused when loaded;
        // refuse it here, where the fix (a quieter machine) is known.
        for (name, fit) in [("forward+backward", fb), ("forward-only", fo), ("sampled-label", sl)] where !(fit.intercept > 0) {
            throw ReferenceProfileError.fitNotPositive(table: name, intercept: fit.intercept)
        }
        copy.forwardBackwardPerSequence = fb.table(layers: shape.layers)
        copy.forwardOnlyPerSequence = fo.table(layers: shape.layers)
        copy.sampledLabelPassPerSequence = sl.table(layers: shape.layers)
        let note = "per-layer tables smoothed by least squares: "
            + "forwardBackward = \(fb.intercept) + \(fb.slope)·k; forwardOnly = \(fo.intercept) + \(fo.slope)·k; "
            + "sampledLabel = \(sl.intercept) + \(sl.slope)·k"
        copy.notes = [notes, note].compactMap { $0 }.joined(separator: "\n")
        return copy
    }
}

/// Why a reference profile cannot be used. Messages name the file or profile and say what to do.
public indirect enum ReferenceProfileError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// No file at `path`.
    case fileMissing(path: String)
    /// The file exists but could not be read or written.
    case unreadable(path: String, detail: String)
    /// The file is not valid profile JSON (syntax error, missing or mistyped field).
    case corrupt(path: String, detail: String)
    /// The JSON layout version is not one this code understands.
    case unsupportedFormatVersion(profile: String, version: Int)
    /// A cost is missing, negative, non-finite, or a table has the wrong length.
    case invalidCost(profile: String, field: String, detail: String)
    /// The profile was calibrated for another model preset.
    case presetMismatch(profile: String, calibratedFor: String, requested: String)
    /// Same preset name, but the model shape differs from the one measured.
    case shapeMismatch(profile: String, calibrated: ModelShape, requested: ModelShape)
    /// A plugin's cost was asked for but never calibrated.
    /// A linear fit needs measurements at two or more depths.
    case fitNeedsTwoDepths(count: Int)
    /// A smoothed table's line is not above zero at zero active layers: the measurements were too
    /// noisy for a fit (an idle machine, or no smoothing, is needed).
    case fitNotPositive(table: String, intercept: Double)
    /// Another error, attributed to a file.
    case inFile(path: String, ReferenceProfileError)

    public var description: String {
        let recalibrate = "run `ntng calibrate --model PRESET` to measure a new profile"
        switch self {
        case .fileMissing(let path):
            return "reference profile not found: \(path); pass an existing profile or \(recalibrate)"
        case .unreadable(let path, let detail):
            return "cannot read reference profile \(path): \(detail)"
        case .corrupt(let path, let detail):
            return "reference profile \(path) is corrupt: \(detail); restore it or \(recalibrate)"
        case .unsupportedFormatVersion(let profile, let version):
            return "reference profile \"\(profile)\" has format version \(version), this ntng reads version "
                + "\(ReferenceProfile.currentFormatVersion); \(recalibrate)"
        case .invalidCost(let profile, let field, let detail):
            return "reference profile \"\(profile)\": cost \(field) \(detail) (costs must be finite and >= 0); \(recalibrate)"
        case .presetMismatch(let profile, let calibratedFor, let requested):
            return "reference profile \"\(profile)\" was calibrated for model preset \"\(calibratedFor)\", "
                + "not \"\(requested)\"; use a profile for \"\(requested)\" or run `ntng calibrate --model \(requested)`"
        case .shapeMismatch(let profile, let calibrated, let requested):
            return "reference profile \"\(profile)\" was calibrated for model shape {\(calibrated)} but the model is "
                + "{\(requested)}; \(recalibrate)"
        case .fitNeedsTwoDepths(let count):
            return "a linear cost fit needs measurements at two or more layer counts, got \(count)"
        case .fitNotPositive(let table, let intercept):
            return "the least-squares line through the \(table) costs is \(intercept) s at 0 active layers, not above zero: "
                + "the measurements were too noisy to smooth; calibrate again on an idle machine, or without --smooth"
        case .inFile(let path, let inner):
            return "\(path): \(inner.description)"
        }
    }

    public var errorDescription: String? { description }
}

extension ReferenceProfile {
    /// The per-layer tables' names, in the order of ``perLayerTables``.
    public static let perLayerTableNames = ["forward+backward", "forward", "sampled-label"]
    public var perLayerTables: [[Double]] { [forwardBackwardPerSequence, forwardOnlyPerSequence, sampledLabelPassPerSequence] }

    /// Each (table, depth) of `tables` whose cost is below the one at `depth - 1` by more than
    /// `tolerance` (relative). More layers never cost less, so such a dip is measurement noise that
    /// would misprice methods that change the depth (stacking, dropping).
    public static func dips(in tables: [[Double]], tolerance: Double) -> [(table: Int, depth: Int)] {
        tables.indices.flatMap { t in
            tables[t].indices.dropFirst().filter { tables[t][$0] < tables[t][$0 - 1] * (1 - tolerance) }.map { (t, $0) }
        }
    }

    /// ``dips(in:tolerance:)`` of this profile's tables, in words; empty when every table is monotone.
    public func monotonicityProblems(tolerance: Double = 0.05) -> [String] {
        let tables = perLayerTables
        return Self.dips(in: tables, tolerance: tolerance).map { t, d in
            String(format: "%@ at %d layers costs %.3f ms/seq, %.0f %% less than at %d (%.3f)", Self.perLayerTableNames[t], d,
                   tables[t][d] * 1e3, (1 - tables[t][d] / tables[t][d - 1]) * 100, d - 1, tables[t][d - 1] * 1e3)
        }
    }
}
