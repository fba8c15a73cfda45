import Corpus
import Foundation

/// Tasks built from WordNet 3.0 alone (data.md §2.1).
enum WordNetTasks {
    /// WiC-like: do two example sentences use a word in the same WordNet sense?
    ///
    /// Positives are two examples of one synset that both mention the lemma; negatives are examples
    /// of two synsets of the same part of speech in *different* lexicographer files (WiC likewise
    /// pruned near-identical senses). Each lemma gives k positives and k negatives, k ≤ 3, so the
    /// word itself carries no signal. Group key: the lemma.
    static func wordInContext(_ synsets: [WordNetSynset], perLemma: Int = 3) -> [TaskExample] {
        struct Use { let synset: Int; let pos: Character; let lexfile: Int; let example: String }
        var uses = [String: [Use]]()
        for (i, s) in synsets.enumerated() {
            for lemma in Set(s.lemmas) {
                for e in s.examples where WordNet.mentions(e, lemma: lemma) {
                    uses[lemma, default: []].append(Use(synset: i, pos: s.pos, lexfile: s.lexfile, example: e))
                }
            }
        }
        var examples = [TaskExample]()
        for lemma in uses.keys.sorted() {
            let u = uses[lemma]!
            guard u.count >= 3 else { continue }
            var positives = [(String, String)](), negatives = [(String, String)]()
            for a in 0..<u.count {
                for b in (a + 1)..<u.count where u[a].example != u[b].example {
                    if u[a].synset == u[b].synset {
                        positives.append((u[a].example, u[b].example))
                    } else if u[a].pos == u[b].pos && u[a].lexfile != u[b].lexfile {
                        negatives.append((u[a].example, u[b].example))
                    }
                }
            }
            let k = min(perLemma, positives.count, negatives.count)
            guard k > 0 else { continue }
            for (pairs, label) in [(positives, "true"), (negatives, "false")] {
                let chosen = pairs.sorted { TaskSplitRule.stableHash(lemma + "|" + $0.0 + "|" + $0.1) < TaskSplitRule.stableHash(lemma + "|" + $1.0 + "|" + $1.1) }
                for (s1, s2) in chosen.prefix(k) {
                    examples.append(TaskExample(text: "\(lemma): \(s1)", textB: s2, label: label, group: lemma))
                }
            }
        }
        return examples
    }

    /// Gloss → lexicographer file (45 classes). Group key: the synset's first lemma.
    static func supersense(_ synsets: [WordNetSynset]) -> [TaskExample] {
        synsets.compactMap { s in
            guard let lemma = s.lemmas.first, TextTools.wordCount(s.definition) >= 2 else { return nil }
            return TaskExample(text: s.definition, label: WordNet.lexnames[s.lexfile], group: lemma)
        }
    }

    /// Monosemous WordNet words per part of speech: (lemma, pos) → the one synset.
    static func monosemous(_ synsets: [WordNetSynset]) -> [String: WordNetSynset] {
        var count = [String: Int](), only = [String: WordNetSynset]()
        for s in synsets {
            for lemma in Set(s.lemmas) {
                let key = "\(lemma)|\(s.pos)"
                count[key, default: 0] += 1
                only[key] = s
            }
        }
        return only.filter { count[$0.key] == 1 }
    }
}
