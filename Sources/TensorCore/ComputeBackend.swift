/// The kernels a model is computed with, chosen once when a run builds its model.
///
/// Models call only this protocol, never a kernel or GEMM directly, so a second backend (oneDNN
/// with BF16 matrices, a GPU) is a new conforming type rather than an edit of Models. A backend
/// owns where tensor memory lives (``layout(_:)``): the CPU backend hands out host memory; a device
/// backend would hand out device addresses behind the same ``Tensor`` views and keep its kernels
/// on the device. Every method has the semantics of the CPU kernel it names (see each kernel's
/// documentation); a backend may differ from the CPU only by floating-point rounding, which its
/// name, recorded with every run, makes visible.
public protocol ComputeBackend: AnyObject, Sendable {
    /// Recorded with runs and benchmarks, e.g. "cpu-openblas".
    var name: String { get }
    /// The library behind the matrix products, e.g. OpenBLAS's build string.
    var libraryDescription: String { get }
    /// The precision of its matrix products (the profile that prices its work must match).
    var precision: Precision { get }

    /// Lays out zero-filled memory for the tensors `build` asks for (see ``TensorArena/layout(_:)``).
    func layout<T>(_ build: (TensorArena) -> T) -> (arena: TensorArena, value: T)

    // MARK: Linear layers: y = x·Wᵀ with W stored [out, in], as in PyTorch

    /// `y = s·x·Wᵀ` over the first `rows` rows, or `y += s·x·Wᵀ` when `accumulate` (`s` = `scale`,
    /// 1 except for a layer whose output a method rescales).
    func linear(_ x: Tensor, _ w: Tensor, into y: Tensor, rows: Int, accumulate: Bool, scale: Float)
    /// `dX = s·dY·W` (overwrites).
    func linearBackwardInput(_ dy: Tensor, _ w: Tensor, into dx: Tensor, rows: Int, scale: Float)
    /// `dW += s·dYᵀ·X`.
    func linearBackwardWeight(_ dy: Tensor, _ x: Tensor, into dw: Tensor, rows: Int, scale: Float)

    // MARK: Normalisation, activations, attention

    /// ``LayerNorm/forward(input:gain:bias:output:mean:rstd:epsilon:rows:)``.
    func layerNormForward(input: Tensor, gain: Tensor, bias: Tensor, output: Tensor,
                          mean: Tensor, rstd: Tensor, epsilon: Float, rows: Int)
    /// ``LayerNorm/backward(dOutput:input:gain:mean:rstd:dInput:dGain:dBias:rows:)``.
    func layerNormBackward(dOutput: Tensor, input: Tensor, gain: Tensor, mean: Tensor, rstd: Tensor,
                           dInput: Tensor, dGain: Tensor, dBias: Tensor, rows: Int)
    /// ``GELU`` (`gated == false`) or ``GatedGELU`` forward.
    func geluForward(input: Tensor, output: Tensor, gated: Bool)
    /// ``GELU`` or ``GatedGELU`` backward (overwrites `dInput`).
    func geluBackward(input: Tensor, dOutput: Tensor, dInput: Tensor, gated: Bool)
    /// ``Attention/forward(qkv:validLengths:probabilities:context:batchRows:)``.
    func attentionForward(_ shape: Attention, qkv: Tensor, validLengths: UnsafePointer<Int32>,
                          probabilities: Tensor, context: Tensor, batchRows: Int)
    /// ``Attention/backward(dContext:qkv:probabilities:dProbabilities:dQKV:batchRows:)``.
    func attentionBackward(_ shape: Attention, dContext: Tensor, qkv: Tensor, probabilities: Tensor,
                           dProbabilities: Tensor, dQKV: Tensor, batchRows: Int)
    /// ``SoftmaxCrossEntropy/run(logits:rows:labels:losses:gradientScale:)``.
    func softmaxCrossEntropy(logits: Tensor, rows: Int, labels: SoftmaxCrossEntropy.Labels,
                             losses: UnsafeMutablePointer<Float>, gradientScale: Float?)

    // MARK: Embeddings and row movement

