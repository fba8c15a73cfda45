import COpenBLAS
import CDNNL
import OneDNNKernels

/// The library that computes float32 matrix products. Both give results that differ only by
/// rounding; a run records which one it used (``CPUBackend/name``), since its losses depend on it.
public enum MatrixLibrary: String, Sendable, Codable, CaseIterable {
    /// OpenBLAS (`cblas_sgemm`), ntng's original library.
    case openBLAS = "openblas"
    /// oneDNN (`dnnl_sgemm`): `ntng bench --backend openblas onednn` measures both (on the AVX-512
    /// EPYC of 2026-12-02, `medium`: ceilings 90–97 vs 180–194 GFLOP/s with one thread).
    case oneDNN = "onednn"

    /// Whether it can multiply in bfloat16 (``Precision/bf16``).
    public var offersBF16: Bool { self == .oneDNN }

    /// The library a new run uses when none is asked for, chosen by capability: oneDNN where it
    /// runs AVX-512 kernels (fp32 products measured 1.9× OpenBLAS's there, which this environment
    /// pins to Haswell kernels), OpenBLAS elsewhere (its AVX2 kernels are what oneDNN would use too).
    /// A capability, not a timing, so one machine always chooses the same and its runs repeat.
    public static var preferred: MatrixLibrary { ntng_onednn_avx512() != 0 ? .oneDNN : .openBLAS }

    /// The library and its build.
    public var description: String {
        switch self {
        case .openBLAS: return String(cString: openblas_get_config())
        case .oneDNN:
            let v = dnnl_version().pointee
            return "oneDNN \(v.major).\(v.minor).\(v.patch) (\(String(cString: v.cpu_runtime == UInt32(DNNL_RUNTIME_OMP) ? "OpenMP" : "other")) runtime, one thread per call)"
        }
    }
}

/// The precision of a model's matrix products. `bf16` is what PyTorch's CPU autocast does for these
/// models: GEMM inputs (activations and weights) rounded to bfloat16, float32 accumulation and
/// result; everything else (master weights, gradients, optimizer state, LayerNorm, softmax,
/// cross-entropy, the residual stream) stays float32.
public enum Precision: String, Sendable, Codable, CaseIterable {
    case fp32, bf16

    /// Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX, as oneDNN detects it).
    /// Without it oneDNN would emulate bf16 far slower than float32, so ntng refuses instead.
    public static var bf16IsNative: Bool { ntng_bf16_native() != 0 }
}

/// Row-major matrix products through OpenBLAS `cblas_sgemm` or oneDNN `dnnl_sgemm`, or in bf16
/// through oneDNN's matmul primitive.
///
/// `C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C`. Large products are cut into
/// ``blocks`` fixed blocks along the larger of M and N, shared out among `ComputeThreads`, each
/// block one single-threaded library call (see `ComputeThreads` for why OpenBLAS's own threads
/// stay off).
public enum GEMM {
    /// The BLAS library and its build, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var libraryDescription: String { String(cString: openblas_get_config()) }

    /// Below this many multiply-adds a product is not worth splitting.
    public static let splitThreshold = 1 << 21
    /// A large product is cut into this many blocks whatever the thread count, and the blocks are
    /// shared out among the threads. Libraries pick kernels and blocking by shape (measured:
    /// OpenBLAS and oneDNN bf16 gave other `small` losses at 2 threads than at 1 when the blocks
    /// were one per thread), so fixed blocks make a run's numbers independent of `--threads`, as
    /// trial identity assumes. Eight divide evenly among 1, 2, 4 and 8 threads.
    public static let blocks = 8

    /// `C = alpha · op(A) · op(B) + beta · C`, with leading dimensions.
    @inlinable
    public static func multiply(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
        library: MatrixLibrary = .openBLAS, precision: Precision = .fp32
    ) {
        if m == 0 || n == 0 { return }
        if m * n * k < splitThreshold {
            serial(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, library: library, precision: precision)
            return
        }
        // Blocks along the larger of M and N, whole multiples of 16 rows or columns.
        let extent = Swift.max(m, n)
        let size = (extent + blocks * 16 - 1) / (blocks * 16) * 16
        let count = (extent + size - 1) / size
        if precision == .bf16 {
            multiplyRounded(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, blockSize: size, blocks: count)
            return
        }
        ComputeThreads.forEachChunk(of: count) { _, range in
            for block in range {
                let lower = block * size, rows = Swift.min(size, extent - lower)
                if m >= n {
                    // Rows of C: op(A) rows lower ..< lower + rows.
                    let aBlock = transposeA ? a + lower : a + lower * lda
                    serial(transposeA, transposeB, rows, n, k, alpha, aBlock, lda, b, ldb, beta,
                           c + lower * ldc, ldc, library: library, precision: precision)
                } else {
                    // Columns of C: op(B) columns lower ..< lower + rows.
                    let bBlock = transposeB ? b + lower * ldb : b + lower
                    serial(transposeA, transposeB, m, rows, k, alpha, a, lda, bBlock, ldb, beta,
                           c + lower, ldc, library: library, precision: precision)
                }
            }
        }
    }

