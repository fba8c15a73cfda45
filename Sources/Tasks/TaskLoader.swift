import Corpus
import Foundation
import Storage

/// Reads a task folder in one of three layouts:
///
/// * **ntng** (what `ntng data prepare --tasks` writes, also usable for your own tasks):
///   `task.json` + `train.jsonl`, `dev.jsonl`, optional `test.jsonl`, lines
///   `{"text": …, "text_b": …, "label": …, "group": …}`.
/// * **GLUE** (`CoLA/`, `SST-2/`, `MRPC/`, `QQP/`, `MNLI/`, `QNLI/`, `RTE/`, `WNLI/` as distributed):
///   `train.tsv` + `dev.tsv` (MNLI: `dev_matched.tsv`); columns found by header name, CoLA has none.
/// * **SuperGLUE** (`BoolQ/`, `CB/`, `RTE/`, `WiC/`): `train.jsonl` + `val.jsonl`.
///
/// GLUE/SuperGLUE test files carry no labels and are not read.
public enum TaskLoader {
    /// Task folders under `directory` (sorted): those holding `task.json`, `train.tsv` or `train.jsonl`.
    public static func available(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { name in
            !name.hasPrefix(".") && ["task.json", "train.tsv", "train.jsonl"].contains {
                FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).appendingPathComponent($0).path)
            }
        }.sorted()
    }

    /// The folder of task `name` under `directory`, matched case-insensitively (`cola` finds `CoLA`).
    public static func folder(of name: String, in directory: URL) throws -> URL {
        let available = available(in: directory)
        if let match = available.first(where: { $0 == name }) ?? available.first(where: { $0.lowercased() == name.lowercased() }) {
            return directory.appendingPathComponent(match)
        }
        throw TaskError.notPrepared(task: name, directory: directory.path)
    }

    /// Loads the task in `directory`, whatever its layout. The task's name is the folder name,
    /// lower-cased for GLUE/SuperGLUE (`cola`, `mrpc`, `boolq`).
    public static func load(_ directory: URL) throws -> LoadedTask {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.appendingPathComponent("task.json").path) { return try loadNative(directory) }
        if fm.fileExists(atPath: directory.appendingPathComponent("train.tsv").path) { return try GLUEFormat.load(directory) }
        if fm.fileExists(atPath: directory.appendingPathComponent("train.jsonl").path) { return try SuperGLUEFormat.load(directory) }
        throw TaskError.notPrepared(task: directory.lastPathComponent, directory: directory.deletingLastPathComponent().path)
    }

    static func readInfo(_ directory: URL) throws -> TaskInfo {
        let url = directory.appendingPathComponent("task.json")
        do { return try JSONDecoder().decode(TaskInfo.self, from: Data(contentsOf: url)) } catch {
            throw TaskError.unreadable(path: url.path, reason: "\(error)")
        }
    }

    static func loadNative(_ directory: URL) throws -> LoadedTask {
        let info = try readInfo(directory)
        var splits = [TaskSplit: [TaskExample]]()
        for split in TaskSplit.allCases {
            let url = directory.appendingPathComponent("\(split.rawValue).jsonl")
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let decoder = JSONDecoder()
            splits[split] = try lines(url).map { number, line in
                do { return try decoder.decode(TaskExample.self, from: Data(line.utf8)) } catch {
                    throw TaskError.malformed(path: url.path, line: number, reason: "not a task example: \(error)")
                }
            }
        }
        return LoadedTask(info: info, splits: splits)
    }

    /// Non-empty lines of a text file with their 1-based numbers.
    static func lines(_ url: URL) throws -> [(Int, Substring)] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw TaskError.unreadable(path: url.path, reason: FileErrorText.describe(error)) }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { k, line in
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            return l.isEmpty ? nil : (k + 1, l)
        }
    }

    /// Writes examples as JSON lines (keys sorted, so the bytes are stable).
    public static func writeJSONL(_ examples: [TaskExample], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for e in examples {
            data.append(try encoder.encode(e))
            data.append(10)
        }
        try AtomicFile.write(data, to: url)
    }
}
