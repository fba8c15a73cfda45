import Foundation
import Records
import Clock
import Storage
import Host

/// How one trial of a comparison ended.
public struct TrialOutcome: Sendable {
    /// Where its result came from.
    public enum Source: String, Sendable, Codable {
        /// A finished run with the same identity was already in the store.
        case reused
        /// Run now in a child process.
        case ran
        /// An interrupted run with the same identity was continued from its checkpoint.
        case resumed
        /// Another live process was running it; the comparison waited for it.
        case awaited
        /// Never started (the comparison was stopped first).
        case notStarted = "not started"
    }

    public var trial: Trial
    /// `finished`, `failed` or `interrupted` (stopped; resumable by running the comparison again).
    public var status: RunStatus
    public var source: Source
    /// The stored run (nil only for a trial that never started).
    public var record: RunRecord?
    /// Why it failed or stopped.
    public var error: String?
    /// The failure could not be stored (a full disk, a broken store): the table shows it, and
    /// `ntng compare` exits with status 4.
    public var unrecorded = false

    public var runID: String? { record?.id }
    public var isFinished: Bool { status == .finished }
}
