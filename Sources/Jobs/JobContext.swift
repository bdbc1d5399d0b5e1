import Foundation
import Logging

/// What a run function sees of the service: its job, cancellation, and the durable outputs
/// (progress, metrics, checkpoints, artifacts). One context per run, used on one worker thread.
public final class JobContext: @unchecked Sendable {
    public let job: Job
    /// The validated parameters with defaults filled in.
    public let params: JSONValue
    public let logger: Logger

    private let store: any JobStore
    private let workerID: String
    private let flag: CancellationFlag
    private let progressInterval: TimeInterval
    private var pendingMetrics: [MetricPoint] = []
    private var lastMetricFlush = Date()
    private var lastCheckpoint = Date()
    private var lastProgress: (time: Date, phase: String?)?
    private var announcedResume = false
    private var phaseChanges = 0

    init(
        job: Job, store: any JobStore, workerID: String, flag: CancellationFlag, logger: Logger,
        progressInterval: TimeInterval = 0.2
    ) {
        self.job = job
        self.params = job.params
        self.store = store
        self.workerID = workerID
        self.flag = flag
        self.logger = logger
        self.progressInterval = progressInterval
    }

    public var isCancelled: Bool { flag.reason != nil }

    /// Throws when the run should stop: a cancel request, a server shutdown, or a lost lease.
    public func checkCancellation() throws {
        if let reason = flag.reason { throw reason }
    }

    /// Reports progress. Calls closer together than the progress interval are coalesced, except
    /// a phase change or completion, so a tight loop can report every step cheaply.
    public func progress(_ fraction: Double, phase: String? = nil, message: String? = nil) {
        let now = Date()
        let clamped = min(max(fraction.isFinite ? fraction : 0, 0), 1)
        if let last = lastProgress, last.phase == phase, clamped < 1,
            now.timeIntervalSince(last.time) < progressInterval
        {
            return
        }
        let phaseChanged = phase != nil && lastProgress?.phase != phase
        lastProgress = (now, phase)
        if phaseChanged, let phase {
            // A kind that alternates phases every epoch would fill the log with them: the first 200 are told.
            phaseChanges += 1
            if phaseChanges <= 200 {
                log("phase \(phase)" + (message.map { ": \($0)" } ?? ""))
            } else if phaseChanges == 201 {
                log("later phase changes are not logged (progress shows the current one)")
            }
        }
        do {
            try store.reportProgress(
                jobID: job.id, workerID: workerID,
                progress: JobProgress(fraction: clamped, phase: phase, message: message), now: now)
        } catch {
            logger.warning("progress not recorded", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Records a metric value. Values are buffered and written in batches; a checkpoint writes
    /// them in its own transaction, so a resumed run never lacks the metrics its checkpoint covers.
    public func metric(_ name: String, step: Int64, value: Double) {
        pendingMetrics.append(MetricPoint(name: name, step: step, value: value))
        if pendingMetrics.count >= 512 || Date().timeIntervalSince(lastMetricFlush) >= progressInterval {
            try? flushMetrics()
        }
    }

    public func flushMetrics() throws {
        guard !pendingMetrics.isEmpty else { return }
        try store.recordMetrics(jobID: job.id, workerID: workerID, pendingMetrics)
        pendingMetrics.removeAll(keepingCapacity: true)
        lastMetricFlush = Date()
    }

    /// Saves state to resume from after a crash. `keep` bounds how many old checkpoints stay.
    public func checkpoint(step: Int64, data: Data, keep: Int = 2) throws {
        try store.saveCheckpoint(
            jobID: job.id, workerID: workerID, step: step, data: data,
            metrics: pendingMetrics, keep: keep, now: Date())
        pendingMetrics.removeAll(keepingCapacity: true)
        lastMetricFlush = Date()
        lastCheckpoint = Date()
    }

    /// Seconds of work between checkpoints for `checkpointIfDue`.
    public static let checkpointInterval: TimeInterval = 2

    /// Saves a checkpoint once `interval` seconds have passed since the last one (or since the run began); `data` is
    /// only built then. For work whose steps take milliseconds — a k-means run on embeddings — a checkpoint after
    /// every step (a SQLite transaction) costs more than the steps; a crash loses at most `interval` of work.
    public func checkpointIfDue(step: Int64, interval: TimeInterval = JobContext.checkpointInterval, data: () throws -> Data) throws {
        guard Date().timeIntervalSince(lastCheckpoint) >= interval else { return }
        try checkpoint(step: step, data: try data())
    }

    /// The checkpoint an earlier attempt left, if any (the job's log says the run resumes from it).
    public func latestCheckpoint() throws -> Checkpoint? {
        let checkpoint = try store.latestCheckpoint(jobID: job.id)
        if let checkpoint, !announcedResume {
            announcedResume = true
            log("resuming from the checkpoint at step \(checkpoint.step) (attempt \(job.attempt) of \(job.maxAttempts))")
        }
        return checkpoint
    }

    /// Writes a line to the job's log (`GET /v1/jobs/{id}/logs`, `log` events in SSE) and to the server's log.
    public func log(_ message: String, level: JobLogLevel = .info) {
        switch level {
        case .info: logger.info("\(message)", metadata: ["job": "\(job.id)"])
        case .warning: logger.warning("\(message)", metadata: ["job": "\(job.id)"])
        case .error: logger.error("\(message)", metadata: ["job": "\(job.id)"])
        }
        do {
            try store.appendLog(jobID: job.id, workerID: workerID, level: level, message: message, now: Date())
        } catch {
            logger.warning("log line not recorded", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    public func artifact(_ name: String, mediaType: String, data: Data) throws {
        try store.putArtifact(jobID: job.id, workerID: workerID, name: name, mediaType: mediaType, data: data, now: Date())
    }
}
