import ArgumentParser

@main
struct NTNG: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ntng", abstract: "Fair comparisons of efficient training methods.", subcommands: [RunCommand.self, RunsCommand.self, DataCommand.self, CalibrateCommand.self, ProfileCommand.self, BenchCommand.self, PluginCommand.self, RHOCommand.self, CompareCommand.self, EvalCommand.self])
}