    /// bf16 blocks of one product: each operand is rounded once (in parallel) and every block
    /// multiplies slices of the rounded copies, instead of each block rounding the whole shared
    /// operand again. Rounding is elementwise, so the blocks see exactly what they would round.
    @usableFromInline
    static func multiplyRounded(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, blockSize size: Int, blocks count: Int
    ) {
        // Stored shapes: A is m × k (k × m transposed), B is k × n (n × k transposed).
        let (aRows, aColumns) = transposeA ? (k, m) : (m, k), (bRows, bColumns) = transposeB ? (n, k) : (k, n)
        let a16 = BF16Scratch.a.reserve(aRows * aColumns), b16 = BF16Scratch.b.reserve(bRows * bColumns)
        ComputeThreads.forEachChunk(of: aRows, grain: 64) { _, r in
            ntng_bf16_round_rows(a + r.lowerBound * lda, Int64(r.count), Int64(aColumns), Int64(lda), a16 + r.lowerBound * aColumns)
        }
        ComputeThreads.forEachChunk(of: bRows, grain: 64) { _, r in
            ntng_bf16_round_rows(b + r.lowerBound * ldb, Int64(r.count), Int64(bColumns), Int64(ldb), b16 + r.lowerBound * bColumns)
        }
        ComputeThreads.forEachChunk(of: count) { _, range in
            for block in range {
                let lower = block * size
                var status: Int32
                if m >= n {
                    let rows = Swift.min(size, m - lower)
                    status = ntng_bf16_gemm_rounded(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(rows), Int64(n), Int64(k), alpha,
                                                    transposeA ? a16 + lower : a16 + lower * k, Int64(aColumns), b16, Int64(bColumns),
                                                    beta, c + lower * ldc, Int64(ldc))
                } else {
                    let columns = Swift.min(size, n - lower)
                    status = ntng_bf16_gemm_rounded(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(columns), Int64(k), alpha,
                                                    a16, Int64(aColumns), transposeB ? b16 + lower * k : b16 + lower, Int64(bColumns),
                                                    beta, c + lower, Int64(ldc))
                }
                precondition(status == 0, "host error: oneDNN's bf16 matmul refused a \(m)×\(n)×\(k) block (status \(status))")
            }
        }
    }

    @usableFromInline static let transposed = CChar(UInt8(ascii: "T")), plain = CChar(UInt8(ascii: "N"))

    /// One single-threaded sgemm call on the calling thread.
    @inlinable
    public static func serial(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int,
        _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
        library: MatrixLibrary = .openBLAS, precision: Precision = .fp32
    ) {
        if precision == .bf16 {
            let status = ntng_bf16_gemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda),
                                        b, Int64(ldb), beta, c, Int64(ldc))
            precondition(status == 0, "host error: oneDNN's bf16 matmul refused \(m)×\(n)×\(k) (status \(status))")
            return
        }
        if library == .oneDNN {
            // The calling thread's OpenMP team size is 1: ntng's threads are the only ones.
            omp_set_num_threads(1)
            let status = dnnl_sgemm(transposeA ? transposed : plain, transposeB ? transposed : plain, Int64(m), Int64(n), Int64(k),
                                    alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
            precondition(status == dnnl_success, "host error: dnnl_sgemm refused \(m)×\(n)×\(k) (status \(status.rawValue))")
            return
        }
        ComputeThreads.pinBLAS()
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Growable bfloat16 buffers for the rounded operands of ``GEMM/multiplyRounded``. Products are
/// issued from one thread at a time (their blocks run on the compute threads), so one pair serves.
@usableFromInline
final class BF16Scratch: @unchecked Sendable {
    @usableFromInline nonisolated(unsafe) static let a = BF16Scratch(), b = BF16Scratch()
    private var storage: UnsafeMutablePointer<UInt16>?
    private var capacity = 0

    /// Room for `count` values (contents undefined), valid until the next `reserve`.
    @usableFromInline
    func reserve(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        if count > capacity || storage == nil {
            storage?.deallocate()
            storage = .allocate(capacity: Swift.max(count, 1))
            capacity = Swift.max(count, 1)
        }
        return storage!
    }
}
