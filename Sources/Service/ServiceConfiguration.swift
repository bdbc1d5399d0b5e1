import Foundation
import Jobs

/// Everything `montecluster serve` can be told, with the documented limits.
/// A node's part in a deployment of several on one PostgreSQL database (one node with SQLite is `all`).
public enum NodeRole: String, Sendable, CaseIterable {
    case all, api, worker
}

public struct ServiceConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port; the bound address is logged and printed.
    public var port: Int
    public var dataDirectory: String
    public var workers: Int
    /// Submissions beyond this many queued jobs get 429.
    public var maxQueuedJobs: Int
    /// JSON request bodies larger than this get 413.
    public var maxRequestBodyBytes: Int
    /// Dataset uploads and prediction bodies (streamed to disk) larger than this get 413; gzip
    /// content may expand to at most twice this.
    public var maxUploadBytes: Int
    /// Upper bound of `?wait=` on `GET /v1/jobs/{id}`.
    public var maxLongPollSeconds: Int
    public var maxAttempts: Int
    public var leaseDuration: TimeInterval
    public var heartbeatInterval: TimeInterval
    public var rescueInterval: TimeInterval
    /// Seconds an SSE stream waits without news before sending a keep-alive comment.
    public var keepAliveInterval: TimeInterval
    /// Record the running jobs when the process dies of a trap, and fail a job that did so
    /// `TrapRecord.limit` times (process-wide signal handlers: `montecluster serve` only, not in-process tests).
    public var recordTraps = false
    /// Also register the kinds that exist only for system tests (`test.trap`).
    public var testKinds = false
    /// Every request needs an API token. Always on for a non-loopback address unless `insecureNoAuth`.
    public var requireAuth = false
    /// Serve a non-loopback address without tokens (a loud warning at start).
    public var insecureNoAuth = false
    /// Host names requests may name besides the loopback ones and `host` ("*": any).
    public var allowedHosts: [String] = []
    /// Browser origins allowed by CORS (a notebook's, say); none by default.
    public var corsOrigins: [String] = []
    /// /metrics without a token that has the metrics scope.
    public var publicMetrics = false
    public var quotas = OwnerQuotas()
    /// Below this many free bytes in the data directory: /readyz is 503, uploads and submissions get 507.
    public var minFreeBytes: Int64 = 64 << 20
    /// Bytes kept in a reserve file, given up when the disk fills so deletes and cancels still commit.
    public var reserveBytes = 32 << 20
    /// Open connections beyond this get a 503 problem and are closed.
    public var maxConnections = 512
    /// Seconds a connection may take to send a request's head (and may wait idle between requests).
    public var headerTimeout: TimeInterval = 10
    /// Bytes of rendered plots kept in memory (a finished job's plots never change); 0 renders every request.
    public var plotCacheBytes = 64 << 20
    /// `postgres://…`: jobs, datasets' rows and tokens in PostgreSQL, shared by several nodes; nil: SQLite under the data directory.
    public var databaseURL: String? = nil
    /// What this node does: everything, only the HTTP API (claims nothing), or only running jobs (serves health and metrics).
    public var role: NodeRole = .all
    /// Where uploaded datasets' files live; several nodes share one folder (NFS, a shared volume). Default: <data>/datasets.
    public var blobDirectory: String? = nil

    public init(
        host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String = "./data",
        workers: Int = ProcessInfo.processInfo.activeProcessorCount, maxQueuedJobs: Int = 10_000,
        maxRequestBodyBytes: Int = 1 << 20, maxUploadBytes: Int = 512 << 20, maxLongPollSeconds: Int = 60, maxAttempts: Int = 3,
        leaseDuration: TimeInterval = 30, heartbeatInterval: TimeInterval = 5, rescueInterval: TimeInterval = 10,
        keepAliveInterval: TimeInterval = 15
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.workers = workers
        self.maxQueuedJobs = maxQueuedJobs
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxUploadBytes = maxUploadBytes
        self.maxLongPollSeconds = maxLongPollSeconds
        self.maxAttempts = maxAttempts
        self.leaseDuration = leaseDuration
        self.heartbeatInterval = heartbeatInterval
        self.rescueInterval = rescueInterval
        self.keepAliveInterval = keepAliveInterval
    }

    var workerPool: WorkerPool.Configuration {
        var pool = WorkerPool.Configuration(
            workers: workers, leaseDuration: leaseDuration, heartbeatInterval: heartbeatInterval,
            rescueInterval: rescueInterval)
        pool.sharedStore = databaseURL != nil
        return pool
    }
}
