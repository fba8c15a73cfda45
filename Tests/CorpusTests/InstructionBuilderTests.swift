import Testing
@testable import Tasks

/// The Debian instruction tasks' builders on hand-written sources, and how a task is assembled.
@Suite struct InstructionBuilderTests {
    static let synsets = [
        WordNetSynset(pos: "n", lexfile: 5, lemmas: ["dog", "domestic dog"], definition: "a domesticated canid", examples: [],
                      id: "n1", hypernyms: ["n2"]),
        WordNetSynset(pos: "n", lexfile: 5, lemmas: ["canine", "canid"], definition: "a carnivorous mammal", examples: [], id: "n2"),
        WordNetSynset(pos: "n", lexfile: 18, lemmas: ["dog"], definition: "a dull unattractive person", examples: [],
                      id: "n3", hypernyms: ["n4", "n9"]),
        WordNetSynset(pos: "n", lexfile: 18, lemmas: ["unpleasant person"], definition: "a person who is not pleasant", examples: [], id: "n4"),
        WordNetSynset(pos: "v", lexfile: 38, lemmas: ["dog"], definition: "go after with the intent to catch", examples: [], id: "v5"),
    ]

    @Test func wordNetTasksCollectEveryAcceptableAnswer() {
        let define = InstructionBuilders.define(Self.synsets)
        #expect(define.first == InstructionDraft(input: "dog (noun)", outputs: ["a domesticated canid", "a dull unattractive person"], group: "dog"))
        #expect(define.contains(InstructionDraft(input: "dog (verb)", outputs: ["go after with the intent to catch"], group: "dog")))
        let synonym = InstructionBuilders.synonym(Self.synsets)
        #expect(synonym.map(\.input) == ["dog", "domestic dog", "canine", "canid"])
        #expect(synonym[0].outputs == ["domestic dog"])
        // Both senses' parents; a pointer to a synset that does not exist (n9) is ignored.
        let hypernym = InstructionBuilders.hypernym(Self.synsets)
        #expect(hypernym.first == InstructionDraft(input: "dog", outputs: ["canine", "canid", "unpleasant person"], group: "dog"))
        #expect(!hypernym.contains { $0.input == "canine" })
    }

    @Test func attributionsAreNamesNotDialogue() {
        #expect(InstructionBuilders.splitAttribution("Too clever is dumb. -- Ogden Nash")! == ("Too clever is dumb.", "Ogden Nash"))
        #expect(InstructionBuilders.name(in: "Joan Didion, \"Slouching Towards Bethlehem\"") == "Joan Didion")
        #expect(InstructionBuilders.name(in: "Larry Wall in <1997@wall.org>") == "Larry Wall")
        #expect(InstructionBuilders.name(in: "J. R. R. Tolkien") == "J. R. R. Tolkien")
        #expect(InstructionBuilders.name(in: "Ludwig van Beethoven") == "Ludwig van Beethoven")
        #expect(InstructionBuilders.splitAttribution("Everybody should believe in something. -- I believe I'll have another drink.") == nil)
        #expect(InstructionBuilders.splitAttribution("Too short -- Someone") == nil)
        let drafts = InstructionBuilders.attribution(["a": ["Too clever is dumb. -- Ogden Nash, \"Verses\""],
                                                      "b": ["Too clever is dumb. -- Ogden Nash"]])
        #expect(drafts == [InstructionDraft(input: "Too clever is dumb.", outputs: ["Ogden Nash", "Ogden Nash, \"Verses\""], group: "ogden nash")])
    }

    @Test func bibleTasksNameTheBookOrTheChapter() {
        let verses = [BibleVerse(book: "John", chapter: 3, verse: 16, text: "For God so loved the world, that he gave"),
                      BibleVerse(book: "Tobit", chapter: 1, verse: 1, text: "The book of the words of Tobit, son of"),
                      BibleVerse(book: "John", chapter: 11, verse: 35, text: "Jesus wept.")]
        #expect(InstructionBuilders.book(verses) == [InstructionDraft(input: verses[0].text, outputs: ["John"], group: "John 3")])
        #expect(InstructionBuilders.reference(verses).map(\.outputs) == [["John 3"]])
    }

    /// Two positive examples of different groups, never among the instances with their groups;
    /// the same choice whatever the input order.
    @Test func assemblyKeepsExamplesOutOfTheInstances() throws {
        let drafts = (0..<60).map { InstructionDraft(input: "input \($0)", outputs: ["out \($0)", "alt"], group: "g\($0 % 20)") }
        let spec = InstructionCatalog.tasks[0]
        let task = try InstructionPreparer.assemble(spec, drafts: drafts, stored: 30)
        #expect(task.positiveExamples.count == 2 && task.instances.count == 30)
        let exampleGroups = task.positiveExamples.map { e in drafts.first { $0.input == e.input }!.group }
        #expect(Set(exampleGroups).count == 2)
        #expect(!task.instances.contains { i in exampleGroups.contains(drafts.first { $0.input == i.input }!.group) })
        #expect(task.instances[0].outputs.count == 2 && task.definition == [spec.definition])
        #expect(try InstructionPreparer.assemble(spec, drafts: drafts.reversed(), stored: 30) == task)
        #expect(throws: TaskError.self) { _ = try InstructionPreparer.assemble(spec, drafts: Array(drafts.prefix(1))) }
    }

    /// About a fifth of the group keys go to the test tasks, and a key goes one way only.
    @Test func testTasksShareNoGroupWithTrainingTasks() {
        let keys = (0..<2000).map { "lemma\($0)" }
        let held = keys.filter { InstructionCatalog.isHeldOut(group: $0) }.count
        #expect(held > 300 && held < 500)
        #expect(InstructionCatalog.isHeldOut(group: "John 3") == InstructionCatalog.isHeldOut(group: "john 3"))
        #expect(Set(InstructionCatalog.tasks.filter(\.isTestTask).map(\.name)) == ["wn_hypernym", "bible_reference", "fortune_attribution"])
    }
}
