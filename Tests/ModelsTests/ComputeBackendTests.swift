import Testing
@testable import Models
import TensorCore
import OneDNNKernels

/// A backend that forwards to the CPU and counts what it was asked to do: a model built with it
/// must route every kernel through it and compute exactly what the default backend computes.
final class CountingBackend: ComputeBackend, @unchecked Sendable {
    private(set) var calls: [String: Int] = [:]
    private let cpu = CPUBackend.shared
    private func count(_ name: String) { calls[name, default: 0] += 1 }

    var name: String { "counting-cpu" }
    var libraryDescription: String { cpu.libraryDescription }
    func layout<T>(_ build: (TensorArena) -> T) -> (arena: TensorArena, value: T) { count("layout"); return cpu.layout(build) }
    func linear(_ x: Tensor, _ w: Tensor, into y: Tensor, rows: Int, accumulate: Bool, scale: Float) {
        count("linear"); cpu.linear(x, w, into: y, rows: rows, accumulate: accumulate, scale: scale)
    }
    func linearBackwardInput(_ dy: Tensor, _ w: Tensor, into dx: Tensor, rows: Int, scale: Float) {
        count("linearBackwardInput"); cpu.linearBackwardInput(dy, w, into: dx, rows: rows, scale: scale)
    }
    func linearBackwardWeight(_ dy: Tensor, _ x: Tensor, into dw: Tensor, rows: Int, scale: Float) {
        count("linearBackwardWeight"); cpu.linearBackwardWeight(dy, x, into: dw, rows: rows, scale: scale)
    }
    func layerNormForward(input: Tensor, gain: Tensor, bias: Tensor, output: Tensor, mean: Tensor, rstd: Tensor, epsilon: Float, rows: Int) {
        count("layerNormForward")
        cpu.layerNormForward(input: input, gain: gain, bias: bias, output: output, mean: mean, rstd: rstd, epsilon: epsilon, rows: rows)
    }
    func layerNormBackward(dOutput: Tensor, input: Tensor, gain: Tensor, mean: Tensor, rstd: Tensor, dInput: Tensor, dGain: Tensor, dBias: Tensor, rows: Int) {
        count("layerNormBackward")
        cpu.layerNormBackward(dOutput: dOutput, input: input, gain: gain, mean: mean, rstd: rstd, dInput: dInput, dGain: dGain, dBias: dBias, rows: rows)
    }
    func geluForward(input: Tensor, output: Tensor, gated: Bool) { count("geluForward"); cpu.geluForward(input: input, output: output, gated: gated) }
    func geluBackward(input: Tensor, dOutput: Tensor, dInput: Tensor, gated: Bool) {
        count("geluBackward"); cpu.geluBackward(input: input, dOutput: dOutput, dInput: dInput, gated: gated)
    }
    func attentionForward(_ shape: Attention, qkv: Tensor, validLengths: UnsafePointer<Int32>, probabilities: Tensor, context: Tensor, batchRows: Int) {
        count("attentionForward")
        cpu.attentionForward(shape, qkv: qkv, validLengths: validLengths, probabilities: probabilities, context: context, batchRows: batchRows)
    }
    func attentionBackward(_ shape: Attention, dContext: Tensor, qkv: Tensor, probabilities: Tensor, dProbabilities: Tensor, dQKV: Tensor, batchRows: Int) {
        count("attentionBackward")
        cpu.attentionBackward(shape, dContext: dContext, qkv: qkv, probabilities: probabilities, dProbabilities: dProbabilities, dQKV: dQKV, batchRows: batchRows)
    }
    func softmaxCrossEntropy(logits: Tensor, rows: Int, labels: SoftmaxCrossEntropy.Labels, losses: UnsafeMutablePointer<Float>, gradientScale: Float?) {
        count("softmaxCrossEntropy")
        cpu.softmaxCrossEntropy(logits: logits, rows: rows, labels: labels, losses: losses, gradientScale: gradientScale)
    }
    func fillSinusoids(_ table: Tensor) { count("fillSinusoids"); cpu.fillSinusoids(table) }
    func embeddingForward(tokens: UnsafePointer<Int32>, rows: Int, sequence: Int, table: Tensor, sinusoids: Tensor, positionScale: Tensor, output: Tensor) {
        count("embeddingForward")
        cpu.embeddingForward(tokens: tokens, rows: rows, sequence: sequence, table: table, sinusoids: sinusoids, positionScale: positionScale, output: output)
    }
    func embeddingBackward(dOutput: Tensor, tokens: UnsafePointer<Int32>, rows: Int, sequence: Int, sinusoids: Tensor, dTable: Tensor, dPositionScale: Tensor) {
        count("embeddingBackward")
        cpu.embeddingBackward(dOutput: dOutput, tokens: tokens, rows: rows, sequence: sequence, sinusoids: sinusoids, dTable: dTable, dPositionScale: dPositionScale)
    }
    func gatherRows(_ input: Tensor, indices: UnsafePointer<Int32>, count n: Int, into output: Tensor) {
        count("gatherRows"); cpu.gatherRows(input, indices: indices, count: n, into: output)
    }
    func scatterAddRows(_ input: Tensor, indices: UnsafePointer<Int32>, count n: Int, into output: Tensor) {
        count("scatterAddRows"); cpu.scatterAddRows(input, indices: indices, count: n, into: output)
    }
    func rmsNormForward(input: Tensor, gain: Tensor, output: Tensor, rstd: Tensor, epsilon: Float, rows: Int) {
        count("rmsNormForward"); cpu.rmsNormForward(input: input, gain: gain, output: output, rstd: rstd, epsilon: epsilon, rows: rows)
    }
    func rmsNormBackward(dOutput: Tensor, input: Tensor, gain: Tensor, rstd: Tensor, dInput: Tensor, dGain: Tensor, rows: Int) {
        count("rmsNormBackward"); cpu.rmsNormBackward(dOutput: dOutput, input: input, gain: gain, rstd: rstd, dInput: dInput, dGain: dGain, rows: rows)
    }
    func relativeAttentionForward(_ shape: RelativeAttention, queries: Tensor, keysValues: Tensor, bias: RelativeAttention.PositionBias?,
                                  probabilities: Tensor, context: Tensor, batchRows: Int) {
        count("relativeAttentionForward")
        cpu.relativeAttentionForward(shape, queries: queries, keysValues: keysValues, bias: bias, probabilities: probabilities, context: context, batchRows: batchRows)
    }
    func relativeAttentionBackward(_ shape: RelativeAttention, dContext: Tensor, queries: Tensor, keysValues: Tensor, probabilities: Tensor,
                                   dProbabilities: Tensor, dQueries: Tensor, dKeysValues: Tensor,
                                   bias: (dTable: Tensor, buckets: UnsafePointer<Int32>)?, batchRows: Int) {
        count("relativeAttentionBackward")
        cpu.relativeAttentionBackward(shape, dContext: dContext, queries: queries, keysValues: keysValues, probabilities: probabilities,
                                      dProbabilities: dProbabilities, dQueries: dQueries, dKeysValues: dKeysValues, bias: bias, batchRows: batchRows)
    }
    func embeddingLookup(tokens: UnsafePointer<Int32>, rows: Int, table: Tensor, output: Tensor) {
        count("embeddingLookup"); cpu.embeddingLookup(tokens: tokens, rows: rows, table: table, output: output)
    }
    func embeddingLookupBackward(dOutput: Tensor, tokens: UnsafePointer<Int32>, rows: Int, dTable: Tensor) {
        count("embeddingLookupBackward"); cpu.embeddingLookupBackward(dOutput: dOutput, tokens: tokens, rows: rows, dTable: dTable)
    }
    func accumulate(_ input: Tensor, into output: Tensor, rows: Int) { count("accumulate"); cpu.accumulate(input, into: output, rows: rows) }
}

