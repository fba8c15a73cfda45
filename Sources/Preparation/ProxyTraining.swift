import Corpus
import Foundation
import Models
import TensorCore
import Clock
import Records
import Storage
import Host
import Workloads

/// The irreducible-loss model's training and the loss-extraction pass.
///
/// The proxy trains with ``TrainingStep``, the step every run takes: the one-cycle schedule on the
/// budget fraction, accumulation to the batch, mean loss over masked tokens, clipping, AdamW, and
/// RST charged from the profile so `--proxy-budget 5m` means what `--budget 5m` means. It keeps no
/// run record, takes no plugins, and may cycle over its (small) split for more than one epoch,
/// which a run may not (``ProxyBatches``).
enum ProxyTraining {
    struct Trained {
        /// RHO-LOSS's proxy is a masked LM like the runs it serves.
        var model: MaskedLMWorkload
        var steps: Int
        var epochs: Double
        var finalLoss: Double?
        var validationLoss: Double
        var wallSeconds: Double
    }

    /// Mixed into the run seed for the proxy's initial weights and its stream order, so the proxy
    /// does not start from the target's exact initialisation.
    static let seedKey: UInt64 = 0x50_524F_5859

    /// The proxy split, epoch after epoch: micro-batch k of epoch e = k / perEpoch comes from
    /// that epoch's own shuffle, masked as the target run masks the same ids.
    final class ProxyBatches: MaskedExampleBatches {
        let source: MLMBatchSource
        let seed: UInt64
        let perEpoch: Int
        private var epochStream: (epoch: Int, stream: ExampleStream)?

        init(source: MLMBatchSource, seed: UInt64) {
            self.source = source
            self.seed = seed
            perEpoch = source.stream.count / source.batchSize
        }

        var microBatchesAvailable: Int? { nil }
        var sequenceLength: Int { source.sequenceLength }

        func examples(microBatch k: Int) throws -> [MaskedExample] {
            let epoch = k / perEpoch
            if epochStream?.epoch != epoch {
                epochStream = (epoch, try ExampleStream(exampleCount: source.training.count, batchSize: source.batchSize,
                                                         seed: (seed ^ ProxyTraining.seedKey) &+ UInt64(epoch), part: .proxy))
            }
            return epochStream!.stream.exampleIds(forBatch: k % perEpoch).map { source.trainingExample(id: $0) }
        }
    }

    static func train(request: RHOPreparation.Request, corpus: PreparedCorpus, config: ModelConfig,
                      profile: ReferenceProfile, log: (String) -> Void) throws -> Trained {
        let started = Date()
        let hp = request.hyperparameters
        try corpus.requireVocabulary(config.vocabularySize)
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: config.sequenceLength, batchSize: config.microBatch,
                                        seed: request.seed, part: .proxy)
        let recipe: TrainingRecipe
        do {
            recipe = try TrainingRecipe(hyperparameters: hp, seed: request.seed ^ seedKey, method: "rho proxy", config: config)
        } catch { throw RHOError.invalid("\(error)") }
        let batches = ProxyBatches(source: source, seed: request.seed)
        guard batches.perEpoch >= recipe.accumulation else {
            throw RHOError.invalid("the proxy split holds \(source.stream.count) sequences, less than one batch of \(recipe.accumulation * config.microBatch)")
        }
        let model = try MaskedLMWorkload(config: config, seed: request.seed ^ seedKey)
        let training = TrainingStep(workload: model, optimizer: AdamW(parameterCount: model.parameters.count, settings: hp.adamW),
                                    clock: RSTClock(budget: request.proxyBudget, profile: profile), recipe: recipe,
                                    batches: batches)
        log("RHO-LOSS proxy: training \(config.name) on the proxy split (\(source.stream.count) sequences) for \(request.proxyBudget) of \(profile.name)")

