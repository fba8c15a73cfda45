import Foundation
import Testing
import TestSupport
@testable import Clock

@Suite struct BudgetTests {
    @Test(arguments: [
        ("10m", 600.0), ("2h", 7200.0), ("90s", 90.0), ("1h30m", 5400.0), ("0.5h", 1800.0),
        ("1h30m15s", 5415.0), ("1.5m", 90.0), (" 10m ", 600.0), ("2H", 7200.0), ("45m30s", 2730.0),
    ])
    func parsesDurations(text: String, seconds: Double) throws {
        let budget = try Budget.parse(text)
        #expect(budget.kind == .rst)
        #expect(budget.amount == seconds)
        #expect(budget.seconds == seconds)
        #expect(budget.steps == nil)
    }

    @Test func wallKindIsKept() throws {
        let budget = try Budget.parse("10m", kind: .wall)
        #expect(budget.kind == .wall)
        #expect(budget.amount == 600)
        #expect(budget.description == "10m wall")
    }

    @Test func parsesSteps() throws {
        let budget = try Budget.parse("2000", kind: .steps)
        #expect(budget.kind == .steps)
        #expect(budget.steps == 2000)
        #expect(budget.seconds == nil)
        #expect(budget.description == "2000 steps")
    }

    @Test(arguments: ["0m", "0", "0s", "-5m", "-1h", "abc", "", "10", "10x", "m", "1m2h", "1h1h", "1.2.3m",
                      "10m5", ".m", "1 h", "nan", "infh"])
    func rejectsBadDurations(text: String) {
        do {
            _ = try Budget.parse(text)
            Issue.record("\"\(text)\" should have been rejected")
        } catch let error as BudgetError {
            #expect(error.text == text)
            #expect(error.description.contains("\"\(text)\""), "message must quote the bad text")
            #expect(error.description.contains("1h30m"), "message must show valid examples")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: ["0", "-3", "1.5", "10m", "", "1e3", "abc"])
    func rejectsBadSteps(text: String) {
        do {
            _ = try Budget.parse(text, kind: .steps)
            Issue.record("\"\(text)\" should have been rejected as a step budget")
        } catch {
            #expect(error is BudgetError)
            #expect("\(error)".contains("\"\(text)\""))
            #expect("\(error)".contains("whole number of steps"))
        }
    }

    @Test func zeroMessageSaysWhy() {
        do {
            _ = try Budget.parse("0m")
            Issue.record("0m accepted")
        } catch {
            #expect("\(error)".contains("greater than zero"))
        }
    }

    @Test func directConstructionChecks() throws {
        #expect(throws: BudgetError.self) { try Budget(amount: .nan, kind: .rst) }
        #expect(throws: BudgetError.self) { try Budget(amount: -1, kind: .wall) }
        #expect(throws: BudgetError.self) { try Budget(amount: 2.5, kind: .steps) }
        #expect(try Budget.steps(3).steps == 3)
        #expect(try Budget.seconds(60).description == "1m RST")
    }

    @Test func formatsDurations() {
        #expect(Budget.formatDuration(5400) == "1h30m")
        #expect(Budget.formatDuration(90) == "1m30s")
        #expect(Budget.formatDuration(7200) == "2h")
        #expect(Budget.formatDuration(1.5) == "1.5s")
    }

    @Test func codableRoundTrip() throws {
        let budget = try Budget.parse("1h30m")
        let decoded = try JSONDecoder().decode(Budget.self, from: JSONEncoder().encode(budget))
        #expect(decoded == budget)
    }
}
