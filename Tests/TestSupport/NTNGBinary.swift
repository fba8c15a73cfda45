import Foundation

/// The real `ntng` binary run as a user runs it, for tests of commands end to end: a temporary
/// NTNG_HOME, stdout and stderr together, killed after a timeout so a hang fails the test
/// instead of stalling the suite.
public enum NTNGBinary {
    public struct Outcome {
        public var status: Int32
        public var output: String
        public var timedOut: Bool
    }

    /// Runs `ntng arguments` with `home` as NTNG_HOME, killed after `timeout` seconds.
    public static func run(_ arguments: [String], home: URL, timeout: Double = 60) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: PluginPaths.ntng)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(["NTNG_HOME": home.path]) { $1 }
        let file = home.appendingPathComponent("output-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        let timedOut = p.isRunning
        if timedOut { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        try handle.close()
        return Outcome(status: p.terminationStatus, output: (try? String(contentsOf: file, encoding: .utf8)) ?? "", timedOut: timedOut)
    }
}
