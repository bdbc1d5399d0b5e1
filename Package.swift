// swift-tools-version: 6.2
import Foundation
import PackageDescription

// Tensor and Clustering are compiled for x86-64-v3 (AVX2 + FMA, every x86 CPU since ~2015): their
// element-wise loops vectorize 3–30× better than at the baseline. MONTECLUSTER_MARCH overrides it
// (e.g. MONTECLUSTER_MARCH=x86-64 for older CPUs). Exclusivity checks cost ~3 % in the tensor
// kernels, whose buffers are never aliased across accesses, so they are compiled without them.
#if arch(x86_64)
    let march = ProcessInfo.processInfo.environment["MONTECLUSTER_MARCH"] ?? "x86-64-v3"
    let numericFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=\(march)"])]
#else
    let numericFlags: [SwiftSetting] = []
#endif
// Training in an unoptimized build is 10–50× slower, which would make the test suite crawl;
// the numeric engine is optimized in debug builds too.
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
let tensorFlags = numericFlags + optimizedInDebug + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

// libFuzzer targets, declared only for scripts/fuzz.sh (MONTECLUSTER_FUZZ=1), which builds them with
// -sanitize=fuzzer,address in their own scratch folder; a normal build never sees them.
let fuzzTargets: [Target] =
    ProcessInfo.processInfo.environment["MONTECLUSTER_FUZZ"] == "1"
    ? [
        .target(name: "FuzzDriver", path: "Fuzz/FuzzDriver"),
        .executableTarget(name: "FuzzDatasets", dependencies: ["Clustering", "FuzzDriver"], path: "Fuzz/FuzzDatasets"),
        .executableTarget(name: "FuzzJSON", dependencies: ["Jobs", "FuzzDriver"], path: "Fuzz/FuzzJSON"),
        .executableTarget(name: "FuzzExpression", dependencies: ["Sampling", "FuzzDriver"], path: "Fuzz/FuzzExpression"),
        .executableTarget(name: "FuzzModel", dependencies: ["Sampling", "FuzzDriver"], path: "Fuzz/FuzzModel"),
        .executableTarget(
            name: "FuzzMultipart", dependencies: ["Service", "FuzzDriver", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/FuzzMultipart"),
    ] : []

let package = Package(
    name: "MonteCluster",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "montecluster", targets: ["montecluster"]),
        .library(name: "Jobs", targets: ["Jobs"]),
        .library(name: "Service", targets: ["Service"]),
        .library(name: "Sampling", targets: ["Sampling"]),
        .library(name: "Tensor", targets: ["Tensor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // HTTP part types for the connection guard in Hummingbird's pipeline (already in the graph through Hummingbird).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // SHA-256 of uploads as they stream in (already in the graph through Hummingbird's test client).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Streaming multipart/form-data parser for dataset uploads (Vapor's, with no Vapor dependency).
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        // PostgreSQL for several nodes on one database (issue 17): Vapor's driver, the one swift-jobs-postgres and
        // hummingbird-postgres build on, speaking the wire protocol on SwiftNIO.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // OpenBLAS (Debian libopenblas-dev) for matrix products.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        // Float32 tensors and their matrix products; the engine the clustering methods train on.
        .target(name: "Tensor", dependencies: ["COpenBLAS", "RandomStreams"], swiftSettings: tensorFlags),
        // Clustering algorithms (k-means, IIC), their metrics and dataset formats, on the tensor library.
        .target(name: "Clustering", dependencies: ["Tensor", "RandomStreams", "CZlib", "COpenBLAS"], swiftSettings: numericFlags + optimizedInDebug),
        // zlib (Debian zlib1g-dev) for gzip-compressed uploads.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Random streams, distributions, samplers, diagnostics and the target expression language.
        // Built for the baseline: its speed goals are met there, and it is the configuration its tests
        // have always passed in.
        .target(name: "Sampling", dependencies: ["RandomStreams"]),
        // Seeded random streams (xoshiro256++ with jump-ahead) and the ziggurat: the leaf every numeric
        // module draws from, so Tensor and Clustering need not depend on the samplers.
        .target(name: "RandomStreams"),
        // The sampler job kinds: parameter schemas, runs with progress and checkpoints, draw artifacts.
        .target(name: "SamplerKinds", dependencies: ["Jobs", "Sampling"]),
        // The clustering job kinds and the uploaded-dataset library they read from.
        .target(
            name: "ClusterKinds",
            dependencies: [
                "Jobs", "Clustering", "Tensor", "RandomStreams", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
        // The signal handler that records which jobs were running when the process died of a trap.
        .target(name: "CTrapMarker"),
        // glibc's malloc_trim, to give a finished job's freed memory back (Swift's Glibc module does not export it).
        .target(name: "CMemory"),
        // Job model, state machine, storage and worker pool: no HTTP in here.
        .target(
            name: "Jobs",
            dependencies: [
                "CTrapMarker",
                "CMemory",
                .product(name: "GRDB", package: "GRDB.swift"),
                // sqlite3_blob_* for streaming artifacts in chunks (GRDB has no incremental BLOB API).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                // SHA-256 of artifacts as they are stored (their ETag and the digest clients verify).
                .product(name: "Crypto", package: "swift-crypto"),
                // The store on PostgreSQL for several nodes (PostgresJobStore), next to the SQLite one.
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Plots of a finished job (metric curves, traces, montages…) drawn in Swift as SVG and PNG: no browser or
        // Python on the server. Optimized in debug builds too: a plot reads up to millions of draws.
        .target(name: "Plots", dependencies: ["Jobs", "Clustering", "CZlib"], swiftSettings: optimizedInDebug),
        // HTTP API on Hummingbird: routes, validation, problem+json, SSE.
        .target(
            name: "Service",
            dependencies: [
                "Jobs",
                "Plots",
                "SamplerKinds",
                "ClusterKinds",
                "Clustering",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
        .executableTarget(
            name: "montecluster",
            dependencies: [
                "Service",
                "Jobs",
                .product(name: "Hummingbird", package: "hummingbird"),
                "Tensor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Measurements behind bench/samplers (release build; prints JSON lines).
        .executableTarget(name: "sampler-bench", dependencies: ["Sampling"]),
        .executableTarget(name: "tensor-bench", dependencies: ["Tensor"]),
        .executableTarget(name: "cluster-bench", dependencies: ["Clustering"]),
        // Claims per second on a job store (bench/scale).
        .executableTarget(name: "store-bench", dependencies: ["Jobs"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "RandomStreams"]),
    ] + fuzzTargets + [
        .testTarget(name: "ClusteringTests", dependencies: ["Clustering", "RandomStreams"], resources: [.copy("Fixtures")]),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "CMemory"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots", "Jobs", "Clustering"]),
        .testTarget(name: "SamplerKindsTests", dependencies: ["SamplerKinds", "Jobs", "Sampling"]),
        .testTarget(name: "SamplingTests", dependencies: ["Sampling"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "ServiceTests",
            dependencies: [
                "Service",
                "Clustering",
                "ClusterKinds",
                "SamplerKinds",
                "Tensor",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)
