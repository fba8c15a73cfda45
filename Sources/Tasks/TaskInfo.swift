import Corpus
import Foundation

/// The headline metric of a task.
public enum TaskMetric: String, Codable, Sendable, CaseIterable {
    case accuracy
    /// F1 of the positive class (binary tasks; MRPC/QQP style).
    case f1
    /// Matthews correlation (CoLA style; for imbalanced labels, where accuracy flatters the
    /// majority class).
    case mcc
}

/// Whether examples are one text or a pair.
public enum TaskKind: String, Codable, Sendable {
    case single, pair
}

/// What the evaluation needs to know about a task besides its examples (`task.json`).
public struct TaskInfo: Codable, Sendable, Equatable {
    public var name: String
    public var kind: TaskKind
    public var metric: TaskMetric
    /// Label names; a label's index is its class id.
    public var labels: [String]
    /// The positive label for F1 (binary tasks).
    public var positiveLabel: String?
    /// The GLUE/SuperGLUE task it resembles.
    public var analogue: String
    /// Where the examples came from: `debian`, `glue`, `superglue`.
    public var source: String
    /// Examples per split name.
    public var counts: [String: Int]

    public init(name: String, kind: TaskKind, metric: TaskMetric, labels: [String], positiveLabel: String?,
                analogue: String, source: String, counts: [String: Int] = [:]) {
        self.name = name
        self.kind = kind
        self.metric = metric
        self.labels = labels
        self.positiveLabel = positiveLabel
        self.analogue = analogue
        self.source = source
        self.counts = counts
    }

    /// The class id of the positive label (1 for a binary task without one).
    public var positiveClass: Int? {
        if let p = positiveLabel { return labels.firstIndex(of: p) }
        return labels.count == 2 ? 1 : nil
    }
}

/// A task with its examples loaded, labels still as names.
public struct LoadedTask: Sendable {
    public var info: TaskInfo
    public var splits: [TaskSplit: [TaskExample]]

    public init(info: TaskInfo, splits: [TaskSplit: [TaskExample]]) {
        self.info = info
        self.splits = splits
    }

    public func examples(_ split: TaskSplit) -> [TaskExample] { splits[split] ?? [] }
}
