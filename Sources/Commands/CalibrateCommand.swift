import ArgumentParser
import Foundation
import Models
import Host
import Clock
import Benchmarks
import TensorCore
import PluginHost

/// `ntng calibrate`: measure a reference profile on this machine.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure the reference cost of each unit of work for a model preset on this machine.",
        discussion: "Writes $NTNG_HOME/profiles/NAME.json (or --output). Run it on an otherwise idle machine: its figures become the budget clock.")

    @Option(help: "Model preset: \(ModelConfig.presetNames.joined(separator: ", ")).") var model: String
    @Option(help: "Profile name (default: default-<preset>).") var name: String?
    @Option(help: "Write the profile to this path instead.") var output: String?
    @OptionGroup var compute: ThreadOptions
    @Option(parsing: .unconditional, help: "Timed repetitions per measurement (the median is kept).") var repetitions = 5
    @Option(help: "Matrix library to measure with: \(MatrixLibrary.allCases.map(\.rawValue).joined(separator: ", ")) (recorded in the profile).") var backend: MatrixLibrary = .openBLAS
    @Option(help: "Precision of the work the profile prices: fp32 or bf16 (bf16 measures oneDNN's bf16 products; the profile is named default-<preset>-bf16 and prices only bf16 runs).") var precision: Precision = .fp32
    @Option(name: .customLong("set"), help: "model.KEY=VALUE shape override; repeatable.") var settings: [String] = []
    @Option(help: "Calibrate this plugin (id, name or path): add the cost of its optimizer_step and after_optimizer_step to the profile instead of measuring the model.") var plugin: String?
    @Flag(help: "Replace each per-layer table by its least-squares line in the number of layers (steadier on a noisy machine).") var smooth = false

    func validate() throws {
        try OptionRange.check(repetitions, "--repetitions", 1...1000)
        if let name { try OptionRange.fileName(name, "--name") }
    }

    func run() throws {
        var overrides: [String: String] = [:]
        for s in settings {
            guard s.hasPrefix("model."), let eq = s.firstIndex(of: "=") else { throw ValidationError("--set takes model.KEY=VALUE here, got '\(s)'") }
            overrides[String(s[s.index(s.startIndex, offsetBy: 6)..<eq])] = String(s[s.index(after: eq)...])
        }
        let config: ModelConfig
        do { config = try ModelConfig.preset(model, overrides: overrides) } catch { throw ValidationError("\(error)") }
        let profileName = name ?? ProfileCatalog.defaultName(for: model, precision: precision)
        if let plugin {
            // A plugin's own optimizer arithmetic, added to an existing profile of this preset.
            let url = try output.map { URL(fileURLWithPath: $0) } ?? ProfileCatalog.locate(profileName)
            var profile = try ReferenceProfile.load(from: url)
            // An id, a name or a path, as --method takes it.
            guard let library = try PluginResolver.resolve(method: plugin, searchPath: .standard()).first,
                  !plugin.contains("+") else {
                throw ValidationError("--plugin takes one plugin (an id, a name or a path), got '\(plugin)'")
            }
            let measurements = try PluginCalibration.measure(libraryPath: library.path, preset: model)
            for m in measurements { profile.pluginCostPerParameter[m.profileKey] = m.secondsPerParameter }
            let target = output.map { URL(fileURLWithPath: $0) } ?? ProfileCatalog.userDirectory.appendingPathComponent(profileName + ".json")
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try profile.save(to: target)
            for m in measurements {
                print(String(format: "plugin %@ %@: %.3f ns per parameter per step (mean of %d steps) as %@",
                             m.pluginID, m.hook, m.secondsPerParameter * 1e9, m.timedSteps, m.profileKey))
            }
            print("wrote \(target.path)")
            return
        }
        guard let chosen = CPUBackend.with(precision == .bf16 ? .oneDNN : backend, precision) else {
            throw ValidationError("--precision \(precision.rawValue) is not offered by --backend \(backend.rawValue)")
        }
        if precision == .bf16 && !Precision.bf16IsNative {
            throw ValidationError("--precision bf16: this CPU has no native bf16 dot products; a bf16 profile must be measured on a machine that has them")
        }
        var calibration = Calibration(config: config, threads: compute.threads, repetitions: repetitions, backend: chosen)
        var profile = try calibration.measure(name: profileName, toolchain: "Swift 6.3") { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        profile.precision = ProfileCatalog.recordedPrecision(precision)
        if smooth { profile = try profile.smoothedByLinearFit() }
        // A table that falls with depth by more than its noise would misprice depth-changing methods.
        let problems = profile.monotonicityProblems(tolerance: calibration.monotonicityTolerance)
        if !problems.isEmpty {
            throw ValidationError("the measured profile is not monotone in layers beyond its noise (largest spread \(String(format: "%.1f", calibration.largestSpread * 100)) %):\n  "
                + problems.joined(separator: "\n  ") + "\nNothing was written. Calibrate on an idle machine, with more --repetitions, or pass --smooth to fit a line per table.")
        }
        let url = output.map { URL(fileURLWithPath: $0) } ?? ProfileCatalog.userDirectory.appendingPathComponent(profileName + ".json")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try profile.save(to: url)
        print("wrote \(url.path)")
        print(ProfileCommand.Show.describe(profile))
    }
}

/// `ntng profile show`.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "profile", abstract: "Inspect reference profiles.",
                                                    subcommands: [Show.self, List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the profiles ntng can find.")
        func run() throws { ProfileCatalog.available().forEach { print($0) } }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a profile's machine and costs.")
        @Argument(help: "Profile name or path (default: default-small).") var name = "default-small"
        func run() throws { print(Self.describe(try ReferenceProfile.load(from: try ProfileCatalog.locate(name)))) }

        static func describe(_ p: ReferenceProfile) -> String {
            var lines = [
                "profile \(p.name) for preset \(p.preset) (\(p.shape))",
                "measured \(ISO8601DateFormatter().string(from: p.date)) on \(p.machine.cpuModel), \(p.machine.cores) cores, \(p.machine.os)",
                "toolchain \(p.toolchain); BLAS \(p.blas); \(p.threads) thread(s)",
                "active layers   fwd+bwd ms/seq   forward ms/seq   sampled-label ms/seq",
            ]
            for k in p.forwardBackwardPerSequence.indices {
                lines.append(String(format: "%13d   %14.3f   %14.3f   %20.3f", k, p.forwardBackwardPerSequence[k] * 1e3,
                                    p.forwardOnlyPerSequence[k] * 1e3, p.sampledLabelPassPerSequence[k] * 1e3))
            }
            lines.append(String(format: "optimizer (clip + AdamW): %.3f ns per parameter", p.optimizerUpdatePerParameter * 1e9))
            if let notes = p.notes { lines.append("notes: \(notes)") }
            for problem in p.monotonicityProblems() { lines.append("WARNING: not monotone in layers: \(problem)") }
            return lines.joined(separator: "\n")
        }
    }
}
