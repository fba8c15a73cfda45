import Foundation
import Records
#if canImport(Glibc)
import Glibc
#endif
import PluginHost

/// The conformance checks of `ntng plugin check` (the author kit's validator).
///
/// Each check runs a plugin through the ``StandaloneHost`` on the `tiny` preset. Run them with
/// ``runIsolated(_:libraryPath:command:timeout:)`` — each in a child process — so that a plugin
/// that crashes or hangs is reported, not suffered (clap-validator's design).
public enum PluginCheck: String, Sendable, Codable, CaseIterable {
    /// The library loads: entry symbol, ABI versions, a well-formed descriptor.
    case entry
    /// create/destroy 100 times: no failure, no growth in resident memory (strict mode).
    case lifecycle
    /// Every declared hook runs on a tiny model for a few steps and returns valid results.
    case hooks
    /// save → load into a fresh instance → save gives identical bytes and state tensors.
    case state
    /// Two runs with the same seed give bit-identical losses and parameters.
    case determinism
    /// A run resumed from a checkpoint (save_state, then load_state into a fresh instance)
    /// continues exactly as the run that was never stopped.
    case resume
    /// PluginAPI v1.1, optimizers (`optimizer_step`, `after_optimizer_step`): steps in which the
    /// checker drops the top layer or freezes the bottom one leave those tensors untouched (G1).
    case gradients
    /// PluginAPI v1.1, "ntng.evaluation_weights/1": the weights written are finite, the same on a
    /// second call, and change neither parameters nor state (E1).
    case evaluation
}

/// The outcome of one check.
public struct PluginCheckResult: Sendable, Equatable, Codable {
    public var check: PluginCheck
    public var passed: Bool
    /// What was found (on success a short summary, on failure the reason).
    public var detail: String

    public init(check: PluginCheck, passed: Bool, detail: String) {
        self.check = check
        self.passed = passed
        self.detail = detail
    }
}

public enum PluginConformance {
    /// Marker before the JSON result a child process prints on stdout.
    public static let resultMarker = "NTNG-PLUGIN-CHECK-RESULT "

    /// Completes a plugin's settings for the checker's stream, writing any files into the folder
    /// given (the checker removes it): what a method's preparation makes for a run, made for the
    /// check (`MethodPreparations.settingsForCheck`, passed in by the command line so the checker
    /// does not depend on the methods it checks).
    public typealias Preparation = (_ library: PluginLibrary, _ settings: [String: String], _ directory: URL) throws -> [String: String]

