// swift-tools-version:6.1
import PackageDescription

// Numeric targets are compiled with optimisation even in debug builds (tests would otherwise run
// the kernels 10-100x slower) and for AVX2+FMA, which every machine of this kind has.
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
    .unsafeFlags(["-target-cpu", "haswell"]),
]

// Test targets that open a results store import Records, whose GRDB module they must see.
let grdb: Target.Dependency = .product(name: "GRDB", package: "GRDB.swift")

// Method plugins export only their entry symbol and are optimised in every configuration.
let methodPluginFlags: [CSetting] = [.unsafeFlags(["-fvisibility=hidden", "-O2"])]

let package = Package(
    name: "ntng",
    products: [
        .executable(name: "ntng", targets: ["Commands"]),
        // The six reference method plugins (`--method stacking` loads libStacking.so).
        .library(name: "Stacking", type: .dynamic, targets: ["Stacking"]),
        .library(name: "Dropping", type: .dynamic, targets: ["Dropping"]),
        .library(name: "SelectiveBackprop", type: .dynamic, targets: ["SelectiveBackprop"]),
        .library(name: "RHO", type: .dynamic, targets: ["RHO"]),
        .library(name: "Lion", type: .dynamic, targets: ["Lion"]),
        .library(name: "Sophia", type: .dynamic, targets: ["Sophia"]),
        // Example method plugins of the author kit (docs/plugins.md), loaded by the tests.
        .library(name: "ExampleSGDMomentum", type: .dynamic, targets: ["ExampleSGDMomentum"]),
        .library(name: "ExampleLRScale", type: .dynamic, targets: ["ExampleLRScale"]),
        .library(name: "ExampleScheduleFree", type: .dynamic, targets: ["ExampleScheduleFree"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // OpenBLAS from Debian's libopenblas-dev; pkg-config picks OpenBLAS's own cblas.h.
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        // oneDNN's sgemm (Debian libdnnl-dev), the faster of the two matrix libraries where it runs.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),

        // Float32 CPU tensor core: buffers, kernels (forward and backward side by side), GEMM.
        // Knows nothing of models, plugins or the CLI.
        // bf16 matrix products through oneDNN's matmul primitive (C: the primitive API is C's).
        .target(name: "OneDNNKernels", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        .target(name: "TensorCore", dependencies: ["COpenBLAS", "CDNNL", "OneDNNKernels"], swiftSettings: numericSettings),

        // The BERT-style encoder built from TensorCore kernels, with the controls methods need.
        .target(name: "Models", dependencies: ["TensorCore"], swiftSettings: numericSettings),

        // Files that must be whole (atomic writes), the one NTNG_HOME resolver, SHA-256. Foundation only.
        .target(name: "Storage", swiftSettings: numericSettings),  // optimised: SHA-256 of the ntng binary on every run

        // The budget clock: budgets, reference profiles (what each unit of work costs on the
        // reference machine), the RST clock that charges them, learning-rate schedules.
        .target(name: "Clock", dependencies: ["Storage"]),

        // What a run leaves: the SQLite results store (the only GRDB user) and safetensors files.
        .target(name: "Records", dependencies: ["Storage", "Clock", .product(name: "GRDB", package: "GRDB.swift")]),

        // SentencePiece behind a plain C header, so no Swift module needs C++ interop.
        .target(
            name: "CSentencePiece",
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("sentencepiece_train")]),

        // Pre-training text from Debian packages, tokenizer, prepared token files, MLM batches.
        // zlib (Debian zlib1g-dev) for gzip'd documentation, dictzip dictionaries and R data files.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Corpus", dependencies: ["Storage", "CSentencePiece", "CZlib"], swiftSettings: numericSettings),

        // The downstream task suite built from Debian packages (classification tasks with sanity
        // baselines), its loaders for ntng, GLUE and SuperGLUE layouts.
        .target(name: "Tasks", dependencies: ["Storage", "Corpus"], swiftSettings: numericSettings),

        // What the host trains: a model, its objective, data and evaluation loss behind the
        // Workload protocol (the masked-LM encoder first), and the batches steps pass around.
        .target(name: "Workloads", dependencies: ["Clock", "TensorCore", "Models", "Corpus"], swiftSettings: numericSettings),

        // The C ABI a method plugin compiles against. Plugins know only this.
        .target(name: "PluginAPI"),

        // The reference method plugins, in C against the public header only.
        .target(name: "Stacking", dependencies: ["PluginAPI"], path: "Plugins/Stacking", publicHeadersPath: ".", cSettings: methodPluginFlags, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "Dropping", dependencies: ["PluginAPI"], path: "Plugins/Dropping", publicHeadersPath: ".", cSettings: methodPluginFlags, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "SelectiveBackprop", dependencies: ["PluginAPI"], path: "Plugins/SelectiveBackprop", publicHeadersPath: ".", cSettings: methodPluginFlags, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "RHO", dependencies: ["PluginAPI"], path: "Plugins/RHO", publicHeadersPath: ".", cSettings: methodPluginFlags, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "Lion", dependencies: ["PluginAPI"], path: "Plugins/Lion", publicHeadersPath: ".", cSettings: methodPluginFlags, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "Sophia", dependencies: ["PluginAPI"], path: "Plugins/Sophia", publicHeadersPath: ".", cSettings: methodPluginFlags, linkerSettings: [.linkedLibrary("m")]),

        // Example plugins: one in plain C, one in Swift. They depend on the C ABI only.
        .target(
            name: "ExampleSGDMomentum", dependencies: ["PluginAPI"], path: "Plugins/Examples/SGDMomentum", publicHeadersPath: ".",
            cSettings: [.unsafeFlags(["-fvisibility=hidden"])]),
        .target(name: "ExampleLRScale", dependencies: ["PluginAPI"], path: "Plugins/Examples/LRScale"),
        // A third-party-style optimizer that evaluates at other weights than it trains at
        // (PluginAPI v1.1's evaluation-weights extension, per-tensor step counts).
        .target(
            name: "ExampleScheduleFree", dependencies: ["PluginAPI"], path: "Plugins/Examples/ScheduleFree", publicHeadersPath: ".",
            cSettings: [.unsafeFlags(["-fvisibility=hidden"])], linkerSettings: [.linkedLibrary("m")]),

        // The host side of the plugin ABI: loading and checking libraries, the stack of a run's
        // plugins in per-step order, the C service table, and the services' step context.
        .target(name: "PluginHost", dependencies: ["Storage", "Clock", "TensorCore", "Models", "Corpus", "Workloads", "PluginAPI"]),

        // The host proper: the one TrainingStep, the Trainer that records runs, checkpoints, AdamW
        // and clipping, run settings, reference-profile lookup, the standalone plugin host and the
        // conformance checker.
        .target(
            name: "Host",
            dependencies: [
                "Storage", "Clock", "Records", "TensorCore", "Models", "Corpus", "Workloads", "PluginAPI", "PluginHost",
            ],
            resources: [.copy("Profiles")],  // default reference profiles, one per preset
            swiftSettings: numericSettings),

        // What a method needs prepared before its runs (MethodPreparation; RHO-LOSS's proxy and
        // irreducible-loss table), amortised and charged to no run.
        .target(name: "Preparation", dependencies: ["Storage", "Clock", "PluginHost", "Records", "TensorCore", "Models", "Corpus", "Workloads", "Host"]),

        // Downstream evaluation: fine-tuning a run's checkpoint on the task suite, never charged.
        .target(name: "Evaluation", dependencies: ["Storage", "Clock", "PluginHost", "Records", "TensorCore", "Models", "Corpus", "Tasks", "Workloads", "Host"],
                swiftSettings: numericSettings),

        // Measuring this machine: reference-profile calibration (host and plugin optimizers) and
        // `ntng bench` (step time against the measured GEMM ceiling).
        .target(name: "Benchmarks", dependencies: ["Storage", "Clock", "PluginHost", "TensorCore", "Models", "Corpus", "Workloads", "Host"],
                swiftSettings: numericSettings),

        // A/B comparisons: plans of trials under identical budgets, seeds and data, trials as child
        // processes, paired statistics, and the HTML report (Report/).
        .target(name: "Comparison", dependencies: ["Storage", "Clock", "PluginHost", "Records", "Models", "Corpus", "Workloads", "Host", "Preparation", "Evaluation"]),

        // The `ntng` executable: command-line parsing only; everything else lives in libraries.
        .executableTarget(
            name: "Commands",
            dependencies: [
                "Storage", "Clock", "Records", "TensorCore", "Models", "Corpus", "Tasks", "Workloads", "PluginHost", "Host", "Preparation", "Evaluation", "Comparison", "Benchmarks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Helpers shared by the test targets: temporary folders, a sample reference profile, a
        // settable clock, and ScriptedHost, the one stand-in for the host's plugin services.
        .target(name: "TestSupport", dependencies: ["Clock", "TensorCore", "Models", "Workloads", "PluginHost"], path: "Tests/TestSupport"),
        // Real runs for tests: a prepared fixture corpus, a tiny profile and a results store.
        .target(name: "TrainingFixtures", dependencies: ["Clock", "Corpus", "Host", "Models", "Records", "TensorCore", grdb],
                path: "Tests/TrainingFixtures"),
        .testTarget(name: "ClockTests", dependencies: ["Clock", "TestSupport"]),
        .testTarget(name: "RecordsTests", dependencies: ["Records", "Clock", "Storage", "TestSupport", grdb]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"]),
        // Fixtures/: transformers' T5 v1.1 loss and gradients on shared weights (scripts/t5-fixture).
        .testTarget(name: "ModelsTests", dependencies: ["Models", "TensorCore", "OneDNNKernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CorpusTests", dependencies: ["Corpus", "Tasks", "Storage"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "TestSupport"]),
        .testTarget(name: "WorkloadsTests", dependencies: ["Workloads", "Models", "TensorCore", "Corpus"]),
        .testTarget(name: "PluginHostTests", dependencies: ["PluginHost", "PluginAPI", "Workloads", "Models", "TensorCore", "Clock", "TestSupport"]),
        .testTarget(name: "HostTests", dependencies: ["Workloads", "PluginHost", "Host", "Records", "Clock", "Storage", "Models", "TensorCore", "Corpus", "TestSupport", "TrainingFixtures", "Benchmarks", grdb]),
        // The six reference plugins, a folder each, loaded through the real ABI.
        .testTarget(name: "PluginTests", dependencies: ["Workloads", "PluginHost", "Host", "Records", "Clock", "Storage", "Models", "TensorCore", "Corpus", "TestSupport", "TrainingFixtures", grdb, "Preparation"]),
        .testTarget(name: "PreparationTests", dependencies: ["Workloads", "PluginHost", "Host", "Records", "Clock", "Storage", "Models", "TensorCore", "Corpus", "TestSupport", "TrainingFixtures", grdb, "Preparation"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "Host", "Clock", "Models", "TensorCore", "Workloads", "PluginHost", "Records", "TestSupport", grdb]),
        // Hostile inputs against the real binary: clear errors, never a trap or a hang.
        .testTarget(name: "FaultTests", dependencies: ["TestSupport", "TrainingFixtures", "Corpus", "Records", grdb]),
        // Fixtures/: NLTK's Porter stems and rouge-score's ROUGE-L values (scripts/rouge-fixtures).
        .testTarget(name: "EvaluationTests", dependencies: ["Workloads", "PluginHost", "Host", "Records", "Clock", "Storage", "Models", "TensorCore", "Corpus", "TestSupport", "TrainingFixtures", grdb, "Evaluation", "Tasks"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ComparisonTests", dependencies: ["Workloads", "PluginHost", "Host", "Records", "Clock", "Storage", "Models", "TensorCore", "Corpus", "TestSupport", "TrainingFixtures", grdb, "Comparison", "Preparation", "Evaluation", "Benchmarks"]),
    ]
)
