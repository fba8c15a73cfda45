import TestSupport
import Foundation
import Models
import Testing

@testable import PluginHost

/// Nothing a plugin returns is trusted: each violation stops the run with the plugin, the hook
/// and the reason.
@Suite struct PluginHookValidationTests {
    /// Held by the suite for the whole test: the stack keeps its services weakly.
    let services: ScriptedHost

    init() throws { services = try ScriptedHost.servingEverything() }

    private func stack(_ defines: [String], settings: [String: String] = [:]) throws -> (PluginStack, ScriptedHost) {
        let lib = try PluginLibrary.open(path: try buildProbe(defines))
        return (try PluginStack(libraries: [lib], settings: settings, services: services), services)
    }

    @Test func garbageRowsFromSelectBatch() throws {
        let (s, _) = try stack(["WITH_SELECT", "GARBAGE_ROWS"])
        expectPluginError(["test.probe", "select_batch", "out_rows[0] = 1000 is outside the pool 0..<8"]) {
            _ = try s.selectBatch(exampleIDs: Array(0..<8), batch: 4, sequenceLength: 16, in: StepContext(number: 1))
        }
    }

    @Test func duplicateAndMissingRowsFromSelectBatch() throws {
        let (dup, _) = try stack(["WITH_SELECT", "DUPLICATE_ROWS"])
        expectPluginError(["test.probe", "select_batch", "row 0 is selected twice"]) {
            _ = try dup.selectBatch(exampleIDs: Array(0..<8), batch: 4, sequenceLength: 16, in: StepContext(number: 1))
        }
        let (short, _) = try stack(["WITH_SELECT", "SHORT_ROWS"])
        expectPluginError(["test.probe", "select_batch", "out_rows[1] was not written (expected exactly 4 rows)"]) {
            _ = try short.selectBatch(exampleIDs: Array(0..<8), batch: 4, sequenceLength: 16, in: StepContext(number: 1))
        }
    }

    @Test func selectBatchScoresThroughTheHostAndPicksTopLosses() throws {
        let (s, services) = try stack(["WITH_SELECT"])
        #expect(s.poolFactor == 2)
        services.exampleLoss = { ExampleLoss(sum: Float(($0 * 5) % 8), maskedTokens: 2) }  // losses 0 5 2 7 4 1 6 3
        let selection = try s.selectBatch(exampleIDs: Array(100..<108), batch: 4, sequenceLength: 16, in: StepContext(number: 1))
        #expect(selection.rows == [3, 6, 1, 4])
        #expect(selection.rowsScored == 8)
        #expect(services.scoredRows == [Array(0..<8)])
    }

    /// Only optimizer_step may write parameters; out-buffers end in guard regions (rule F6).
    @Test func writesOutsideWhatAHookMayWriteStopTheRun() throws {
        let (writer, services) = try stack(["WRITE_PARAMS_ON_STEP"])
        let before = services.parameters.values[0]
        expectPluginError(["test.probe", "on_step", "changed the model's parameters, which only optimizer_step and after_optimizer_step may write"]) {
            _ = try writer.stepPlan(microBatches: 1, in: StepContext(number: 1))
        }
        #expect(services.parameters.values[0] == before + 1, "the probe really wrote")
        let (rows, _) = try stack(["WITH_SELECT", "OVERRUN_ROWS"])
        expectPluginError(["test.probe", "select_batch", "wrote past the end of out_rows (element 4; it has 4)"]) {
            _ = try rows.selectBatch(exampleIDs: Array(0..<8), batch: 4, sequenceLength: 16, in: StepContext(number: 1))
        }
        let (mask, _) = try stack(["OVERRUN_MASK"])
        expectPluginError(["test.probe", "on_step", "wrote past the end of layer_keep (element 4; it has 4)"]) {
            _ = try mask.stepPlan(microBatches: 2, in: StepContext(number: 1))
        }
    }

    @Test func nanAndNegativeLRScale() throws {
        let (nan, _) = try stack(["NAN_LR"])
        expectPluginError(["test.probe", "on_step", "lr_scale = nan is not a finite number >= 0"]) { _ = try nan.stepPlan(microBatches: 1, in: StepContext(number: 1)) }
        let (negative, _) = try stack(["NEGATIVE_LR"])
        expectPluginError(["test.probe", "on_step", "lr_scale = -1.0"]) { _ = try negative.stepPlan(microBatches: 1, in: StepContext(number: 1)) }
    }

