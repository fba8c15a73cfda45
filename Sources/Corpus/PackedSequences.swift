/// A split's token stream packed into fixed-length sequences.
///
/// The stream is the split's documents joined by [SEP]. Sequence `k` is
/// `[CLS] stream[k·(S−2) ..< (k+1)·(S−2)] [SEP]`; only the last sequence can be short, and it is
/// padded with [PAD] at the end. `k` is the sequence's stable example id for this split and S.
public struct PackedSequences: Sendable {
    public let split: TokenSplit
    public let sequenceLength: Int
    /// Number of sequences (example ids are 0 ..< count).
    public let count: Int
    /// Stream length: tokens plus one [SEP] between consecutive documents.
    public let streamLength: Int

    public init(split: TokenSplit, sequenceLength: Int) throws {
        guard sequenceLength >= 4 else { throw CorpusError.invalidParameter("The sequence length must be at least 4 (got \(sequenceLength)).") }
        self.split = split
        self.sequenceLength = sequenceLength
        streamLength = split.tokenCount + max(0, split.documentCount - 1)
        let body = sequenceLength - 2
        count = (streamLength + body - 1) / body
    }

    /// Writes sequence `id` into `destination` (S ids) and returns its length before padding.
    @discardableResult
    public func fill(_ id: Int, into destination: UnsafeMutablePointer<Int32>) -> Int {
        precondition(id >= 0 && id < count, "sequence id \(id) out of range 0..<\(count)")
        let body = sequenceLength - 2
        var q = id * body
        let end = min(q + body, streamLength)
        destination[0] = SpecialTokens.cls
        var position = 1
        let offsets = split.offsetPointer
        // Document d occupies stream positions [offsets[d] + d, offsets[d+1] + d), then a [SEP].
        var lo = 0, hi = split.documentCount - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if Int(offsets[mid]) + mid <= q { lo = mid } else { hi = mid - 1 }
        }
        var d = lo
        while q < end {
            let docStart = Int(offsets[d]) + d
            let docEnd = Int(offsets[d + 1]) + d
            if q < docEnd {
                let n = min(end, docEnd) - q
                split.copyTokens(from: Int(offsets[d]) + (q - docStart), count: n, to: destination + position)
                position += n
                q += n
            } else {
                destination[position] = SpecialTokens.sep
                position += 1
                q += 1
                d += 1
            }
        }
        destination[position] = SpecialTokens.sep
        position += 1
        let length = position
        while position < sequenceLength {
            destination[position] = SpecialTokens.pad
            position += 1
        }
        return length
    }

    /// Sequence `id` as an array (convenience; the hot path uses `fill`).
    public func sequence(_ id: Int) -> (tokens: [Int32], length: Int) {
        var tokens = [Int32](repeating: 0, count: sequenceLength)
        let length = tokens.withUnsafeMutableBufferPointer { fill(id, into: $0.baseAddress!) }
        return (tokens, length)
    }
}
