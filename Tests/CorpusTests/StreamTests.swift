import Testing
@testable import Corpus

@Suite struct StreamTests {
    @Test func streamIsDeterministicPerSeedAndDiffersAcrossSeeds() throws {
        let a = try ExampleStream(exampleCount: 1000, batchSize: 16, seed: 42)
        let b = try ExampleStream(exampleCount: 1000, batchSize: 16, seed: 42)
        let c = try ExampleStream(exampleCount: 1000, batchSize: 16, seed: 43)
        let batchesA = (0..<a.batchesPerEpoch).map { a.exampleIds(forBatch: $0) }
        #expect(batchesA == (0..<b.batchesPerEpoch).map { b.exampleIds(forBatch: $0) })
        #expect(batchesA != (0..<c.batchesPerEpoch).map { c.exampleIds(forBatch: $0) })
        // Not the identity order.
        #expect(batchesA[0] != Array(0..<16).map(UInt64.init))
    }

    @Test func streamNeverRepeatsWithinAnEpoch() throws {
        let s = try ExampleStream(exampleCount: 1003, batchSize: 10, seed: 7)
        #expect(s.batchesPerEpoch == 100)  // the incomplete last batch is dropped
        var seen = Set<UInt64>()
        for i in 0..<s.batchesPerEpoch {
            for id in s.exampleIds(forBatch: i) {
                #expect(id < 1003)
                #expect(seen.insert(id).inserted, "example \(id) repeated")
            }
        }
        #expect(seen.count == 1000)
    }

    @Test func epochOverflowIsDetectedWithAdvice() throws {
        let s = try ExampleStream(exampleCount: 640, batchSize: 64, seed: 1)
        #expect(throws: Never.self) { try s.requireBatches(10, sequenceLength: 128) }
        do {
            try s.requireBatches(11, sequenceLength: 128)
            Issue.record("11 batches of 64 from 640 examples must be refused")
        } catch let error as CorpusError {
            #expect(error == .epochExceeded(requestedBatches: 11, batchesPerEpoch: 10, batchSize: 64, sequenceLength: 128, trainingSequences: 640))
            #expect(error.description.contains("larger corpus"))
            #expect(error.description.contains("smaller budget"))
        }
        #expect(throws: CorpusError.self) { try ExampleStream(exampleCount: 10, batchSize: 0, seed: 1) }
    }

    @Test func aMultiEpochStreamStartsWithTheOneEpochStreamAndReshufflesEachEpoch() throws {
        let one = try ExampleStream(exampleCount: 1003, batchSize: 10, seed: 7, part: .training)
        let three = try ExampleStream(exampleCount: 1003, batchSize: 10, seed: 7, part: .training, epochs: 3)
        let perEpoch = one.batchesPerEpoch
        #expect(three.batchesAvailable == 3 * perEpoch && three.batchesPerEpoch == perEpoch)
        let epochs = (0..<3).map { e in (0..<perEpoch).flatMap { three.exampleIds(forBatch: e * perEpoch + $0) } }
        // Epoch 0 is the one-epoch stream, bit for bit (runs without repeats are unchanged).
        #expect(epochs[0] == (0..<perEpoch).flatMap { one.exampleIds(forBatch: $0) })
        // Every epoch is a repeat-free draw of the same examples, in its own order.
        let all = Set(one.exampleIds(positions: 0..<one.count))
        for e in 0..<3 { #expect(Set(epochs[e]).count == epochs[e].count && Set(epochs[e]).isSubset(of: all)) }
        #expect(epochs[1] != epochs[0] && epochs[2] != epochs[1])
        #expect(three.exampleIds(positions: 0..<three.positionCount) == epochs.flatMap { $0 })
        // A pure function of (seed, epoch).
        let again = try ExampleStream(exampleCount: 1003, batchSize: 10, seed: 7, part: .training, epochs: 2)
        #expect((0..<perEpoch).flatMap { again.exampleIds(forBatch: perEpoch + $0) } == epochs[1])

        // Beyond the allowed epochs the run is refused, with the setting that allows more.
        #expect(throws: Never.self) { try three.requireBatches(3 * perEpoch, sequenceLength: 128) }
        do {
            try one.requireBatches(perEpoch + 1, sequenceLength: 128)
            Issue.record("a second epoch must be refused by default")
        } catch let error as CorpusError {
            #expect(error.description.contains("--set epochs=2"), "\(error)")
        }
        do {
            try three.requireBatches(3 * perEpoch + 1, sequenceLength: 128)
            Issue.record("a fourth epoch must be refused")
        } catch let error as CorpusError {
            #expect(error.description.contains("3 epochs") && error.description.contains("--set epochs=4"), "\(error)")
        }
        #expect(throws: CorpusError.self) { try ExampleStream(exampleCount: 10, batchSize: 1, seed: 1, epochs: 0) }
    }
}
