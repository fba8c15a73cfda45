import Foundation
import Storage

/// Where ntng keeps prepared data: `$NTNG_HOME/data`, with `NTNG_HOME` defaulting to `~/.ntng`.
/// Every command that reads or writes corpora resolves its directory through this type, so a
/// `--data-dir` flag means the same thing everywhere.
public struct DataLocation: Sendable, Equatable {
    /// The data root, e.g. `/root/.ntng/data`.
    public let root: URL

    /// Uses `explicitDirectory` when given (a `--data-dir` value), else `$NTNG_HOME/data`,
    /// else `~/.ntng/data`.
    public init(explicitDirectory: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let explicitDirectory, !explicitDirectory.isEmpty {
            root = URL(fileURLWithPath: (explicitDirectory as NSString).expandingTildeInPath).standardizedFileURL
        } else {
            root = DataLocation.ntngHome(environment: environment).appendingPathComponent("data")
        }
    }

    /// `$NTNG_HOME`, defaulting to `~/.ntng` (``NTNGHome``).
    public static func ntngHome(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        NTNGHome.directory(environment: environment).standardizedFileURL
    }

    /// Cache of extracted plain text, one file per Debian source.
    public var sourcesDirectory: URL { root.appendingPathComponent("sources") }

    /// Directory of one corpus (all tokenizers).
    public func corpusDirectory(_ corpusName: String) -> URL { root.appendingPathComponent(corpusName) }

    /// Directory of one corpus prepared with one tokenizer: token files, stats.json, manifest.json.
    public func preparedDirectory(corpus corpusName: String, tokenizer tokenizerName: String) -> URL {
        corpusDirectory(corpusName).appendingPathComponent(tokenizerName)
    }
}
