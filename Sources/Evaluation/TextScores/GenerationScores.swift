/// SNI's scores of generated text: for each instance the best score over its references, averaged
/// over a task's instances, then over tasks. Both are in percent, as SNI's `compute_metrics`
/// prints them (unrounded here).
public struct GenerationScores: Sendable, Equatable, Codable {
    public struct TaskScores: Sendable, Equatable, Codable {
        public var task: String
        public var instances: Int
        public var rougeL: Double
        public var exactMatch: Double
    }

    /// One entry per task, in order of first appearance.
    public var tasks: [TaskScores]
    /// The mean over tasks (equal to SNI's mean over instances when every task has as many).
    public var rougeL: Double
    public var exactMatch: Double

    /// One generated text with the references it is scored against.
    public struct Instance: Sendable {
        public var task: String
        public var prediction: String
        public var references: [String]
        public init(task: String, prediction: String, references: [String]) {
            self.task = task
            self.prediction = prediction
            self.references = references
        }
    }

    /// Scores `instances`; an instance needs at least one reference.
    public init(_ instances: [Instance]) {
        var order: [String] = []
        var sums: [String: (n: Int, rouge: Double, exact: Double)] = [:]
        for instance in instances {
            precondition(!instance.references.isEmpty, "an instance without references has no score")
            let predictionTokens = RougeL.tokens(instance.prediction)
            let rouge = instance.references.map {
                RougeL.score(predictionTokens: predictionTokens, targetTokens: RougeL.tokens($0)).fmeasure
            }.max()!
            let exact = instance.references.contains { ExactMatch.matches(prediction: instance.prediction, target: $0) } ? 1.0 : 0.0
            if sums[instance.task] == nil { order.append(instance.task); sums[instance.task] = (0, 0, 0) }
            sums[instance.task]!.n += 1
            sums[instance.task]!.rouge += rouge
            sums[instance.task]!.exact += exact
        }
        tasks = order.map { name in
            let s = sums[name]!
            return TaskScores(task: name, instances: s.n, rougeL: 100 * s.rouge / Double(s.n), exactMatch: 100 * s.exact / Double(s.n))
        }
        rougeL = tasks.isEmpty ? 0 : tasks.map(\.rougeL).reduce(0, +) / Double(tasks.count)
        exactMatch = tasks.isEmpty ? 0 : tasks.map(\.exactMatch).reduce(0, +) / Double(tasks.count)
    }
}
