/// The proxy (hold-out) split of the training sequences, for methods that train a second model
/// on data the target never sees (RHO-LOSS's irreducible-loss model, docs/methods/rho.md).
///
/// Training sequence `id` belongs to the proxy split iff `SplitMix64-finaliser(id ^ key) mod 100 <
/// percent`: a fixed, published function of the id alone, so the split is the same for every run,
/// seed, method and machine. Every run's training stream excludes the proxy split (so all methods
/// train on the same data, and RHO's target never sees the proxy's data); the proxy model trains
/// only on it.
public struct ProxySplit: Sendable, Codable, Equatable {
    /// Percent of the training sequences held out for the proxy model (0 ..< 100).
    public var percent: UInt64

    /// 20 %, as in the RHO-LOSS setup of the seed paper (docs/methods/rho.md).
    public static let standard = ProxySplit(percent: 20)
    /// No hold-out: every sequence is training data.
    public static let none = ProxySplit(percent: 0)

    /// Mixed into the id so the split is unrelated to the masking and stream generators.
    static let key: UInt64 = 0x50_524F_5859  // "PROXY"

    public init(percent: UInt64) {
        precondition(percent < 100, "the proxy split must leave training data")
        self.percent = percent
    }

    /// Whether training sequence `id` is held out for the proxy model.
    @inline(__always)
    public func isProxy(_ id: UInt64) -> Bool { percent > 0 && CorpusRandom.mix(id ^ ProxySplit.key) % 100 < percent }

    /// A short description for manifests and logs.
    public var rule: String { "splitmix64(id ^ 0x50524F5859) % 100 < \(percent), splitmix64(x) = finalizer(x + 0x9E3779B97F4A7C15)" }
}

/// Which training sequences a stream draws from.
public enum StreamPart: String, Sendable, Codable, CaseIterable {
    /// Every sequence (no hold-out).
    case all
    /// Sequences outside the proxy split: what every training run sees.
    case training
    /// Only the proxy split: what RHO's irreducible-loss model trains on.
    case proxy
}

/// The order in which training examples are seen: a seeded permutation of the stream's example
/// ids (Fisher–Yates driven by SplitMix64), cut into batches. It is a pure function of
/// (seed, number of examples, part, proxy split), never repeats an example within the epoch, and
/// drops the final incomplete batch.
///
/// A stream of several epochs (an explicit run setting, Appendix D.2's regime) follows epoch 0's
/// permutation with one fresh permutation per further epoch, a pure function of (seed, epoch);
/// epoch 0 is the one-epoch stream, unchanged.
public struct ExampleStream: Sendable {
    /// Sequences in the split (ids are 0 ..< exampleCount); the stream may draw from a part of them.
    public let exampleCount: Int
    public let batchSize: Int
    public let seed: UInt64
    /// Which ids the stream draws from, and the hold-out rule that defines them.
    public let part: StreamPart
    public let proxySplit: ProxySplit
    /// Passes over the examples the stream may make (1: never repeats an example).
    public let epochs: Int
    /// Sequences the stream draws from (all of the split, or one side of the proxy split).
    public let count: Int
    /// Positions of one epoch's whole batches.
    private let epochLength: Int
    /// Each epoch's permutation of the `count` ids, one after the other.
    private let order: [UInt32]

