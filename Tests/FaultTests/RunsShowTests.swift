import Foundation
import Testing
import TestSupport
import TrainingFixtures

/// `ntng runs show --json` carries what its text shows: the summary, every evaluation and the whole
/// curve, read back from a real run of the real binary.
@Suite struct RunsShowTests {
    @Test func jsonHoldsTheEvaluationsAndTheWholeCurve() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let home = f.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let run = try NTNGBinary.run(["run", "--model", "tiny", "--corpus", f.corpusPath, "--profile", f.profilePath,
                                          "--data-dir", f.data.root.path, "--budget", "12", "--budget-kind", "steps",
                                          "--threads", "1", "--set", "eval-every=25", "--json"], home: home)
        #expect(run.status == 0, "ntng run: \(run.output)")
        let summaryLine = try #require(run.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(summaryLine.utf8)) as? [String: Any])
        #expect(summary["curve"] == nil, "ntng run --json keeps to the summary")
        let id = try #require(summary["run_id"] as? String)

        let show = try NTNGBinary.run(["runs", "show", id, "--json"], home: home)
        #expect(show.status == 0, "ntng runs show: \(show.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(show.output.utf8)) as? [String: Any])
        #expect(json["run_id"] as? String == id)
        #expect(json["steps"] as? Int == 12)

        let curve = try #require(json["curve"] as? [[String: Any]])
        #expect(curve.map { $0["step"] as? Int } == (1...12).map { $0 }, "one point per step, in order")
        let rst = curve.compactMap { $0["rst_s"] as? Double }
        #expect(rst.count == 12 && zip(rst, rst.dropFirst()).allSatisfy { $0 < $1 }, "RST grows every step")
        #expect(curve.allSatisfy { ($0["train_loss"] as? Double)?.isFinite == true && $0["lr"] is Double && $0["tokens"] is Int })

        // Every 25 % of 12 steps: after steps 3, 6, 9 and 12; the last is the run's validation loss.
        let evaluations = try #require(json["evaluations"] as? [[String: Any]])
        let validation = evaluations.filter { $0["name"] as? String == "val_loss" }
        #expect(validation.map { $0["step"] as? Int } == [3, 6, 9, 12])
        #expect(validation.last?["value"] as? Double == json["val_loss"] as? Double)
        #expect(!evaluations.contains { ($0["name"] as? String)?.hasPrefix("reference") == true }, "reference lines are fields of their own")
        #expect(json["reference_unigram"] is Double)
    }
}
