import Corpus
import Foundation
import Storage

/// fortune_topic: a fortune → its category file (data.md §2.1).
enum FortuneTasks {
    static let directory = "/usr/share/games/fortunes"

    /// Category files that are not prose (ASCII art, the legal disclaimer).
    static let excluded: Set<String> = ["art", "ascii-art", "disclaimer"]

    /// Fortunes per category from the strfile sources: items separated by a line holding only `%`.
    /// Index files (`.dat`), `.u8` symlinks, sub-directories (other languages) and `mario.*`
    /// (Portuguese) are skipped.
    static func categories(directory: String = FortuneTasks.directory) throws -> [String: [String]] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw TaskError.unreadable(path: directory, reason: FileErrorText.describe(error))
        }
        var result = [String: [String]]()
        for name in names.sorted() {
            guard !name.hasPrefix("."), !name.hasSuffix(".dat"), !name.hasSuffix(".u8"), !name.hasPrefix("mario."),
                  !excluded.contains(name) else { continue }
            let path = "\(directory)/\(name)"
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType != .typeSymbolicLink,
                  let data = FileManager.default.contents(atPath: path) else { continue }
            result[name] = items(String(decoding: data, as: UTF8.self))
        }
        return result
    }

    /// The items of one strfile source, whitespace collapsed, empty ones dropped.
    static func items(_ text: String) -> [String] {
        var items = [String](), current = [Substring]()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "%" {
                let item = TextTools.collapseWhitespace(current.joined(separator: " "))
                if !item.isEmpty { items.append(item) }
                current.removeAll()
            } else {
                current.append(line)
            }
        }
        let item = TextTools.collapseWhitespace(current.joined(separator: " "))
        if !item.isEmpty { items.append(item) }
        return items
    }

    /// One example per fortune of a category with at least `minimumPerCategory` items. Fortunes
    /// found in more than one category are dropped (their label is ambiguous); repeats within a
    /// category count once. Group key: the text's hash.
    static func topic(_ categories: [String: [String]], minimumPerCategory: Int = 150) -> [TaskExample] {
        var homes = [String: Set<String>]()
        for (category, items) in categories {
            for item in items where TextTools.wordCount(item) >= 3 { homes[item.lowercased(), default: []].insert(category) }
        }
        var byCategory = [String: [String]]()
        for (category, items) in categories {
            var seen = Set<String>()
            for item in items where TextTools.wordCount(item) >= 3 {
                let key = item.lowercased()
                guard homes[key]?.count == 1, seen.insert(key).inserted else { continue }
                byCategory[category, default: []].append(item)
            }
        }
        var examples = [TaskExample]()
        for category in byCategory.keys.sorted() where byCategory[category]!.count >= minimumPerCategory {
            for item in byCategory[category]! {
                examples.append(TaskExample(text: item, label: category,
                                            group: FNV1a64.hex(FNV1a64.hash(item.lowercased()))))
            }
        }
        return examples
    }
}
