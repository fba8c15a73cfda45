import ArgumentParser
import Foundation
import Storage

@main
struct NTNG: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ntng", abstract: "Fair comparisons of efficient training methods.", subcommands: [RunCommand.self, RunsCommand.self, DataCommand.self, CalibrateCommand.self, ProfileCommand.self, BenchCommand.self, PluginCommand.self, RHOCommand.self, CompareCommand.self, EvalCommand.self])

    /// ArgumentParser's main, with one change: a Foundation file error that reached the top is
    /// printed as the file and the reason in words, never as "NSCocoaErrorDomain error 4".
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as NSError where error.domain == NSCocoaErrorDomain || error.domain == NSPOSIXErrorDomain {
            let path = error.userInfo[NSFilePathErrorKey] as? String ?? (error.userInfo[NSURLErrorKey] as? URL)?.path
            exit(withError: ReadableFileError(text: path.map { FileErrorText.message("cannot use", $0, error) }
                                                ?? "a file operation failed: \(FileErrorText.describe(error))"))
        } catch {
            exit(withError: error)
        }
    }
}

struct ReadableFileError: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}
