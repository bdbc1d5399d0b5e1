import ArgumentParser
import Foundation
import Logging
import Jobs
import Service
import Hummingbird
import Tensor

@main
struct MonteCluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "montecluster",
        abstract: "Monte Carlo samplers and clustering training as durable jobs over HTTP.",
        version: MonteClusterVersion.current,
        subcommands: [Serve.self, Tokens.self])
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

    @Flag(help: "Require an API token on every request, also on loopback (always on for other addresses).")
    var requireAuth = false

    @Flag(help: "Serve a non-loopback address WITHOUT authentication. Anyone who reaches the port controls every job.")
    var insecureNoAuth = false

    @Option(help: "A host name clients may use besides the loopback names and --host (repeatable; '*' allows any).")
    var allowedHost: [String] = []

    @Option(help: "A browser origin allowed by CORS, e.g. http://localhost:8888 for a notebook (repeatable).")
    var corsOrigin: [String] = []

    @Option(help: "PostgreSQL for several nodes, postgres://user:password@host:port/database (env MONTECLUSTER_DATABASE_URL); SQLite when absent.")
    var databaseURL = env("MONTECLUSTER_DATABASE_URL")

    @Option(help: "all (default), api (HTTP only, claims nothing) or worker (runs jobs; serves /healthz, /readyz, /metrics) (env MONTECLUSTER_ROLE).")
    var role = env("MONTECLUSTER_ROLE") ?? "all"

    @Option(
        help:
            "Folder for uploaded datasets' files, shared by every node of a PostgreSQL deployment (env MONTECLUSTER_BLOB_DIR); default DATA_DIR/datasets."
    )
    var blobDir = env("MONTECLUSTER_BLOB_DIR")

    @Option(help: "Bytes of rendered plots kept in memory; 0 renders every request anew (env MONTECLUSTER_PLOT_CACHE_BYTES).")
    var plotCacheBytes = env("MONTECLUSTER_PLOT_CACHE_BYTES").flatMap(Int.init) ?? 64 << 20

    @Flag(help: "Serve /metrics without a token that has the metrics scope.")
    var publicMetrics = false

    @Option(help: "Queued jobs one token's owner may have (env MONTECLUSTER_QUOTA_QUEUED).")
    var quotaQueued = env("MONTECLUSTER_QUOTA_QUEUED").flatMap(Int.init) ?? 1_000

    @Option(help: "Jobs one owner may run at once (env MONTECLUSTER_QUOTA_RUNNING).")
    var quotaRunning = env("MONTECLUSTER_QUOTA_RUNNING").flatMap(Int.init) ?? 1_000

    @Option(help: "Bytes of datasets and artifacts one owner may keep (env MONTECLUSTER_QUOTA_BYTES).")
    var quotaBytes = env("MONTECLUSTER_QUOTA_BYTES").flatMap(Int64.init) ?? 10 << 30

    @Option(
        help: """
            Free bytes in the data directory below which /readyz is 503 and uploads and submissions get 507 \
            (env MONTECLUSTER_MIN_FREE_BYTES).
            """)
    var minFreeBytes = env("MONTECLUSTER_MIN_FREE_BYTES").flatMap(Int64.init) ?? 64 << 20

    @Option(help: "Bytes of a reserve file given up when the disk fills, so deletes and cancels still commit (env MONTECLUSTER_RESERVE_BYTES).")
    var reserveBytes = env("MONTECLUSTER_RESERVE_BYTES").flatMap(Int.init) ?? 32 << 20

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
        guard minFreeBytes >= 0, reserveBytes >= 0, reserveBytes <= 1 << 34 else {
            throw ValidationError("--min-free-bytes and --reserve-bytes must be non-negative (the reserve at most 16 GiB)")
        }
        guard quotaQueued >= 1, quotaRunning >= 1, quotaBytes >= 0 else { throw ValidationError("quotas must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
        guard NodeRole(rawValue: role) != nil else { throw ValidationError("--role is all, api or worker, not \(role)") }
        if let databaseURL, PostgresLocation(url: databaseURL) == nil {
            throw ValidationError("--database-url must be postgres://user:password@host:port/database")
        }
        if NodeRole(rawValue: role) != .all, databaseURL == nil {
            throw ValidationError("--role \(role) needs --database-url: nodes share one PostgreSQL database")
        }
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
        configuration.minFreeBytes = minFreeBytes
        configuration.reserveBytes = reserveBytes
        configuration.requireAuth = requireAuth
        configuration.insecureNoAuth = insecureNoAuth
        configuration.allowedHosts = allowedHost
        configuration.corsOrigins = corsOrigin
        configuration.publicMetrics = publicMetrics
        configuration.quotas = OwnerQuotas(maxQueued: quotaQueued, maxRunning: quotaRunning, maxStoredBytes: quotaBytes)
        configuration.headerTimeout = headerTimeout
        configuration.plotCacheBytes = max(0, plotCacheBytes)
        configuration.databaseURL = databaseURL
        configuration.blobDirectory = blobDir
        configuration.role = NodeRole(rawValue: role) ?? .all
        configuration.testKinds = env("MONTECLUSTER_TEST_KINDS") == "1"
        let app: any ApplicationProtocol
        do {
            app = try buildApplication(configuration, logger: logger)
        } catch let error as ServiceStartError {
            FileHandle.standardError.write(Data("montecluster: \(error)\n".utf8))
            throw ExitCode(2)
        }
        try await app.runService()
    }
}

struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "API tokens: each job and dataset belongs to the token that created it.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Location: ParsableArguments {
        @Option(help: "The server's data directory (env MONTECLUSTER_DATA_DIR).")
        var dataDir = env("MONTECLUSTER_DATA_DIR") ?? "./data"

        @Option(help: "The servers' PostgreSQL database instead (env MONTECLUSTER_DATABASE_URL).")
        var databaseURL = env("MONTECLUSTER_DATABASE_URL")

        func open() throws -> any TokenStore {
            if let databaseURL { return try PostgresJobStore(url: databaseURL, poolSize: 1) }
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            return try SQLiteJobStore(path: (dataDir as NSString).appendingPathComponent("montecluster.sqlite"))
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it (once: only its hash is kept).")
        @OptionGroup var location: Location
        @Option(help: "The owner name: jobs and datasets made with the token belong to it.") var name: String
        @Flag(help: "An admin token sees and manages everyone's jobs and datasets.") var admin = false
        @Option(help: "Extra scopes (repeatable): metrics (read /metrics).") var scope: [String] = []

        func validate() throws {
            guard (1...64).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) }) else {
                throw ValidationError("--name must be 1 to 64 letters, digits or -_.@")
            }
            guard scope.allSatisfy({ $0 == "metrics" }) else { throw ValidationError("the only scope is metrics") }
        }

        func run() throws {
            let secret = issueToken(name: name, admin: admin, scopes: Set(scope), store: try location.open())
            print(try secret.get())
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (names and roles; secrets are not kept).")
        @OptionGroup var location: Location

        func run() throws {
            for token in try location.open().tokens() {
                let role = token.admin ? "admin" : "user"
                let created = Timestamp.format(token.createdAt)
                print("\(token.name)\t\(role)\t\(token.scopes.sorted().joined(separator: ","))\t\(created)")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token; requests with it get 401 from then on.")
        @OptionGroup var location: Location
        @Option(help: "The token's name.") var name: String

        func run() throws {
            guard try location.open().revokeToken(name: name) else {
                FileHandle.standardError.write(Data("no token named \(name)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}

private func env(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}
