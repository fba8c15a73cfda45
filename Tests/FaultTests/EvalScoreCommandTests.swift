import Foundation
import Testing
import TestSupport

/// `ntng eval score` on a user's files through the real binary: SNI's scores, and a clear error
/// for every malformed input.
@Suite struct EvalScoreCommandTests {
    static func write(_ text: String, _ name: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func scoresTheBestReferencePerLineAveragedPerTask() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Line 1: exact for its second reference (100). Line 2: 0. Line 3: ROUGE-L 0.8 (see
        // GenerationScoresTests). One task: (100 + 0 + 80) / 3 = 60; tasks a = {1, 2}, b = {3}: 65.
        let pred = try Self.write("blue sky\nnothing\nthe cat on mat\n", "pred.txt", in: dir)
        let ref = try Self.write("red car\tBlue sky.\nsomething\nthe cat sat on the mat\n", "ref.txt", in: dir)
        let tasks = try Self.write("a\na\nb\n", "tasks.txt", in: dir)
        let plain = try NTNGBinary.run(["eval", "score", "--metric", "rouge-l", "--predictions", pred, "--references", ref], home: dir)
        #expect(plain.status == 0 && plain.output.contains("rouge-l 60.0000"), "\(plain.output)")
        #expect(plain.output.contains("exact-match 33.3333"), "\(plain.output)")
        let grouped = try NTNGBinary.run(["eval", "score", "--predictions", pred, "--references", ref, "--tasks", tasks, "--json"], home: dir)
        #expect(grouped.status == 0, "\(grouped.output)")
        struct Output: Decodable { struct Task: Decodable { let task: String, instances: Int, rougeL: Double }
                                   let rougeL: Double, exactMatch: Double, tasks: [Task] }
        let out = try JSONDecoder().decode(Output.self, from: Data(grouped.output.utf8))
        #expect(abs(out.rougeL - 65) < 1e-9 && out.exactMatch == 25)
        #expect(out.tasks.map(\.task) == ["a", "b"] && out.tasks.map(\.instances) == [2, 1])
    }

    @Test func malformedInputsAreRefusedClearly() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pred = try Self.write("one\ntwo\n", "pred.txt", in: dir)
        let ref = try Self.write("one\n", "ref.txt", in: dir)
        let empty = try Self.write("", "empty.txt", in: dir)
        let binary = dir.appendingPathComponent("binary.txt").path
        _ = FileManager.default.createFile(atPath: binary, contents: Data([0xff, 0xfe, 0x00, 0xc3]))
        let cases: [([String], String)] = [
            (["--predictions", pred, "--references", ref], "has 2 lines but"),
            (["--predictions", pred, "--references", dir.appendingPathComponent("missing").path], "--references: cannot read"),
            (["--predictions", binary, "--references", ref], "is not UTF-8 text"),
            (["--predictions", empty, "--references", empty], "has no prediction to score"),
            (["--predictions", pred, "--references", pred, "--tasks", ref], "give one task name per prediction"),
            (["--predictions", pred, "--references", pred, "--metric", "bleu"], "--metric"),
        ]
        for (arguments, fragment) in cases {
            let outcome = try NTNGBinary.run(["eval", "score"] + arguments, home: dir)
            #expect(outcome.status != 0 && !outcome.timedOut, "\(arguments): \(outcome.output)")
            #expect(outcome.output.contains(fragment), "\(arguments) said: \(outcome.output)")
            #expect(!outcome.output.contains("Swift runtime failure") && !outcome.output.contains("Backtracing"), "\(outcome.output)")
        }
    }
}
