import Corpus
import Foundation

/// A downstream task built from installed Debian packages (data.md §2.1).
public struct DebianTask: Sendable {
    public let name: String
    public let analogue: String
    public let summary: String
    public let kind: TaskKind
    public let metric: TaskMetric
    public let positiveLabel: String?
    /// Debian packages the task is built from.
    public let packages: [String]
    /// At most this many examples per class are kept (data.md's caps), chosen by a stable hash.
    public let perClassCap: Int?
    /// A sanity task (near the ceiling for bag-of-words): reported, but worth less as a headline.
    public let isSanityTask: Bool
    /// data.md §2.1's sanity baselines on its test split (accuracy): majority class, and TF-IDF
    /// 1–2-gram + logistic regression ("BoW"). For orientation only: data.md's split hash and
    /// extraction differ in detail.
    public let referenceMajority: Double
    public let referenceBagOfWords: Double
    let build: @Sendable (TaskSources) throws -> [TaskExample]
}

/// The built-in task suite and the Debian packages behind it.
public enum TaskCatalog {
    /// Bumped whenever a builder's output changes, so prepared tasks are rebuilt.
    public static let builderVersion = 1

    static let wordnet = ["wordnet-base"]
    static let gcide = ["dict-gcide"]
    static let fortunes = ["fortunes", "fortunes-min", "fortune-anarchism", "fortunes-bofh-excuses", "fortunes-debian-hints"]
    static let bible = ["sword-text-web", "libsword-utils"]

    public static let tasks: [DebianTask] = [
        DebianTask(name: "wic_wn", analogue: "WiC", summary: "same WordNet sense of a word in two example sentences?",
                   kind: .pair, metric: .accuracy, positiveLabel: "true", packages: wordnet, perClassCap: nil, isSanityTask: false,
                   referenceMajority: 0.500, referenceBagOfWords: 0.531) {
            WordNetTasks.wordInContext(try $0.wordnetSynsets())
        },
        DebianTask(name: "def_match", analogue: "MRPC", summary: "WordNet gloss and Webster-1913 definition of the same word?",
                   kind: .pair, metric: .f1, positiveLabel: "true", packages: wordnet + gcide, perClassCap: nil, isSanityTask: false,
                   referenceMajority: 0.500, referenceBagOfWords: 0.409) {
            GCIDETasks.definitionMatch(wordnet: try $0.wordnetSynsets(), gcide: try $0.gcideEntries())
        },
        DebianTask(name: "wn_supersense", analogue: "SST-like topic", summary: "WordNet gloss → lexicographer file (45 classes)",
                   kind: .single, metric: .accuracy, positiveLabel: nil, packages: wordnet, perClassCap: 1500, isSanityTask: false,
                   referenceMajority: 0.027, referenceBagOfWords: 0.660) {
            WordNetTasks.supersense(try $0.wordnetSynsets())
        },
        DebianTask(name: "gcide_domain", analogue: "single-sentence topic", summary: "Webster-1913 sense → subject label (13 classes)",
                   kind: .single, metric: .accuracy, positiveLabel: nil, packages: gcide, perClassCap: 1500, isSanityTask: false,
                   referenceMajority: 0.115, referenceBagOfWords: 0.845) {
            GCIDETasks.domain(try $0.gcideEntries())
        },
        DebianTask(name: "fortune_topic", analogue: "SST/CoLA-form topic", summary: "fortune → category file",
                   kind: .single, metric: .accuracy, positiveLabel: nil, packages: fortunes, perClassCap: 600, isSanityTask: false,
                   referenceMajority: 0.041, referenceBagOfWords: 0.497) {
            FortuneTasks.topic(try $0.fortuneCategories())
        },
        DebianTask(name: "bible_genre", analogue: "single-sentence genre", summary: "WEB verse → one of 10 canonical genres",
                   kind: .single, metric: .accuracy, positiveLabel: nil, packages: bible, perClassCap: 2500, isSanityTask: false,
                   referenceMajority: 0.110, referenceBagOfWords: 0.638) {
            BibleTasks.genre(try $0.bibleVerses())
        },
        DebianTask(name: "bible_testament", analogue: "easy binary (sanity)", summary: "WEB verse → old or new testament",
                   kind: .single, metric: .mcc, positiveLabel: "new", packages: bible, perClassCap: nil, isSanityTask: true,
                   referenceMajority: 0.736, referenceBagOfWords: 0.938) {
            BibleTasks.testament(try $0.bibleVerses())
        },
    ]

    public static var names: [String] { tasks.map(\.name) }

    public static func task(named name: String) throws -> DebianTask {
        guard let t = tasks.first(where: { $0.name == name }) else { throw TaskError.unknownTask(name, available: names) }
        return t
    }

    /// The packages the given tasks need, sorted and unique.
    public static func debianPackages(for tasks: [DebianTask] = TaskCatalog.tasks) -> [String] {
        Array(Set(tasks.flatMap(\.packages))).sorted()
    }

    /// The install line for the given tasks.
    public static func installCommand(for tasks: [DebianTask] = TaskCatalog.tasks) -> String {
        "apt-get install --no-install-recommends " + debianPackages(for: tasks).joined(separator: " ")
    }

    /// Keeps at most `cap` examples per label, choosing by a stable hash of group and text so the
    /// choice is the same everywhere and does not depend on input order. The result is in a fixed
    /// order (by that hash).
    static func capPerClass(_ examples: [TaskExample], cap: Int?) -> [TaskExample] {
        let ordered = examples
            .map { (TaskSplitRule.stableHash($0.group + "\u{1F}" + $0.text + "\u{1F}" + ($0.textB ?? "")), $0) }
            .sorted { $0.0 < $1.0 || ($0.0 == $1.0 && ($0.1.text, $0.1.label) < ($1.1.text, $1.1.label)) }
            .map(\.1)
        guard let cap else { return ordered }
        var kept = [String: Int]()
        return ordered.filter { e in
            kept[e.label, default: 0] += 1
            return kept[e.label]! <= cap
        }
    }
}

/// Parsed Debian sources shared by the task builders (WordNet feeds three tasks, GCIDE two, the
/// WEB two), each read at most once.
final class TaskSources: @unchecked Sendable {
    private var synsets: [WordNetSynset]?
    private var entries: [GCIDEEntry]?
    private var fortunes: [String: [String]]?
    private var verses: [BibleVerse]?

    func wordnetSynsets() throws -> [WordNetSynset] {
        if let synsets { return synsets }
        let s = try WordNet.synsets()
        synsets = s
        return s
    }

    func gcideEntries() throws -> [GCIDEEntry] {
        if let entries { return entries }
        let e = try GCIDESenses.entries()
        entries = e
        return e
    }

    func fortuneCategories() throws -> [String: [String]] {
        if let fortunes { return fortunes }
        let f = try FortuneTasks.categories()
        fortunes = f
        return f
    }

    func bibleVerses() throws -> [BibleVerse] {
        if let verses { return verses }
        let v = try BibleTasks.verses()
        verses = v
        return v
    }
}