@Suite struct ComputeBackendTests {
    /// The model computes through the backend it was built with, every kernel of a training pass
    /// included, and a backend that only forwards to the CPU changes no bit.
    @Test func aModelRunsEveryKernelThroughItsBackend() throws {
        let c = try tinyConfig()
        let batch = randomBatch(c, seed: 21)
        let counting = CountingBackend()
        let routed = try MaskedLanguageModel(config: c, seed: 4, backend: counting)
        let plain = try MaskedLanguageModel(config: c, seed: 4)
        #expect(routed.backend.name == "counting-cpu" && plain.backend.name == "cpu-openblas")
        let a = routed.forwardBackward(batch), b = plain.forwardBackward(batch)
        #expect(a.sum.bitPattern == b.sum.bitPattern)
        let ga = UnsafeBufferPointer(start: routed.parameters.gradients, count: routed.parameters.count)
        let gb = UnsafeBufferPointer(start: plain.parameters.gradients, count: plain.parameters.count)
        #expect(ga.map(\.bitPattern) == gb.map(\.bitPattern))
        let expected = ["layout", "fillSinusoids", "embeddingForward", "embeddingBackward", "layerNormForward", "layerNormBackward",
                        "linear", "linearBackwardInput", "linearBackwardWeight", "attentionForward", "attentionBackward",
                        "geluForward", "geluBackward", "softmaxCrossEntropy", "gatherRows", "scatterAddRows"]
        #expect(Set(counting.calls.keys) == Set(expected), "\(counting.calls)")
        // Per layer: qkv, attention output, ffn input, ffn output; then the head's two products.
        #expect(counting.calls["linear"] == 4 * c.layers + 2)
        // A resize lays buffers out again through the same backend.
        try routed.resize(to: [.copy(of: 0)], seed: 1)
        #expect(counting.calls["layout"] == 2)
    }

