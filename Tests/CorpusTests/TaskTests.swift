import Foundation
import Testing
@testable import Corpus
@testable import Tasks

/// The downstream task suite on small fixtures written here (never the big Debian files): the
/// split rule, each builder's parsing and labelling, leakage rules, caps, and the GLUE/SuperGLUE
/// readers.
@Suite struct TaskTests {
    // MARK: - Split rule

    @Test func splitRuleIsPinnedAndRoughlyTenTenEighty() {
        // Pinned against an independent implementation (Python: FNV-1a-64 of the UTF-8 key, the
        // SplitMix64 output: finaliser of x + 0x9E3779B97F4A7C15, mod 10). A change to the rule would silently move examples between
        // splits, so it must fail here.
        #expect(TaskSplitRule.stableHash("bank") == 0xd95a_ef5b_0833_c717)
        #expect(TaskSplitRule.stableHash("Genesis 1") == 0x5335_74b5_de61_952b)
        let keys = ["bank", "Genesis 1", "side", "liqueur", "Psalms 84", "lemma4", "lemma5", "lemma10"]
        #expect(keys.map(TaskSplitRule.bucket(group:)) == [3, 9, 1, 1, 1, 0, 1, 7])
        #expect(["lemma4", "lemma5", "lemma10"].map(TaskSplitRule.split(group:)) == [.test, .dev, .train])
        var counts = [TaskSplit: Int]()
        for k in 0..<20_000 { counts[TaskSplitRule.split(group: "lemma\(k)"), default: 0] += 1 }
        #expect((1_700...2_300).contains(counts[.test]!), "\(counts)")
        #expect((1_700...2_300).contains(counts[.dev]!), "\(counts)")
    }

