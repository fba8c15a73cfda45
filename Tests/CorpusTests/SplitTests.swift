import Testing
@testable import Corpus

@Suite struct SplitTests {
    @Test func fnvMatchesPublishedValues() {
        // Reference values of 64-bit FNV-1a (offset basis for "", and the published value for "a").
        #expect(FNV1a64.hash("") == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a64.hash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(FNV1a64.hash("foobar") == 0x8594_4171_f739_67e8)
    }

    @Test func splitKeyAndAssignmentArePinned() {
        // Pinned so that any change to the key format or hash (which would silently move text
        // between train and validation) fails here. Values computed independently (Python).
        #expect(SplitRule.key(source: "kjv", documentId: "Genesis 1", piece: 0) == "kjv/Genesis 1#0")
        #expect(FNV1a64.hash("kjv/Genesis 1#0") == 0x28a3_09b3_f6dc_e7b7)
        #expect(FNV1a64.hash("books/doc#0") == 0xf6c2_b05e_115d_88cf)
        #expect(SplitRule.standard.split(source: "kjv", documentId: "Genesis 1", piece: 0) == .train)  // 711 ≥ 10
        let rule = SplitRule.standard
        let assignments = (0..<20000).map { rule.split(source: "s", documentId: "d\($0)", piece: 0) }
        let validation = assignments.filter { $0 == .validation }.count
        #expect(validation > 120 && validation < 280, "about 1 % of 20000 pieces, got \(validation)")
    }

    @Test func piecesCutOnParagraphBoundariesNearTarget() {
        let rule = SplitRule(pieceWords: 1000, validationPerMille: 10)
        let counts = Array(repeating: 300, count: 10)  // 3000 words
        let pieces = rule.pieces(paragraphWordCounts: counts)
        #expect(pieces == [0..<4, 4..<8, 8..<10])
        #expect(rule.pieces(paragraphWordCounts: []) == [])
    }

    @Test func splitIsDisjointCompleteAndStable() {
        let rule = SplitRule(pieceWords: 50, validationPerMille: 200)  // 20 % so both splits are hit
        var rng = CorpusRandom(state: 7)
        var documents = [TextDocument]()
        for d in 0..<200 {
            let paragraphs = (0..<(1 + rng.next(below: 12))).map { _ in Fixtures.paragraph(&rng, sentences: 2) }
            documents.append(TextDocument(id: "doc\(d)", paragraphs: paragraphs))
        }
        var trainWords = 0, validationWords = 0
        var trainParagraphs = Set<String>(), validationParagraphs = Set<String>()
        for document in documents {
            let parts = rule.assign(source: "fixture", document: document)
            #expect(parts.map(\.words).reduce(0, +) == document.wordCount)
            // Runs alternate: consecutive parts never share a split.
            for k in 1..<max(1, parts.count) { #expect(parts[k].split != parts[k - 1].split) }
            for part in parts {
                let ps = part.text.split(separator: "\n").map(String.init)
                if part.split == .train { trainWords += part.words; trainParagraphs.formUnion(ps) }
                else { validationWords += part.words; validationParagraphs.formUnion(ps) }
            }
            let again = rule.assign(source: "fixture", document: document)
            #expect(again.map(\.split) == parts.map(\.split))
            #expect(again.map(\.text) == parts.map(\.text))
        }
        #expect(trainWords > 0 && validationWords > 0)
        #expect(trainParagraphs.isDisjoint(with: validationParagraphs))
        #expect(trainWords + validationWords == documents.reduce(0) { $0 + $1.wordCount })
    }
}
