import Corpus
import Foundation
import Storage

extension DataLocation {
    /// Prepared downstream tasks, one folder per task: `<data>/tasks/<task>/`.
    public var tasksDirectory: URL { root.appendingPathComponent("tasks") }
}

/// Builds the Debian task suite (`ntng data prepare --tasks`): extract, cap per class, split by
/// group key, write `train/dev/test.jsonl` + `task.json` + `manifest.json` per task. A task whose
/// package versions and builder version are unchanged is not rebuilt.
public enum TaskPreparer {
    public struct Result: Sendable {
        public var info: TaskInfo
        public var directory: URL
        public var wasUpToDate: Bool
    }

    struct Manifest: Codable, Equatable {
        var builderVersion: Int
        var packages: [String: String]
    }

    /// Prepares `names` (all tasks when empty).
    public static func prepare(_ names: [String] = [], location: DataLocation, force: Bool = false,
                               log: (String) -> Void = { _ in }) throws -> [Result] {
        let tasks = try (names.isEmpty ? TaskCatalog.names : names).map(TaskCatalog.task(named:))
        let versions = try DebianPackages.installedVersions(TaskCatalog.debianPackages(for: tasks))
        let missing = TaskCatalog.debianPackages(for: tasks).filter { versions[$0] == nil }
        if !missing.isEmpty {
            let needing = tasks.filter { !Set($0.packages).isDisjoint(with: missing) }.map(\.name)
            throw TaskError.missingPackages(tasks: needing, packages: missing)
        }
        let sources = TaskSources()
        var results = [Result]()
        for task in tasks {
            let directory = location.tasksDirectory.appendingPathComponent(task.name)
            let manifest = Manifest(builderVersion: TaskCatalog.builderVersion,
                                    packages: Dictionary(uniqueKeysWithValues: task.packages.map { ($0, versions[$0]!) }))
            if !force, let existing = try? JSONDecoder().decode(Manifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json"))),
               existing == manifest, let info = try? TaskLoader.readInfo(directory) {
                log("\(task.name): up to date")
                results.append(Result(info: info, directory: directory, wasUpToDate: true))
                continue
            }
            let start = Date()
            let examples = TaskCatalog.capPerClass(try task.build(sources), cap: task.perClassCap)
            guard !examples.isEmpty else { throw TaskError.extractionFailed(task: task.name, reason: "no examples were extracted") }
            let info = try write(task: task, examples: examples, to: directory, manifest: manifest)
            log(String(format: "%@: %d / %d / %d examples (train/dev/test), %d labels, %.1f s", task.name,
                       info.counts["train"] ?? 0, info.counts["dev"] ?? 0, info.counts["test"] ?? 0, info.labels.count,
                       Date().timeIntervalSince(start)))
            results.append(Result(info: info, directory: directory, wasUpToDate: false))
        }
        return results
    }

    /// Splits `examples` by group key and writes the task folder (manifest last, so a folder with
    /// a manifest is complete).
    static func write(task: DebianTask, examples: [TaskExample], to directory: URL, manifest: Manifest) throws -> TaskInfo {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: directory.appendingPathComponent("manifest.json"))
        var bySplit = [TaskSplit: [TaskExample]]()
        for e in examples { bySplit[TaskSplitRule.split(group: e.group), default: []].append(e) }
        var info = TaskInfo(name: task.name, kind: task.kind, metric: task.metric,
                            labels: Array(Set(examples.map(\.label))).sorted(), positiveLabel: task.positiveLabel,
                            analogue: task.analogue, source: "debian")
        for split in TaskSplit.allCases {
            let list = bySplit[split] ?? []
            info.counts[split.rawValue] = list.count
            try TaskLoader.writeJSONL(list, to: directory.appendingPathComponent("\(split.rawValue).jsonl"))
        }
        try AtomicFile.writeJSON(info, to: directory.appendingPathComponent("task.json"))
        try AtomicFile.writeJSON(manifest, to: directory.appendingPathComponent("manifest.json"))
        return info
    }
}
