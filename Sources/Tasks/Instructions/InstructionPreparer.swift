import Corpus
import Foundation
import Storage

extension DataLocation {
    /// The built-in instruction suite in SNI's layout: `tasks/NAME.json`, `splits/default/`.
    public var instructionsDirectory: URL { root.appendingPathComponent("instructions") }
}

/// Builds the Debian instruction suite (`ntng data prepare --instructions`) in SNI's layout, so
/// that `--tasks-dir` reads it exactly as it reads SNI itself. Each task keeps two positive
/// examples and up to `storedInstances` instances, chosen by a stable hash, and the examples'
/// groups never reappear among its instances.
public enum InstructionPreparer {
    public static let storedInstances = 1000

    struct Manifest: Codable, Equatable {
        var builderVersion: Int
        var packages: [String: String]
    }

    public struct Result: Sendable {
        public var directory: URL
        public var tasks: [(name: String, instances: Int, isTestTask: Bool)]
        public var wasUpToDate: Bool
    }

    public static func prepare(location: DataLocation, force: Bool = false, log: (String) -> Void = { _ in }) throws -> Result {
        let packages = InstructionCatalog.debianPackages()
        let versions = try DebianPackages.installedVersions(packages)
        let missing = packages.filter { versions[$0] == nil }
        if !missing.isEmpty { throw TaskError.missingPackages(tasks: InstructionCatalog.names, packages: missing) }
        let root = location.instructionsDirectory
        let tasksDirectory = root.appendingPathComponent("tasks"), splits = root.appendingPathComponent("splits/default")
        let manifest = Manifest(builderVersion: InstructionCatalog.builderVersion, packages: versions)
        if !force, let existing = try? JSONDecoder().decode(Manifest.self, from: Data(contentsOf: root.appendingPathComponent("manifest.json"))),
           existing == manifest {
            log("instructions: up to date")
            return Result(directory: root, tasks: [], wasUpToDate: true)
        }
        try FileManager.default.createDirectory(at: tasksDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: splits, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: root.appendingPathComponent("manifest.json"))
        let sources = TaskSources()
        var written: [(name: String, instances: Int, isTestTask: Bool)] = []
        for spec in InstructionCatalog.tasks {
            let drafts = try spec.build(sources).filter { InstructionCatalog.isHeldOut(group: $0.group) == spec.isTestTask }
            let task = try assemble(spec, drafts: drafts)
            try task.save(to: tasksDirectory.appendingPathComponent(spec.name + ".json"))
            written.append((spec.name, task.instances.count, spec.isTestTask))
            log("\(spec.name): \(task.instances.count) instances (\(spec.isTestTask ? "test" : "train") task)")
        }
        for (file, isTest) in [("train_tasks.txt", false), ("test_tasks.txt", true)] {
            let names = InstructionCatalog.tasks.filter { $0.isTestTask == isTest }.map(\.name)
            try AtomicFile.write(Data((names.joined(separator: "\n") + "\n").utf8), to: splits.appendingPathComponent(file))
        }
        try AtomicFile.writeJSON(manifest, to: root.appendingPathComponent("manifest.json"))
        return Result(directory: root, tasks: written, wasUpToDate: false)
    }

    /// Orders the drafts by a stable hash, takes the first two of different groups as the positive
    /// examples and the rest, outside those groups, as instances.
    static func assemble(_ spec: DebianInstructionTask, drafts: [InstructionDraft], stored: Int = storedInstances) throws -> InstructionTask {
        let keyed: [(key: UInt64, draft: InstructionDraft)] = drafts.map { (TaskSplitRule.stableHash($0.group + "\u{1F}" + $0.input), $0) }
        let ordered = keyed.sorted { $0.key < $1.key || ($0.key == $1.key && $0.draft.input < $1.draft.input) }.map(\.draft)
        var examples: [InstructionDraft] = []
        for d in ordered where examples.count < 2 && !examples.contains(where: { $0.group == d.group }) { examples.append(d) }
        let held = Set(examples.map(\.group))
        let instances = ordered.filter { !held.contains($0.group) }.prefix(stored)
        guard examples.count == 2, !instances.isEmpty else {
            throw TaskError.extractionFailed(task: spec.name, reason: "only \(drafts.count) instances were extracted; are its packages (\(spec.packages.joined(separator: ", "))) complete?")
        }
        let shown = examples.map { InstructionTask.Example(input: $0.input, output: $0.outputs[0]) }
        let kept = instances.enumerated().map { k, d in InstructionTask.Instance(id: "\(spec.name)-\(k)", input: d.input, outputs: d.outputs) }
        return InstructionTask(name: spec.name, definition: [spec.definition], positiveExamples: shown, instances: kept)
    }
}
