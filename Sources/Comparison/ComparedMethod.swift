import TensorCore
import PluginHost

/// One row of a comparison as `--methods` names it: a method, optionally pinned to a precision
/// with a suffix (`baseline@bf16`), which makes the precision a compared variable — the row's
/// trials compute in that precision and are charged from that precision's reference profile,
/// under the same RST budget as every other row.
public struct ComparedMethod: Sendable, Hashable {
    /// The entry as written, the row's name in tables and reports (`baseline@bf16`).
    public let entry: String
    /// The method the trials run (`baseline`, a plugin name, a path, an `a+b` stack).
    public let method: String
    /// The precision this row pins; nil: the comparison's own.
    public let precision: Precision?

    /// Parses an entry. Only a final `@fp32` or `@bf16` is a suffix; any other `@…` after the last
    /// `/` is refused as a misspelt one (a path may contain `@` in its folders).
    public init(_ entry: String) throws {
        self.entry = entry
        guard let at = entry.lastIndex(of: "@"), !entry[at...].contains("/") else {
            method = entry
            precision = nil
            return
        }
        let suffix = String(entry[entry.index(after: at)...])
        guard let p = Precision(rawValue: suffix) else {
            throw CompareError.unknownMethod(entry, detail: "'@\(suffix)' is not a precision; a row may end in @fp32 or @bf16 (e.g. baseline@bf16)")
        }
        method = String(entry[..<at])
        guard !method.isEmpty else { throw CompareError.unknownMethod(entry, detail: "a precision suffix needs a method before it (e.g. baseline@bf16)") }
        precision = p
    }
}
