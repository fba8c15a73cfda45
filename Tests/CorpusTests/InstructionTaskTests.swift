import Foundation
import Testing
@testable import Tasks

/// SNI's task format, Tk-Instruct's prompt and the split rules, on task files written here.
@Suite struct InstructionTaskTests {
    static let examples = [
        InstructionTask.Example(input: "2+2?", output: "4"),
        InstructionTask.Example(input: " Capital of France ", output: "Paris."),
        InstructionTask.Example(input: "unused", output: "unused"),
    ]

    @Test func thePromptIsTkInstructsDefinitionAndTwoPositiveExamples() {
        let prompt = InstructionPrompt.source(definition: "Answer the question", positiveExamples: Self.examples, input: "Colour of the sky")
        #expect(prompt == """
            Definition: Answer the question.

             Positive Example 1 -
            Input: 2+2?
             Output: 4.
             Positive Example 2 -
            Input: Capital of France.
             Output: Paris.
            Now complete the following example -
            Input: Colour of the sky.
            Output:\u{20}
            """)
        // An example that would overflow the source limit is left out, and so is every later one.
        let one = InstructionPrompt.source(definition: "Answer the question", positiveExamples: Self.examples, input: "x", examples: 1)
        let short = InstructionPrompt.source(definition: "Answer the question", positiveExamples: Self.examples, input: "x",
                                             fits: { $0.count <= one.count })
        #expect(short == one && short.contains("Positive Example 1") && !short.contains("Positive Example 2"))
        #expect(InstructionPrompt.source(definition: "", positiveExamples: [], input: "").hasPrefix("Definition: .\n\nNow complete"))
    }

    static func writeTask(_ name: String, instances: Int, in dir: URL, definition: Any = ["Do it."]) throws {
        let object: [String: Any] = [
            "Definition": definition,
            "Positive Examples": [["input": "a", "output": "b", "explanation": "why"]],
            "Negative Examples": [],
            "Instances": (0..<instances).map { ["id": "\(name)-\($0)", "input": "in \($0)", "output": $0 % 2 == 0 ? ["r\($0)", "alt"] : ["r\($0)"]] },
            "Categories": ["Whatever"],
        ]
        try JSONSerialization.data(withJSONObject: object).write(to: dir.appendingPathComponent(name + ".json"))
    }

    @Test func aSuiteReadsSNIsLayoutAndCapsInstancesAsTkInstructDoes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-sni-\(UUID().uuidString)")
        let tasks = dir.appendingPathComponent("tasks"), splits = dir.appendingPathComponent("splits")
        try FileManager.default.createDirectory(at: tasks, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: splits, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.writeTask("task1_train", instances: 50, in: tasks)
        try Self.writeTask("task2_test", instances: 30, in: tasks, definition: "A plain string.")
        try "# training\ntask1_train\n\n".write(to: splits.appendingPathComponent("train_tasks.txt"), atomically: true, encoding: .utf8)
        try "task2_test\n".write(to: splits.appendingPathComponent("test_tasks.txt"), atomically: true, encoding: .utf8)
        let caps = InstructionSuite.Caps(trainInstances: 10, testInstances: 20)
        let suite = try InstructionSuite.load(tasksDirectory: tasks, splitDirectory: splits, caps: caps, seed: 3)
        #expect(suite.train.map(\.name) == ["task1_train"] && suite.test.map(\.name) == ["task2_test"])
        // Test tasks: the first instances, in file order. Training tasks: a seeded sample.
        #expect(suite.test[0].instances.map(\.id) == (0..<20).map { "task2_test-\($0)" })
        #expect(suite.test[0].instances[0].outputs == ["r0", "alt"] && suite.test[0].definition == ["A plain string."])
        let sample = suite.train[0].instances.map(\.id)
        #expect(sample.count == 10 && Set(sample).count == 10 && sample != (0..<10).map { "task1_train-\($0)" })
        #expect(try InstructionSuite.load(tasksDirectory: tasks, splitDirectory: splits, caps: caps, seed: 3).train[0].instances.map(\.id) == sample)
        #expect(try InstructionSuite.load(tasksDirectory: tasks, splitDirectory: splits, caps: caps, seed: 4).train[0].instances.map(\.id) != sample)
        #expect(suite.train[0].positiveExamples == [.init(input: "a", output: "b", explanation: "why")])
        // Written back in SNI's format, a task reads the same.
        let copy = dir.appendingPathComponent("copy.json")
        try suite.test[0].save(to: copy)
        var reread = try InstructionTask.load(copy)
        reread.name = suite.test[0].name
        #expect(reread == suite.test[0])
    }

    @Test func malformedTasksAndSplitsAreRefusedByName() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-sni-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            ("not json", "not JSON"),
            ("[1, 2]", "one JSON object"),
            (#"{"Definition": 3, "Instances": []}"#, "'Definition' must be"),
            (#"{"Definition": "d", "Instances": [{"input": "x", "output": []}]}"#, "instance 1's 'output'"),
            (#"{"Definition": "d", "Positive Examples": [{"input": "x"}], "Instances": []}"#, "'Positive Examples' entry 1"),
            (#"{"Definition": "d"}"#, "'Instances' must be a list"),
        ]
        for (i, (text, fragment)) in cases.enumerated() {
            let url = dir.appendingPathComponent("bad\(i).json")
            try text.write(to: url, atomically: true, encoding: .utf8)
            #expect(throws: TaskError.self) { _ = try InstructionTask.load(url) }
            do { _ = try InstructionTask.load(url) } catch { #expect("\(error)".contains(fragment) && "\(error)".contains(url.path), "\(error)") }
        }
        // A task in both lists, and a listed task with no file.
        try Self.writeTask("t", instances: 3, in: dir)
        try "t\n".write(to: dir.appendingPathComponent("train_tasks.txt"), atomically: true, encoding: .utf8)
        try "t\n".write(to: dir.appendingPathComponent("test_tasks.txt"), atomically: true, encoding: .utf8)
        do { _ = try InstructionSuite.load(tasksDirectory: dir, splitDirectory: dir); Issue.record("overlap accepted") } catch {
            #expect("\(error)".contains("listed in both"), "\(error)")
        }
        try "missing_task\n".write(to: dir.appendingPathComponent("test_tasks.txt"), atomically: true, encoding: .utf8)
        try "".write(to: dir.appendingPathComponent("train_tasks.txt"), atomically: true, encoding: .utf8)
        do { _ = try InstructionSuite.load(tasksDirectory: dir, splitDirectory: dir); Issue.record("missing task accepted") } catch {
            #expect("\(error)".contains("missing_task"), "\(error)")
        }
    }
}
