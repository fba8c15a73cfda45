import Corpus
import Foundation

/// What can go wrong building or reading downstream tasks; each message says what to do.
public enum TaskError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case missingPackages(tasks: [String], packages: [String])
    case unknownTask(String, available: [String])
    case notPrepared(task: String, directory: String)
    case unreadable(path: String, reason: String)
    case malformed(path: String, line: Int, reason: String)
    case unsupported(task: String, reason: String)
    case extractionFailed(task: String, reason: String)
    case empty(task: String, split: String)

    public var description: String {
        switch self {
        case let .missingPackages(tasks, packages):
            return "Tasks \(tasks.joined(separator: ", ")) need Debian packages that are not installed: "
                + "\(packages.joined(separator: ", ")). Install them with:\n  "
                + "apt-get install --no-install-recommends \(packages.joined(separator: " "))"
        case let .unknownTask(name, available):
            return "Unknown task '\(name)'. Available: \(available.joined(separator: ", "))."
        case let .notPrepared(task, directory):
            return "Task '\(task)' is not prepared in \(directory). Run:\n  ntng data prepare --tasks\n"
                + "or point --tasks-dir at a folder of GLUE (TSV) or SuperGLUE (JSONL) task folders."
        case let .unreadable(path, reason):
            return "\(path) cannot be read (\(reason))."
        case let .malformed(path, line, reason):
            return "\(path), line \(line): \(reason)"
        case let .unsupported(task, reason):
            return "Task '\(task)' is not supported: \(reason)"
        case let .extractionFailed(task, reason):
            return "Building task '\(task)' failed: \(reason)"
        case let .empty(task, split):
            return "Task '\(task)' has no labelled \(split) examples."
        }
    }

    public var errorDescription: String? { description }
}
