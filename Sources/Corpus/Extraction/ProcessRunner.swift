import Foundation

/// Runs the few reader programs whose formats ntng does not parse itself (`bible`, `diatheke`,
/// `dpkg-query`), capturing stdout. Their stderr chatter (diatheke prints
/// "Error reading ulCompOffset" for harmless gaps) is discarded.
public enum ProcessRunner {
    public static func executablePath(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for dir in paths + ["/usr/bin", "/bin", "/usr/sbin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `tool` with `arguments`; returns stdout. `package` names the Debian package for the error.
    public static func run(_ tool: String, _ arguments: [String], package: String, allowFailure: Bool = false) throws -> Data {
        guard let path = executablePath(tool) else { throw CorpusError.missingTool(tool: tool, package: package) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read before waiting: a full pipe would otherwise block the child forever.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus != 0 && !allowFailure {
            throw CorpusError.extractionFailed(
                source: tool, reason: "`\(tool) \(arguments.joined(separator: " "))` exited with status \(process.terminationStatus)")
        }
        return data
    }
}
