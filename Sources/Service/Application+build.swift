import ClusterKinds
import Foundation
import Hummingbird
import Jobs
import Logging
import NIOCore
import SamplerKinds
import Sampling

/// The job kinds every server has; the clustering kinds read datasets from `library`.
public func builtInKinds(library: DatasetLibrary, store: any JobStore) -> JobKindRegistry {
    JobKindRegistry(
        [CountingJobKind()]
            + samplerKinds(readDataset: { id, labels in
                // A model program's data_from: features as an N × d matrix, or the labels as ints.
                let dataset = try library.load(id)
                // Refused before the float64 copy: a model takes at most this many values per data item.
                guard dataset.values.count <= ExpressionLimits.maxWorkingValues else {
                    throw JobFailure("dataset \(id) has \(dataset.values.count) values; a model takes at most \(ExpressionLimits.maxWorkingValues)")
                }
                if labels {
                    guard let values = dataset.labels else { throw JobFailure("dataset \(id) has no labels") }
                    return ModelData(shape: [values.count], values: values.map(Double.init))
                }
                return ModelData(shape: [dataset.count, dataset.layout.sampleSize], values: dataset.values.map(Double.init))
            })
            + clusterKinds(
                library: library, job: { try store.job(id: $0) },
                artifact: { job, name in
                    // Only a succeeded job's model counts as trained.
                    guard try store.job(id: job)?.status == .succeeded else { return nil }
                    return try store.artifact(jobID: job, name: name)?.data
                }))
}

/// Builds the whole service (store, worker pool, routes) for `configuration`; `montecluster serve`
/// runs it and tests drive it in process.
public func buildApplication(
    _ configuration: ServiceConfiguration,
    kinds customKinds: JobKindRegistry? = nil,
    logger: Logger = Logger(label: "montecluster")
) throws -> some ApplicationProtocol {
    try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
    let lock = try DataDirectoryLock(directory: configuration.dataDirectory)
    let storage = StorageSpace(
        directory: configuration.dataDirectory, minFreeBytes: configuration.minFreeBytes,
        reserveBytes: configuration.reserveBytes)
    let store: any JobStore & TokenStore & DatasetStore
    if let url = configuration.databaseURL {
        // Several nodes on one database: no read cache (another node may write any row), changes heard by LISTEN.
        let postgres = try PostgresJobStore(url: url, poolSize: max(4, configuration.workers + 4), logger: logger)
        postgres.quotas = configuration.quotas
        postgres.storesDatasetFiles = configuration.blobDirectory == nil
        store = postgres
        logger.notice(
            "job store: PostgreSQL", metadata: ["database": "\(postgres.pool.location.redacted)", "role": "\(configuration.role.rawValue)"])
    } else {
        // The lock above makes this process the only writer, which the read cache relies on.
        let sqlite = try SQLiteJobStore(
            path: (configuration.dataDirectory as NSString).appendingPathComponent("montecluster.sqlite"),
            cachingReads: true)
        sqlite.quotas = configuration.quotas
        store = sqlite
    }
    let library = try DatasetLibrary(
        directory: configuration.blobDirectory.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("datasets"), store: store,
        maxDecompressedBytes: 2 * configuration.maxUploadBytes)
    var kinds = customKinds ?? builtInKinds(library: library, store: store)
    if configuration.testKinds { kinds.register(TrapTestJobKind()) }
    let trapRecord = configuration.recordTraps ? try TrapRecord(directory: URL(fileURLWithPath: configuration.dataDirectory)) : nil
    let metrics = ServiceMetrics()
    let pool = WorkerPool(
        store: store, registry: kinds, configuration: configuration.workerPool,
        logger: Logger(label: "montecluster.workers"),
        onFinish: { job, seconds in metrics.recordJob(job, seconds: seconds) }, trapRecord: trapRecord,
        storage: storage)
    if let postgres = store as? PostgresJobStore {
        postgres.observe(queued: { pool.workAvailable() }, changed: { pool.jobChanged($0) })
    }
    let state = ServiceState(configuration: configuration, store: store, pool: pool, registry: kinds, metrics: metrics, storage: storage)

    let policy = AccessPolicy(configuration)
    if !AccessPolicy.isLoopback(configuration.host) {
        if configuration.insecureNoAuth {
            logger.critical(
                """
                INSECURE: listening on \(configuration.host) WITHOUT authentication (--insecure-no-auth): anyone who reaches \
                the port can read, cancel and delete every job and dataset
                """)
        } else if try store.tokens().isEmpty {
            throw ServiceStartError(
                """
                refusing to listen on \(configuration.host) without API tokens: create one with \
                `montecluster tokens create --name NAME --data-dir \(configuration.dataDirectory)` (or pass --insecure-no-auth)
                """)
        }
    }

    // HEAD is answered by each GET handler with its headers and no body (artifact sizes and digests, say).
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    var routes = Routes(router: router)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: CORSHeadersMiddleware(policy: policy))
    // The table is filled below; the middleware reads it through this box once requests arrive.
    let tableBox = RouteTableBox()
    router.add(middleware: ProblemMiddleware(routes: tableBox, maxBodyBytes: configuration.maxRequestBodyBytes))
    router.add(middleware: AuthMiddleware(store: store, policy: policy))
    // A worker node serves only health, readiness and metrics; the API is the other nodes'.
    if configuration.role != .worker {
        JobRoutes(state: state).register(&routes)
        JobEventStream(state: state).register(&routes)
        JobLogRoutes(state: state).register(&routes)
        KindRoutes(registry: kinds).register(&routes)
        DatasetRoutes(state: state, library: library).register(&routes)
        PlotRoutes(state: state, library: library, cache: PlotCache(limitBytes: configuration.plotCacheBytes)).register(&routes)
        OpenAPIRoutes().register(&routes)
        DashboardRoutes().register(&routes)
    }
    HealthRoutes(state: state, policy: policy).register(&routes)
    tableBox.set(routes.table)

    let host = configuration.host
    let connections = ConnectionGuard.Counter(limit: configuration.maxConnections)
    let headerTimeout = TimeAmount.milliseconds(Int64(configuration.headerTimeout * 1000))
    return Application(
        router: router,
        server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionGuard(counter: connections, headerTimeout: headerTimeout)])),
        configuration: .init(address: .hostname(host, port: configuration.port), serverName: "montecluster"),
        // An API node claims nothing: its pool is never started.
        services: configuration.role == .api ? [] : [WorkerPoolService(state: state)],
        onServerRunning: { channel in
            _ = lock  // held for the server's lifetime
            let port = channel.localAddress?.port ?? configuration.port
            logger.notice("montecluster listening", metadata: ["address": "http://\(host):\(port)"])
            // The worker instance (the prefix of this node's worker ids) lets operators and tests tell nodes apart.
            let workers = configuration.role == .api ? "" : " (workers \(pool.instanceID))"
            FileHandle.standardOutput.write(Data("montecluster listening on http://\(host):\(port)\(workers)\n".utf8))
        },
        logger: logger)
}

/// Why `montecluster serve` will not start; printed as is.
public struct ServiceStartError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
