import Foundation
import Testing
import TestSupport
@testable import Records

/// The watchdog of every child ntng starts (comparison trials, plugin checks).
@Suite struct ChildProcessTests {
    /// A child that hangs, ignores SIGTERM and leaves a grandchild holding its output open: the
    /// watchdog returns after timeout + grace, and nothing of either process is left.
    @Test func aHungChildAndItsGrandchildrenAreKilled() throws {
        let dir = try makeTemporaryDirectory()
        let pidFile = dir.appendingPathComponent("grandchild.pid")
        var child = ChildProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", "trap '' TERM; sleep 1000 & echo $! > \(pidFile.path); echo started; exec sleep 1000"],
                                 stdoutURL: dir.appendingPathComponent("out"), stderrURL: dir.appendingPathComponent("err"), timeout: 1)
        child.grace = 0.5
        let started = Date()
        let ending = try child.run()
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(ending.timedOut && ending.signal == SIGKILL)
        #expect(ending.stdout.contains("started"))
        let grandchild = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        usleep(200_000)
        #expect(!ProcessIdentity.isRunning(pid: Int(grandchild)), "grandchild \(grandchild) survived")
    }

    /// Only the tail of a long log is read back.
    @Test func onlyTheTailOfTheOutputIsRead() throws {
        let dir = try makeTemporaryDirectory()
        var child = ChildProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done; exit 3"],
                                 stdoutURL: dir.appendingPathComponent("out"), stderrURL: dir.appendingPathComponent("err"), timeout: 60)
        child.tailBytes = 1000
        let ending = try child.run()
        #expect(ending.exitCode == 3 && ending.signal == nil && !ending.timedOut)
        #expect(ending.stdout.utf8.count <= 1004 && ending.stdout.hasSuffix("line 19999\n") && ending.stdout.hasPrefix("…line "))
    }
}