    /// Runs `check` in this process. `settings` are `--set` values for the plugin. `strict`
    /// adds process-wide measurements (heap growth, thread count) that are only meaningful when
    /// nothing else runs in the process.
    public static func run(_ check: PluginCheck, libraryPath: String, settings: [String: String] = [:],
                           strict: Bool = false, prepare: Preparation = { _, settings, _ in settings }) -> PluginCheckResult {
        // What a method's preparation makes for it (RHO-LOSS's table) is made for the checker's
        // stream here, as `ntng run` makes it for a corpus.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-plugin-check-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        do {
            let library = try PluginLibrary.open(path: libraryPath)
            let settings = try prepare(library, settings, work)
            let detail: String
            switch check {
            case .entry: detail = entrySummary(library)
            case .lifecycle: detail = try lifecycle(library, settings: settings, strict: strict)
            case .hooks: detail = try hooks(library, settings: settings, strict: strict)
            case .state: detail = try state(library, settings: settings)
            case .determinism: detail = try determinism(library, settings: settings)
            case .resume: detail = try resume(library, settings: settings)
            case .gradients: detail = try gradients(library, settings: settings)
            case .evaluation: detail = try evaluation(library, settings: settings)
            }
            return PluginCheckResult(check: check, passed: true, detail: detail)
        } catch {
            return PluginCheckResult(check: check, passed: false, detail: "\(error)")
        }
    }

    /// Runs `check` in a child process: `command` is the executable and the arguments that make it
    /// call ``childMain(check:libraryPath:settings:prepare:)`` (e.g. `ntng plugin _check-one`), to which
    /// the check name and library path are appended. A crash, a hang past `timeout` seconds or a
    /// missing result is a failed check that says what happened.
    public static func runIsolated(_ check: PluginCheck, libraryPath: String, settings: [String: String] = [:],
                                   command: [String], timeout: Double = 120) -> PluginCheckResult {
        precondition(!command.isEmpty)
        // The Swift backtracer's report would bury the one line that matters.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ntng-check-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var child = ChildProcess(executable: URL(fileURLWithPath: command[0]),
                                 arguments: Array(command.dropFirst()) + [check.rawValue, libraryPath]
                                     + settings.sorted(by: { $0.key < $1.key }).flatMap { ["--set", "\($0.key)=\($0.value)"] },
                                 environment: environment, stdoutURL: folder.appendingPathComponent("stdout"),
                                 stderrURL: folder.appendingPathComponent("stderr"), timeout: timeout)
        child.grace = 0  // a check has nothing to save: a hang is killed at once, with its group
        let ending: ChildProcess.Ending
        do { ending = try child.run() } catch {
            return PluginCheckResult(check: check, passed: false, detail: "could not start the checker process \(command[0]): \(error)")
        }
        let stdout = ending.stdout, stderr = ending.stderr, timedOut = ending.timedOut
        let lines = stderr.split(separator: "\n")
        let lastCall = lines.last { $0.hasPrefix(PluginCallTrace.marker) }.map { $0.dropFirst(PluginCallTrace.marker.count).split(separator: " ") }
        let tail = lines.filter { !$0.hasPrefix(PluginCallTrace.marker) }.suffix(3).joined(separator: " | ")
        if timedOut {
            return PluginCheckResult(check: check, passed: false, detail: "timed out after \(Int(timeout)) s (a hook hangs?)")
        }
        if let signal = ending.signal {
            let place = lastCall.map { $0.count == 2 ? " inside \($0[1]) of plugin \($0[0])" : "" } ?? ""
            return PluginCheckResult(check: check, passed: false,
                                     detail: "the plugin crashed the checker process with signal \(signal) (\(ProcessSignal.describe(signal)))\(place)\(tail.isEmpty ? "" : ": \(tail)")")
        }
        for line in stdout.split(separator: "\n") where line.hasPrefix(resultMarker) {
            if let result = try? JSONDecoder().decode(PluginCheckResult.self, from: Data(line.dropFirst(resultMarker.count).utf8)) {
                return result
            }
        }
        return PluginCheckResult(check: check, passed: false,
                                 detail: "the checker process exited with status \(ending.exitCode ?? -1) without a result\(tail.isEmpty ? "" : ": \(tail)")")
    }

    /// The child side: runs one check strictly and prints the marked JSON result. Returns the
    /// exit status (0 passed, 1 failed).
    public static func childMain(check: PluginCheck, libraryPath: String, settings: [String: String],
                                 prepare: Preparation = { _, settings, _ in settings }) -> Int32 {
        PluginCallTrace.enabled = true
        let result = run(check, libraryPath: libraryPath, settings: settings, strict: true, prepare: prepare)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(result)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        print(resultMarker + json)
        fflush(nil)
        return result.passed ? 0 : 1
    }

    // MARK: - Checks

    static func entrySummary(_ lib: PluginLibrary) -> String {
        let d = lib.descriptor
        return "\(d.id) \(d.version) (PluginAPI \(d.abiVersion)), hooks: \(d.hooks.map(\.rawValue).joined(separator: ", ")), config keys: \(d.configKeys.map(\.key).joined(separator: ", ").nonEmpty ?? "none")"
    }

    static func lifecycle(_ lib: PluginLibrary, settings: [String: String], strict: Bool) throws -> String {
        let host = try StandaloneHost(steps: 1)
        let cycles = 100, warmup = 5
        for _ in 0..<warmup { _ = try PluginStack(libraries: [lib], settings: settings, services: host) }
        let before = heapInUse()
        for _ in 0..<cycles {
            let stack = try PluginStack(libraries: [lib], settings: settings, services: host)
            stack.plugins.forEach { $0.destroy() }
        }
        let growth = heapInUse() - before
        if strict && growth > 4 << 20 {
            throw PluginError(.check, plugin: lib.descriptor.id, hook: "lifecycle",
                              "resident memory grew by \(growth) bytes over \(cycles) create/destroy cycles (leak in create or destroy?)")
        }
        return "\(cycles) create/destroy cycles\(strict ? ", resident memory growth \(growth) bytes" : "")"
    }

    static func hooks(_ lib: PluginLibrary, settings: [String: String], strict: Bool) throws -> String {
        // Lent buffers are poisoned after each hook: a later write into one is caught.
        LentBuffers.poison = 0xA5
        defer { LentBuffers.poison = nil }
        let threadsBefore = threadCount()
        let host = try StandaloneHost(steps: 4)
        let stack = try PluginStack(libraries: [lib], settings: settings, services: host)
        try host.train(stack)
        let threadsAfter = threadCount()
        if strict && threadsAfter > threadsBefore {
            throw PluginError(.check, plugin: lib.descriptor.id, hook: "hooks",
                              "the process has \(threadsAfter - threadsBefore) more thread(s) after the hooks ran; plugins may not leave threads running (rule F2)")
        }
        let called = stack.plugins[0].callStats.keys.sorted().map { "\($0.rawValue)×\(stack.plugins[0].callStats[$0]!.calls)" }
        guard host.losses.allSatisfy(\.isFinite) else {
            throw PluginError(.check, plugin: lib.descriptor.id, hook: "hooks", "the training loss became non-finite: \(host.losses)")
        }
        return "4 steps on tiny, depth \(host.depths.map(String.init).joined(separator: "→")), loss \(String(format: "%.3f", host.losses.first ?? 0)) → \(String(format: "%.3f", host.losses.last ?? 0)); calls: \(called.joined(separator: ", ").nonEmpty ?? "none")"
    }

    static func state(_ lib: PluginLibrary, settings: [String: String]) throws -> String {
        let host = try StandaloneHost(steps: 3)
        let first = try PluginStack(libraries: [lib], settings: settings, services: host)
        try host.train(first)
        let saved = try first.checkpoint()
        let second = try PluginStack(libraries: [lib], settings: settings, services: host)
        try second.restore(saved)
        let again = try second.checkpoint()
        for (a, b) in zip(saved.plugins, again.plugins) {
            guard a.stateBytes == b.stateBytes else {
                throw PluginError(.check, plugin: lib.descriptor.id, hook: "save_state",
                                  "save → load → save gave different bytes (\(a.stateBytes.count) then \(b.stateBytes.count) bytes\(firstDifference(a.stateBytes, b.stateBytes)))")
            }
            guard a.tensors == b.tensors else {
                throw PluginError(.check, plugin: lib.descriptor.id, hook: "load_state", "state tensors changed across save → load → save")
            }
        }
        let bytes = saved.plugins.map(\.stateBytes.count).reduce(0, +)
        let tensors = saved.plugins.flatMap { $0.tensors.map(\.name) }
        return "\(bytes) state bytes, state tensors [\(tensors.joined(separator: ", "))] identical after save → load → save"
    }

    static func determinism(_ lib: PluginLibrary, settings: [String: String]) throws -> String {
        // What hooks are lent is poisoned when they return, differently in the two runs: a
        // plugin that reads it later (rule O1) makes them differ.
        defer { LentBuffers.poison = nil }
        var poisons: [UInt8] = [0xA5, 0x5A]
        func once() throws -> (losses: [Double], digest: String) {
            LentBuffers.poison = poisons.removeFirst()
            let host = try StandaloneHost(steps: 4, seed: 7)
            let stack = try PluginStack(libraries: [lib], settings: settings, services: host)
            try host.train(stack)
            return (host.losses, host.parameterDigest())
        }
        let a = try once(), b = try once()
        guard a.losses.map(\.bitPattern) == b.losses.map(\.bitPattern), a.digest == b.digest else {
            throw PluginError(.check, plugin: lib.descriptor.id, hook: "determinism",
                              "two runs with seed 7 differ (losses \(a.losses) vs \(b.losses)); use only ntng_step_info.rng_seed for randomness (rule F3), and do not read what a hook was lent after it returns (rule O1)")
        }
        return "two runs with seed 7 agree bit for bit (parameters \(a.digest.prefix(12))…)"
    }

    static func resume(_ lib: PluginLibrary, settings: [String: String]) throws -> String {
        let steps = 8, stopAfter = 3
        func train(resumingAfter k: Int?) throws -> (losses: [Double], digest: String, bytes: Int) {
            let host = try StandaloneHost(steps: steps, seed: 11)
            var stack = try PluginStack(libraries: [lib], settings: settings, services: host)
            host.plugins = stack
            try stack.runStart(in: host.runContext())
            var bytes = 0
            for step in 0..<steps {
                if step == k {
                    // What a checkpoint keeps of the plugins, through JSON as the file stores it.
                    let saved = try JSONDecoder().decode(PluginStackCheckpoint.self, from: try JSONEncoder().encode(try stack.checkpoint()))
                    bytes = saved.plugins.map(\.stateBytes.count).reduce(0, +)
                    stack = try PluginStack(libraries: [lib], settings: settings, services: host)
                    try stack.restore(saved)
                    try stack.runStart(in: host.runContext())
                }
                try host.step(stack)
            }
            try stack.runEnd(in: host.runContext())
            return (host.losses, host.parameterDigest(), bytes)
        }
        let straight = try train(resumingAfter: nil), resumed = try train(resumingAfter: stopAfter)
        guard straight.losses.map(\.bitPattern) == resumed.losses.map(\.bitPattern), straight.digest == resumed.digest else {
            let step = zip(straight.losses, resumed.losses).enumerated().first { $0.element.0.bitPattern != $0.element.1.bitPattern }?.offset
            throw PluginError(.check, plugin: lib.descriptor.id, hook: "save_state",
                              "resuming after \(stopAfter) steps (save_state, then load_state into a fresh instance, \(resumed.bytes) state bytes) changes the run\(step.map { " from step \($0 + 1)" } ?? " (final parameters)"): state not saved? Everything that steers later steps must be in save_state or in state tensors")
        }
        return "\(steps) steps straight and resumed after \(stopAfter) (\(resumed.bytes) state bytes) agree bit for bit"
    }

    /// Four steps in which the checker's own plan drops the top layer (steps 2, 3) and freezes
    /// layer 0 (step 4); the host stops a v1.1 optimizer that touches those tensors (rule G1).
    static func gradients(_ lib: PluginLibrary, settings: [String: String]) throws -> String {
        guard lib.descriptor.hooks.contains(.optimizerStep) || lib.descriptor.hooks.contains(.afterOptimizerStep) else {
            return "not applicable: the plugin has neither optimizer_step nor after_optimizer_step"
        }
        guard lib.descriptor.abiMinor >= 1 else {
            return "not applicable: built against PluginAPI 1.0, which does not report gradient presence (rebuild against 1.1 to be held to rule G1)"
        }
        let host = try StandaloneHost(steps: 4, seed: 13, settings: ["warmup=0"])
        host.adjustPlan = { step, plan, depth in
            var plan = plan
            if step == 2 || step == 3 {
                let rows = plan.activeLayers ?? Array(repeating: Array(0..<depth), count: host.microBatches)
                let dropped = rows.map { row in row.count > 1 ? row.filter { $0 != depth - 1 } : row }
                plan.activeLayers = dropped
            } else if step == 4 {
                plan.frozenBelow = Swift.max(plan.frozenBelow, 1)
            }
            return plan
        }
        let stack = try PluginStack(libraries: [lib], settings: settings, services: host)
        try host.train(stack)
        return "steps with the top layer dropped and with layer 0 frozen left those tensors untouched"
    }

    /// Three steps, then the evaluation weights twice: finite (checked by the host), identical, and
    /// parameters and state unchanged (checked by the host around every call, rule E1).
    static func evaluation(_ lib: PluginLibrary, settings: [String: String]) throws -> String {
        let host = try StandaloneHost(steps: 3, seed: 17, settings: ["warmup=0"])
        let stack = try PluginStack(libraries: [lib], settings: settings, services: host)
        guard stack.providesEvaluationWeights else { return "not applicable: the plugin does not serve ntng.evaluation_weights/1" }
        try host.train(stack)
        let training = host.parameterDigest()
        guard let first = try host.evaluationWeights() else { return "the plugin declined: evaluation uses the training weights" }
        let second = try host.evaluationWeights()
        guard second == first else {
            throw PluginError(.check, plugin: lib.descriptor.id, hook: PluginHook.evaluationWeights.rawValue,
                              "two calls with nothing changed in between wrote different weights; the write must be a pure function of parameters and state tensors (rule E1)")
        }
        guard host.parameterDigest() == training else {
            throw PluginError(.check, plugin: lib.descriptor.id, hook: PluginHook.evaluationWeights.rawValue, "the training weights changed")
        }
        let differing = zip(first, UnsafeBufferPointer(start: host.workload.parameters.values, count: first.count)).filter { $0 != $1 }.count
        return "evaluation weights are finite and reproducible; \(differing) of \(first.count) values differ from the training weights"
    }

    private static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String {
        guard let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset else { return "" }
        return "; first difference at byte \(i)"
    }

    /// Resident memory in bytes (`/proc/self/statm`): glibc's mallinfo2 is not visible to Swift,
    /// and a leak large enough to matter shows in the resident set too.
    static func heapInUse() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }
}
