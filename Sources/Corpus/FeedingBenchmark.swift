import Foundation

/// Measures the cost of feeding the trainer: milliseconds to build one masked batch into reusable
/// buffers (packing from the memory-mapped split plus masking), median over `batches` batches.
/// `ntng bench` reports it next to the training step time.
public func measureBatchFeeding(source: MLMBatchSource, batches: Int = 200) -> Double {
    var buffers = MLMBatchBuffers(batchSize: source.batchSize, sequenceLength: source.sequenceLength)
    let n = min(max(1, batches), max(1, source.batchesPerEpoch))
    guard source.batchesPerEpoch > 0 else { return .nan }
    var samples = [Double]()
    samples.reserveCapacity(n)
    var checksum: Int32 = 0
    for i in 0..<n {
        let t0 = DispatchTime.now().uptimeNanoseconds
        source.fillBatch(i, into: &buffers)
        let t1 = DispatchTime.now().uptimeNanoseconds
        checksum &+= buffers.inputTokens[i % buffers.inputTokens.count]
        samples.append(Double(t1 - t0) / 1e6)
    }
    if checksum == .min { print("") }  // keeps the work observable to the optimiser
    samples.sort()
    return samples[samples.count / 2]
}
