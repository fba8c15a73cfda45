import Corpus
import Models
import TensorCore
import Testing
import Workloads

/// The masked LM behind the ``Workload`` seam: the step's pool arithmetic, the evaluation loss,
/// per-example losses and the catalogue of kinds.
@Suite struct MaskedLMWorkloadTests {
    let config: ModelConfig
    let workload: any Workload
    let stream: SyntheticBatches

    init() throws {
        config = try ModelConfig.preset("tiny")
        workload = try Workloads.make(config: config, seed: 3)
        stream = SyntheticBatches(config: config, seed: 7)
    }

    /// A selecting method's rows, taken from the pool and split into micro-batches, are exactly
    /// the batches the chosen examples make: selection moves rows, never their masks or labels.
    @Test func rowsSelectedFromAPoolAreTheBatchesOfTheChosenExamples() throws {
        let pool = try stream.batch(microBatches: 0..<4)
        let examples = (0..<4).flatMap { stream.examples(microBatch: $0) }
        #expect(pool.sequences == 4 * config.microBatch && pool.exampleIds == examples.map(\.exampleId))
        var rng = SplitMix64(seed: 5)
        let rows = Array((0..<pool.sequences).sorted { _, _ in rng.next() % 2 == 0 }.prefix(2 * config.microBatch))
        let chosen = try #require(pool.selecting(rows: rows) as? MaskedLMBatch)
        #expect(chosen == MaskedLMBatch(examples: rows.map { examples[$0] }, sequenceLength: config.sequenceLength))
        #expect(chosen.targetTokens == rows.reduce(0) { $0 + examples[$1].maskedPositions.count })
    }

    /// Validation is the mean over every target token of every batch, not a mean of batch means.
    @Test func theEvaluationLossIsTheMeanOverTargetTokens() throws {
        let batches = try (0..<3).map { try stream.batch(microBatches: $0 ..< $0 + 1) }
        let last = try #require(batches.last as? MaskedLMBatch)
        let short = last.selecting(rows: [0])  // a one-row batch weighs one row's tokens
        var sum = 0.0, tokens = 0
        for batch in batches.dropLast() + [short] {
            let loss = workload.forward(batch, activeLayers: nil)
            let (sums, counts) = workload.exampleLosses
            #expect(abs(sums.reduce(0.0) { $0 + Double($1) } - loss.sum) < 1e-3 * loss.sum)
            #expect(Int(counts.reduce(0, +)) == batch.targetTokens)
            sum += loss.sum
            tokens += loss.targetTokens
        }
        #expect(workload.evaluationLoss(batches.dropLast() + [short]) == sum / Double(tokens))
    }

    /// The masked LM is one resizable stack, "encoder", bounded by the depth it was made with.
    @Test func theEncoderIsOneResizableStack() throws {
        let grown = try Workloads.make(config: config, seed: 3, maxLayers: 8)
        #expect(grown.stacks == [ModelStack(name: "encoder", layers: 2, maxLayers: 8, firstLayer: 0, resizable: true)])
        try grown.resize(to: [.copy(of: 0), .copy(of: 1), .fresh], seed: 1)
        #expect(grown.stacks.first?.layers == 3 && grown.depth == 3 && grown.maxLayers == 8)
        #expect(grown.profileKey.preset == "tiny" && grown.profileKey.shape.layers == 3)
    }

    @Test func anUnknownWorkloadKindIsNamedWithTheKnownOnes() {
        #expect(throws: WorkloadError.unknownKind("t5-span-corruption")) {
            _ = try Workloads.make(kind: "t5-span-corruption", config: config, seed: 1)
        }
        #expect(WorkloadError.unknownKind("x").description.contains("masked-lm"))
    }
}
