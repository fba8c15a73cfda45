import Testing
@testable import Corpus

/// Span corruption against T5's reference arithmetic and on examples: lengths as
/// random_spans_helper computes them, the exact noise count and span count of every example,
/// the input/target layout, and that inputs and targets together give back the raw text.
@Suite struct SpanCorruptionTests {
    @Test func lengthsAreT5s() {
        // T5 / nanoT5: 568 raw tokens → 512 inputs and 114 targets.
        #expect(SpanCorruption.lengths(inputLength: 512) == (568, 114))
        #expect(SpanCorruption.lengths(inputLength: 64) == (70, 14))
        #expect(SpanCorruption.lengths(inputLength: 16) == (17, 5))
        #expect(SpanCorruption.lengths(inputLength: 128) == (141, 29))
    }

    @Test func layoutOnAnExample() throws {
        let c = try SpanCorruption(inputLength: 64, tokenizerVocabulary: 1000, sentinels: 100, seed: 7)
        #expect(c.rawLength == 70 && c.targetLength == 14 && c.noiseTokens == 10 && c.spans == 3)
        let raw = (0..<70).map { Int32(10 + $0) }
        var inputs = [Int32](repeating: -1, count: 64), targets = [Int32](repeating: -1, count: 14)
        raw.withUnsafeBufferPointer { r in
            inputs.withUnsafeMutableBufferPointer { i in
                targets.withUnsafeMutableBufferPointer { t in c.apply(raw: r.baseAddress!, exampleId: 3, inputs: i.baseAddress!, targets: t.baseAddress!) }
            }
        }
        #expect(inputs.last == SpecialTokens.sep && targets.last == SpecialTokens.sep)
        // <extra_id_0> is the highest id, and sentinels appear in order in both sequences.
        #expect(inputs.filter { $0 >= 1000 } == [1099, 1098, 1097] && targets.filter { $0 >= 1000 } == [1099, 1098, 1097])
        #expect(targets.first == 1099)
        // Each sentinel in the input stands for the span that follows it in the targets.
        var rebuilt: [Int32] = []
        for token in inputs.dropLast() {
            if token >= 1000 {
                let start = targets.firstIndex(of: token)! + 1
                rebuilt += targets[start...].prefix { $0 < 1000 && $0 != SpecialTokens.sep }
            } else {
                rebuilt.append(token)
            }
        }
        #expect(rebuilt == raw)
        let mask = c.noiseMask(exampleId: 3)
        #expect(mask.count == 70 && !mask[0] && mask[69])  // starts with kept text, ends with noise
    }

    @Test func everyExampleHasTheNoiseAndSpansOfItsLengthAndTheMaskIsAPureFunction() throws {
        let c = try SpanCorruption(inputLength: 64, tokenizerVocabulary: 1000, sentinels: 100, seed: 11)
        var spanLengths: [Int: Int] = [:], noiseAt = [Int](repeating: 0, count: c.rawLength)
        let examples = 2000
        for id in 0..<UInt64(examples) {
            let mask = c.noiseMask(exampleId: id)
            #expect(mask == c.noiseMask(exampleId: id))
            #expect(mask.filter { $0 }.count == c.noiseTokens)
            var run = 0, spans = 0
            for (p, noisy) in mask.enumerated() {
                if noisy { noiseAt[p] += 1; run += 1 }
                if !noisy || p == mask.count - 1, run > 0 { spanLengths[run, default: 0] += 1; spans += 1; run = 0 }
            }
            #expect(spans == c.spans)
        }
        #expect(c.noiseMask(exampleId: 1) != c.noiseMask(exampleId: 2))
        #expect(try SpanCorruption(inputLength: 64, tokenizerVocabulary: 1000, sentinels: 100, seed: 12).noiseMask(exampleId: 1) != c.noiseMask(exampleId: 1))
        // Noise density 10/70 and mean span 10/3 by construction; span lengths vary (1 … 8).
        let total = spanLengths.reduce(0) { $0 + $1.key * $1.value }, count = spanLengths.values.reduce(0, +)
        #expect(abs(Double(total) / Double(count) - 10.0 / 3.0) < 1e-9)
        #expect(spanLengths.keys.min() == 1 && spanLengths.keys.max()! >= 7)
        // Away from the ends (the text starts kept and ends in noise, as in T5's algorithm), noise
        // falls evenly along the sequence: 0.09–0.12 per position measured, for 10/70 overall.
        for p in 5..<(c.rawLength - 8) {
            let fraction = Double(noiseAt[p]) / Double(examples)
            #expect(fraction > 0.07 && fraction < 0.16, "position \(p): noise fraction \(fraction)")
        }
    }

    @Test func tooFewSentinelsIsAClearError() {
        #expect(throws: CorpusError.self) { try SpanCorruption(inputLength: 512, tokenizerVocabulary: 1000, sentinels: 4, seed: 1) }
    }
}
