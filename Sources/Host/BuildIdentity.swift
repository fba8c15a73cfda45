import Foundation
import Storage

/// The build recorded with every run and in every trial identity: the release and a digest of the
/// running executable, so that after any change to the host a comparison does not reuse trials
/// trained by another build, and one table never mixes builds.
public enum NTNGVersion {
    public static let release = "ntng 0.2.0"

    /// `ntng 0.2.0 (build 1a2b3c4d5e6f)`: the first 12 hex digits of the SHA-256 of the running
    /// executable (`/proc/self/exe`), computed once per process. A build that cannot read its own
    /// file says `build unknown`.
    public static let string: String = of(executableAt: "/proc/self/exe")

    /// The build identity of the `ntng` at `path` (what its runs record).
    public static func of(executableAt path: String) -> String {
        guard let digest = try? SHA256Digest.hex(ofFileAt: path) else { return "\(release) (build unknown)" }
        return "\(release) (build \(digest.prefix(12)))"
    }
}
