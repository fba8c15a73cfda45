import COpenBLAS
import Dispatch

/// How many threads the tensor core uses, and the one parallel loop every kernel shares.
///
/// OpenBLAS is pinned to one thread and we split large GEMMs ourselves: two thread pools
/// (OpenBLAS's spinning workers and ours) fighting over two cores was measured to be slower
/// than either alone, so ntng keeps exactly one pool.
public enum ComputeThreads {
    nonisolated(unsafe) private static var current = 1
    nonisolated(unsafe) private static var blasPinned = false

    /// The number of threads kernels split their work across.
    public static var count: Int { current }

    /// Sets the thread count for all later kernel calls. Not safe to call while a kernel runs.
    public static func set(_ threads: Int) {
        precondition(threads >= 1, "thread count must be at least 1")
        current = threads
        pinBLAS()
    }

    /// Pins OpenBLAS to the calling thread; called before the first GEMM.
    @inline(__always)
    public static func pinBLAS() {
        if !blasPinned {
            openblas_set_num_threads(1)
            blasPinned = true
        }
    }

    /// Runs `body(chunk, range)` over `0..<count` split into at most `ComputeThreads.count`
    /// contiguous chunks; `chunk` indexes per-thread scratch. Chunks smaller than `grain` items
    /// are not worth a thread hand-off, so small work stays on the calling thread.
    public static func forEachChunk(
        of count: Int, grain: Int = 1, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void
    ) {
        let chunks = Swift.min(Self.count, Swift.max(1, count / Swift.max(grain, 1)))
        if chunks <= 1 {
            body(0, 0..<count)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let task = ChunkTask(body: escapable)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                task.body(chunk, (count * chunk / chunks)..<(count * (chunk + 1) / chunks))
            }
        }
    }
}

/// Kernels hand raw buffers to worker threads; each chunk writes a disjoint range, which the
/// type system cannot express, hence the unchecked box.
private struct ChunkTask: @unchecked Sendable {
    let body: (Int, Range<Int>) -> Void
}