    /// The same for T5: every kernel of its pass goes through the backend it was built with.
    @Test func t5RunsEveryKernelThroughItsBackend() throws {
        let c = try tinyT5Config()
        let batch = randomT5Batch(c, seed: 21)
        let counting = CountingBackend()
        let routed = try T5Model(config: c, seed: 4, backend: counting), plain = try T5Model(config: c, seed: 4)
        let a = routed.forwardBackward(batch), b = plain.forwardBackward(batch)
        #expect(a.sum.bitPattern == b.sum.bitPattern)
        #expect(routed.parameters.allGradients.map(\.bitPattern) == plain.parameters.allGradients.map(\.bitPattern))
        let expected = ["layout", "embeddingLookup", "embeddingLookupBackward", "rmsNormForward", "rmsNormBackward", "linear",
                        "linearBackwardInput", "linearBackwardWeight", "relativeAttentionForward", "relativeAttentionBackward",
                        "geluForward", "geluBackward", "softmaxCrossEntropy", "accumulate"]
        #expect(Set(counting.calls.keys) == Set(expected), "\(counting.calls)")
        // Per encoder layer: qkv, output, ffn in, ffn out; per decoder layer those and query, key-value, cross output; the head.
        #expect(counting.calls["linear"] == 4 * c.layers + 7 * c.layers + 1)
    }
}

/// The oneDNN backend computes what the OpenBLAS one does up to rounding, and repeats itself bit
/// for bit (same machine, same threads).
@Suite struct OneDNNBackendTests {
    private func pass(_ backend: CPUBackend, threads: Int) throws -> (loss: Double, gradients: [Float]) {
        let saved = ComputeThreads.count
        ComputeThreads.set(threads)
        defer { ComputeThreads.set(saved) }
        var config = try tinyConfig()
        config.hidden = 64; config.heads = 2; config.ffn = 128; config.microBatch = 8; config.sequenceLength = 32
        let model = try MaskedLanguageModel(config: config, seed: 11, backend: backend)
        let batch = randomBatch(config, seed: 12)
        model.parameters.zeroGradients()
        let loss = model.forwardBackward(batch).sum
        return (loss, model.parameters.allGradients)
    }

    @Test(arguments: [1, 2])
    func matchesOpenBLASUpToRoundingAndIsDeterministic(threads: Int) throws {
        #expect(CPUBackend.oneDNN.name == "cpu-onednn" && CPUBackend.with(.oneDNN, .fp32) === CPUBackend.oneDNN)
        #expect(CPUBackend.oneDNN.libraryDescription.hasPrefix("oneDNN "))
        let blas = try pass(.shared, threads: threads), dnnl = try pass(.oneDNN, threads: threads), again = try pass(.oneDNN, threads: threads)
        #expect(abs(blas.loss - dnnl.loss) <= 1e-5 * abs(blas.loss), "\(blas.loss) vs \(dnnl.loss)")
        let scale = blas.gradients.map(abs).max()!
        let worst = zip(blas.gradients, dnnl.gradients).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "largest gradient difference \(worst) of \(scale)")
        #expect(dnnl.loss.bitPattern == again.loss.bitPattern && dnnl.gradients == again.gradients)
    }
}

/// bf16 matrix products (oneDNN's matmul): exactly the float64 product of the bf16-rounded
/// operands up to float32 accumulation, for every transpose and both betas; a whole model in bf16
/// tracks fp32 within bf16's rounding, and repeats itself bit for bit.
@Suite(.enabled(if: Precision.bf16IsNative, "this CPU has no native bf16"))
struct BF16BackendTests {
    /// Every transpose, both betas, compact and padded leading dimensions (as attention's
    /// per-head products have: lda = 3h, ldc = h).
    @Test(arguments: [(false, true, 0), (false, false, 0), (true, false, 0), (false, true, 5), (false, false, 5), (true, false, 5)])
    func gemmIsTheProductOfTheRoundedOperands(_ setup: (Bool, Bool, Int)) {
        let (ta, tb, pad) = setup
        let m = 37, n = 29, k = 53
        let lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + 2 * pad, ldc = n + 3 * pad
        var rng = SplitMix64(seed: 5)
        let a = (0..<((ta ? k : m) * lda)).map { _ in Float(rng.nextNormal()) }, b = (0..<((tb ? n : k) * ldb)).map { _ in Float(rng.nextNormal()) }
        var c = (0..<(m * ldc)).map { _ in Float(rng.nextNormal()) }
        let c0 = c
        var ar = [Float](repeating: 0, count: a.count), br = [Float](repeating: 0, count: b.count)
        ntngRound(a, &ar); ntngRound(b, &br)
        for beta: Float in [0, 1] {
            c = c0
            GEMM.serial(ta, tb, m, n, k, 0.5, a, lda, b, ldb, beta, &c, ldc, library: .oneDNN, precision: .bf16)
            for i in 0..<m {
                for j in 0..<ldc {
                    guard j < n else {
                        #expect(c[i * ldc + j] == c0[i * ldc + j], "padding [\(i),\(j)] was written")
                        continue
                    }
                    var exact = 0.0
                    for p in 0..<k {
                        let x = ta ? ar[p * lda + i] : ar[i * lda + p], y = tb ? br[j * ldb + p] : br[p * ldb + j]
                        exact += Double(x) * Double(y)
                    }
                    exact = 0.5 * exact + Double(beta) * Double(c0[i * ldc + j])
                    #expect(abs(Double(c[i * ldc + j]) - exact) <= 1e-5 * (1 + abs(exact)), "[\(i),\(j)] \(c[i * ldc + j]) vs \(exact)")
                }
            }
        }
        // The rounding is real: bf16 products differ from fp32 ones.
        var fp32 = c0
        GEMM.serial(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 1, &fp32, ldc)
        #expect(fp32 != c)
    }

