import Corpus
import Foundation
import Models
import TensorCore

/// The trainer is the host its plugins see: every service that runs model work charges the clock
/// at reference cost here.
extension Trainer: PluginHostServices {
    public var budget: BudgetSnapshot { BudgetSnapshot(clock) }
    public var parameters: ParameterStore { model.parameters }
    public var modelConfig: ModelConfig { model.config }

    /// Derived from the run seed and the step, so reruns and resumed runs draw the same numbers.
    public var stepSeed: UInt64 { SplitMix64.mix(settings.seed ^ SplitMix64.mix(UInt64(clock.steps) &+ 0x5354_4550)) }

    /// Forward-only, full current model, micro-batch by micro-batch; charged as scoring.
    public func perExampleLosses(poolRows: [Int]) throws -> [ExampleLoss] {
        let b = model.config.microBatch, s = model.config.sequenceLength
        var losses: [ExampleLoss] = []
        losses.reserveCapacity(poolRows.count)
        for start in stride(from: 0, to: poolRows.count, by: b) {
            let rows = poolRows[start ..< min(start + b, poolRows.count)]
            let batch = MaskedLMBatch(examples: rows.map { currentPool[$0] }, sequenceLength: s)
            model.forward(batch)
            for (loss, count) in zip(model.perExampleLoss, model.perExampleMaskedCount) {
                losses.append(ExampleLoss(sum: loss, maskedTokens: Int(count)))
            }
            clock.chargeScoring(activeLayers: model.config.layers, sequences: batch.sequences)
        }
        return losses
    }

    /// The gradient against labels sampled from the model's own softmax on this step's batch,
    /// accumulated over its micro-batches (the seed code used only the last one); the parameter
    /// gradients are saved and restored around it. Charged as curvature.
    public func sampledLabelGradient(into output: UnsafeMutablePointer<Float>, count: Int) throws {
        let store = model.parameters
        precondition(count == store.count)
        let saved = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        store.zeroGradients()
        let masked = currentBatches.reduce(0) { $0 + $1.maskedCount }
        for (i, batch) in currentBatches.enumerated() {
            model.forwardBackward(batch, targets: .sampledFromModel(seed: stepSeed &+ UInt64(i)),
                                  gradientScale: 1 / Float(max(masked, 1)))
            clock.chargeCurvature(activeLayers: model.config.layers, sequences: batch.sequences)
        }
        output.update(from: store.gradients, count: count)
        saved.withUnsafeBufferPointer { store.gradients.update(from: $0.baseAddress!, count: count) }
    }

    public func log(_ level: PluginLogLevel, plugin: String, _ message: String) {
        pluginLog("[\(plugin)] \(message)")
        // Stored with the run too, bounded so a chatty plugin cannot flood the results store.
        guard loggedLines < Self.maxStoredLogLines else { return }
        loggedLines += 1
        let text = loggedLines == Self.maxStoredLogLines
            ? "(further lines of this run are not stored; the limit is \(Self.maxStoredLogLines))"
            : String(message.prefix(Self.maxStoredLogCharacters))
        pendingLog.append(RunLogLine(step: stepInProgress, rstSeconds: clock.rstSeconds, level: level.name, source: plugin, message: text))
    }

    public func recordDiagnostic(plugin: String, key: String, value: Double) {
        record(key, value)
    }
}
