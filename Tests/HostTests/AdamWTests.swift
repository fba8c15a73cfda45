import Foundation
import Testing
@testable import Models
@testable import Host
@testable import Benchmarks

/// AdamW against a trajectory computed by hand in Float64, and a tiny model overfitting a batch.
@Suite struct AdamWTests {
    /// One matrix (decayed) and one norm gain (not decayed), three steps with changing gradients.
    @Test func followsTheHandComputedTrajectory() {
        let store = ParameterStore([("w", [2], nil, .matrix), ("g", [1], nil, .normGain)])
        let w = store.value("w"), g = store.value("g")
        w.copy(from: [0.5, -1.0]); g.copy(from: [2.0])
        var settings = AdamW.Settings()
        settings.epsilon = 1e-8
        settings.weightDecay = 0.1
        let optimizer = AdamW(parameterCount: store.count, settings: settings)
        let gradients: [[Double]] = [[0.1, -0.2, 0.3], [0.05, 0.0, -0.1], [-0.2, 0.4, 0.0]]
        let lrs: [Double] = [0.1, 0.05, 0.02]

        var p: [Double] = [0.5, -1.0, 2.0], m = [0.0, 0, 0], v = [0.0, 0, 0]
        let decayed = [true, true, false]
        for (t, (grad, lr)) in zip(gradients, lrs).enumerated() {
            store.gradient("w").copy(from: grad[0..<2].map(Float.init))
            store.gradient("g").copy(from: [Float(grad[2])])
            optimizer.update(store, learningRate: Float(lr))
            let step = Double(t + 1)
            for i in 0..<3 {
                if decayed[i] { p[i] *= 1 - lr * 0.1 }
                m[i] = 0.9 * m[i] + 0.1 * grad[i]
                v[i] = 0.98 * v[i] + 0.02 * grad[i] * grad[i]
                let mHat = m[i] / (1 - pow(0.9, step)), vHat = v[i] / (1 - pow(0.98, step))
                p[i] -= lr * mHat / (vHat.squareRoot() + 1e-8)
            }
            let got = w.toArray() + g.toArray()
            for i in 0..<3 { #expect(abs(Double(got[i]) - p[i]) < 1e-6, "step \(t + 1) parameter \(i): \(got[i]) vs \(p[i])") }
        }
        #expect(optimizer.step == 3)
    }

    @Test func skippedLayersAreLeftAloneAndKeepTheirOwnStepCount() {
        let store = ParameterStore([("layers.0.w", [1], 0, .matrix), ("layers.1.w", [1], 1, .matrix)])
        store.value("layers.0.w").copy(from: [1]); store.value("layers.1.w").copy(from: [1])
        let optimizer = AdamW(parameterCount: store.count)
        store.gradient("layers.0.w").copy(from: [0.5]); store.gradient("layers.1.w").copy(from: [0.5])
        optimizer.update(store, learningRate: 0.1, skippedLayers: [1])
        #expect(store.value("layers.1.w").toArray() == [1])  // no momentum step, no decay
        #expect(optimizer.parameterSteps["layers.0.w"] == 1 && optimizer.parameterSteps["layers.1.w"] == nil)
        // Its first real update is bias-corrected as a first step: a full step of size lr.
        optimizer.update(store, learningRate: 0.1)
        let moved = 1 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-12)
        #expect(abs(Double(store.value("layers.1.w").toArray()[0]) - moved) < 1e-6)
        #expect(optimizer.parameterSteps["layers.1.w"] == 1 && optimizer.parameterSteps["layers.0.w"] == 2)
    }

    @Test func resetParametersRestartTheirBiasCorrection() {
        let old = ParameterStore([("layers.0.w", [1], 0, .matrix)])
        let optimizer = AdamW(parameterCount: old.count)
        old.gradient("layers.0.w").copy(from: [1])
        for _ in 0..<3 { optimizer.update(old, learningRate: 0.1) }
        let new = ParameterStore([("layers.0.w", [1], 0, .matrix), ("layers.1.w", [1], 1, .matrix)])
        optimizer.remap(from: old, to: new, reset: ["layers.1.w"])
        #expect(optimizer.parameterSteps == ["layers.0.w": 3])
        #expect(optimizer.firstMoment[new.info("layers.1.w")!.offset] == 0)
    }

    @Test func decayEverythingReproducesTheSeedCode() {
        let store = ParameterStore([("g", [1], nil, .normGain)])
        store.value("g").copy(from: [1])
        var settings = AdamW.Settings()
        settings.decayEverything = true
        settings.weightDecay = 0.5
        AdamW(parameterCount: store.count, settings: settings).update(store, learningRate: 0.1)
        #expect(abs(store.value("g").toArray()[0] - 0.95) < 1e-6)  // zero gradient: decay only
    }

