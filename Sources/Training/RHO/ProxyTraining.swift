import Corpus
import Foundation
import Models
import TensorCore

/// The irreducible-loss model's training loop and the loss-extraction pass.
///
/// A small dedicated loop rather than ``Trainer``: the proxy keeps no run record, takes no
/// plugins, and may cycle over its (small) split for more than one epoch, which the trainer
/// forbids. Otherwise it is the baseline recipe step for step: the one-cycle schedule on the
/// budget fraction, accumulation to the batch, mean loss over masked tokens, clipping, AdamW,
/// and RST charged from the profile so `--proxy-budget 5m` means what `--budget 5m` means.
enum ProxyTraining {
    struct Trained {
        var model: MaskedLanguageModel
        var steps: Int
        var epochs: Double
        var finalLoss: Double?
        var validationLoss: Double
        var wallSeconds: Double
    }

    /// Mixed into the run seed for the proxy's initial weights and its stream order, so the proxy
    /// does not start from the target's exact initialisation.
    static let seedKey: UInt64 = 0x50_524F_5859

    static func train(request: RHOPreparation.Request, corpus: PreparedCorpus, config: ModelConfig,
                      profile: ReferenceProfile, log: (String) -> Void) throws -> Trained {
        let started = Date()
        let hp = request.hyperparameters
        let source = try MLMBatchSource(corpus: corpus, sequenceLength: config.sequenceLength, batchSize: config.microBatch,
                                        seed: request.seed, part: .proxy)
        let batch = hp.batchSequences ?? config.microBatch
        guard batch % config.microBatch == 0 else {
            throw RHOError.invalid("batch (\(batch)) must be a multiple of the micro-batch (\(config.microBatch))")
        }
        let accumulation = batch / config.microBatch
        let perEpoch = source.stream.count / config.microBatch
        guard perEpoch >= accumulation else {
            throw RHOError.invalid("the proxy split holds \(source.stream.count) sequences, less than one batch of \(batch)")
        }
        let model = try MaskedLanguageModel(config: config, seed: request.seed ^ seedKey)
        let optimizer = AdamW(parameterCount: model.parameters.count, settings: hp.adamW)
        let schedule = LearningRateSchedule.oneCycle(peak: hp.peakLearningRate, warmupFraction: hp.warmupFraction)
        var clock = RSTClock(budget: request.proxyBudget, profile: profile)
        log("RHO-LOSS proxy: training \(config.name) on the proxy split (\(source.stream.count) sequences) for \(request.proxyBudget) of \(profile.name)")

        // Micro-batch k of the proxy's data: epoch e = k / perEpoch uses its own shuffle.
        var epochStream: (epoch: Int, stream: ExampleStream)? = nil
        func microBatch(_ k: Int) throws -> MaskedLMBatch {
            let epoch = k / perEpoch
            if epochStream?.epoch != epoch {
                epochStream = (epoch, try ExampleStream(exampleCount: source.training.count, batchSize: config.microBatch,
                                                        seed: (request.seed ^ seedKey) &+ UInt64(epoch), part: .proxy))
            }
            let ids = epochStream!.stream.exampleIds(forBatch: k % perEpoch)
            return MaskedLMBatch(examples: ids.map { source.trainingExample(id: $0) }, sequenceLength: config.sequenceLength)
        }

        var position = 0
        var lastLoss: Double? = nil
        var nextReport = 0.1
        while clock.canStartStep() {
            let lr = schedule.learningRate(atFraction: clock.fraction)
            let batches = try (0..<accumulation).map { try microBatch(position + $0) }
            position += accumulation
            let masked = batches.reduce(0) { $0 + $1.maskedCount }
            model.parameters.zeroGradients()
            var sum = 0.0
            for b in batches {
                sum += model.forwardBackward(b, gradientScale: 1 / Float(max(masked, 1))).sum
                clock.chargeTraining(activeLayers: config.layers, sequences: b.sequences)
            }
            let loss = sum / Double(max(masked, 1))
            guard loss.isFinite else {
                throw RHOError.invalid("the proxy's training loss became \(loss) at step \(clock.steps + 1); try a lower learning rate (--set lr=…)")
            }
            GradientClipping.clip(model.parameters, maxNorm: hp.clipNorm)
            optimizer.update(model.parameters, learningRate: Float(lr))
            clock.chargeOptimizer(parameters: model.parameters.parameterCount)
            let sequences = batches.reduce(0) { $0 + $1.sequences }
            clock.completeStep(sequences: sequences, tokens: sequences * config.sequenceLength)
            lastLoss = loss
            if clock.fraction >= nextReport {
                log(String(format: "RHO-LOSS proxy: %3.0f%% of the budget, step %d, loss %.4f", clock.fraction * 100, clock.steps, loss))
                nextReport += 0.1
            }
        }
        let validation = validationLoss(model, source: source, sequences: hp.validationSequences)
        return Trained(model: model, steps: clock.steps, epochs: Double(position) / Double(perEpoch), finalLoss: lastLoss,
                       validationLoss: validation, wallSeconds: Date().timeIntervalSince(started))
    }

    /// Mean masked-LM loss on the fixed validation set (the same set runs are evaluated on).
    static func validationLoss(_ model: MaskedLanguageModel, source: MLMBatchSource, sequences: Int) -> Double {
        let examples = source.validationExamples(maxCount: sequences)
        let b = model.config.microBatch
        var sum = 0.0, count = 0
        for start in stride(from: 0, to: examples.count, by: b) {
            let loss = model.forward(MaskedLMBatch(examples: Array(examples[start ..< min(start + b, examples.count)]),
                                                   sequenceLength: model.config.sequenceLength))
            sum += loss.sum
            count += loss.maskedCount
        }
        return count == 0 ? .nan : sum / Double(count)
    }

    /// The proxy's mean loss over the masked tokens of the training ids at stream positions
    /// `positions` of seed `seed`'s training stream (all training ids when nil), masked exactly as a
    /// target run with `seed` masks them (``MLMBatchSource/trainingExample(id:)`` is the run's own
    /// masking), written into `table` (one entry per training id; others are left as they are).
    /// Returns how many ids it computed.
    @discardableResult
    static func extract(model: MaskedLanguageModel, corpus: PreparedCorpus, seed: UInt64, positions: Range<Int>?,
                        into table: inout [Float], log: (String) -> Void) throws -> Int {
        let config = model.config
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
            model.forward(MaskedLMBatch(examples: chunk.map { source.trainingExample(id: $0) }, sequenceLength: config.sequenceLength))
            for (i, id) in chunk.enumerated() {
                let count = model.perExampleMaskedCount[i]
                table[Int(id)] = count > 0 ? model.perExampleLoss[i] / count : 0
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
    static func saveProxy(_ model: MaskedLanguageModel, seed: UInt64, steps: Int, to url: URL) throws {
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