    @Test func emptyKeepMaskAndBadMaskByte() throws {
        let (empty, _) = try stack(["EMPTY_MASK"])
        expectPluginError(["test.probe", "on_step", "keep mask of micro-batch 0 is empty"]) { _ = try empty.stepPlan(microBatches: 2, in: StepContext(number: 1)) }
        let (byte, _) = try stack(["MASK_BYTE=7"])
        expectPluginError(["test.probe", "on_step", "layer_keep[0][0] = 7"]) { _ = try byte.stepPlan(microBatches: 1, in: StepContext(number: 1)) }
    }

    @Test func resizePlanOutOfRange() throws {
        let (range, _) = try stack(["WITH_RESIZE", "RESIZE_OUT_OF_RANGE"])
        expectPluginError(["test.probe", "resize_model", "source_layer[1] = 99 is out of range"]) { _ = try range.resizePlan(in: StepContext(number: 1)) }
        let (deep, _) = try stack(["WITH_RESIZE", "RESIZE_TOO_DEEP"])
        expectPluginError(["test.probe", "resize_model", "new_num_layers = 3 is outside 1...2"]) { _ = try deep.resizePlan(in: StepContext(number: 1)) }
    }

    @Test func errorStatusCarriesTheSetErrorText() throws {
        let (s, _) = try stack(["FAIL_ON_STEP"])
        expectPluginError(["test.probe", "on_step", "NTNG_E_INVALID (-1)", "probe refuses this step"]) { _ = try s.stepPlan(microBatches: 1, in: StepContext(number: 1)) }
    }

    @Test func serviceMisuseIsReported() throws {
        let (s, _) = try stack(["MISUSE_SCORING"])
        expectPluginError(["test.probe", "on_step", "host service refused: per_example_loss: may only be called from select_batch"]) {
            _ = try s.stepPlan(microBatches: 1, in: StepContext(number: 1))
        }
    }

    @Test func unexpectedPositiveStatus() throws {
        let (s, _) = try stack(["STATUS_ON_STEP=7"])
        expectPluginError(["test.probe", "on_step", "status 7", "may not return"]) { _ = try s.stepPlan(microBatches: 1, in: StepContext(number: 1)) }
    }

    @Test func failingCreate() throws {
        let lib = try PluginLibrary.open(path: try buildProbe(["FAIL_CREATE"]))
        expectPluginError(["test.probe", "create", "probe create refuses"]) { _ = try PluginStack(libraries: [lib], services: services) }
    }

    @Test func nonFiniteParameterAfterOptimizerStep() throws {
        let (s, _) = try stack(["WITH_OPTIMIZER", "NAN_PARAM"])
        expectPluginError(["test.probe", "optimizer_step", "non-finite value", "embedding.token[3]"]) {
            _ = try s.optimizerStep(learningRate: 1e-3, batchSequences: 4, batchTokens: 8, in: StepContext(number: 1))
        }
    }

    @Test func keepMasksAndScalesCompose() throws {
        let a = try PluginLibrary.open(path: try buildProbe(["DROP_LAYER=0", "LR_SCALE=0.5f"], id: "test.a"))
        let b = try PluginLibrary.open(path: try buildProbe(["DROP_LAYER=1", "LR_SCALE=0.25f"], id: "test.b"))
        let lr = try PluginLibrary.open(path: PluginPaths.lrScaleExample)
        // a drops layer 0, the Swift example scales by 0.5: masks AND, scales multiply.
        let ok = try PluginStack(libraries: [a, lr], services: services)
        let plan = try ok.stepPlan(microBatches: 2, in: StepContext(number: 1))
        #expect(plan.lrScale == 0.25)
        #expect(plan.activeLayers == [[1], [1]])
        // a and b together drop both layers of the tiny model.
        let clash = try PluginStack(libraries: [a, b], services: services)
        expectPluginError(["test.a and test.b", "on_step", "together skip every layer of micro-batch 0"]) { _ = try clash.stepPlan(microBatches: 1, in: StepContext(number: 1)) }
    }

    @Test func curvatureServiceFillsTheStateTensor() throws {
        let (s, services) = try stack(["WITH_OPTIMIZER", "CURVATURE"])
        let outcome = try s.optimizerStep(learningRate: 1e-3, batchSequences: 4, batchTokens: 8, in: StepContext(number: 1))
        #expect(outcome?.curvaturePasses == 1)
        #expect(services.curvatureCalls == 1)
        #expect(s.plugins[0].stateTensors.values(named: "h")?.allSatisfy { $0 == 0.5 } == true)
    }
}
