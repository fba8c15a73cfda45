import Clock
import Foundation

// Helpers every test target may use (a library target of the tests, never of the product).

/// A fresh, empty directory under the system temporary directory.
public func makeTemporaryDirectory(_ label: String = #function) throws -> URL {
    let safe = label.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("ntng-tests-\(safe)-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

public let sampleShape = ModelShape(layers: 4, hidden: 64, heads: 4, ffn: 256, vocab: 1000, seqLen: 32, microBatch: 8)

/// A profile with simple, exactly representable costs: forward+backward per sequence
/// = 0.5 + 0.25·k seconds, scoring 0.125 + 0.125·k, sampled-label 1 + 0.5·k.
public func sampleProfile(preset: String = "tiny", shape: ModelShape = sampleShape) -> ReferenceProfile {
    ReferenceProfile(
        name: "test-\(preset)", preset: preset, shape: shape,
        machine: MachineDescription(cpuModel: "Test CPU", cores: 2, os: "Test OS"),
        toolchain: "Swift 6.3.1", blas: "OpenBLAS test", threads: 2,
        date: Date(timeIntervalSince1970: 1_700_000_000),
        forwardBackwardPerSequence: (0...shape.layers).map { 0.5 + 0.25 * Double($0) },
        forwardOnlyPerSequence: (0...shape.layers).map { 0.125 + 0.125 * Double($0) },
        sampledLabelPassPerSequence: (0...shape.layers).map { 1 + 0.5 * Double($0) },
        optimizerUpdatePerParameter: 1e-3,
        pluginCostPerParameter: ["lion": 2e-3])
}

/// A settable monotonic clock for wall-time tests.
public final class FakeMonotonicClock: @unchecked Sendable {
    private let lock = NSLock()
    private var nanoseconds: UInt64 = 1_000_000_000
    public init() {}
    public func advance(seconds: Double) { lock.withLock { nanoseconds += UInt64(seconds * 1e9) } }
    public func now() -> UInt64 { lock.withLock { nanoseconds } }
}