        var lastLoss: Double? = nil
        var nextReport = 0.1
        while training.clock.canStartStep() {
            do {
                lastLoss = try training.take().loss
            } catch let failure as TrainingFailure {
                throw RHOError.invalid("the proxy's training stopped: \(failure.description)")
            }
            let clock = training.clock
            if clock.fraction >= nextReport {
                log(String(format: "RHO-LOSS proxy: %3.0f%% of the budget, step %d, loss %.4f", clock.fraction * 100, clock.steps, lastLoss ?? .nan))
                nextReport += 0.1
            }
        }
        let validation = model.evaluationLoss(source.validationBatches(maxSequences: hp.validationSequences))
        return Trained(model: model, steps: training.clock.steps, epochs: Double(training.dataPosition) / Double(batches.perEpoch),
                       finalLoss: lastLoss, validationLoss: validation, wallSeconds: Date().timeIntervalSince(started))
    }

    /// The proxy's mean loss over the masked tokens of the training ids at stream positions
    /// `positions` of seed `seed`'s training stream (all training ids when nil), masked exactly as a
    /// target run with `seed` masks them (``MLMBatchSource/trainingExample(id:)`` is the run's own
    /// masking), written into `table` (one entry per training id; others are left as they are).
    /// Returns how many ids it computed.
    @discardableResult
    static func extract(model: any Workload, corpus: PreparedCorpus, seed: UInt64, positions: Range<Int>?,
                        into table: inout [Float], log: (String) -> Void) throws -> Int {
        let config = model.config
        try corpus.requireVocabulary(config.vocabularySize)
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: config.sequenceLength, batchSize: config.microBatch, seed: seed)
        precondition(table.count == source.training.count, "the table has \(table.count) entries for \(source.training.count) training ids")
        let ids: [UInt64]
        if let positions {
            ids = source.stream.exampleIds(positions: positions.clamped(to: 0 ..< source.stream.count))
        } else {
            ids = (0..<UInt64(source.training.count)).filter { !source.proxySplit.isProxy($0) }
        }
        let which = positions.map { "stream positions \($0.lowerBound)..<\(min($0.upperBound, source.stream.count))" } ?? "every training sequence"
        log("RHO-LOSS proxy: computing its losses on \(ids.count) training sequences (\(which)) with the masks of seed \(seed)")
        var nextReport = 0.25
        for start in stride(from: 0, to: ids.count, by: config.microBatch) {
            let chunk = ids[start ..< min(start + config.microBatch, ids.count)]
            model.forward(MaskedLMBatch(examples: chunk.map { source.trainingExample(id: $0) }, sequenceLength: config.sequenceLength),
                          activeLayers: nil)
            let (sums, counts) = model.exampleLosses
            for (i, id) in chunk.enumerated() {
                table[Int(id)] = counts[i] > 0 ? sums[i] / counts[i] : 0
            }
            if Double(start + chunk.count) / Double(ids.count) >= nextReport {
                log(String(format: "RHO-LOSS proxy: losses %3.0f%% done", 100 * Double(start + chunk.count) / Double(ids.count)))
                nextReport += 0.25
            }
        }
        return ids.count
    }

    /// A fresh table for `corpus`: NaN on the proxy split, ``RHOTable/notExtracted`` elsewhere.
    static func emptyTable(corpus: PreparedCorpus, sequenceLength: Int) throws -> (table: [Float], proxyIDs: Int) {
        let n = try PackedSequences(split: corpus.train, sequenceLength: sequenceLength).count
        var proxy = 0
        let table = (0..<n).map { id -> Float in
            if ProxySplit.standard.isProxy(UInt64(id)) { proxy += 1; return .nan }
            return RHOTable.notExtracted
        }
        return (table, proxy)
    }

    /// The proxy's weights as safetensors (`model.<name>`), with its shape in the metadata.
    static func saveProxy(_ model: any Workload, seed: UInt64, steps: Int, to url: URL) throws {
        let store = model.parameters
        let entries: [SafeTensorsFile.Entry] = store.entries.map { e in
            SafeTensorsFile.Entry(name: "model." + e.name, dtype: .F32, shape: e.shape, storage: .external(
                byteCount: e.count * 4, provide: { sink in try sink(UnsafeRawBufferPointer(start: store.values + e.offset, count: e.count * 4)) }))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try SafeTensorsFile.write(entries, metadata: [
            "format": "ntng-rho-proxy-1",
            "model_config": String(decoding: try encoder.encode(model.config), as: UTF8.self),
            "seed": String(seed),
            "steps": String(steps),
        ], to: url)
    }
}