    private func ntngRound(_ x: [Float], _ out: inout [Float]) {
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { ntng_round_to_bf16(xp.baseAddress!, $0.baseAddress!, Int64(x.count)) } }
    }

    @Test func aModelInBF16TracksFP32AndRepeatsItself() throws {
        var config = try tinyConfig()
        config.hidden = 64; config.heads = 2; config.ffn = 128; config.microBatch = 8; config.sequenceLength = 32
        func pass(_ backend: CPUBackend) throws -> (Double, [Float]) {
            let model = try MaskedLanguageModel(config: config, seed: 11, backend: backend)
            let batch = randomBatch(config, seed: 12)
            model.parameters.zeroGradients()
            let loss = model.forwardBackward(batch).sum
            return (loss, model.parameters.allGradients)
        }
        let (fp32Loss, fp32Grad) = try pass(.oneDNN), (bf16Loss, bf16Grad) = try pass(.oneDNNBF16), (again, againGrad) = try pass(.oneDNNBF16)
        #expect(CPUBackend.oneDNNBF16.name == "cpu-onednn-bf16")
        #expect(bf16Loss != fp32Loss && abs(bf16Loss - fp32Loss) <= 2e-2 * abs(fp32Loss), "\(bf16Loss) vs \(fp32Loss)")
        // Gradients agree in direction: cosine similarity close to 1.
        let dot = zip(fp32Grad, bf16Grad).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let norms = (fp32Grad.reduce(0.0) { $0 + Double($1 * $1) } * bf16Grad.reduce(0.0) { $0 + Double($1 * $1) }).squareRoot()
        #expect(dot / norms > 0.99, "cosine \(dot / norms)")
        #expect(again.bitPattern == bf16Loss.bitPattern && againGrad == bf16Grad)
    }
}

/// A pass gives the same bits on any thread count with every backend, as trial identity (which
/// leaves threads out) assumes: large products are cut into fixed blocks whatever the thread
/// count, and bf16 matmuls running on several threads at once each use their own scratchpad.
@Suite(.serialized) struct ThreadCountTests {
    static var backends: [CPUBackend] { [.shared, .oneDNN] + (Precision.bf16IsNative ? [.oneDNNBF16] : []) }

    @Test(arguments: backends.map(\.name))
    func threadsChangeNoBit(_ name: String) throws {
        let backend = try #require(CPUBackend.all.first { $0.name == name })
        var config = try tinyConfig()
        // Every linear (256 rows) and the head (vocabulary 8192) is above GEMM.splitThreshold.
        config.hidden = 64; config.heads = 2; config.ffn = 128; config.microBatch = 8; config.sequenceLength = 32
        func pass(threads: Int) throws -> (Double, [Float]) {
            let saved = ComputeThreads.count
            ComputeThreads.set(threads)
            defer { ComputeThreads.set(saved) }
            let model = try MaskedLanguageModel(config: config, seed: 11, backend: backend)
            let batch = randomBatch(config, seed: 12)
            model.parameters.zeroGradients()
            let loss = model.forwardBackward(batch).sum
            return (loss, model.parameters.allGradients)
        }
        let (one, oneGrad) = try pass(threads: 1)
        for threads in [2, 3] {
            let (loss, grad) = try pass(threads: threads)
            #expect(loss.bitPattern == one.bitPattern, "\(threads) threads: \(loss) vs \(one)")
            let differing = zip(grad, oneGrad).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(threads) threads: \(differing) of \(grad.count) gradients differ")
        }
    }
}
