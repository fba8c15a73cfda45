import COpenBLAS

/// Row-major matrix products through OpenBLAS `cblas_sgemm`.
///
/// `C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C`. Large products are split across
/// `ComputeThreads` along the larger of M and N, each thread calling single-threaded sgemm on its
/// block (see `ComputeThreads` for why OpenBLAS's own threads stay off).
public enum GEMM {
    /// The BLAS library and its build, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var libraryDescription: String { String(cString: openblas_get_config()) }

    /// Below this many multiply-adds a product is not worth splitting.
    public static let splitThreshold = 1 << 21

    /// `C = alpha · op(A) · op(B) + beta · C`, with leading dimensions.
    @inlinable
    public static func multiply(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
        threads: Int = ComputeThreads.count
    ) {
        if m == 0 || n == 0 { return }
        let work = m * n * k
        if threads <= 1 || work < splitThreshold {
            serial(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        if m >= n {
            // Split rows of C: op(A) rows m0..<m1.
            ComputeThreads.forEachChunk(of: m, grain: 16) { _, r in
                let aBlock = transposeA ? a + r.lowerBound : a + r.lowerBound * lda
                serial(transposeA, transposeB, r.count, n, k, alpha, aBlock, lda, b, ldb, beta,
                       c + r.lowerBound * ldc, ldc)
            }
        } else {
            // Split columns of C: op(B) columns n0..<n1.
            ComputeThreads.forEachChunk(of: n, grain: 16) { _, r in
                let bBlock = transposeB ? b + r.lowerBound * ldb : b + r.lowerBound
                serial(transposeA, transposeB, m, r.count, k, alpha, a, lda, bBlock, ldb, beta,
                       c + r.lowerBound, ldc)
            }
        }
    }

    /// One single-threaded sgemm call on the calling thread.
    @inlinable
    public static func serial(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int,
        _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        ComputeThreads.pinBLAS()
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
