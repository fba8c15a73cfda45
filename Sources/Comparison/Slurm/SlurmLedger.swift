import Foundation
import Storage

/// What this results folder has handed to Slurm: one entry per submitted job array, one per task.
/// It lives at `<results folder>/slurm/submissions.json`, is rewritten atomically, and is only
/// written under the folder's lock (``SlurmFolder/withLock(_:)``), so two `ntng compare`
/// processes never submit the same trial twice.
struct SlurmLedger: Codable, Equatable {
    struct Submission: Codable, Equatable {
        /// The array's job id (`sbatch --parsable`).
        var jobID: String
        var submittedAt: Date
        /// Where its scripts are (`slurm/jobs/<stamp>/`).
        var folder: String
        var tasks: [Task]
    }

    struct Task: Codable, Equatable {
        /// `SLURM_ARRAY_TASK_ID`.
        var index: Int
        /// The trial's ``TrialIdentity/digest``.
        var trial: String
        /// `lion, 5m RST, seed 1`, for messages.
        var label: String
        /// The task's log (Slurm's `--output`).
        var log: String
        /// Set once the task has ended and its result was collected: Slurm's final state.
        var ended: SlurmClient.TaskState?
    }

    /// An array about to be handed to sbatch, recorded first under a job name of its own: a
    /// process killed between sbatch's answer and recording the job id leaves this, and the next
    /// collection finds the array by its name (``SlurmClient/arrayJobs(named:since:)``) instead of
    /// submitting its trials a second time.
    struct Pending: Codable, Equatable {
        var jobName: String
        var createdAt: Date
        var folder: String
        var tasks: [Task]

        /// The submission once Slurm has given the array its id.
        func submitted(as jobID: String, at date: Date) -> Submission {
            Submission(jobID: jobID, submittedAt: date, folder: folder, tasks: tasks)
        }
    }

    var submissions: [Submission] = []
    var pending: [Pending] = []

    init(submissions: [Submission] = [], pending: [Pending] = []) {
        self.submissions = submissions
        self.pending = pending
    }

    // Ledgers written before `pending` existed have no such key.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        submissions = try c.decode([Submission].self, forKey: .submissions)
        pending = try c.decodeIfPresent([Pending].self, forKey: .pending) ?? []
    }

    /// Slurm's name of a task, `12_3`.
    static func taskID(_ jobID: String, _ index: Int) -> String { "\(jobID)_\(index)" }

    /// The tasks whose result is still to come, with their array's job id.
    var openTasks: [(jobID: String, task: Task)] {
        submissions.flatMap { s in s.tasks.filter { $0.ended == nil }.map { (s.jobID, $0) } }
    }

    /// The latest task that ran `trial`, with its array's job id.
    func latestTask(of trial: String) -> (jobID: String, task: Task)? {
        for s in submissions.reversed() {
            if let t = s.tasks.last(where: { $0.trial == trial }) { return (s.jobID, t) }
        }
        return nil
    }

    mutating func markEnded(jobID: String, index: Int, _ state: SlurmClient.TaskState) {
        guard let s = submissions.firstIndex(where: { $0.jobID == jobID }),
              let t = submissions[s].tasks.firstIndex(where: { $0.index == index }) else { return }
        submissions[s].tasks[t].ended = state
    }

    static func load(_ url: URL) throws -> SlurmLedger {
        guard FileManager.default.fileExists(atPath: url.path) else { return SlurmLedger() }
        let data = try Data(contentsOf: url)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(SlurmLedger.self, from: data) } catch {
            throw CompareError.slurm("\(url.path) is not a submission ledger ntng can read (\(error)); move it aside to start over — the trials' own folders keep their results")
        }
    }

    func save(_ url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try AtomicFile.write(try encoder.encode(self), to: url)
    }
}
