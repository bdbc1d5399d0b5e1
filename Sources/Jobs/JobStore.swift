import Foundation

public enum JobStoreError: Error, Sendable, Equatable {
    case notFound(String)
    /// The job is in `current` and the request needs a state it cannot move from there.
    case illegalTransition(jobID: String, current: JobStatus, requested: String)
    /// The idempotency key was used before with a different request body.
    case idempotencyConflict(key: String, existingJobID: String)
    case queueFull(limit: Int)
    /// The job refers to a row (a dataset, another job) that is not there or not the submitter's, checked
    /// in the insert's transaction so a concurrent delete cannot leave a queued job without its data.
    case referenceMissing(ResourceReference)
    /// An owner's quota would be exceeded: `what` ("queued jobs", "stored bytes"), the limit and the current use.
    case quotaExceeded(what: String, limit: Int64, current: Int64)
}

/// What a worker learns when it renews its lease.
public enum LeaseRenewal: Sendable, Equatable {
    case held
    case cancelRequested
    /// Another worker or the rescuer took the job; the current run must stop without writing.
    case lost
}

/// What became of jobs found abandoned (their process died or their lease ran out).
public struct RescueReport: Sendable, Equatable {
    public var requeued: [String] = []
    public var failed: [String] = []
    public var cancelled: [String] = []
    public init() {}
}

/// Durable storage of jobs and everything they produce: `SQLiteJobStore` (one node) and `PostgresJobStore` (several
/// nodes on one database) implement it, and one conformance suite runs against both, so nothing above it may assume
/// either.
///
/// Calls are synchronous: worker threads call them directly, the HTTP layer off its event loops.
/// How much a job's log line matters; the name is what `GET /logs` prints.
public enum JobLogLevel: String, Sendable, Codable {
    case info, warning, error
}

public protocol JobStore: Sendable {
    /// Subscribers are told after every committed change to a job.
    var changes: JobChangeFeed { get }

    /// Inserts a queued job. With an idempotency key seen before, returns that job and `created == false`.
    func submit(_ submission: JobSubmission, maxQueued: Int, now: Date) throws -> (job: Job, created: Bool)
    func job(id: String) throws -> Job?
    /// Whether the row a job would read exists and belongs to `owner` (any owner's for an admin): what `submit`
    /// checks again in its transaction, asked before a kind validates parameters, so that validation (a source
    /// job's status, a dataset's size) reveals nothing of another owner's rows.
    func referenceVisible(_ reference: ResourceReference, owner: String?, admin: Bool) throws -> Bool
    /// The job if it is in memory, without touching the database (nil when not cached): the HTTP
    /// edge answers hot reads with it on the spot and sends the rest to a thread that may block.
    func cachedJob(id: String) -> Job?
    func jobs(matching query: JobQuery) throws -> [Job]
    func countsByStatus() throws -> [JobStatus: Int]

    /// Atomically takes the highest-priority, oldest queued job for `workerID`, or returns nil.
    func claim(workerID: String, leaseDuration: TimeInterval, now: Date) throws -> Job?
    func renewLease(jobID: String, workerID: String, leaseDuration: TimeInterval, now: Date) throws -> LeaseRenewal
    func reportProgress(jobID: String, workerID: String, progress: JobProgress, now: Date) throws
    /// Records metric points, only while `workerID` holds the job (`JobRunError.leaseLost` otherwise): a worker that lost
    /// its lease (paused, cut off) cannot write into the new owner's history.
    func recordMetrics(jobID: String, workerID: String, _ points: [MetricPoint]) throws
    /// Appends a line to the job's log (a `log` event), only while `workerID` holds the job.
    func appendLog(jobID: String, workerID: String, level: JobLogLevel, message: String, now: Date) throws
    /// Saves a checkpoint together with the metrics recorded up to it, in one transaction.
    func saveCheckpoint(jobID: String, workerID: String, step: Int64, data: Data, metrics: [MetricPoint], keep: Int, now: Date) throws
    func latestCheckpoint(jobID: String) throws -> Checkpoint?
    /// Stores an artifact, only while `workerID` holds the job (`JobRunError.leaseLost` otherwise).
    func putArtifact(jobID: String, workerID: String, name: String, mediaType: String, data: Data, now: Date) throws
    /// Ends a run. Returns nil when the worker no longer holds the job (its write is dropped).
    @discardableResult
    func finish(jobID: String, workerID: String, outcome: JobOutcome, now: Date) throws -> Job?

    func requestCancel(jobID: String, now: Date) throws -> Job
    /// Deletes a terminal job with its metrics, events, checkpoints and artifacts.
    func delete(jobID: String) throws

    /// Points in (name, step) order: a page of one or several series, after a cursor.
    func metrics(jobID: String, matching query: MetricQuery) throws -> [MetricPoint]
    /// Each metric a job recorded: its name, how many points, and its last step and value.
    func metricSeries(jobID: String) throws -> [MetricSeries]
    func events(jobID: String, after sequence: Int64, limit: Int) throws -> [JobEvent]
    /// Only the status and log events (a job's log), filtered by the database: a job with a million metric points
    /// does not make `GET /logs` read them.
    func logEvents(jobID: String, after sequence: Int64, limit: Int) throws -> [JobEvent]
    func artifacts(jobID: String) throws -> [ArtifactInfo]
    func artifact(jobID: String, name: String) throws -> Artifact?
    /// An artifact's description and where to read it, without its bytes.
    func artifactLocation(jobID: String, name: String) throws -> (info: ArtifactInfo, location: Int64)?
    /// Up to `length` bytes of the artifact at `location` from `offset`: downloads stream in chunks, so
    /// a slow reader of a large artifact holds one chunk, not the whole file.
    func readArtifact(at location: Int64, offset: Int, length: Int) throws -> Data

    /// Requeues (or, past their attempt budget, fails) jobs held by workers that are gone:
    /// every active job when `allActive` (start-up after a crash), else those whose lease expired.
    func rescueAbandoned(allActive: Bool, now: Date) throws -> RescueReport
    /// Fails a running or cancelling job whatever worker holds it (the worker pool's start, for a job
    /// that crashed earlier processes); nil when the job is not active.
    func failActive(jobID: String, reason: String, now: Date) throws -> Job?

    /// Cheap round trip for readiness checks.
    func ping() throws
}

extension JobStore {
    /// One series (or all, with `name == nil`) from `sinceStep`, up to `limit` points.
    public func metrics(jobID: String, name: String?, sinceStep: Int64?, limit: Int) throws -> [MetricPoint] {
        try metrics(jobID: jobID, matching: MetricQuery(names: name.map { [$0] } ?? [], sinceStep: sinceStep, limit: limit))
    }
}
