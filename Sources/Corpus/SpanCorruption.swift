/// T5's span-corruption objective (Raffel et al. 2020, §3.1.4; nanoT5's `DataCollatorForT5MLM`):
/// about 15 % of a raw sequence's tokens, in spans of mean length 3, are dropped from the
/// encoder's input, each span replaced by one sentinel id; the targets list each span behind its
/// sentinel. Both end with EOS. Sentinel `k` of a sequence is `<extra_id_k>`, the id
/// `tokenizerVocabulary + sentinels − 1 − k` (the highest ids, as in T5), and ntng's EOS is
/// [SEP], since its tokenizers have no EOS piece.
///
/// The noise mask is `random_spans_noise_mask`'s: the noise and the kept tokens are each cut
/// into `spans` segments at uniformly chosen points, and the sequence alternates kept, noise,
/// kept, noise, …, ending with noise. It is drawn from a generator seeded by (seed, example id),
/// so every method sees the same corruption of the same example.
public struct SpanCorruption: Sendable, Equatable {
    public static let noiseDensity = 0.15
    public static let meanSpanLength = 3.0

    /// Encoder tokens per example (the model's sequence length).
    public let inputLength: Int
    /// Raw tokens each example is made from.
    public let rawLength: Int
    /// Decoder tokens per example.
    public let targetLength: Int
    /// Noise tokens and noise spans of every example (fixed by `rawLength`).
    public let noiseTokens: Int
    public let spans: Int
    public let tokenizerVocabulary: Int
    public let sentinels: Int
    public let seed: UInt64

    /// The corruption that turns `lengths(inputLength:).raw` raw tokens into exactly
    /// `inputLength` input and `lengths(inputLength:).target` target ids.
    public init(inputLength: Int, tokenizerVocabulary: Int, sentinels: Int, seed: UInt64) throws {
        guard inputLength >= 4 else { throw CorpusError.invalidParameter("The span-corruption input length must be at least 4 (got \(inputLength)).") }
        let (raw, target) = Self.lengths(inputLength: inputLength)
        let noise = min(max(Self.pythonRound(Double(raw) * Self.noiseDensity), 1), raw - 1)
        let spans = max(Self.pythonRound(Double(min(noise, raw - noise)) / Self.meanSpanLength), 1)
        guard spans <= sentinels else {
            throw CorpusError.invalidParameter("Span corruption of \(inputLength) input tokens makes \(spans) spans, but the model has \(sentinels) sentinel ids; raise the sentinels or shorten the input.")
        }
        guard raw - noise + spans + 1 == inputLength, noise + spans + 1 == target else {
            throw CorpusError.invalidParameter("Span corruption of \(raw) raw tokens does not give \(inputLength) inputs and \(target) targets.")
        }
        self.inputLength = inputLength
        rawLength = raw
        targetLength = target
        noiseTokens = noise
        self.spans = spans
        self.tokenizerVocabulary = tokenizerVocabulary
        self.sentinels = sentinels
        self.seed = seed
    }

    /// T5's `random_spans_helper`: the most raw tokens whose corruption fits `inputLength`
    /// (kept tokens + one sentinel per span + EOS), and the target length it gives.
    public static func lengths(inputLength: Int, noiseDensity: Double = noiseDensity, meanSpanLength: Double = meanSpanLength) -> (raw: Int, target: Int) {
        func corrupted(_ raw: Int) -> (inputs: Int, targets: Int) {
            let noise = pythonRound(Double(raw) * noiseDensity)
            let spans = pythonRound(Double(noise) / meanSpanLength)
            return (raw - noise + spans + 1, noise + spans + 1)
        }
        var raw = inputLength
        while corrupted(raw + 1).inputs <= inputLength { raw += 1 }
        return (raw, corrupted(raw).targets)
    }

    /// Python's `round`, half to even, as the reference code rounds.
    static func pythonRound(_ x: Double) -> Int { Int(x.rounded(.toNearestOrEven)) }

    /// `<extra_id_k>`.
    public func sentinel(_ k: Int) -> Int32 { Int32(tokenizerVocabulary + sentinels - 1 - k) }

    /// Which of the example's `rawLength` positions are noise.
    public func noiseMask(exampleId: UInt64) -> [Bool] {
        var rng = CorpusRandom(seed: seed, key: exampleId ^ 0x5350_414E)  // "SPAN"
        let noiseLengths = Self.segment(noiseTokens, into: spans, &rng)
        let keptLengths = Self.segment(rawLength - noiseTokens, into: spans, &rng)
        var mask: [Bool] = []
        mask.reserveCapacity(rawLength)
        for k in 0..<spans {
            mask += repeatElement(false, count: keptLengths[k])
            mask += repeatElement(true, count: noiseLengths[k])
        }
        return mask
    }

    /// `items` cut into `segments` non-empty runs at uniformly chosen cut points (a uniformly
    /// random composition): `_random_segmentation` of the reference code.
    static func segment(_ items: Int, into segments: Int, _ rng: inout CorpusRandom) -> [Int] {
        // Choose segments − 1 of the items − 1 gaps by a partial Fisher–Yates shuffle.
        var gaps = Array(1..<max(items, 1))
        for i in 0..<(segments - 1) {
            let j = i + rng.next(below: gaps.count - i)
            gaps.swapAt(i, j)
        }
        let cuts = [0] + gaps.prefix(segments - 1).sorted() + [items]
        return (0..<segments).map { cuts[$0 + 1] - cuts[$0] }
    }

    /// Corrupts the raw tokens `raw` (`rawLength`) of example `exampleId` into `inputs`
    /// (`inputLength`) and `targets` (`targetLength`).
    public func apply(raw: UnsafePointer<Int32>, exampleId: UInt64, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        let mask = noiseMask(exampleId: exampleId)
        var i = 0, t = 0, span = -1
        for p in 0..<rawLength {
            if mask[p] {
                if p == 0 || !mask[p - 1] {
                    span += 1
                    inputs[i] = sentinel(span); i += 1
                    targets[t] = sentinel(span); t += 1
                }
                targets[t] = raw[p]; t += 1
            } else {
                inputs[i] = raw[p]; i += 1
            }
        }
        inputs[i] = SpecialTokens.sep
        targets[t] = SpecialTokens.sep
        precondition(i + 1 == inputLength && t + 1 == targetLength, "span corruption produced \(i + 1) inputs and \(t + 1) targets")
    }
}
