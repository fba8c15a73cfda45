import Corpus
import Foundation

/// The GLUE distribution's TSV files. Columns are found by header name, so one reader covers
/// SST-2 (`sentence`, `label`), MRPC (`#1 String`, `#2 String`, `Quality`), QQP (`question1`,
/// `question2`, `is_duplicate`), MNLI (`sentence1`, `sentence2`, `gold_label`), QNLI (`question`,
/// `sentence`, `label`), RTE and WNLI (`sentence1`, `sentence2`, `label`). CoLA has no header:
/// source, label, original label, sentence.
enum GLUEFormat {
    /// Headline metric per task, as the GLUE leaderboard (and the seed's evaluation) reports it.
    static let metrics: [String: TaskMetric] = ["cola": .mcc, "mrpc": .f1, "qqp": .f1]
    static let analogues: [String: String] = ["cola": "CoLA", "sst-2": "SST-2", "mrpc": "MRPC", "qqp": "QQP",
                                              "mnli": "MNLI", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI"]

    static func load(_ directory: URL) throws -> LoadedTask {
        let name = directory.lastPathComponent.lowercased()
        if name == "sts-b" {
            throw TaskError.unsupported(task: name, reason: "STS-B is a regression task; ntng eval fine-tunes classifiers only.")
        }
        let devName = name == "mnli" ? "dev_matched.tsv" : "dev.tsv"
        let train = try read(directory.appendingPathComponent("train.tsv"), cola: name == "cola")
        let dev = try read(directory.appendingPathComponent(devName), cola: name == "cola")
        let labels = Array(Set((train.examples + dev.examples).map(\.label))).sorted()
        let info = TaskInfo(name: name, kind: train.pair ? .pair : .single, metric: metrics[name] ?? .accuracy,
                            labels: labels, positiveLabel: labels == ["0", "1"] ? "1" : nil,
                            analogue: analogues[name] ?? name, source: "glue",
                            counts: ["train": train.examples.count, "dev": dev.examples.count])
        return LoadedTask(info: info, splits: [.train: train.examples, .dev: dev.examples])
    }

    static func read(_ url: URL, cola: Bool) throws -> (examples: [TaskExample], pair: Bool) {
        let lines = try TaskLoader.lines(url)
        if cola {
            let examples = try lines.map { number, line -> TaskExample in
                let f = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard f.count >= 4 else { throw TaskError.malformed(path: url.path, line: number, reason: "CoLA lines have 4 tab-separated columns") }
                return TaskExample(text: String(f[3]), label: String(f[1]), group: "\(number)")
            }
            return (examples, false)
        }
        guard let (_, headerLine) = lines.first else { return ([], false) }
        let header = headerLine.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        func column(_ candidates: [String], except: Int? = nil) -> Int? {
            for c in candidates { if let k = header.firstIndex(of: c), k != except { return k } }
            return nil
        }
        guard let a = column(["sentence1", "question1", "#1 String", "question", "sentence"]),
              let label = column(["gold_label", "label", "is_duplicate", "Quality"]) else {
            throw TaskError.malformed(path: url.path, line: 1, reason: "the header names no text or label column: \(header)")
        }
        let b = column(["sentence2", "question2", "#2 String", "sentence"], except: a)
        var examples = [TaskExample]()
        for (number, line) in lines.dropFirst() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            // QQP and MNLI hold a few lines with stray tabs or missing fields; GLUE's own loaders skip them.
            guard f.count == header.count, !f[label].isEmpty else { continue }
            examples.append(TaskExample(text: String(f[a]), textB: b.map { String(f[$0]) }, label: String(f[label]),
                                        group: "\(number)"))
        }
        return (examples, b != nil)
    }
}

/// SuperGLUE's JSONL files for the classification tasks a first-token head can do: BoolQ
/// (`question`, `passage`), CB and RTE (`premise`, `hypothesis`), WiC (`word`, `sentence1`,
/// `sentence2`, input as "word: sentence1" + sentence2). Labels may be booleans or strings.
enum SuperGLUEFormat {
    static let analogues: [String: String] = ["boolq": "BoolQ", "cb": "CB", "rte": "RTE", "wic": "WiC"]

    static func load(_ directory: URL) throws -> LoadedTask {
        let name = directory.lastPathComponent.lowercased()
        if ["copa", "multirc", "record", "wsc", "ax-b", "ax-g"].contains(name) {
            throw TaskError.unsupported(task: name, reason: "it is multiple-choice, span or diagnostic-only; ntng eval supports BoolQ, CB, RTE and WiC.")
        }
        let train = try read(directory.appendingPathComponent("train.jsonl"))
        let dev = try read(directory.appendingPathComponent("val.jsonl"))
        let labels = Array(Set((train + dev).map(\.label))).sorted()
        let info = TaskInfo(name: name, kind: .pair, metric: .accuracy, labels: labels,
                            positiveLabel: labels == ["false", "true"] ? "true" : nil, analogue: analogues[name] ?? name,
                            source: "superglue", counts: ["train": train.count, "dev": dev.count])
        return LoadedTask(info: info, splits: [.train: train, .dev: dev])
    }

    /// The fields of one line that the supported tasks use.
    struct Line: Decodable {
        var label: Scalar?
        var idx: Scalar?
        var word, sentence1, sentence2, premise, hypothesis, question, passage: String?
    }

    /// A JSON scalar as text: booleans as `true`/`false` (BoolQ, WiC), integers in decimal,
    /// strings as they are. Decoded by type, so `0` never reads as `false`.
    struct Scalar: Decodable {
        var text: String
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { text = b ? "true" : "false" }
            else if let i = try? c.decode(Int.self) { text = String(i) }
            else if let s = try? c.decode(String.self) { text = s }
            else { text = String(try c.decode(Double.self)) }
        }
    }

    static func read(_ url: URL) throws -> [TaskExample] {
        let decoder = JSONDecoder()
        return try TaskLoader.lines(url).map { number, line in
            let object: Line
            do { object = try decoder.decode(Line.self, from: Data(line.utf8)) } catch {
                throw TaskError.malformed(path: url.path, line: number, reason: "not a SuperGLUE JSON line: \(error)")
            }
            guard let label = object.label?.text else {
                throw TaskError.malformed(path: url.path, line: number, reason: "no label (test files carry none; use train/val)")
            }
            let group = object.idx?.text ?? "\(number)"
            if let word = object.word, let s1 = object.sentence1, let s2 = object.sentence2 {
                return TaskExample(text: "\(word): \(s1)", textB: s2, label: label, group: group)
            }
            if let premise = object.premise, let hypothesis = object.hypothesis {
                return TaskExample(text: premise, textB: hypothesis, label: label, group: group)
            }
            if let question = object.question, let passage = object.passage {
                return TaskExample(text: question, textB: passage, label: label, group: group)
            }
            throw TaskError.malformed(path: url.path, line: number, reason: "expected word/sentence1/sentence2, premise/hypothesis or question/passage fields")
        }
    }
}
