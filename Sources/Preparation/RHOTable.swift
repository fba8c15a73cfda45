import Corpus
import Foundation
import Models
import Storage
import Clock
import Records
import Host
import Workloads

/// One prepared RHO-LOSS irreducible-loss table: the folder
/// `$NTNG_HOME/rho/<corpus>/<model>/seed-<S>/proxy-<budget>/` with
///
/// - `losses.f32`: little-endian float32 per training example id (`0 ..< trainingSequences`), the
///   proxy model's mean cross-entropy over the sequence's masked tokens, masked exactly as the
///   target run of seed S masks it; NaN for ids of the proxy split (never trained on by targets)
///   and ``notExtracted`` (another NaN) for ids beyond the stream prefix the table covers;
/// - `proxy.safetensors`: the irreducible-loss (proxy) model;
/// - `manifest.json`: what it was made from, with the SHA-256 of both files.
public struct RHOTable: Sendable, Equatable {
    public static let tableFile = "losses.f32"
    public static let proxyFile = "proxy.safetensors"
    public static let manifestFile = "manifest.json"

    /// The value of an id whose loss was not extracted (a NaN with payload 1, so the plugin can
    /// tell "beyond the covered prefix" from "proxy split"). Only the stream prefix a run can reach
    /// is extracted: a whole-split pass costs as much as the proxy's training many times over.
    public static let notExtracted = Float(bitPattern: 0x7FC0_0001)
    public static func isNotExtracted(_ value: Float) -> Bool { value.bitPattern == notExtracted.bitPattern }

    public let directory: URL
    public let manifest: RHOManifest
    /// `directory/losses.f32`, or the file a user named with `--set rho.table=PATH`.
    public let tableURL: URL

    public init(directory: URL, manifest: RHOManifest, tableURL: URL? = nil) {
        self.directory = directory
        self.manifest = manifest
        self.tableURL = tableURL ?? directory.appendingPathComponent(Self.tableFile)
    }

    public var proxyURL: URL { directory.appendingPathComponent(Self.proxyFile) }
    public var manifestURL: URL { directory.appendingPathComponent(Self.manifestFile) }

    /// Opens a prepared folder and checks both files against the manifest's SHA-256.
    public static func open(_ directory: URL) throws -> RHOTable {
        let url = directory.appendingPathComponent(manifestFile)
        guard let data = try? Data(contentsOf: url) else { throw RHOError.missing(directory.path) }
        let manifest: RHOManifest
        do { manifest = try RHOManifest.decoder().decode(RHOManifest.self, from: data) } catch {
            throw RHOError.corrupt(directory.path, "manifest.json does not parse: \(error)")
        }
        guard manifest.format == RHOManifest.currentFormat else {
            throw RHOError.corrupt(directory.path, "manifest format \(manifest.format), expected \(RHOManifest.currentFormat)")
        }
        let table = RHOTable(directory: directory, manifest: manifest)
        for (file, expected) in [(tableFile, manifest.tableSHA256), (proxyFile, manifest.proxySHA256)] {
            let path = directory.appendingPathComponent(file).path
            guard FileManager.default.fileExists(atPath: path) else { throw RHOError.corrupt(directory.path, "\(file) is missing") }
            let actual = try SHA256Digest.hex(ofFileAt: path)
            guard actual == expected else {
                throw RHOError.corrupt(directory.path, "\(file) has SHA-256 \(actual), the manifest says \(expected)")
            }
        }
        return table
    }

    /// The table's values (NaN for proxy-split ids).
    public func losses() throws -> [Float] { try Self.readLosses(tableURL) }

    static func readLosses(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        guard data.count % 4 == 0 else { throw RHOError.corrupt(url.path, "not a whole number of float32 values") }
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func writeLosses(_ values: [Float], to url: URL) throws {
        var data = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try AtomicFile.write(data, to: url)
    }

    /// Loads the proxy model.
    public func proxyModel() throws -> MaskedLMWorkload {
        let file = try SafeTensorsFile(contentsOf: proxyURL)
        let model = try MaskedLMWorkload(config: manifest.modelConfig, seed: 0)
        for e in model.parameters.entries {
            try file.copyBytes(of: "model." + e.name,
                               into: UnsafeMutableRawBufferPointer(start: model.parameters.values + e.offset, count: e.count * 4))
        }
        return model
    }
}

/// What a table was made from. Everything that changes a table's values or its example ids is
/// here, and ``RHOPreparation`` refuses to use a table whose manifest disagrees with the run.
public struct RHOManifest: Codable, Equatable, Sendable {
    public static let currentFormat = "ntng-rho-1"

    public var format = RHOManifest.currentFormat
    /// Corpus name and the SHA-256 of its prepared `manifest.json` (changes when it is re-prepared).
    public var corpus: String
    public var corpusFingerprint: String
    public var tokenizer: String
    /// Model preset and the exact architecture (the target's).
    public var model: String
    public var modelConfig: ModelConfig
    /// The run seed whose masks the table uses (MLMMasking is a pure function of seed and id).
    public var seed: UInt64
    /// Sequences in the training split (the table's length) and how many are proxy-split ids.
    public var trainingSequences: Int
    public var proxySequences: Int
    public var proxySplit: ProxySplit
    public var proxySplitRule: String
    /// The proxy's training: RST budget (of `profile`), steps, epochs over the proxy split, losses.
    public var proxyBudget: Budget
    public var profile: String
    public var hyperparameters: Hyperparameters
    public var proxySteps: Int
    public var proxyEpochs: Double
    public var proxyFinalTrainLoss: Double?
    public var proxyValidationLoss: Double
    /// How many positions of seed S's training stream have losses (nil: every training id).
    /// A run draws a prefix of its stream, so this is what its budget can reach; a longer run
    /// extends the table (``RHOPreparation/findOrPrepare(_:data:home:log:)``).
    public var coveredPositions: Int?
    /// SHA-256 of this table's earlier, shorter versions. Extending only fills ids that had no
    /// loss, so a run recorded with one of these still sees exactly its values and may resume.
    public var earlierTableSHA256s: [String]?
    /// Mean of the table over the extracted training ids.
    public var tableMeanLoss: Double
    public var tableSHA256: String
    public var proxySHA256: String
    /// Wall seconds of proxy training and of the extraction pass (neither is charged to any run).
    public var trainingWallSeconds: Double
    public var extractionWallSeconds: Double
    /// Always false: the proxy's training and the extraction pass are amortised (docs/methods/rho.md).
    public var charged = false
    public var note = "Irreducible-loss (proxy) model trained on the proxy split only; losses extracted once over the training split with the target run's masks. Amortised: not charged to any run's budget."
    public var createdAt: String
    public var codeVersion: String
}

public enum RHOError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case corrupt(String, String)
    case mismatch(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .missing(let path): return "no RHO table at \(path) (no manifest.json)"
        case .corrupt(let path, let why): return "the RHO table at \(path) is unusable: \(why); prepare it again with `ntng rho prepare … --force`"
        case .mismatch(let why): return why
        case .invalid(let why): return why
        }
    }
}
