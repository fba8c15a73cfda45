/// BERT's masked-LM corruption as a pure function of (seed, example id).
///
/// Among the n maskable tokens of a sequence (everything except [PAD], [CLS], [SEP], [MASK]),
/// exactly `maskedCount(n)` = max(1, round-half-up(0.15·n)) positions are chosen uniformly
/// (partial Fisher–Yates); each chosen token becomes [MASK] with probability 8/10, a uniformly
/// random non-special id with 1/10, and stays unchanged with 1/10. The original ids are the labels.
public struct MLMMasking: Sendable {
    public let vocabSize: Int
    public let seed: UInt64

    public init(vocabSize: Int, seed: UInt64) {
        precondition(vocabSize > Int(SpecialTokens.count), "vocabulary must hold more than the special tokens")
        self.vocabSize = vocabSize
        self.seed = seed
    }

    /// Masked positions for n maskable tokens: max(1, round(0.15·n)), computed exactly in integers.
    @inline(__always)
    public static func maskedCount(maskable n: Int) -> Int { n <= 0 ? 0 : max(1, (15 * n + 50) / 100) }

    /// The most positions any sequence of length S can have masked; always ≤ ceil(0.2·S).
    public static func maxMaskedPositions(sequenceLength: Int) -> Int { maskedCount(maskable: sequenceLength - 2) }

    /// Masks `tokens[0..<count]` in place. Writes the chosen positions (ascending) and their
    /// original ids to `positions`/`labels` (room for `maxMaskedPositions` each) and returns how many.
    public func apply(tokens: UnsafeMutablePointer<Int32>, count: Int, exampleId: UInt64,
                      positions: UnsafeMutablePointer<Int32>, labels: UnsafeMutablePointer<Int32>) -> Int {
        var rng = CorpusRandom(seed: seed, key: exampleId)
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(1, count)) { candidates in
            var n = 0
            for k in 0..<count where !SpecialTokens.isStructural(tokens[k]) {
                candidates[n] = Int32(k)
                n += 1
            }
            let m = MLMMasking.maskedCount(maskable: n)
            // Partial Fisher–Yates: the first m slots become a uniform random subset.
            for k in 0..<m {
                let j = k + rng.next(below: n - k)
                candidates.swapAt(k, j)
            }
            // Ascending positions (insertion sort: m is at most ~0.15·S).
            for k in 1..<max(1, m) {
                let v = candidates[k]
                var j = k - 1
                while j >= 0 && candidates[j] > v { candidates[j + 1] = candidates[j]; j -= 1 }
                candidates[j + 1] = v
            }
            let ordinary = vocabSize - Int(SpecialTokens.count)
            for k in 0..<m {
                let p = Int(candidates[k])
                positions[k] = Int32(p)
                labels[k] = tokens[p]
                let r = rng.next(below: 10)
                if r < 8 {
                    tokens[p] = SpecialTokens.mask
                } else if r == 8 {
                    tokens[p] = SpecialTokens.count + Int32(rng.next(below: ordinary))
                }
            }
            return m
        }
    }
}
