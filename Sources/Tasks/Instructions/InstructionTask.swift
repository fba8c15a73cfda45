import Storage
import Foundation

/// A task in Super-Natural-Instructions' format: a definition, worked examples, and instances
/// whose `output` lists every acceptable reference. Read from SNI's own task files
/// (`tasks/task001_….json`) and written the same way for ntng's Debian-built suite.
public struct InstructionTask: Sendable, Equatable {
    public struct Example: Sendable, Equatable, Codable {
        public var input: String
        public var output: String
        public var explanation: String?
        public init(input: String, output: String, explanation: String? = nil) {
            self.input = input
            self.output = output
            self.explanation = explanation
        }
    }

    public struct Instance: Sendable, Equatable {
        public var id: String
        public var input: String
        /// The references; SNI scores a prediction against the best of them.
        public var outputs: [String]
        public init(id: String, input: String, outputs: [String]) {
            self.id = id
            self.input = input
            self.outputs = outputs
        }
    }

    /// The file name without `.json` (SNI's task id, e.g. `task1292_yelp_review_full_text_categorization`).
    public var name: String
    /// SNI stores a list; the prompt uses its first entry, as Tk-Instruct's does.
    public var definition: [String]
    public var positiveExamples: [Example]
    public var negativeExamples: [Example]
    public var instances: [Instance]

    public init(name: String, definition: [String], positiveExamples: [Example], negativeExamples: [Example] = [], instances: [Instance]) {
        self.name = name
        self.definition = definition
        self.positiveExamples = positiveExamples
        self.negativeExamples = negativeExamples
        self.instances = instances
    }
}

extension InstructionTask {
    /// Reads one SNI task file. Every malformed field is reported with the file and the field.
    public static func load(_ url: URL) throws -> InstructionTask {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TaskError.unreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw TaskError.unreadable(path: url.path, reason: "not JSON: \((error as NSError).localizedDescription)")
        }
        guard let top = object as? [String: Any] else { throw bad(url, "the file must hold one JSON object (an SNI task)") }
        let definition: [String]
        switch top["Definition"] {
        case let s as String: definition = [s]
        case let list as [Any] where !list.isEmpty && list.allSatisfy({ $0 is String }): definition = list as! [String]
        default: throw bad(url, "'Definition' must be a string or a non-empty list of strings")
        }
        func examples(_ key: String) throws -> [Example] {
            guard let raw = top[key] else { return [] }
            guard let list = raw as? [Any] else { throw bad(url, "'\(key)' must be a list") }
            return try list.enumerated().map { i, item in
                guard let e = item as? [String: Any], let input = e["input"] as? String, let output = e["output"] as? String else {
                    throw bad(url, "'\(key)' entry \(i + 1) needs string fields 'input' and 'output'")
                }
                return Example(input: input, output: output, explanation: e["explanation"] as? String)
            }
        }
        guard let rawInstances = top["Instances"] as? [Any] else { throw bad(url, "'Instances' must be a list") }
        let instances: [Instance] = try rawInstances.enumerated().map { i, item in
            guard let e = item as? [String: Any], let input = e["input"] as? String else {
                throw bad(url, "instance \(i + 1) needs a string field 'input'")
            }
            let outputs: [String]
            switch e["output"] {
            case let s as String: outputs = [s]
            case let list as [Any] where !list.isEmpty && list.allSatisfy({ $0 is String }): outputs = list as! [String]
            default: throw bad(url, "instance \(i + 1)'s 'output' must be a string or a non-empty list of strings (the references)")
            }
            return Instance(id: (e["id"] as? String) ?? "\(url.deletingPathExtension().lastPathComponent)-\(i)", input: input, outputs: outputs)
        }
        return InstructionTask(name: url.deletingPathExtension().lastPathComponent, definition: definition,
                               positiveExamples: try examples("Positive Examples"), negativeExamples: try examples("Negative Examples"),
                               instances: instances)
    }

    /// Writes the task as an SNI task file (what `load` reads back).
    public func save(to url: URL) throws {
        func example(_ e: Example) -> [String: Any] {
            var d: [String: Any] = ["input": e.input, "output": e.output]
            if let x = e.explanation { d["explanation"] = x }
            return d
        }
        let object: [String: Any] = [
            "Definition": definition,
            "Positive Examples": positiveExamples.map(example),
            "Negative Examples": negativeExamples.map(example),
            "Instances": instances.map { ["id": $0.id, "input": $0.input, "output": $0.outputs] },
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: url)
    }

    private static func bad(_ url: URL, _ reason: String) -> TaskError {
        .unsupported(task: url.deletingPathExtension().lastPathComponent, reason: "\(url.path): \(reason)")
    }
}
