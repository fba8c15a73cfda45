import Testing
@testable import Corpus

@Suite struct MaskingTests {
    /// A sequence [CLS] t… [SEP] t… [SEP] [PAD]… with ordinary ids from 5 ..< vocab.
    static func sequence(length: Int, used: Int, vocab: Int, seed: UInt64) -> [Int32] {
        var rng = CorpusRandom(seed: seed, key: 1)
        var t = [Int32](repeating: SpecialTokens.pad, count: length)
        t[0] = SpecialTokens.cls
        for k in 1..<(used - 1) { t[k] = SpecialTokens.count + Int32(rng.next(below: vocab - 5)) }
        t[used / 2] = SpecialTokens.sep
        t[used - 1] = SpecialTokens.sep
        return t
    }

    static func mask(_ tokens: [Int32], masking: MLMMasking, id: UInt64) -> (tokens: [Int32], positions: [Int32], labels: [Int32]) {
        var t = tokens
        let cap = MLMMasking.maxMaskedPositions(sequenceLength: tokens.count)
        var p = [Int32](repeating: -1, count: cap), l = [Int32](repeating: -1, count: cap)
        let m = t.withUnsafeMutableBufferPointer { tb in
            p.withUnsafeMutableBufferPointer { pb in
                l.withUnsafeMutableBufferPointer { lb in
                    masking.apply(tokens: tb.baseAddress!, count: tokens.count, exampleId: id, positions: pb.baseAddress!, labels: lb.baseAddress!)
                }
            }
        }
        return (t, Array(p.prefix(m)), Array(l.prefix(m)))
    }

    @Test func exactCountSpecialsUntouchedLabelsCorrect() {
        let vocab = 1000
        let masking = MLMMasking(vocabSize: vocab, seed: 5)
        for id in 0..<300 {
            let used = 6 + (id * 7) % 123
            let original = Self.sequence(length: 128, used: used, vocab: vocab, seed: UInt64(id))
            let maskable = original.filter { !SpecialTokens.isStructural($0) }.count
            let (masked, positions, labels) = Self.mask(original, masking: masking, id: UInt64(id))
            #expect(positions.count == MLMMasking.maskedCount(maskable: maskable))
            #expect(positions.count <= Int((0.2 * 128.0).rounded(.up)))
            #expect(positions == positions.sorted())
            #expect(Set(positions).count == positions.count)
            for (k, p) in positions.enumerated() {
                #expect(!SpecialTokens.isStructural(original[Int(p)]), "special token masked")
                #expect(labels[k] == original[Int(p)])
            }
            // Outside the chosen positions nothing changes; specials are untouched everywhere.
            for k in 0..<128 where !positions.contains(Int32(k)) { #expect(masked[k] == original[k]) }
            for k in 0..<128 where SpecialTokens.isStructural(original[k]) { #expect(masked[k] == original[k]) }
        }
    }

    @Test func countRuleIsRoundHalfUpOfFifteenPercent() {
        #expect(MLMMasking.maskedCount(maskable: 0) == 0)
        #expect(MLMMasking.maskedCount(maskable: 1) == 1)
        #expect(MLMMasking.maskedCount(maskable: 10) == 2)  // 1.5 rounds up
        #expect(MLMMasking.maskedCount(maskable: 20) == 3)
        #expect(MLMMasking.maskedCount(maskable: 126) == 19)  // 18.9
        for s in [8, 16, 64, 128, 256, 512] {
            #expect(MLMMasking.maxMaskedPositions(sequenceLength: s) <= Int((0.2 * Double(s)).rounded(.up)))
        }
    }

    @Test func eightyTenTenOverManySequences() {
        let vocab = 8192
        let masking = MLMMasking(vocabSize: vocab, seed: 11)
        var maskToken = 0, random = 0, kept = 0, total = 0
        for id in 0..<3000 {
            let original = Self.sequence(length: 128, used: 128, vocab: vocab, seed: UInt64(id) &+ 1000)
            let (masked, positions, _) = Self.mask(original, masking: masking, id: UInt64(id))
            for p in positions.map(Int.init) {
                total += 1
                if masked[p] == SpecialTokens.mask { maskToken += 1 }
                else if masked[p] == original[p] { kept += 1 }
                else {
                    random += 1
                    #expect(masked[p] >= SpecialTokens.count && Int(masked[p]) < vocab)
                }
            }
        }
        let f = { (n: Int) in Double(n) / Double(total) }
        #expect(abs(f(maskToken) - 0.8) < 0.015, "mask share \(f(maskToken))")
        // A random replacement equal to the original (p = 1/8187) counts as kept; negligible.
        #expect(abs(f(random) - 0.1) < 0.01, "random share \(f(random))")
        #expect(abs(f(kept) - 0.1) < 0.01, "kept share \(f(kept))")
    }

    @Test func maskingIsAPureFunctionOfSeedAndExampleId() {
        let original = Self.sequence(length: 128, used: 128, vocab: 500, seed: 3)
        let a = Self.mask(original, masking: MLMMasking(vocabSize: 500, seed: 9), id: 17)
        let b = Self.mask(original, masking: MLMMasking(vocabSize: 500, seed: 9), id: 17)
        let otherId = Self.mask(original, masking: MLMMasking(vocabSize: 500, seed: 9), id: 18)
        let otherSeed = Self.mask(original, masking: MLMMasking(vocabSize: 500, seed: 10), id: 17)
        #expect(a.tokens == b.tokens && a.positions == b.positions && a.labels == b.labels)
        #expect(a.positions != otherId.positions)
        #expect(a.positions != otherSeed.positions)
    }
}