    /// ``Embedding/fillSinusoids(_:)``.
    func fillSinusoids(_ table: Tensor)
    /// ``Embedding/forward(tokens:rows:sequence:table:sinusoids:positionScale:output:)``.
    func embeddingForward(tokens: UnsafePointer<Int32>, rows: Int, sequence: Int,
                          table: Tensor, sinusoids: Tensor, positionScale: Tensor, output: Tensor)
    /// ``Embedding/backward(dOutput:tokens:rows:sequence:sinusoids:dTable:dPositionScale:)``.
    func embeddingBackward(dOutput: Tensor, tokens: UnsafePointer<Int32>, rows: Int, sequence: Int,
                           sinusoids: Tensor, dTable: Tensor, dPositionScale: Tensor)
    /// ``Elementwise/gatherRows(_:indices:count:into:)``.
    func gatherRows(_ input: Tensor, indices: UnsafePointer<Int32>, count: Int, into output: Tensor)
    /// ``Elementwise/scatterAddRows(_:indices:count:into:)``.
    func scatterAddRows(_ input: Tensor, indices: UnsafePointer<Int32>, count: Int, into output: Tensor)

    // MARK: T5's kernels

    /// ``RMSNorm/forward(input:gain:output:rstd:epsilon:rows:)``.
    func rmsNormForward(input: Tensor, gain: Tensor, output: Tensor, rstd: Tensor, epsilon: Float, rows: Int)
    /// ``RMSNorm/backward(dOutput:input:gain:rstd:dInput:dGain:rows:)``.
    func rmsNormBackward(dOutput: Tensor, input: Tensor, gain: Tensor, rstd: Tensor, dInput: Tensor, dGain: Tensor, rows: Int)
    /// ``RelativeAttention/forward(queries:keysValues:bias:probabilities:context:batchRows:library:precision:)``.
    func relativeAttentionForward(_ shape: RelativeAttention, queries: Tensor, keysValues: Tensor, bias: RelativeAttention.PositionBias?,
                                  probabilities: Tensor, context: Tensor, batchRows: Int)
    /// ``RelativeAttention/backward(dContext:queries:keysValues:probabilities:dProbabilities:dQueries:dKeysValues:bias:batchRows:library:precision:)``.
    func relativeAttentionBackward(_ shape: RelativeAttention, dContext: Tensor, queries: Tensor, keysValues: Tensor, probabilities: Tensor,
                                   dProbabilities: Tensor, dQueries: Tensor, dKeysValues: Tensor,
                                   bias: (dTable: Tensor, buckets: UnsafePointer<Int32>)?, batchRows: Int)
    /// ``Embedding/lookup(tokens:rows:table:output:)``.
    func embeddingLookup(tokens: UnsafePointer<Int32>, rows: Int, table: Tensor, output: Tensor)
    /// ``Embedding/lookupBackward(dOutput:tokens:rows:dTable:)``.
    func embeddingLookupBackward(dOutput: Tensor, tokens: UnsafePointer<Int32>, rows: Int, dTable: Tensor)
    /// ``Elementwise/accumulate(_:into:)`` over the first `rows` rows: `output += input`.
    func accumulate(_ input: Tensor, into output: Tensor, rows: Int)
}

/// Float32 on the host's cores: this module's kernels, matrix products through OpenBLAS or oneDNN
/// (``GEMM``, ``MatrixLibrary``), threads from ``ComputeThreads``. `shared` (OpenBLAS) is the
/// default of every model; ``named(_:)`` finds the other.
public final class CPUBackend: ComputeBackend {
    /// The OpenBLAS backend (it holds no state).
    public static let shared = CPUBackend(.openBLAS)
    /// The oneDNN backend, float32.
    public static let oneDNN = CPUBackend(.oneDNN)
    /// The oneDNN backend with bf16 matrix products (``Precision/bf16``).
    public static let oneDNNBF16 = CPUBackend(.oneDNN, precision: .bf16)
    /// Every CPU backend, by ``name``.
    public static let all = [shared, oneDNN, oneDNNBF16]

    /// The library computing its matrix products.
    public let library: MatrixLibrary
    /// The precision of its matrix products.
    public let precision: Precision

    private init(_ library: MatrixLibrary, precision: Precision = .fp32) {
        self.library = library
        self.precision = precision
    }

    /// The backend of `library` at `precision` (bf16 only with a library that offers it).
    public static func with(_ library: MatrixLibrary, _ precision: Precision) -> CPUBackend? {
        all.first { $0.library == library && $0.precision == precision }
    }

