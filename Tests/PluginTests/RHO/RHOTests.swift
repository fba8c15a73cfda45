import Corpus
import Foundation
import Models
import TensorCore
import Testing
import TestSupport
import TrainingFixtures
@testable import Host
import Storage
@testable import Preparation
@testable import PluginHost

/// RHO-LOSS (`Plugins/RHO` and `Sources/Preparation`, issue 7).
@Suite(.serialized) struct RHOTests {
    func openStack(_ services: ScriptedHost, _ settings: [String: String]) throws -> PluginStack {
        let library = try PluginLibrary.open(path: methodPluginPath("RHO"))
        return try PluginStack(libraries: [library], settings: settings, services: services)
    }

    /// A hand-made pool: the plugin must take exactly the top-k rows by (training − irreducible)
    /// per-token loss, largest first, ties to the lower row — not the top-k by training loss, nor
    /// by summed loss.
    @Test func selectsExactlyTheTopKByReducibleLoss() throws {
        // Irreducible losses by example id (id 3 is a proxy-split id, never in a pool).
        var table: [Float] = (0..<20).map { 1 + Float($0) * 0.1 }
        table[3] = .nan
        let path = try writeLossTable(table)
        let services = try selectionTestHost()
        let stack = try openStack(services, ["table": path])
        #expect(stack.poolFactor == 2)

        let ids: [UInt64] = [10, 0, 19, 5, 7, 12, 1, 8]
        // (sum, masked) per row: per-token training means 4, 2.5, 3.9, 3, 3.2, 2, 3.7, 3.8.
        let losses: [(Float, Int)] = [(8, 2), (5, 2), (15.6, 4), (9, 3), (3.2, 1), (10, 5), (11.1, 3), (3.8, 1)]
        services.newStep(seed: 5)
        services.exampleLoss = { ExampleLoss(sum: losses[$0].0, maskedTokens: losses[$0].1) }
        let selection = try stack.selectBatch(exampleIDs: ids, batch: 4, sequenceLength: 16, in: StepContext(number: 1))

        let reducible = (0..<8).map { Double(losses[$0].0) / Double(losses[$0].1) - Double(table[Int(ids[$0])]) }
        let expected = (0..<8).sorted { reducible[$0] > reducible[$1] || (reducible[$0] == reducible[$1] && $0 < $1) }.prefix(4)
        #expect(selection.rows == Array(expected))
        // Ranked by training loss alone (rows 0, 2, 7, 6) or by summed loss (2, 6, 5, 3) it would differ.
        #expect(Set(selection.rows) != [0, 2, 7, 6] && Set(selection.rows) != [2, 6, 5, 3])
        #expect(services.scoredRows == [Array(0..<8)], "the whole mega-batch is scored, once")
        #expect(selection.rowsScored == 8)
        #expect(services.diagnostic("selection_rate") == 0.5)
        let meanSelected = expected.map { reducible[$0] }.reduce(0, +) / 4
        #expect(abs((services.diagnostic("reducible_selected") ?? .nan) - meanSelected) < 1e-6)
    }

    /// Ties in reducible loss go to the lower pool row, so selection is deterministic.
    @Test func tiesGoToTheLowerRow() throws {
        let path = try writeLossTable(Array(repeating: 1, count: 8))
        let services = try selectionTestHost()
        let stack = try openStack(services, ["table": path, "pool_factor": "4"])
        services.newStep(seed: 1)
        services.exampleLoss = { ExampleLoss(sum: $0 == 5 ? 9 : 2, maskedTokens: 1) }
        let selection = try stack.selectBatch(exampleIDs: (0..<8).map(UInt64.init), batch: 2, sequenceLength: 16, in: StepContext(number: 1))
        #expect(selection.rows == [5, 0])
    }

    /// The seed code's split mismatch cannot pass silently: a proxy-split id or an id outside the
    /// table stops the run with a message; no table at all is refused at creation.
    @Test func mismatchesAreErrors() throws {
        var table: [Float] = Array(repeating: 2, count: 10)
        table[4] = .nan
        table[6] = RHOTable.notExtracted
        let path = try writeLossTable(table)
        let services = try selectionTestHost()
        let stack = try openStack(services, ["table": path])
        services.newStep(seed: 1)
        expectPluginError(["example id 4 belongs to the proxy", "split mismatch"]) {
            _ = try stack.selectBatch(exampleIDs: [0, 1, 4, 5], batch: 2, sequenceLength: 16, in: StepContext(number: 1))
        }
        #expect(services.scoredRows.isEmpty, "ids are checked before the scoring pass is paid for")
        expectPluginError(["example id 6 has no irreducible loss", "ntng rho prepare"]) {
            _ = try stack.selectBatch(exampleIDs: [0, 1, 6, 5], batch: 2, sequenceLength: 16, in: StepContext(number: 1))
        }
        expectPluginError(["example id 10 is outside the irreducible-loss table"]) {
            _ = try stack.selectBatch(exampleIDs: [0, 1, 10, 5], batch: 2, sequenceLength: 16, in: StepContext(number: 1))
        }
        expectPluginError(["no irreducible-loss table", "ntng rho prepare"]) { _ = try openStack(services, [:]) }
        expectPluginError(["cannot open"]) { _ = try openStack(services, ["table": path + ".missing"]) }
    }

    /// `ntng plugin check libRHO.so` passes out of the box: the method's preparation makes a
    /// table for the checker's own stream, as `ntng run` makes one for a corpus. A table the user
    /// passes (here one covering only two ids, which the checker's stream outruns) is replaced.
    @Test func conformanceCheckerPreparesItsOwnTable() throws {
        let output = try runTool(PluginPaths.ntng, ["plugin", "check", methodPluginPath("RHO")])
        #expect(output.contains("all checks passed"), "\(output)")
        let short = try writeLossTable([2, 2])
        let replaced = try runTool(PluginPaths.ntng, ["plugin", "check", methodPluginPath("RHO"), "--set", "table=\(short)"])
        #expect(replaced.contains("all checks passed"), "\(replaced)")

        let library = try PluginLibrary.open(path: methodPluginPath("RHO"))
        let work = try makeTemporaryDirectory("rho-check")
        let settings = try MethodPreparations.settingsForCheck(library: library, settings: ["pool_factor": "3", "table": short], in: work)
        #expect(settings["pool_factor"] == "3" && settings["table"] != short)
        let table = try RHOTable.readLosses(URL(fileURLWithPath: try #require(settings["table"])))
        #expect(table.count == 4096 && table.allSatisfy { $0.isFinite && $0 > 0 })
        #expect(settings["table_sha256"] == (try SHA256Digest.hex(ofFileAt: settings["table"]!)))
    }
}
