import Foundation
import Testing
import TestSupport
import TrainingFixtures

/// Every bad input gets a clear error naming the problem, never a Swift runtime trap or a hang:
/// the real `ntng` binary, run on a fixture corpus with a temporary NTNG_HOME.
@Suite(.serialized) struct BadInputTests {
    /// (arguments, a fragment the error must contain). `CORPUS` and `PROFILE` are replaced by the
    /// fixture's corpus and profile.
    static let cases: [([String], String)] = [
        (["run", "--budget", "100000000000000000000s"], "at most 366 days"),
        (["run", "--budget", "100000000000000000000s", "--budget-kind", "wall"], "at most 366 days"),
        (["run", "--budget", "100000000000000000000", "--budget-kind", "steps"], "at most 1000000000 steps"),
        (["run", "--budget", "-10s"], "greater than zero"),
        (["run", "--budget", "1s", "--seed", "-1"], "--seed must be 0 or more"),
        (["run", "--budget", "1s", "--seed", "9223372036854775808"], "'9223372036854775808' is invalid for '--seed"),
        (["run", "--budget", "1s", "--threads", "0"], "--threads must be between 1 and 1024"),
        (["run", "--budget", "1s", "--set", "clip=0"], "gradient norm > 0"),
        (["run", "--budget", "1s", "--set", "eval-every=0.001"], "0 (only at the end) or a percentage"),
        (["run", "--budget", "1s", "--set", "checkpoint-every=-5"], "0 (only at the end) or a percentage"),
        (["run", "--budget", "1s", "--set", "val-sequences=100000000"], "a whole number in 1...65536"),
        (["run", "--budget", "1s", "--set", "model.vocab=512"], "ntng data prepare --corpus"),
        (["run", "--budget", "1s", "--set", "epochs=0"], "a whole number in 1...10000"),
        (["run", "--budget", "1s", "--method", "lion", "--set", "beta1=0.95"], "--set lion.beta1=0.95 for the plugin or --set host.beta1=0.95"),
        (["run", "--resume", "nope", "--results", "HOME/typo/results.sqlite"], "nothing was created"),
        (["runs", "list", "--results", "HOME/typo/results.sqlite"], "nothing was created"),
        (["runs", "list", "--limit", "-1"], "--limit must be between 1"),
        (["run", "--budget", "1s", "--profile", "HOME/"], "is a folder, not a file"),
        (["data", "prepare", "--corpus", "HOME/../text", "--data-dir", "/proc/ntng-nope"], "cannot use /proc/ntng-nope: no such file or folder"),
        (["compare", "--methods", "baseline", "--budgets", "1s", "--jobs", "-1"], "--jobs must be between 1 and 256"),
        (["compare", "--methods", "baseline", "--budgets", "1s", "--seeds", "100000000"], "--seeds must be between 1 and 1000"),
        (["compare", "--methods", "baseline", "--budgets", "1s", "--timeout-factor", "nan"], "--timeout-factor must be a number"),
        (["compare", "--methods", "baseline,lion", "--budgets", "1s", "--set", "beta1=0.95", "--model", "tiny", "--no-report"], "--set lion.beta1=0.95 for the plugin or --set host.beta1=0.95 for the host (method lion)"),
        (["compare", "--methods", "baseline", "--budgets", "1s", "--attach"], "--attach only apply with --executor slurm"),
        (["compare", "--methods", "baseline", "--budgets", "1s", "--executor", "slurm", "--attach", "--collect"], "--attach, --collect and --no-wait exclude each other"),
        (["compare", "--methods", "baseline", "--budgets", "1s", "--executor", "slurm", "--slurm-time", "1h"], "is not a Slurm time"),
        (["compare", "--methods", "baseline", "--budgets", "1s", "--executor", "slurm", "--slurm-cpus", "0"], "--slurm-cpus must be between 1 and 1024"),
        (["compare", "--methods", "baseline", "--budgets", "1s", "--executor", "pbs"], "--executor"),
        // The value starts with "--", as sbatch arguments do: it is still read as the value.
        (["compare", "--methods", "baseline", "--budgets", "1s", "--executor", "slurm", "--slurm-extra", "--comment='open"], "its single quote (') is never closed"),
        (["calibrate", "--model", "tiny", "--threads", "0"], "--threads must be between 1 and 1024"),
        (["calibrate", "--model", "tiny", "--repetitions", "0"], "--repetitions must be between 1 and 1000"),
        (["calibrate", "--model", "tiny", "--name", "../../x"], "must be a plain file name"),
        (["plugin", "check", "--timeout", "nan", "Stacking"], "--timeout must be a number"),
        (["data", "prepare", "--measure-feeding", "100000000x100000000"], "--measure-feeding takes SEQUENCExBATCH"),
        (["data", "prepare", "--vocab-size", "-3"], "--vocab-size must be between"),
        (["data", "packages", "bookz"], "neither a built-in corpus (books, docs, lexicon, all), a task suite"),
        (["rho", "prepare", "--model", "tiny", "--proxy-budget", "100000000000000000000s"], "at most 366 days"),
        (["rho", "prepare", "--model", "tiny", "--seed", "-1"], "--seed must be 0 or more"),
        (["eval", "someid", "--epochs", "0"], "--epochs must be between 1 and 1000"),
        (["bench", "--steps", "0"], "--steps must be between 1"),
        // A comma list is read as counts (as compare's lists are), so the 0 in it is what is refused.
        (["bench", "--threads", "1,0"], "--threads needs counts between 1 and 1024"),
        (["bench", "--threads", "1,x"], "The value '1,x' is invalid for '--threads"),
    ]