    public var name: String { "cpu-" + library.rawValue + (precision == .fp32 ? "" : "-" + precision.rawValue) }
    public var libraryDescription: String { library.description + (precision == .bf16 ? ", bf16 matmul (f32 accumulation)" : "") }

    public func layout<T>(_ build: (TensorArena) -> T) -> (arena: TensorArena, value: T) {
        TensorArena.layout(build)
    }

    public func linear(_ x: Tensor, _ w: Tensor, into y: Tensor, rows: Int, accumulate: Bool, scale: Float) {
        let n = w.shape[0], k = w.shape[1]
        GEMM.multiply(transposeA: false, transposeB: true, m: rows, n: n, k: k, alpha: scale, a: x.base, lda: k,
                      b: w.base, ldb: k, beta: accumulate ? 1 : 0, c: y.base, ldc: n, library: library, precision: precision)
    }

    public func linearBackwardInput(_ dy: Tensor, _ w: Tensor, into dx: Tensor, rows: Int, scale: Float) {
        let n = w.shape[0], k = w.shape[1]
        GEMM.multiply(transposeA: false, transposeB: false, m: rows, n: k, k: n, alpha: scale, a: dy.base, lda: n,
                      b: w.base, ldb: k, beta: 0, c: dx.base, ldc: k, library: library, precision: precision)
    }

    public func linearBackwardWeight(_ dy: Tensor, _ x: Tensor, into dw: Tensor, rows: Int, scale: Float) {
        let n = dw.shape[0], k = dw.shape[1]
        GEMM.multiply(transposeA: true, transposeB: false, m: n, n: k, k: rows, alpha: scale, a: dy.base, lda: n,
                      b: x.base, ldb: k, beta: 1, c: dw.base, ldc: k, library: library, precision: precision)
    }

    public func layerNormForward(input: Tensor, gain: Tensor, bias: Tensor, output: Tensor,
                                 mean: Tensor, rstd: Tensor, epsilon: Float, rows: Int) {
        LayerNorm.forward(input: input, gain: gain, bias: bias, output: output, mean: mean, rstd: rstd,
                          epsilon: epsilon, rows: rows)
    }

    public func layerNormBackward(dOutput: Tensor, input: Tensor, gain: Tensor, mean: Tensor, rstd: Tensor,
                                  dInput: Tensor, dGain: Tensor, dBias: Tensor, rows: Int) {
        LayerNorm.backward(dOutput: dOutput, input: input, gain: gain, mean: mean, rstd: rstd,
                           dInput: dInput, dGain: dGain, dBias: dBias, rows: rows)
    }

    public func geluForward(input: Tensor, output: Tensor, gated: Bool) {
        if gated { GatedGELU.forward(input: input, output: output) } else { GELU.forward(input: input, output: output) }
    }

    public func geluBackward(input: Tensor, dOutput: Tensor, dInput: Tensor, gated: Bool) {
        if gated {
            GatedGELU.backward(input: input, dOutput: dOutput, dInput: dInput)
        } else {
            GELU.backward(input: input, dOutput: dOutput, dInput: dInput)
        }
    }

    public func attentionForward(_ shape: Attention, qkv: Tensor, validLengths: UnsafePointer<Int32>,
                                 probabilities: Tensor, context: Tensor, batchRows: Int) {
        shape.forward(qkv: qkv, validLengths: validLengths, probabilities: probabilities, context: context, batchRows: batchRows,
                      library: library, precision: precision)
    }

    public func attentionBackward(_ shape: Attention, dContext: Tensor, qkv: Tensor, probabilities: Tensor,
                                  dProbabilities: Tensor, dQKV: Tensor, batchRows: Int) {
        shape.backward(dContext: dContext, qkv: qkv, probabilities: probabilities, dProbabilities: dProbabilities,
                       dQKV: dQKV, batchRows: batchRows, library: library, precision: precision)
    }

    public func softmaxCrossEntropy(logits: Tensor, rows: Int, labels: SoftmaxCrossEntropy.Labels,
                                    losses: UnsafeMutablePointer<Float>, gradientScale: Float?) {
        SoftmaxCrossEntropy.run(logits: logits, rows: rows, labels: labels, losses: losses, gradientScale: gradientScale)
    }

    public func fillSinusoids(_ table: Tensor) { Embedding.fillSinusoids(table) }

