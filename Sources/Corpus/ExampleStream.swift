/// The order in which training examples are seen: a seeded permutation of all example ids
/// (Fisher–Yates driven by SplitMix64), cut into batches. It is a pure function of
/// (seed, number of examples), never repeats an example within the epoch, and drops the final
/// incomplete batch.
public struct ExampleStream: Sendable {
    public let exampleCount: Int
    public let batchSize: Int
    public let seed: UInt64
    private let order: [UInt32]

    public init(exampleCount: Int, batchSize: Int, seed: UInt64) throws {
        guard batchSize >= 1 else { throw CorpusError.invalidParameter("The batch size must be at least 1 (got \(batchSize)).") }
        guard exampleCount >= 0, exampleCount <= Int(UInt32.max) else { throw CorpusError.invalidParameter("Too many examples: \(exampleCount).") }
        self.exampleCount = exampleCount
        self.batchSize = batchSize
        self.seed = seed
        var order = [UInt32](unsafeUninitializedCapacity: exampleCount) { buffer, initialized in
            for k in 0..<exampleCount { buffer[k] = UInt32(k) }
            initialized = exampleCount
        }
        var rng = CorpusRandom(seed: seed, key: 0x5354_5245_414D)  // "STREAM"
        order.withUnsafeMutableBufferPointer { o in
            var k = o.count - 1
            while k > 0 {
                let j = rng.next(below: k + 1)
                o.swapAt(k, j)
                k -= 1
            }
        }
        self.order = order
    }

    /// Whole batches in one epoch (one pass over the examples without repetition).
    public var batchesPerEpoch: Int { exampleCount / batchSize }

    /// Throws a message telling the user what to do when a run needs more than one epoch.
    public func requireBatches(_ batches: Int, sequenceLength: Int) throws {
        if batches > batchesPerEpoch {
            throw CorpusError.epochExceeded(requestedBatches: batches, batchesPerEpoch: batchesPerEpoch, batchSize: batchSize,
                                            sequenceLength: sequenceLength, trainingSequences: exampleCount)
        }
    }

    /// The example ids of batch `index` (0 ..< batchesPerEpoch).
    public func exampleIds(forBatch index: Int) -> [UInt64] {
        precondition(index >= 0 && index < batchesPerEpoch, "batch \(index) is outside the epoch (0..<\(batchesPerEpoch))")
        return order[(index * batchSize)..<((index + 1) * batchSize)].map { UInt64($0) }
    }

    /// Position-wise access without allocation (for the hot path).
    @inline(__always)
    func exampleId(batch: Int, slot: Int) -> Int { Int(order[batch * batchSize + slot]) }
}