    /// RMS scaling (nanoT5's AdamWScale): each tensor's step is multiplied by max(1e-3, RMS(p)) of
    /// its values before the update; the decay keeps the unscaled rate. The second tensor's values
    /// are tiny, so its scale is the 1e-3 floor.
    @Test func rmsScalingScalesEachTensorsStep() {
        let store = ParameterStore([("w", [3], nil, .matrix), ("e", [2], nil, .embedding)])
        store.value("w").copy(from: [0.5, -1.0, 2.0]); store.value("e").copy(from: [1e-4, -2e-4])
        var settings = AdamW.Settings()
        settings.epsilon = 1e-8
        settings.weightDecay = 0.1
        settings.rmsScaling = true
        let optimizer = AdamW(parameterCount: store.count, settings: settings)
        let gradients: [[Double]] = [[0.1, -0.2, 0.3, 0.01, -0.02], [0.05, 0.0, -0.1, 0.03, 0.0], [-0.2, 0.4, 0.0, -0.01, 0.02]]
        let lrs: [Double] = [0.1, 0.05, 0.02]
        var p: [Double] = [0.5, -1.0, 2.0, 1e-4, -2e-4], m = [Double](repeating: 0, count: 5), v = m
        let tensors = [0..<3, 3..<5]
        for (t, (grad, lr)) in zip(gradients, lrs).enumerated() {
            store.gradient("w").copy(from: grad[0..<3].map(Float.init))
            store.gradient("e").copy(from: grad[3..<5].map(Float.init))
            optimizer.update(store, learningRate: Float(lr))
            let step = Double(t + 1)
            for range in tensors {
                let rms = (range.map { p[$0] * p[$0] }.reduce(0, +) / Double(range.count)).squareRoot()
                let scale = max(1e-3, rms)
                for i in range {
                    if i < 3 { p[i] *= 1 - lr * 0.1 }  // only the matrix decays, at the unscaled rate
                    m[i] = 0.9 * m[i] + 0.1 * grad[i]
                    v[i] = 0.98 * v[i] + 0.02 * grad[i] * grad[i]
                    let mHat = m[i] / (1 - pow(0.9, step)), vHat = v[i] / (1 - pow(0.98, step))
                    p[i] -= lr * scale * mHat / (vHat.squareRoot() + 1e-8)
                }
            }
            let got = store.value("w").toArray() + store.value("e").toArray()
            for i in 0..<5 { #expect(abs(Double(got[i]) - p[i]) < 1e-6, "step \(t + 1) parameter \(i): \(got[i]) vs \(p[i])") }
        }
        // The floor: the embedding moved by about lr·1e-3 per step, far less than without scaling.
        #expect(abs(p[3] - 1e-4) < 3 * 0.1 * 1e-3)
    }

    /// Settings stored before `rmsScaling` existed decode with it off.
    @Test func settingsWithoutRMSScalingDecode() throws {
        let old = #"{"beta1":0.9,"beta2":0.98,"epsilon":1e-12,"weightDecay":0.01,"decayEverything":false}"#
        let settings = try JSONDecoder().decode(AdamW.Settings.self, from: Data(old.utf8))
        #expect(settings == AdamW.Settings())
        var on = AdamW.Settings()
        on.rmsScaling = true
        #expect(try JSONDecoder().decode(AdamW.Settings.self, from: try JSONEncoder().encode(on)) == on)
    }

    @Test func clippingScalesToTheMaximumNorm() {
        let store = ParameterStore([("a", [2], nil, .matrix), ("b", [1], nil, .normBias)])
        store.gradient("a").copy(from: [3, 0]); store.gradient("b").copy(from: [4])
        let before = GradientClipping.clip(store, maxNorm: 0.5)
        #expect(abs(before - 5) < 1e-9)
        #expect(abs(GradientClipping.norm(store) - 0.5) < 1e-5)
        #expect(abs(store.gradient("a").toArray()[0] - 0.3) < 1e-5)
    }

    @Test func tinyModelOverfitsOneBatch() throws {
        var config = try ModelConfig.preset("tiny")
        config.layerNormEpsilon = 1e-5
        let model = try MaskedLanguageModel(config: config, seed: 1)
        let batch = StepBenchmark(config: config).syntheticBatch(seed: 3)
        let optimizer = AdamW(parameterCount: model.parameters.count)
        var loss = model.forward(batch).mean
        let initial = loss
        for _ in 0..<300 {
            model.parameters.zeroGradients()
            loss = model.forwardBackward(batch).mean
            GradientClipping.clip(model.parameters, maxNorm: 1)
            optimizer.update(model.parameters, learningRate: 1e-2)
        }
        loss = model.forward(batch).mean
        #expect(initial > 4)
        #expect(loss < 0.1, "loss after 300 steps: \(loss)")
    }
}
