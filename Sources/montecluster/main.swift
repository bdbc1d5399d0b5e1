import ArgumentParser
import Foundation
import Logging
import Service
import Tensor

@main
struct MonteCluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "montecluster",
        abstract: "Monte Carlo samplers and clustering training as durable jobs over HTTP.",
        subcommands: [Serve.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server and its worker pool.")

    @Option(help: "Address to listen on (env MONTECLUSTER_HOST).")
    var host = env("MONTECLUSTER_HOST") ?? "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (env MONTECLUSTER_PORT).")
    var port = env("MONTECLUSTER_PORT").flatMap(Int.init) ?? 8080

    @Option(help: "Directory for the SQLite database (env MONTECLUSTER_DATA_DIR).")
    var dataDir = env("MONTECLUSTER_DATA_DIR") ?? "./data"

    @Option(help: "Worker threads running jobs; defaults to the core count (env MONTECLUSTER_WORKERS).")
    var workers = env("MONTECLUSTER_WORKERS").flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Queued jobs beyond which submissions get 429 (env MONTECLUSTER_MAX_QUEUED).")
    var maxQueued = env("MONTECLUSTER_MAX_QUEUED").flatMap(Int.init) ?? 10_000

    @Option(help: "Largest dataset upload or prediction body in bytes, streamed to disk (env MONTECLUSTER_MAX_UPLOAD_BYTES).")
    var maxUploadBytes = env("MONTECLUSTER_MAX_UPLOAD_BYTES").flatMap(Int.init) ?? 512 << 20

    @Option(help: "Seconds a worker's lease on a job lasts without renewal (env MONTECLUSTER_LEASE_SECONDS).")
    var leaseSeconds = env("MONTECLUSTER_LEASE_SECONDS").flatMap(Double.init) ?? 30

    @Option(help: "Open connections beyond which new ones get a 503 and are closed (env MONTECLUSTER_MAX_CONNECTIONS).")
    var maxConnections = env("MONTECLUSTER_MAX_CONNECTIONS").flatMap(Int.init) ?? 512

    @Option(help: "Seconds a connection may take to send a request head, or wait idle between requests (env MONTECLUSTER_HEADER_TIMEOUT).")
    var headerTimeout = env("MONTECLUSTER_HEADER_TIMEOUT").flatMap(Double.init) ?? 10

    @Option(help: "Log level: trace, debug, info, notice, warning, error (env MONTECLUSTER_LOG_LEVEL).")
    var logLevel = env("MONTECLUSTER_LOG_LEVEL") ?? "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard workers >= 1, workers <= 256 else { throw ValidationError("--workers must be between 1 and 256") }
        guard maxQueued >= 1 else { throw ValidationError("--max-queued must be at least 1") }
        guard maxUploadBytes >= 1024 else { throw ValidationError("--max-upload-bytes must be at least 1024") }
        guard leaseSeconds >= 2 else { throw ValidationError("--lease-seconds must be at least 2") }
        guard (1...100_000).contains(maxConnections) else { throw ValidationError("--max-connections must be between 1 and 100000") }
        guard headerTimeout >= 0.1, headerTimeout <= 3600 else { throw ValidationError("--header-timeout must be between 0.1 and 3600 seconds") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
    }

    func run() async throws {
        // Before anything else: may re-execute the process with OpenBLAS's fast kernels selected.
        BLASRuntime.ensureFastKernels()
        TensorRuntime.keepFreedBuffers()
        // One intra-op thread per job: the worker pool already runs jobs side by side, and bench/tensor
        // measured two BLAS threads 1.3–3× slower than one while the other core is busy.
        BLASRuntime.setThreads(env("MONTECLUSTER_TENSOR_THREADS").flatMap(Int.init) ?? 1)
        var logger = Logger(label: "montecluster")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var configuration = ServiceConfiguration(
            host: host, port: port, dataDirectory: dataDir, workers: workers, maxQueuedJobs: maxQueued, maxUploadBytes: maxUploadBytes,
            leaseDuration: leaseSeconds, heartbeatInterval: max(1, leaseSeconds / 6), rescueInterval: max(1, leaseSeconds / 3))
        configuration.recordTraps = true
        configuration.maxConnections = maxConnections
        configuration.headerTimeout = headerTimeout
        configuration.testKinds = env("MONTECLUSTER_TEST_KINDS") == "1"
        let app = try buildApplication(configuration, logger: logger)
        try await app.runService()
    }
}

private func env(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}
