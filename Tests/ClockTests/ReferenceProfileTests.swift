import Foundation
import Testing
import TestSupport
@testable import Clock

@Suite struct ReferenceProfileTests {
    @Test func saveAndLoadRoundTrip() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("profiles/tiny.json")
        let profile = sampleProfile()
        try profile.save(to: url)
        let loaded = try ReferenceProfile.load(from: url)
        #expect(loaded == profile)
        try loaded.validate(for: "tiny", shape: sampleShape)
        // The date is stored as ISO 8601 text.
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.contains("2023-11-14T22:13:20Z"))
        // No temporary file left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == ["tiny.json"])
    }

    @Test func wrongPresetOrShapeIsRejected() throws {
        let profile = sampleProfile(preset: "small")
        do {
            try profile.validate(for: "base", shape: sampleShape)
            Issue.record("wrong preset accepted")
        } catch let error as ReferenceProfileError {
            #expect(error == .presetMismatch(profile: "test-small", calibratedFor: "small", requested: "base"))
            #expect(error.description.contains("calibrated for model preset \"small\""))
            #expect(error.description.contains("ntng calibrate --model base"))
        }
        var other = sampleShape
        other.seqLen = 128
        #expect(throws: ReferenceProfileError.shapeMismatch(profile: "test-small", calibrated: sampleShape, requested: other)) {
            try profile.validate(for: "small", shape: other)
        }
    }

    @Test func missingFile() {
        let url = URL(fileURLWithPath: "/nonexistent/ntng/profile.json")
        #expect(throws: ReferenceProfileError.fileMissing(path: url.path)) { try ReferenceProfile.load(from: url) }
    }

    @Test func corruptJSONIsReportedWithThePath() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("bad.json")
        try Data("{ this is not json".utf8).write(to: url)
        do {
            _ = try ReferenceProfile.load(from: url)
            Issue.record("corrupt profile accepted")
        } catch let error as ReferenceProfileError {
            guard case .corrupt(let path, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(path == url.path)
            #expect(error.description.contains(url.path))
        }
    }

    @Test func missingCostFieldIsNamed() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("partial.json")
        var object = try JSONSerialization.jsonObject(with: sampleProfile().jsonData()) as! [String: Any]
        object.removeValue(forKey: "forwardOnlyPerSequence")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        do {
            _ = try ReferenceProfile.load(from: url)
            Issue.record("profile without forwardOnlyPerSequence accepted")
        } catch {
            #expect("\(error)".contains("forwardOnlyPerSequence"))
            #expect("\(error)".contains("missing"))
        }
    }

    @Test func negativeCostInFileIsRejected() throws {
        let dir = try makeTemporaryDirectory()
        let url = dir.appendingPathComponent("negative.json")
        var object = try JSONSerialization.jsonObject(with: sampleProfile().jsonData()) as! [String: Any]
        object["optimizerUpdatePerParameter"] = -1.0
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        do {
            _ = try ReferenceProfile.load(from: url)
            Issue.record("negative cost accepted")
        } catch {
            #expect("\(error)".contains("optimizerUpdatePerParameter"))
            #expect("\(error)".contains(url.path))
        }
    }

    @Test func invalidCostsAreRejected() {
        var profile = sampleProfile()
        profile.forwardBackwardPerSequence[2] = .nan
        #expect(throws: ReferenceProfileError.self) { try profile.validateCosts() }
        profile = sampleProfile()
        profile.forwardOnlyPerSequence = [1, 2]  // wrong length for 4 layers
        #expect(throws: ReferenceProfileError.self) { try profile.validateCosts() }
        profile = sampleProfile()
        profile.sampledLabelPassPerSequence[0] = -0.1
        #expect(throws: ReferenceProfileError.self) { try profile.validate(for: "tiny", shape: sampleShape) }
        profile = sampleProfile()
        profile.pluginCostPerParameter["x"] = .infinity
        #expect(throws: ReferenceProfileError.self) { try profile.validateCosts() }
        // Saving refuses an invalid profile instead of writing it.
        #expect(throws: ReferenceProfileError.self) {
            try profile.save(to: FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID()).json"))
        }
    }

    @Test func linearFitRemovesTheNTNGTypo() throws {
        // NTNG's BERT table (per 128-sequence micro-batch), with the 7-layer typo 0.01052.
        let ntng: [(Int, Double)] = [
            (1, 0.02521), (2, 0.03837), (3, 0.05177), (4, 0.06508), (5, 0.07847), (6, 0.09188), (7, 0.01052),
            (8, 0.1186), (9, 0.1319), (10, 0.1454), (11, 0.1589), (12, 0.1722), (13, 0.1857), (14, 0.1988),
            (15, 0.2120), (16, 0.2253),
        ]
        let clean = try LinearCostFit.fit(ntng.filter { $0.0 != 7 }.map { (activeLayers: $0.0, seconds: $0.1) })
        #expect(abs(clean.slope - 0.01334) < 2e-4)
        #expect(abs(clean.cost(activeLayers: 7) - 0.1052) < 1e-3)
        // Fitting the whole table including the typo still lands far nearer 0.1052 than 0.01052.
        let withTypo = try LinearCostFit.fit(ntng.map { (activeLayers: $0.0, seconds: $0.1) })
        #expect(abs(withTypo.cost(activeLayers: 7) - 0.1052) < 0.01)
        // A linear table is reproduced exactly (up to rounding).
        let exact = try LinearCostFit.fit(table: [1, 3, 5, 7])
        #expect(abs(exact.intercept - 1) < 1e-12 && abs(exact.slope - 2) < 1e-12)
        #expect(throws: ReferenceProfileError.self) { try LinearCostFit.fit([(activeLayers: 3, seconds: 1)]) }
    }

    @Test func smoothedProfileReplacesOutliers() throws {
        var profile = sampleProfile()
        profile.forwardBackwardPerSequence[3] = 0.125  // an outlier (true value 1.25)
        let smoothed = try profile.smoothedByLinearFit()
        try smoothed.validate(for: "tiny", shape: sampleShape)
        #expect(smoothed.forwardBackwardPerSequence.count == 5)
        // Least squares spreads the outlier over the line: much closer than the raw 1.125 error,
        // and the table is exactly linear again.
        #expect(abs(smoothed.forwardBackwardPerSequence[3] - 1.25) < 0.4)
        let t = smoothed.forwardBackwardPerSequence
        #expect((1..<t.count - 1).allSatisfy { abs(t[$0 + 1] - 2 * t[$0] + t[$0 - 1]) < 1e-12 })
        #expect(smoothed.forwardOnlyPerSequence.enumerated().allSatisfy { abs($0.element - (0.125 + 0.125 * Double($0.offset))) < 1e-12 })
        #expect(smoothed.notes?.contains("least squares") == true)
        // Noise so large that the line is not above zero at depth 0 (measured on a busy machine)
        // is refused with the fix, not floored at a zero charge that loading would refuse.
        var noisy = sampleProfile()
        noisy.sampledLabelPassPerSequence = [0.01, 0.02, 0.03, 3, 6]
        #expect(throws: ReferenceProfileError.self) { _ = try noisy.smoothedByLinearFit() }
        do { _ = try noisy.smoothedByLinearFit() } catch {
            #expect("\(error)".contains("sampled-label") && "\(error)".contains("idle machine"), "\(error)")
        }
    }

    @Test func machineDescriptionReadsThisMachine() {
        let machine = MachineDescription.current()
        #expect(machine.cores >= 1)
        #expect(!machine.os.isEmpty)
        #expect(!machine.cpuModel.isEmpty)
    }
}
