import Foundation
import Testing
@testable import Corpus

/// The proxy (hold-out) split for RHO-LOSS's irreducible-loss model: a fixed rule on the example
/// id that every run's training stream respects.
@Suite struct ProxySplitTests {
    /// The rule is a published function of the id alone. These ids were computed with an
    /// independent implementation (Python) of `splitmix64(id ^ 0x50524F5859) % 100 < 20`,
    /// where splitmix64(x) is one SplitMix64 output for state x: finalizer(x + 0x9E3779B97F4A7C15);
    /// if this changes, every stored RHO table and every comparison across versions breaks.
    @Test func ruleIsStableAndAboutTwentyPercent() {
        let split = ProxySplit.standard
        #expect((0..<64).filter { split.isProxy(UInt64($0)) } == [6, 9, 11, 18, 20, 32, 45, 56, 63])
        #expect((0..<100_000).filter { split.isProxy(UInt64($0)) }.count == 19_945)
        #expect(!(0..<1000).contains { ProxySplit.none.isProxy(UInt64($0)) })
    }

    /// For every seed the training stream and the proxy stream partition the ids: disjoint,
    /// complete, and the same sets whatever the seed (only the order depends on it).
    @Test func trainingAndProxyStreamsPartitionTheIds() throws {
        let n = 5003
        var trainingSets: [Set<UInt64>] = []
        for seed: UInt64 in [0, 1, 2, 99] {
            let training = try ExampleStream(exampleCount: n, batchSize: 1, seed: seed, part: .training)
            let proxy = try ExampleStream(exampleCount: n, batchSize: 1, seed: seed, part: .proxy)
            let t = (0..<training.batchesPerEpoch).flatMap { training.exampleIds(forBatch: $0) }
            let p = (0..<proxy.batchesPerEpoch).flatMap { proxy.exampleIds(forBatch: $0) }
            #expect(Set(t).count == t.count && Set(p).count == p.count, "a stream repeated an id")
            #expect(Set(t).isDisjoint(with: p))
            #expect(Set(t).union(p) == Set((0..<n).map(UInt64.init)))
            #expect(t.allSatisfy { !ProxySplit.standard.isProxy($0) })
            #expect(p.allSatisfy { ProxySplit.standard.isProxy($0) })
            #expect(Double(p.count) / Double(n) > 0.17 && Double(p.count) / Double(n) < 0.23)
            trainingSets.append(Set(t))
        }
        #expect(trainingSets.allSatisfy { $0 == trainingSets[0] })
        // The order still depends on the seed.
        let a = try ExampleStream(exampleCount: n, batchSize: 8, seed: 1, part: .training)
        let b = try ExampleStream(exampleCount: n, batchSize: 8, seed: 2, part: .training)
        #expect(a.exampleIds(forBatch: 0) != b.exampleIds(forBatch: 0))
        // The default part of a bare ExampleStream is still every id.
        #expect(try ExampleStream(exampleCount: n, batchSize: 1, seed: 1).count == n)
    }

    /// On a real prepared corpus: every batch any run draws avoids the proxy split, the proxy
    /// source draws only from it, and a sequence is masked identically in both sources (masking is
    /// a function of the run seed and the id, not of the stream).
    @Test func batchSourcesRespectTheSplitOnAPreparedCorpus() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = try Fixtures.textFolder(files: 4, paragraphs: 40, in: dir)
        let location = DataLocation(explicitDirectory: dir.appendingPathComponent("data").path)
        let prepared = try DataPreparer.prepare(PrepareTests.options(folder.path), location: location)
        let corpus = try PreparedCorpus(directory: prepared.directory)

        for seed: UInt64 in [0, 3] {
            let training = try MLMBatchSource(corpus: corpus, sequenceLength: 32, batchSize: 4, seed: seed)
            let proxy = try MLMBatchSource(corpus: corpus, sequenceLength: 32, batchSize: 4, seed: seed, part: .proxy)
            #expect(training.stream.part == .training)
            #expect(training.batchesPerEpoch > 0 && proxy.batchesPerEpoch > 0)
            let trainingIds = (0..<training.batchesPerEpoch).flatMap { training.batch($0).map(\.exampleId) }
            let proxyIds = (0..<proxy.batchesPerEpoch).flatMap { proxy.batch($0).map(\.exampleId) }
            #expect(trainingIds.allSatisfy { !training.proxySplit.isProxy($0) })
            #expect(proxyIds.allSatisfy { proxy.proxySplit.isProxy($0) })
            #expect(Set(trainingIds).isDisjoint(with: proxyIds))
            let example = training.batch(0)[0]
            #expect(proxy.trainingExample(id: example.exampleId) == example)
        }
    }
}