    /// A stream over the ids of `part` (default: every id, as before the proxy split existed).
    public init(exampleCount: Int, batchSize: Int, seed: UInt64, part: StreamPart = .all, proxySplit: ProxySplit = .standard,
                epochs: Int = 1) throws {
        guard batchSize >= 1 else { throw CorpusError.invalidParameter("The batch size must be at least 1 (got \(batchSize)).") }
        guard epochs >= 1, epochs <= 10_000 else { throw CorpusError.invalidParameter("The number of epochs must be in 1...10000 (got \(epochs)).") }
        self.epochs = epochs
        guard exampleCount >= 0, exampleCount <= Int(UInt32.max) else { throw CorpusError.invalidParameter("Too many examples: \(exampleCount).") }
        self.exampleCount = exampleCount
        self.batchSize = batchSize
        self.seed = seed
        self.part = part
        self.proxySplit = proxySplit
        var order: [UInt32]
        switch part {
        case .all:
            order = [UInt32](unsafeUninitializedCapacity: exampleCount) { buffer, initialized in
                for k in 0..<exampleCount { buffer[k] = UInt32(k) }
                initialized = exampleCount
            }
        case .training, .proxy:
            let wantProxy = part == .proxy
            order = []
            order.reserveCapacity(wantProxy ? exampleCount / 4 : exampleCount)
            for k in 0..<exampleCount where proxySplit.isProxy(UInt64(k)) == wantProxy { order.append(UInt32(k)) }
        }
        let ids = order
        count = ids.count
        epochLength = ids.count / batchSize * batchSize
        Self.shuffle(&order, CorpusRandom(seed: seed, key: 0x5354_5245_414D))  // "STREAM"
        order.reserveCapacity(ids.count * epochs)
        for epoch in 1 ..< epochs {
            var again = ids
            Self.shuffle(&again, CorpusRandom(seed: seed, key: 0x5354_5245_414D ^ (UInt64(epoch) << 48)))
            order += again
        }
        self.order = order
    }

    /// Fisher–Yates with `rng`.
    private static func shuffle(_ order: inout [UInt32], _ rng: CorpusRandom) {
        var rng = rng
        order.withUnsafeMutableBufferPointer { o in
            var k = o.count - 1
            while k > 0 {
                let j = rng.next(below: k + 1)
                o.swapAt(k, j)
                k -= 1
            }
        }
    }

    /// Whole batches in one epoch (one pass over the examples without repetition).
    public var batchesPerEpoch: Int { count / batchSize }

    /// Whole batches over all the stream's epochs.
    public var batchesAvailable: Int { batchesPerEpoch * epochs }

    /// Throws a message telling the user what to do when a run needs more than its epochs hold.
    public func requireBatches(_ batches: Int, sequenceLength: Int) throws {
        if batches > batchesAvailable {
            throw CorpusError.epochExceeded(requestedBatches: batches, batchesPerEpoch: batchesPerEpoch, batchSize: batchSize,
                                            sequenceLength: sequenceLength, trainingSequences: count, epochs: epochs)
        }
    }

    /// The example ids of batch `index` (0 ..< batchesAvailable).
    public func exampleIds(forBatch index: Int) -> [UInt64] {
        precondition(index >= 0 && index < batchesAvailable, "batch \(index) is outside the stream (0..<\(batchesAvailable))")
        return (0..<batchSize).map { UInt64(exampleId(batch: index, slot: $0)) }
    }

    /// Positions the stream holds: all of one epoch (its incomplete last batch included), or the
    /// whole batches of every epoch of a multi-epoch stream.
    public var positionCount: Int { epochs == 1 ? count : epochs * epochLength }

    /// The example ids at stream positions `range` (a prefix of the stream is what the first
    /// steps of a run draw, whatever their batch size).
    public func exampleIds(positions range: Range<Int>) -> [UInt64] {
        precondition(range.lowerBound >= 0 && range.upperBound <= positionCount, "positions \(range) are outside the stream (0..<\(positionCount))")
        return range.map { UInt64(id(atPosition: $0)) }
    }

    /// The id at a stream position; later epochs follow the first in whole batches.
    @inline(__always)
    private func id(atPosition p: Int) -> UInt32 {
        epochs == 1 ? order[p] : order[p / epochLength * count + p % epochLength]
    }

    /// Position-wise access without allocation (for the hot path).
    @inline(__always)
    func exampleId(batch: Int, slot: Int) -> Int { Int(id(atPosition: batch * batchSize + slot)) }
}
