import ArgumentParser
import Foundation
import Models
import Host
import Benchmarks
import TensorCore

/// `ntng bench`: training-step speed of a model preset at 1 and 2 threads.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps (forward + backward + AdamW) against the measured sgemm ceiling.",
        discussion: """
            Model FLOPs per step: 6·T·L·(4H² + H·F + H·F′) + 12·B·L·S²·H + 6·M·(H² + H·V) \
            (T tokens, L layers, H hidden, F and F′ the FFN input and output widths, B sequences, \
            S sequence length, M masked tokens, V vocabulary); elementwise work is not counted. \
            Build with `swift build -c release` for meaningful figures.
            """)

    @Option(name: .long, help: "Model preset: \(ModelConfig.presetNames.joined(separator: ", ")).")
    var model = "medium"

    @Option(name: .customLong("threads"), parsing: .upToNextOption, help: "Thread counts to measure: 1 2 or 1,2.")
    var threadLists: [CommaList<Int>] = [CommaList([1, 2])]
    var threads: [Int] { threadLists.flatMap(\.values) }

    @Option(name: .long, parsing: .unconditional, help: "Timed steps per thread count (the median is reported).")
    var steps = 20

    @Option(name: .long, parsing: .unconditional, help: "Untimed warm-up steps.")
    var warmup = 2

    @Option(name: .customLong("backend"), parsing: .upToNextOption,
            help: "Matrix libraries to measure: \(MatrixLibrary.allCases.map(\.rawValue).joined(separator: ", ")) (several as a b or a,b).")
    var backendLists: [CommaList<MatrixLibrary>] = [CommaList([.openBLAS])]
    var backend: [MatrixLibrary] { backendLists.flatMap(\.values) }

    @Option(name: .customLong("precision"), parsing: .upToNextOption,
            help: "Precisions to measure: fp32, bf16 (bf16 with the libraries that offer it, on CPUs with native bf16; both as fp32,bf16).")
    var precisionLists: [CommaList<Precision>] = [CommaList([.fp32])]
    var precision: [Precision] { precisionLists.flatMap(\.values) }

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        try OptionRange.check(steps, "--steps", 1...100_000)
        try OptionRange.check(warmup, "--warmup", 0...100_000)
        if threads.isEmpty || threads.contains(where: { !(1...1024).contains($0) }) {
            throw ValidationError("--threads needs counts between 1 and 1024, e.g. --threads 1 2 or --threads 1,2")
        }
    }

    func run() throws {
        let config: ModelConfig
        do { config = try ModelConfig.preset(model) } catch { throw ValidationError("\(error)") }
        var results: [StepBenchmark.Result] = []
        for library in backend {
          for p in precision {
            guard let chosen = CPUBackend.with(library, p) else {
                FileHandle.standardError.write(Data("skipping \(library.rawValue) at \(p.rawValue): the library has no \(p.rawValue) products\n".utf8))
                continue
            }
            if p == .bf16 && !Precision.bf16IsNative {
                throw ValidationError("--precision bf16: this CPU has no native bf16 dot products (AVX512-BF16 or AMX); oneDNN's emulation would not measure anything useful")
            }
            let benchmark = StepBenchmark(config: config, steps: steps, warmup: warmup, backend: chosen)
            for t in threads {
                if !json { FileHandle.standardError.write(Data("measuring \(model) on \(benchmark.backend.name) at \(t) thread(s)…\n".utf8)) }
                results.append(try benchmark.run(threads: t))
            }
          }
        }
        if json {
            struct Report: Codable {
                var model: ModelConfig
                var parameters: Int
                var build: String
                var results: [StepBenchmark.Result]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let report = Report(model: config, parameters: config.parameterCount, build: Self.buildKind, results: results)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("model \(config.name): \(config.parameterCount) parameters, \(config.microBatch) × \(config.sequenceLength) tokens per step (\(Self.buildKind) build)")
        print("backend           threads  step ms (median/min)  fwd ms  optim ms  tokens/s  model GFLOP/s  sgemm ceiling  MFU")
        for r in results {
            print(String(format: "%@  %7d  %8.1f / %8.1f  %6.1f  %8.1f  %8.0f  %13.1f  %13.1f  %3.0f%%",
                         r.backend.padding(toLength: 16, withPad: " ", startingAt: 0) as NSString, r.threads, r.stepMillisecondsMedian, r.stepMillisecondsMin, r.forwardMillisecondsMedian,
                         r.optimizerMillisecondsMedian, r.tokensPerSecond, r.modelGFLOPS, r.sgemmCeilingGFLOPS, r.mfu * 100))
        }
        print(String(format: "model FLOPs per step: %.1f GFLOP", results.first?.modelGFLOPPerStep ?? 0))
    }

    static var buildKind: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }
}
