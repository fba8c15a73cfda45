import Corpus
import Foundation

/// Tasks built from GCIDE (Webster 1913), one of them paired with WordNet (data.md §2.1).
enum GCIDETasks {
    /// The 13 subject labels with at least 400 senses (data.md §2.1).
    static let domains = ["Zool.", "Bot.", "Chem.", "Med.", "Anat.", "Law", "Naut.", "Min.", "Biol.", "Mus.",
                          "Arch.", "Physiol.", "Mil."]

    /// Webster-1913 sense → subject label. Group key: the headword.
    static func domain(_ entries: [GCIDEEntry]) -> [TaskExample] {
        let wanted = Set(domains)
        var examples = [TaskExample]()
        for e in entries {
            for s in e.senses {
                guard let d = s.domain, wanted.contains(d), TextTools.wordCount(s.text) >= 3 else { continue }
                examples.append(TaskExample(text: s.text, label: d, group: e.headword))
            }
        }
        return examples
    }

    /// MRPC-like: is a WordNet gloss and a Webster-1913 definition for the same word?
    ///
    /// Positives: words with one WordNet synset for the part of speech and exactly one 1913 entry of
    /// that part of speech holding a single Webster sense. Negatives pair the word's WordNet gloss
    /// with the 1913 definition of another such word of the same lexicographer file *and the same
    /// split*, so no word's text crosses splits. Exactly one positive and one negative per word.
    /// Group key: the word.
    static func definitionMatch(wordnet: [WordNetSynset], gcide: [GCIDEEntry]) -> [TaskExample] {
        // Single-sense 1913 entries per (word, pos); words with several entries of a pos are skipped.
        var entryCount = [String: Int](), onlySense = [String: String]()
        for e in gcide {
            guard let pos = e.pos else { continue }
            let key = "\(e.headword)|\(pos)"
            entryCount[key, default: 0] += 1
            if e.senses.count == 1, e.senses[0].source.contains("1913 Webster"), TextTools.wordCount(e.senses[0].text) >= 4 {
                onlySense[key] = e.senses[0].text
            }
        }
        struct Word { let word: String; let gloss: String; let definition: String; let lexfile: Int }
        var pool = [String: [Word]]()  // split|lexfile → words
        for (key, synset) in WordNetTasks.monosemous(wordnet) {
            guard entryCount[key] == 1, let definition = onlySense[key] else { continue }
            let word = String(key[..<key.firstIndex(of: "|")!])
            guard word.allSatisfy({ $0.isLetter }), TextTools.wordCount(synset.definition) >= 3 else { continue }
            let poolKey = "\(TaskSplitRule.split(group: word).rawValue)|\(synset.lexfile)"
            pool[poolKey, default: []].append(Word(word: word, gloss: synset.definition, definition: definition, lexfile: synset.lexfile))
        }
        var examples = [TaskExample]()
        for key in pool.keys.sorted() {
            // A fixed pseudo-random order; each word's negative is the next word's definition.
            let words = pool[key]!.sorted { TaskSplitRule.stableHash($0.word) < TaskSplitRule.stableHash($1.word) }
            guard words.count >= 2 else { continue }
            for (i, w) in words.enumerated() {
                let other = words[(i + 1) % words.count]
                examples.append(TaskExample(text: w.gloss, textB: w.definition, label: "true", group: w.word))
                examples.append(TaskExample(text: w.gloss, textB: other.definition, label: "false", group: w.word))
            }
        }
        return examples
    }
}