    @Test func everyBadInputIsRefusedWithAClearMessage() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let home = f.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let corpusArguments = ["--model", "tiny", "--corpus", f.corpusPath, "--profile", f.profilePath,
                               "--data-dir", f.data.root.path]
        for (arguments, fragment) in Self.cases {
            var full = arguments.map { $0.replacingOccurrences(of: "HOME/", with: home.path + "/") }
            if full.first == "run" && !full.contains("--resume") { full = ["run"] + corpusArguments + full.dropFirst() }
            if full.first == "compare" { full += ["--corpus", f.corpusPath, "--profile", f.profilePath, "--data-dir", f.data.root.path] }
            let outcome = try NTNGBinary.run(full, home: home)
            let text = outcome.output
            #expect(!outcome.timedOut, "ntng \(full.joined(separator: " ")) hung")
            #expect(outcome.status != 0, "ntng \(full.joined(separator: " ")) succeeded: \(text)")
            #expect(!text.contains("Swift runtime failure") && !text.contains("Backtracing"), "ntng \(full.joined(separator: " ")) trapped: \(text)")
            #expect(text.contains(fragment), "ntng \(full.joined(separator: " ")) said: \(text)")
        }
        // Read-only commands created nothing for the mistyped path.
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("typo").path))
    }

    /// A profile whose costs are implausible (1e300 s, zero) is refused before anything is stored.
    @Test func anImplausibleProfileIsRefused() throws {
        let f = try TrainingFixture()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let home = f.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let original = try String(contentsOfFile: f.profilePath, encoding: .utf8)
        for (label, replacement) in [("huge", "1e300"), ("zero", "0")] {
            let edited = original.replacingOccurrences(of: "0.002", with: replacement)
            #expect(edited != original)
            let path = f.directory.appendingPathComponent("\(label).json").path
            try edited.write(toFile: path, atomically: true, encoding: .utf8)
            let outcome = try NTNGBinary.run(["run", "--model", "tiny", "--corpus", f.corpusPath, "--budget", "1s", "--profile", path,
                                         "--data-dir", f.data.root.path, "--results", home.appendingPathComponent("r.sqlite").path], home: home)
            #expect(outcome.status != 0 && outcome.output.contains("a cost must be > 0"), "\(label): \(outcome.output)")
        }
    }
}
