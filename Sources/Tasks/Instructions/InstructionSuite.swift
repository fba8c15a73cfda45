import Corpus
import Foundation

/// The tasks of one instruction-tuning evaluation, split by task as SNI splits them: the model is
/// fine-tuned on the training tasks and scored on test tasks it has never seen.
///
/// Instances follow Tk-Instruct's dataset reader: a test task's **first** `testInstances` (100)
/// instances are its evaluation set, in file order; a training task's instances are shuffled
/// (deterministically, by `seed`) and the first `trainInstances` kept.
public struct InstructionSuite: Sendable {
    public var train: [InstructionTask]
    public var test: [InstructionTask]

    public struct Caps: Sendable, Equatable, Codable {
        public var trainInstances = 100
        public var testInstances = 100
        public init(trainInstances: Int = 100, testInstances: Int = 100) {
            self.trainInstances = trainInstances
            self.testInstances = testInstances
        }
    }

    /// Reads `splitDirectory/train_tasks.txt` and `test_tasks.txt` (one task name a line, SNI's
    /// `splits/default/` layout; `#` comments and blank lines skipped) and each named task from
    /// `tasksDirectory/NAME.json`.
    public static func load(tasksDirectory: URL, splitDirectory: URL, caps: Caps = Caps(), seed: UInt64 = 0) throws -> InstructionSuite {
        let trainNames = try taskList(splitDirectory.appendingPathComponent("train_tasks.txt"))
        let testNames = try taskList(splitDirectory.appendingPathComponent("test_tasks.txt"))
        if let both = Set(trainNames).intersection(testNames).sorted().first {
            throw TaskError.unsupported(task: both, reason: "it is listed in both train_tasks.txt and test_tasks.txt of \(splitDirectory.path); a test task must be unseen")
        }
        guard !testNames.isEmpty else { throw TaskError.empty(task: splitDirectory.appendingPathComponent("test_tasks.txt").path, split: "test-task") }
        func read(_ name: String) throws -> InstructionTask {
            let url = tasksDirectory.appendingPathComponent(name + ".json")
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw TaskError.notPrepared(task: name, directory: tasksDirectory.path)
            }
            return try InstructionTask.load(url)
        }
        var train = try trainNames.map(read)
        var test = try testNames.map(read)
        for i in train.indices {
            // Keyed by the task's name, so a task's sample does not depend on its place in the list.
            var rng = CorpusRandom(seed: seed, key: FNV1a64.hash(train[i].name))
            var instances = train[i].instances
            for j in stride(from: instances.count - 1, to: 0, by: -1) { instances.swapAt(j, rng.next(below: j + 1)) }
            train[i].instances = Array(instances.prefix(caps.trainInstances))
        }
        for i in test.indices { test[i].instances = Array(test[i].instances.prefix(caps.testInstances)) }
        if let empty = test.first(where: { $0.instances.isEmpty }) { throw TaskError.empty(task: empty.name, split: "test") }
        return InstructionSuite(train: train, test: test)
    }

    static func taskList(_ url: URL) throws -> [String] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw TaskError.unreadable(path: url.path, reason: "no such file, or not UTF-8; a split folder holds train_tasks.txt and test_tasks.txt, one task name a line")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}