    /// Every group key lands in exactly one split.
    func expectDisjoint(_ examples: [TaskExample]) {
        var splitOf = [String: TaskSplit]()
        for e in examples {
            let s = TaskSplitRule.split(group: e.group)
            if let previous = splitOf[e.group] { #expect(previous == s) }
            splitOf[e.group] = s
        }
    }

    // MARK: - WordNet

    /// Data lines in WordNet 3.0's format: offset lexfile ss_type w_cnt(hex) word lex_id p_cnt | gloss.
    static func wordnetLines(lemmas: Int) -> [String] {
        var lines = ["  1 This software and database is being provided to you, the LICENSEE, by  "]
        for k in 0..<lemmas {
            let w = "word\(k)"
            lines.append(String(format: "%08d 05 n 02 %@ 0 other_%@ 0 000 | an animal sense of %@; \"the %@ ran away\"; \"a %@ barked at night\"; \"we fed the %@s\"  ",
                                2 * k, w, w, w, w, w, w))
            lines.append(String(format: "%08d 06 n 01 %@ 1 000 | a tool sense of %@; \"hand me the %@\"; \"the %@ is broken\"  ",
                                2 * k + 1, w, w, w, w))
        }
        lines.append("00000999 29 v 02 respire 0 breathe(p) 0 001 @ 00000001 v 0000 01 + 02 00 | draw air into the lungs; \"The patient is respiring\"; \"breathe deeply\"  ")
        return lines
    }

    static func synsets(lemmas: Int) -> [WordNetSynset] {
        wordnetLines(lemmas: lemmas).compactMap { WordNet.parse(Substring($0)) }
    }

    @Test func wordnetLinesParse() throws {
        let s = Self.synsets(lemmas: 1)
        #expect(s.count == 3)  // the licence line is skipped
        #expect(s[0].pos == "n" && s[0].lexfile == 5 && s[0].lemmas == ["word0", "other word0"])
        #expect(s[0].definition == "an animal sense of word0")
        #expect(s[0].examples == ["the word0 ran away", "a word0 barked at night", "we fed the word0s"])
        let verb = s[2]
        #expect(verb.pos == "v" && verb.lexfile == 29 && verb.lemmas == ["respire", "breathe"])
        #expect(verb.definition == "draw air into the lungs")
        #expect(verb.id == "v00000999" && verb.hypernyms == ["v00000001"] && s[0].id == "n00000000" && s[0].hypernyms.isEmpty)
        #expect(WordNet.mentions("The patient is respiring", lemma: "respire"))
        #expect(!WordNet.mentions("breathe deeply", lemma: "respire"))
        #expect(WordNet.lexnames.count == 45 && WordNet.lexnames[5] == "noun.animal" && WordNet.lexnames[44] == "adj.ppl")
    }

    @Test func wordInContextIsBalancedPerLemmaAndSplitByLemma() {
        let examples = WordNetTasks.wordInContext(Self.synsets(lemmas: 300))
        #expect(!examples.isEmpty)
        let byLemma = Dictionary(grouping: examples, by: \.group)
        #expect(byLemma.count == 300)
        for (lemma, list) in byLemma {
            let positives = list.filter { $0.label == "true" }.count
            #expect(positives == list.count - positives && positives <= 3, "\(lemma)")
            #expect(list.allSatisfy { $0.text.hasPrefix("\(lemma): ") && $0.textB != nil })
        }
        // 3 positives per lemma: (a,b), (a,c), (b,c) of the animal sense's three examples.
        #expect(examples.count == 300 * 6)
        expectDisjoint(examples)
        #expect(examples == WordNetTasks.wordInContext(Self.synsets(lemmas: 300)))
    }

    @Test func supersenseLabelsAreLexicographerFiles() {
        let examples = WordNetTasks.supersense(Self.synsets(lemmas: 5))
        #expect(examples.count == 11)
        #expect(examples[0] == TaskExample(text: "an animal sense of word0", label: "noun.animal", group: "word0"))
        #expect(examples.last!.label == "verb.body")
    }

    // MARK: - GCIDE

    static let gcideBlock = #"""
    Abacus \Ab"a*cus\ ([a^]b"[.a]*k[u^]s), n.; E. pl. {Abacuses}; L.
       pl. {Abaci} (-s[imac]). [L. abacus, abax, Gr. 'a`bax]
       1. A table or tray strewn with sand, anciently used for
          drawing, calculating, etc. [Obs.]
          [1913 Webster]

       2. (Arch.)
          (a) The uppermost member or division of the capital of a
              column, immediately under the architrave.
              [1913 Webster]

                A quoted line about an abacus here. --Shak.
          [1913 Webster]

    au \a.u.\ n.
       1. (Astron.) the unit of length equal to the mean distance of
          the Earth from the sun.

       Syn: astronomical unit, AU, A.U.
            [WordNet 1.5]

    Aardvark \Aard"vark`\, n. [D., earth-pig.]
       (Zool.) An edentate mammal of Southern Africa which feeds on ants.
       [1913 Webster]

    Abase \A*base"\ ([.a]*b[=a]s"), v. t. [imp. & p. p. {Abased}
       ([.a]*b[=a]st"); p. pr. & vb. n. {Abasing}.] [F. abaisser.]
       [1913 Webster]
       1. To lower or depress; to throw or cast down.
          [1913 Webster]
    """#

    @Test func gcideEntriesSplitIntoSensesWithoutWordNet() {
        let entries = GCIDESenses.parseBlock(Self.gcideBlock)
        #expect(entries.map(\.headword) == ["abacus", "au", "aardvark", "abase"])
        #expect(entries.map(\.pos) == ["n", "n", "n", "v"])
        let abacus = entries[0]
        #expect(abacus.senses.count == 2)  // the quotation is not a sense
        #expect(abacus.senses[0].text == "A table or tray strewn with sand, anciently used for drawing, calculating, etc. [Obs.]")
        #expect(abacus.senses[0].domain == nil && abacus.senses[0].source == "[1913 Webster]")
        #expect(abacus.senses[1].domain == "Arch." && abacus.senses[1].text.hasPrefix("(a) The uppermost member"))
        #expect(entries[1].senses.isEmpty)  // closed by a WordNet tag: dropped (leakage rule)
        #expect(entries[2].senses == [GCIDESense(text: "An edentate mammal of Southern Africa which feeds on ants.", domain: "Zool.", source: "[1913 Webster]")])
        #expect(entries[3].senses.map(\.text) == ["To lower or depress; to throw or cast down."])
    }

    @Test func gcideDomainKeepsTheThirteenLabels() {
        let examples = GCIDETasks.domain(GCIDESenses.parseBlock(Self.gcideBlock))
        #expect(examples.map(\.label) == ["Arch.", "Zool."])
        #expect(examples[1].group == "aardvark")
    }

    @Test func definitionMatchPairsWithinOneSplitAndLexfile() {
        // 60 monosemous nouns, each with one single-sense 1913 entry.
        var synsets = [WordNetSynset](), entries = [GCIDEEntry]()
        for k in 0..<60 {
            let w = "thing" + String(UnicodeScalar(UInt8(97 + k % 26))) + String(UnicodeScalar(UInt8(97 + k / 26)))
            synsets.append(WordNetSynset(pos: "n", lexfile: 5 + k % 2, lemmas: [w], definition: "wordnet gloss of \(w) here", examples: []))
            entries.append(GCIDEEntry(headword: w, pos: "n", senses: [GCIDESense(text: "Webster definition of \(w) here.", domain: nil, source: "[1913 Webster]")]))
        }
        // Excluded: two WordNet senses; a multi-sense 1913 entry; a WordNet-only (no 1913 sense).
        synsets += [WordNetSynset(pos: "n", lexfile: 5, lemmas: ["twice"], definition: "first sense of twice", examples: []),
                    WordNetSynset(pos: "n", lexfile: 6, lemmas: ["twice"], definition: "second sense of twice", examples: [])]
        entries.append(GCIDEEntry(headword: "twice", pos: "n", senses: [GCIDESense(text: "The only old sense here.", domain: nil, source: "[1913 Webster]")]))
        let examples = GCIDETasks.definitionMatch(wordnet: synsets, gcide: entries)
        #expect(!examples.contains { $0.group == "twice" })
        #expect(examples.filter { $0.label == "true" }.count == examples.filter { $0.label == "false" }.count)
        let definitionOwner = Dictionary(uniqueKeysWithValues: entries.dropLast().map { ($0.senses[0].text, $0.headword) })
        let lexfile = Dictionary(uniqueKeysWithValues: synsets.prefix(60).map { ($0.lemmas[0], $0.lexfile) })
        for e in examples {
            let owner = definitionOwner[e.textB!]!
            if e.label == "true" {
                #expect(owner == e.group && e.text == "wordnet gloss of \(e.group) here")
            } else {
                // The negative's definition belongs to another word of the same lexfile and split.
                #expect(owner != e.group)
                #expect(lexfile[owner] == lexfile[e.group])
                #expect(TaskSplitRule.split(group: owner) == TaskSplitRule.split(group: e.group))
            }
        }
        expectDisjoint(examples)
    }

    // MARK: - Fortunes

    @Test func fortunesSplitAtPercentLinesAndAmbiguousOnesAreDropped() {
        #expect(FortuneTasks.items("One fortune\nover two lines.\n%\nAnother one here.\n%\n\n%\n") == ["One fortune over two lines.", "Another one here."])
        var categories = [String: [String]]()
        categories["cats"] = (0..<5).map { "A cat fortune number \($0)." } + ["Shared by both files."]
        categories["dogs"] = (0..<5).map { "A dog fortune number \($0)." } + ["Shared by both files.", "A dog fortune number 1."]
        categories["tiny"] = ["Too few items here."]
        let examples = FortuneTasks.topic(categories, minimumPerCategory: 3)
        #expect(Set(examples.map(\.label)) == ["cats", "dogs"])  // "tiny" has too few
        #expect(!examples.contains { $0.text == "Shared by both files." })
        #expect(examples.filter { $0.label == "dogs" }.count == 5)  // the repeat counts once
        expectDisjoint(examples)
    }

    // MARK: - Bible

    static let imp = """
    $$$[ Module Heading ]
    $$$Genesis 0:0
    <div type="front"/> Preface text that is not a verse.
    $$$Genesis 1:0
    <chapter n="1" osisID="Gen.1" sID="Gen.1"/>
    $$$Genesis 1:1
    <w lemma="strong:H0430">In</w> <w lemma="strong:H0853">the</w> <w>beginning</w>, <w>God</w><note placement="foot"><reference type="annotateRef">1:1 </reference>A note.</note> <w>created</w> &amp; made.
    $$$Genesis 1:2
    <title type="x-heading">A Heading</title><w>The</w> <w>earth</w>.
    $$$Tobit 1:1
    <w>Deuterocanon</w> verse.
    $$$Matthew 2:3
    <div type="x-p"/>When <w>Herod</w> heard it, he was troubled.
    """

    @Test func webVersesParseWithoutNotesOrTitles() {
        let verses = BibleTasks.parse(Self.imp)
        #expect(verses.map { "\($0.book) \($0.chapter):\($0.verse)" } == ["Genesis 1:1", "Genesis 1:2", "Tobit 1:1", "Matthew 2:3"])
        #expect(verses[0].text == "In the beginning, God created & made.")
        #expect(verses[1].text == "The earth.")
        #expect(verses[3].text == "When Herod heard it, he was troubled.")
        let genre = BibleTasks.genre(verses)
        #expect(genre.map(\.label) == ["law", "law", "gospels"])  // the deuterocanon is left out
        #expect(genre.map(\.group) == ["Genesis 1", "Genesis 1", "Matthew 2"])
        #expect(BibleTasks.testament(verses).map(\.label) == ["old", "old", "new"])
        #expect(BibleTasks.genres.count == 66 && Set(BibleTasks.genres.map(\.genre)).count == 10)
    }

    // MARK: - Caps, writing, reading

    @Test func capPerClassIsStableAndOrderIndependent() {
        let examples = (0..<100).map { TaskExample(text: "text \($0)", label: $0 % 4 == 0 ? "rare" : "common", group: "g\($0 / 2)") }
        let capped = TaskCatalog.capPerClass(examples, cap: 10)
        #expect(capped.filter { $0.label == "rare" }.count == 10 && capped.filter { $0.label == "common" }.count == 10)
        #expect(TaskCatalog.capPerClass(examples.reversed(), cap: 10) == capped)
        #expect(TaskCatalog.capPerClass(examples, cap: nil).count == 100)
    }

    @Test func preparedTaskFolderRoundTripsWithDisjointSplits() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let task = try TaskCatalog.task(named: "wic_wn")
        let examples = WordNetTasks.wordInContext(Self.synsets(lemmas: 200))
        let info = try TaskPreparer.write(task: task, examples: examples, to: dir.appendingPathComponent("wic_wn"),
                                          manifest: .init(builderVersion: 1, packages: ["wordnet-base": "1"]))
        #expect(info.labels == ["false", "true"] && info.positiveClass == 1 && info.metric == .accuracy)
        let loaded = try TaskLoader.load(TaskLoader.folder(of: "wic_wn", in: dir))
        #expect(loaded.info == info)
        let all = TaskSplit.allCases.flatMap { loaded.examples($0) }
        #expect(Set(all.map(\.text)) == Set(examples.map(\.text)) && all.count == examples.count)
        var groups = [TaskSplit: Set<String>]()
        for split in TaskSplit.allCases {
            groups[split] = Set(loaded.examples(split).map(\.group))
            #expect(loaded.examples(split).allSatisfy { TaskSplitRule.split(group: $0.group) == split })
        }
        #expect(groups[.train]!.isDisjoint(with: groups[.dev]!) && groups[.train]!.isDisjoint(with: groups[.test]!)
                && groups[.dev]!.isDisjoint(with: groups[.test]!))
        #expect(!groups[.test]!.isEmpty && !groups[.dev]!.isEmpty)
        #expect(TaskLoader.available(in: dir) == ["wic_wn"])
    }

    @Test func unknownTaskAndMissingFolderSayWhatToDo() throws {
        #expect(throws: TaskError.self) { try TaskCatalog.task(named: "nope") }
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            _ = try TaskLoader.folder(of: "wic_wn", in: dir)
            Issue.record("expected an error")
        } catch let error as TaskError {
            #expect(error.description.contains("ntng data prepare --tasks"))
        }
        let message = TaskError.missingPackages(tasks: ["wic_wn"], packages: ["wordnet-base"]).description
        #expect(message.contains("apt-get install --no-install-recommends wordnet-base"))
        #expect(TaskCatalog.installCommand().contains("sword-text-web") && TaskCatalog.installCommand().contains("dict-gcide"))
    }

    // MARK: - GLUE and SuperGLUE files

    func write(_ text: String, _ path: String, in dir: URL) throws {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    @Test func glueTSVFilesLoad() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write("gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n", "CoLA/train.tsv", in: dir)
        try write("gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n", "CoLA/dev.tsv", in: dir)
        try write("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said hi.\tHe greeted us.\n0\t3\t4\tIt rained.\tThe sun shone.\n", "MRPC/train.tsv", in: dir)
        try write("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t5\t6\tA cat.\tA feline.\n", "MRPC/dev.tsv", in: dir)
        try write("sentence\tlabel\na gorgeous film \t1\nbroken\tstray\tline\n", "SST-2/train.tsv", in: dir)
        try write("sentence\tlabel\ndull \t0\n", "SST-2/dev.tsv", in: dir)
        let mnliHeader = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
        try write(mnliHeader + "0\t1\t1\tgov\t(\t(\t(\t(\tA man eats.\tSomeone eats.\tentailment\tentailment\n", "MNLI/train.tsv", in: dir)
        try write(mnliHeader + "0\t1\t1\tgov\t(\t(\t(\t(\tA dog runs.\tNo dog runs.\tcontradiction\tcontradiction\n", "MNLI/dev_matched.tsv", in: dir)
        try write("index\tquestion\tsentence\tlabel\n0\tWho?\tHim.\tentailment\n", "QNLI/train.tsv", in: dir)
        try write("index\tquestion\tsentence\tlabel\n0\tWhat?\tThat.\tnot_entailment\n", "QNLI/dev.tsv", in: dir)
        #expect(TaskLoader.available(in: dir) == ["CoLA", "MNLI", "MRPC", "QNLI", "SST-2"])

        let cola = try TaskLoader.load(TaskLoader.folder(of: "cola", in: dir))
        #expect(cola.info.name == "cola" && cola.info.metric == .mcc && cola.info.kind == .single && cola.info.labels == ["0", "1"])
        #expect(cola.examples(.train).map(\.label) == ["1", "0"] && cola.examples(.train)[1].text == "They drank the pub.")
        let mrpc = try TaskLoader.load(TaskLoader.folder(of: "mrpc", in: dir))
        #expect(mrpc.info.metric == .f1 && mrpc.info.kind == .pair && mrpc.info.positiveClass == 1)
        #expect(mrpc.examples(.train)[0] == TaskExample(text: "He said hi.", textB: "He greeted us.", label: "1", group: "2"))
        let sst = try TaskLoader.load(TaskLoader.folder(of: "sst-2", in: dir))
        #expect(sst.info.kind == .single && sst.examples(.train).count == 1)  // the malformed line is skipped
        let mnli = try TaskLoader.load(TaskLoader.folder(of: "MNLI", in: dir))
        #expect(mnli.info.labels == ["contradiction", "entailment"] && mnli.examples(.dev)[0].textB == "No dog runs.")
        let qnli = try TaskLoader.load(TaskLoader.folder(of: "qnli", in: dir))
        #expect(qnli.examples(.train)[0].text == "Who?" && qnli.examples(.train)[0].textB == "Him.")
    }

    @Test func superGLUEJSONLFilesLoad() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(#"{"question": "is it wet", "passage": "Water is wet.", "idx": 0, "label": true}"# + "\n"
                  + #"{"question": "is fire cold", "passage": "Fire is hot.", "idx": 1, "label": false}"# + "\n", "BoolQ/train.jsonl", in: dir)
        try write(#"{"question": "is ice cold", "passage": "Ice is cold.", "idx": 0, "label": true}"# + "\n", "BoolQ/val.jsonl", in: dir)
        try write(#"{"word": "bank", "sentence1": "The bank closed.", "sentence2": "The river bank.", "idx": 0, "label": false, "start1": 4, "end1": 8}"# + "\n", "WiC/train.jsonl", in: dir)
        try write(#"{"word": "run", "sentence1": "I run.", "sentence2": "They run.", "idx": 0, "label": true}"# + "\n", "WiC/val.jsonl", in: dir)
        try write(#"{"premise": "A man sleeps.", "hypothesis": "A man is awake.", "label": "contradiction", "idx": 0}"# + "\n", "CB/train.jsonl", in: dir)
        try write(#"{"premise": "A man sleeps.", "hypothesis": "A man rests.", "label": "entailment", "idx": 0}"# + "\n", "CB/val.jsonl", in: dir)
        try write(#"{"premise": "x", "choice1": "a", "choice2": "b", "question": "cause", "label": 0, "idx": 0}"# + "\n", "COPA/train.jsonl", in: dir)

        let boolq = try TaskLoader.load(TaskLoader.folder(of: "boolq", in: dir))
        #expect(boolq.info.labels == ["false", "true"] && boolq.info.positiveClass == 1 && boolq.info.source == "superglue")
        #expect(boolq.examples(.train)[0] == TaskExample(text: "is it wet", textB: "Water is wet.", label: "true", group: "0"))
        #expect(boolq.examples(.dev).count == 1)
        let wic = try TaskLoader.load(TaskLoader.folder(of: "wic", in: dir))
        #expect(wic.examples(.train)[0].text == "bank: The bank closed." && wic.examples(.train)[0].textB == "The river bank.")
        let cb = try TaskLoader.load(TaskLoader.folder(of: "cb", in: dir))
        #expect(cb.info.labels == ["contradiction", "entailment"] && cb.info.metric == .accuracy)
        #expect(throws: TaskError.self) { try TaskLoader.load(TaskLoader.folder(of: "copa", in: dir)) }
    }
}
