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
}