    public func embeddingForward(tokens: UnsafePointer<Int32>, rows: Int, sequence: Int,
                                 table: Tensor, sinusoids: Tensor, positionScale: Tensor, output: Tensor) {
        Embedding.forward(tokens: tokens, rows: rows, sequence: sequence, table: table, sinusoids: sinusoids,
                          positionScale: positionScale, output: output)
    }

    public func embeddingBackward(dOutput: Tensor, tokens: UnsafePointer<Int32>, rows: Int, sequence: Int,
                                  sinusoids: Tensor, dTable: Tensor, dPositionScale: Tensor) {
        Embedding.backward(dOutput: dOutput, tokens: tokens, rows: rows, sequence: sequence, sinusoids: sinusoids,
                           dTable: dTable, dPositionScale: dPositionScale)
    }

    public func gatherRows(_ input: Tensor, indices: UnsafePointer<Int32>, count: Int, into output: Tensor) {
        Elementwise.gatherRows(input, indices: indices, count: count, into: output)
    }

    public func scatterAddRows(_ input: Tensor, indices: UnsafePointer<Int32>, count: Int, into output: Tensor) {
        Elementwise.scatterAddRows(input, indices: indices, count: count, into: output)
    }

    public func rmsNormForward(input: Tensor, gain: Tensor, output: Tensor, rstd: Tensor, epsilon: Float, rows: Int) {
        RMSNorm.forward(input: input, gain: gain, output: output, rstd: rstd, epsilon: epsilon, rows: rows)
    }

    public func rmsNormBackward(dOutput: Tensor, input: Tensor, gain: Tensor, rstd: Tensor, dInput: Tensor, dGain: Tensor, rows: Int) {
        RMSNorm.backward(dOutput: dOutput, input: input, gain: gain, rstd: rstd, dInput: dInput, dGain: dGain, rows: rows)
    }

    public func relativeAttentionForward(_ shape: RelativeAttention, queries: Tensor, keysValues: Tensor, bias: RelativeAttention.PositionBias?,
                                         probabilities: Tensor, context: Tensor, batchRows: Int) {
        shape.forward(queries: queries, keysValues: keysValues, bias: bias, probabilities: probabilities, context: context,
                      batchRows: batchRows, library: library, precision: precision)
    }

    public func relativeAttentionBackward(_ shape: RelativeAttention, dContext: Tensor, queries: Tensor, keysValues: Tensor, probabilities: Tensor,
                                          dProbabilities: Tensor, dQueries: Tensor, dKeysValues: Tensor,
                                          bias: (dTable: Tensor, buckets: UnsafePointer<Int32>)?, batchRows: Int) {
        shape.backward(dContext: dContext, queries: queries, keysValues: keysValues, probabilities: probabilities,
                       dProbabilities: dProbabilities, dQueries: dQueries, dKeysValues: dKeysValues, bias: bias,
                       batchRows: batchRows, library: library, precision: precision)
    }

    public func embeddingLookup(tokens: UnsafePointer<Int32>, rows: Int, table: Tensor, output: Tensor) {
        Embedding.lookup(tokens: tokens, rows: rows, table: table, output: output)
    }

    public func embeddingLookupBackward(dOutput: Tensor, tokens: UnsafePointer<Int32>, rows: Int, dTable: Tensor) {
        Embedding.lookupBackward(dOutput: dOutput, tokens: tokens, rows: rows, dTable: dTable)
    }

    public func accumulate(_ input: Tensor, into output: Tensor, rows: Int) {
        Elementwise.accumulate(input.prefixRows(rows), into: output.prefixRows(rows))
    }
}

extension ComputeBackend {
    /// Float32 unless a backend says otherwise.
    public var precision: Precision { .fp32 }

    /// The unscaled products (`scale` 1), what every caller but a rescaled layer uses.
    public func linear(_ x: Tensor, _ w: Tensor, into y: Tensor, rows: Int, accumulate: Bool) {
        linear(x, w, into: y, rows: rows, accumulate: accumulate, scale: 1)
    }
    public func linearBackwardInput(_ dy: Tensor, _ w: Tensor, into dx: Tensor, rows: Int) {
        linearBackwardInput(dy, w, into: dx, rows: rows, scale: 1)
    }
    public func linearBackwardWeight(_ dy: Tensor, _ x: Tensor, into dw: Tensor, rows: Int) {
        linearBackwardWeight(dy, x, into: dw, rows: rows, scale: 1)
    }
}
