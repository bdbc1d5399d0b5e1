import Crypto
import Foundation
import GRDB
import GRDBSQLite

/// The job store on SQLite (GRDB, WAL mode, `synchronous=FULL`): a job acknowledged to a client
/// survives a power cut, and readers never block the single writer.
public final class SQLiteJobStore: JobStore {
    public let changes: JobChangeFeed
    let database: DatabasePool
    /// For the stores that keep their rows in the same database (datasets, on the clustering side).
    package var storeDatabase: DatabasePool { database }
    private let cache: JobSnapshotCache?
    /// Limits per owner (the token that submitted); set once before the store is shared.
    nonisolated(unsafe) public var quotas = OwnerQuotas()

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// `cachingReads` keeps recent job rows in memory for `job(id:)`; enable it only when this
    /// store is the database's one writer (another process's writes would not invalidate it).
    public init(path: String, changes: JobChangeFeed = JobChangeFeed(), cachingReads: Bool = false) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "montecluster.jobs"
        self.database = try DatabasePool(path: path, configuration: configuration)
        self.changes = changes
        self.cache = cachingReads ? JobSnapshotCache() : nil
        // GRDB chooses NORMAL for WAL databases; job state must survive power loss, so the
        // writer (the only connection that commits) runs with FULL.
        try database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        try SQLiteSchema.migrator.migrate(database)
    }

    /// The writer's `PRAGMA synchronous` (2 is FULL); tests check durability settings with it.
    public func synchronousSetting() throws -> Int {
        try database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    // MARK: Submitting and reading

    public func submit(_ submission: JobSubmission, maxQueued: Int, now: Date) throws -> (job: Job, created: Bool) {
        let outcome: (Job, Bool) = try database.write { db in
            if let key = submission.idempotencyKey,
                let row = try Row.fetchOne(db, sql: "SELECT \(Self.jobColumns), fingerprint FROM jobs WHERE idempotency_key = ?", arguments: [key])
            {
                let existing = try Self.job(from: row)
                // Another owner's key: a conflict that names no job, so nothing of theirs is revealed.
                guard existing.owner == submission.owner else { throw JobStoreError.idempotencyConflict(key: key, existingJobID: "of another owner") }
                guard row["fingerprint"] as String == submission.fingerprint else {
                    throw JobStoreError.idempotencyConflict(key: key, existingJobID: existing.id)
                }
                return (existing, false)
            }
            // What the job reads (its kind said which rows) must exist and be the submitter's, checked here
            // so that a concurrent delete cannot leave a queued job without its data.
            for reference in submission.references {
                guard reference.table.allSatisfy({ $0.isLetter || $0 == "_" }),
                    let row = try Row.fetchOne(db, sql: "SELECT owner FROM \(reference.table) WHERE id = ?", arguments: [reference.id]),
                    submission.ownerIsAdmin || (row["owner"] as String?) == submission.owner
                else { throw JobStoreError.referenceMissing(reference) }
            }
            let queued = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE status = \(JobStatus.queued.sql)") ?? 0
            if queued >= maxQueued { throw JobStoreError.queueFull(limit: maxQueued) }
            // Quotas are per token owner; requests without a token (loopback only) have the server's limits.
            if let owner = submission.owner {
                let quotas = self.quotas
                let ownQueued =
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE status = \(JobStatus.queued.sql) AND owner = ?", arguments: [owner])
                    ?? 0
                if ownQueued >= quotas.maxQueued {
                    throw JobStoreError.quotaExceeded(what: "queued jobs", limit: Int64(quotas.maxQueued), current: Int64(ownQueued))
                }
                let stored = try Self.storedBytes(db, owner: owner)
                if stored >= quotas.maxStoredBytes {
                    throw JobStoreError.quotaExceeded(what: "stored bytes", limit: quotas.maxStoredBytes, current: stored)
                }
            }
            let id = UUID().uuidString.lowercased()
            let row = try Row.fetchOne(
                db,
                sql: """
                    INSERT INTO jobs (id, kind, name, priority, params, status, attempt, max_attempts,
                                      created_at, idempotency_key, fingerprint, version, owner, tags, metadata)
                    VALUES (?, ?, ?, ?, ?, \(JobStatus.queued.sql), 0, ?, ?, ?, ?, 1, ?, ?, ?)
                    RETURNING \(Self.jobColumns)
                    """,
                arguments: [
                    id, submission.kind, submission.name, submission.priority, submission.params.canonicalText(),
                    submission.maxAttempts, now.timeIntervalSince1970, submission.idempotencyKey, submission.fingerprint,
                    submission.owner, JSONValue.array(submission.tags.map(JSONValue.string)).canonicalText(),
                    submission.metadata.canonicalText(),
                ])!
            let job = try Self.job(from: row)
            try Self.appendStatusEvent(db, job: job, now: now)
            return (job, true)
        }
        if outcome.1 { committed(outcome.0.id) }
        return outcome
    }

    public func referenceVisible(_ reference: ResourceReference, owner: String?, admin: Bool) throws -> Bool {
        guard reference.table.allSatisfy({ $0.isLetter || $0 == "_" }) else { return false }
        return try database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT owner FROM \(reference.table) WHERE id = ?", arguments: [reference.id]) else {
                return false
            }
            return admin || (row["owner"] as String?) == owner
        }
    }

    public func job(id: String) throws -> Job? {
        let (cached, epoch) = cache?.lookup(id) ?? (nil, 0)
        if let cached { return cached }
        // One SELECT is consistent on its own, so the read skips GRDB's wrapping transaction, and the
        // prepared statement is reused: this is the hot path of status polling.
        let job = try database.unsafeRead { db in
            let statement = try db.cachedStatement(sql: "SELECT \(Self.jobColumns) FROM jobs WHERE id = ?")
            return try Row.fetchOne(statement, arguments: [id]).map(Self.job(from:))
        }
        if let job { cache?.store(job, readAtEpoch: epoch) }
        return job
    }

    public func cachedJob(id: String) -> Job? { cache?.lookup(id).job }

    /// Every write to a job's row ends here once committed: waiters hear of it, the cache forgets it.
    private func committed(_ jobID: String, notify: Bool = true) {
        cache?.invalidate(jobID)
        if notify { changes.publish(jobID: jobID) }
    }

    public func jobs(matching query: JobQuery) throws -> [Job] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if !query.statuses.isEmpty {
            conditions.append("status IN (\(query.statuses.map { _ in "?" }.joined(separator: ",")))")
            for status in query.statuses { _ = arguments.append(contentsOf: [status.rawValue]) }
        }
        if !query.kinds.isEmpty {
            conditions.append("kind IN (\(query.kinds.map { _ in "?" }.joined(separator: ",")))")
            for kind in query.kinds { _ = arguments.append(contentsOf: [kind]) }
        }
        if let prefix = query.namePrefix {
            // substr compares exactly (LIKE would treat % and _ as wildcards and ignore case).
            conditions.append("substr(name, 1, ?) = ?")
            _ = arguments.append(contentsOf: [prefix.count, prefix])
        }
        if let tag = query.tag {
            conditions.append("EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE json_each.value = ?)")
            _ = arguments.append(contentsOf: [tag])
        }
        if let after = query.createdAfter {
            conditions.append("created_at >= ?")
            _ = arguments.append(contentsOf: [after.timeIntervalSince1970])
        }
        if let before = query.createdBefore {
            conditions.append("created_at < ?")
            _ = arguments.append(contentsOf: [before.timeIntervalSince1970])
        }
        if let before = query.beforeSequence {
            conditions.append("seq < ?")
            _ = arguments.append(contentsOf: [before])
        }
        if case .only(let owner) = query.owner {
            conditions.append("owner IS ?")
            _ = arguments.append(contentsOf: [owner])
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        _ = arguments.append(contentsOf: [query.limit])
        let sql = "SELECT \(Self.jobColumns) FROM jobs \(whereClause) ORDER BY seq DESC LIMIT ?"
        return try database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.job(from:))
        }
    }

    public func countsByStatus() throws -> [JobStatus: Int] {
        try database.read { db in
            var counts: [JobStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status") {
                if let status = JobStatus(rawValue: row["status"]) { counts[status] = row["n"] }
            }
            return counts
        }
    }

    // MARK: Worker side

    public func claim(workerID: String, leaseDuration: TimeInterval, now: Date) throws -> Job? {
        // One statement picks and takes the job, so two claimers can never both get it.
        try transition(
            """
            UPDATE jobs
            SET status = \(JobStatus.running.sql), worker_id = ?, attempt = attempt + 1,
                started_at = COALESCE(started_at, ?), heartbeat_at = ?, lease_expires_at = ?,
                version = version + 1
            WHERE status = \(JobStatus.queued.sql) AND seq = (
                SELECT seq FROM jobs AS q WHERE q.status = \(JobStatus.queued.sql)
                    AND (q.owner IS NULL
                         OR (SELECT COUNT(*) FROM jobs AS r WHERE r.owner = q.owner AND r.status IN \(JobStatus.sqlList(JobStatus.holdingWorker))) < ?)
                ORDER BY q.priority DESC, q.seq ASC LIMIT 1)
            RETURNING \(Self.jobColumns)
            """,
            [workerID, now.timeIntervalSince1970, now.timeIntervalSince1970, now.timeIntervalSince1970 + leaseDuration, quotas.maxRunning],
            now: now)
    }

    /// One `UPDATE … RETURNING` that moves at most one job to a new status, with its status event, in one
    /// transaction (`also` adds to it); waiters hear of it once committed. Nil when no row matched.
    private func transition(_ sql: String, _ arguments: StatementArguments, now: Date, also: (Database, Job) throws -> Void = { _, _ in })
        throws -> Job?
    {
        let moved: Job? = try database.write { db in
            guard let row = try Row.fetchOne(db, sql: sql, arguments: arguments) else { return nil }
            let job = try Self.job(from: row)
            try also(db, job)
            try Self.appendStatusEvent(db, job: job, now: now)
            return job
        }
        if let moved { committed(moved.id) }
        return moved
    }

    public func renewLease(jobID: String, workerID: String, leaseDuration: TimeInterval, now: Date) throws -> LeaseRenewal {
        // A renewal changes heartbeat_at (and so the ETag) but wakes no long poll: nothing a client waits for changed.
        defer { cache?.invalidate(jobID) }
        return try database.write { db in
            let status = try String.fetchOne(
                db,
                sql: """
                    UPDATE jobs SET heartbeat_at = ?, lease_expires_at = ?, version = version + 1
                    WHERE id = ? AND worker_id = ? AND status IN \(JobStatus.sqlList(JobStatus.holdingWorker))
                    RETURNING status
                    """,
                arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970 + leaseDuration, jobID, workerID])
            switch status {
            case nil: return .lost
            case "cancelling": return .cancelRequested
            default: return .held
            }
        }
    }

    public func reportProgress(jobID: String, workerID: String, progress: JobProgress, now: Date) throws {
        let updated: Bool = try database.write { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET progress = ?, phase = ?, message = ?, version = version + 1
                    WHERE id = ? AND worker_id = ? AND status IN \(JobStatus.sqlList(JobStatus.holdingWorker))
                    """,
                arguments: [progress.fraction, progress.phase, progress.message, jobID, workerID])
            guard db.changesCount > 0 else { return false }
            try Self.appendEvent(db, jobID: jobID, type: .progress, data: JobEvent.progressData(progress), now: now)
            return true
        }
        if updated { committed(jobID) }
    }

    public func appendLog(jobID: String, workerID: String, level: JobLogLevel, message: String, now: Date) throws {
        let written: Bool = try database.write { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID) else { return false }
            try Self.appendEvent(db, jobID: jobID, type: .log, data: JobEvent.logData(level: level, message: message), now: now)
            return true
        }
        if written { changes.publish(jobID: jobID) }
    }

    public func recordMetrics(jobID: String, workerID: String, _ points: [MetricPoint]) throws {
        guard !points.isEmpty else { return }
        try database.write { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID) else { throw JobRunError.leaseLost }
            try Self.insertMetrics(db, jobID: jobID, points)
        }
        changes.publish(jobID: jobID)
    }

    public func saveCheckpoint(jobID: String, workerID: String, step: Int64, data: Data, metrics: [MetricPoint], keep: Int, now: Date) throws {
        try database.write { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID) else { throw JobRunError.leaseLost }
            try Self.insertMetrics(db, jobID: jobID, metrics)
            try db.execute(
                sql: "INSERT OR REPLACE INTO checkpoints (job_id, step, data, time) VALUES (?, ?, ?, ?)",
                arguments: [jobID, step, data, now.timeIntervalSince1970])
            try db.execute(
                sql: """
                    DELETE FROM checkpoints WHERE job_id = ? AND step NOT IN (
                        SELECT step FROM checkpoints WHERE job_id = ? ORDER BY step DESC LIMIT ?)
                    """,
                arguments: [jobID, jobID, max(1, keep)])
        }
        if !metrics.isEmpty { changes.publish(jobID: jobID) }
    }

    public func latestCheckpoint(jobID: String) throws -> Checkpoint? {
        try database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT step, data, time FROM checkpoints WHERE job_id = ? ORDER BY step DESC LIMIT 1",
                arguments: [jobID]
            ).map { row in
                Checkpoint(step: row["step"], data: row["data"], time: Date(timeIntervalSince1970: row["time"]))
            }
        }
    }

    public func putArtifact(jobID: String, workerID: String, name: String, mediaType: String, data: Data, now: Date) throws {
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        try database.write { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID) else { throw JobRunError.leaseLost }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO artifacts (job_id, name, media_type, size, data, created_at, sha256)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [jobID, name, mediaType, data.count, data, now.timeIntervalSince1970, digest])
        }
    }

    @discardableResult
    public func finish(jobID: String, workerID: String, outcome: JobOutcome, now: Date) throws -> Job? {
        let finished: Job? = try database.write { db in
            let time = now.timeIntervalSince1970
            let sql: String
            let arguments: StatementArguments
            switch outcome {
            case .succeeded(let result):
                sql = """
                    UPDATE jobs SET status = \(JobStatus.succeeded.sql), result = ?, reason = NULL, progress = 1, finished_at = ?,
                        worker_id = NULL, lease_expires_at = NULL, version = version + 1
                    WHERE id = ? AND worker_id = ? AND status IN \(JobStatus.sqlList(JobStatus.holdingWorker)) RETURNING \(Self.jobColumns)
                    """
                arguments = [result.canonicalText(), time, jobID, workerID]
            case .failed(let reason), .cancelled(let reason):
                let status: JobStatus = if case .failed = outcome { .failed } else { .cancelled }
                sql = """
                    UPDATE jobs SET status = ?, reason = ?, finished_at = ?, worker_id = NULL, lease_expires_at = NULL,
                        version = version + 1
                    WHERE id = ? AND worker_id = ? AND status IN \(JobStatus.sqlList(JobStatus.holdingWorker)) RETURNING \(Self.jobColumns)
                    """
                arguments = [status.rawValue, reason, time, jobID, workerID]
            case .requeued(let reason):
                // A graceful shutdown is not the job's fault, so the attempt is given back.
                sql = """
                    UPDATE jobs SET status = \(JobStatus.queued.sql), reason = ?, attempt = MAX(attempt - 1, 0), worker_id = NULL,
                        lease_expires_at = NULL, version = version + 1
                    WHERE id = ? AND worker_id = ? AND status = \(JobStatus.running.sql) RETURNING \(Self.jobColumns)
                    """
                arguments = [reason, jobID, workerID]
            }
            guard let row = try Row.fetchOne(db, sql: sql, arguments: arguments) else { return nil }
            let job = try Self.job(from: row)
            if job.isTerminal {
                try db.execute(sql: "DELETE FROM checkpoints WHERE job_id = ?", arguments: [jobID])
            }
            try Self.appendStatusEvent(db, job: job, now: now)
            return job
        }
        if let finished { committed(finished.id) }
        return finished
    }

    // MARK: Client actions

    public func requestCancel(jobID: String, now: Date) throws -> Job {
        let (job, changed): (Job, Bool) = try database.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.jobColumns) FROM jobs WHERE id = ?", arguments: [jobID]) else {
                throw JobStoreError.notFound(jobID)
            }
            let current = try Self.job(from: row)
            let sql: String
            let arguments: StatementArguments
            switch current.status {
            case .queued:
                sql = """
                    UPDATE jobs SET status = \(JobStatus.cancelled.sql), reason = 'cancelled before it started', finished_at = ?,
                        version = version + 1
                    WHERE id = ? RETURNING \(Self.jobColumns)
                    """
                arguments = [now.timeIntervalSince1970, jobID]
            case .running:
                sql = "UPDATE jobs SET status = \(JobStatus.cancelling.sql), version = version + 1 WHERE id = ? RETURNING \(Self.jobColumns)"
                arguments = [jobID]
            case .cancelling:
                return (current, false)
            case .succeeded, .failed, .cancelled:
                throw JobStoreError.illegalTransition(jobID: jobID, current: current.status, requested: "cancel")
            }
            let updated = try Self.job(from: try Row.fetchOne(db, sql: sql, arguments: arguments)!)
            try Self.appendStatusEvent(db, job: updated, now: now)
            return (updated, true)
        }
        if changed { committed(jobID) }
        return job
    }

    public func delete(jobID: String) throws {
        try database.write { db in
            guard
                let status = try String.fetchOne(db, sql: "SELECT status FROM jobs WHERE id = ?", arguments: [jobID])
                    .flatMap(JobStatus.init(rawValue:))
            else { throw JobStoreError.notFound(jobID) }
            guard status.isTerminal else {
                throw JobStoreError.illegalTransition(jobID: jobID, current: status, requested: "delete")
            }
            // Metrics, events, checkpoints and artifacts go with it (ON DELETE CASCADE).
            try db.execute(sql: "DELETE FROM jobs WHERE id = ?", arguments: [jobID])
        }
        committed(jobID)
    }

    // MARK: Histories

    public func metrics(jobID: String, matching query: MetricQuery) throws -> [MetricPoint] {
        var sql = "SELECT name, step, value, time FROM metrics WHERE job_id = ?"
        var arguments: StatementArguments = [jobID]
        if !query.names.isEmpty {
            sql += " AND name IN (\(query.names.map { _ in "?" }.joined(separator: ",")))"
            for name in query.names { _ = arguments.append(contentsOf: [name]) }
        }
        if let sinceStep = query.sinceStep {
            sql += " AND step > ?"
            _ = arguments.append(contentsOf: [sinceStep])
        }
        if let after = query.after {
            // Row-value comparison walks the primary key (job_id, name, step) from the cursor on.
            sql += " AND (name, step) > (?, ?)"
            _ = arguments.append(contentsOf: [after.name, after.step])
        }
        sql += " ORDER BY name, step LIMIT ?"
        _ = arguments.append(contentsOf: [query.limit])
        return try database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                MetricPoint(
                    name: row["name"], step: row["step"], value: (row["value"] as Double?) ?? .nan,
                    time: Date(timeIntervalSince1970: row["time"]))
            }
        }
    }

    public func metricSeries(jobID: String) throws -> [MetricSeries] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT name, COUNT(*) AS n, MIN(step) AS first_step, MAX(step) AS last_step,
                           (SELECT value FROM metrics AS last WHERE last.job_id = metrics.job_id AND last.name = metrics.name
                            ORDER BY step DESC LIMIT 1) AS value
                    FROM metrics WHERE job_id = ? GROUP BY name ORDER BY name
                    """, arguments: [jobID]
            ).map { row in
                MetricSeries(
                    name: row["name"], count: row["n"], firstStep: row["first_step"], lastStep: row["last_step"],
                    lastValue: (row["value"] as Double?) ?? .nan)
            }
        }
    }

    public func events(jobID: String, after sequence: Int64, limit: Int) throws -> [JobEvent] {
        try events(jobID: jobID, after: sequence, limit: limit, filter: "")
    }

    public func logEvents(jobID: String, after sequence: Int64, limit: Int) throws -> [JobEvent] {
        try events(jobID: jobID, after: sequence, limit: limit, filter: "AND type IN \(JobEvent.logTypesSQL)")
    }

    private func events(jobID: String, after sequence: Int64, limit: Int, filter: String) throws -> [JobEvent] {
        try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM events WHERE job_id = ? AND seq > ? \(filter) ORDER BY seq LIMIT ?",
                arguments: [jobID, sequence, limit]
            ).map { row in
                JobEvent(
                    sequence: row["seq"], jobID: row["job_id"],
                    type: JobEvent.EventType(rawValue: row["type"]) ?? .status,
                    dataJSON: row["data"],
                    time: Date(timeIntervalSince1970: row["time"]))
            }
        }
    }

    public func artifacts(jobID: String) throws -> [ArtifactInfo] {
        try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT name, media_type, size, created_at, sha256 FROM artifacts WHERE job_id = ? ORDER BY name",
                arguments: [jobID]
            ).map(Self.artifactInfo(from:))
        }
    }

    public func artifact(jobID: String, name: String) throws -> Artifact? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM artifacts WHERE job_id = ? AND name = ?", arguments: [jobID, name])
                .map { Artifact(info: Self.artifactInfo(from: $0), data: $0["data"]) }
        }
    }

    public func artifactLocation(jobID: String, name: String) throws -> (info: ArtifactInfo, location: Int64)? {
        try database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT rowid, name, media_type, size, created_at, sha256 FROM artifacts WHERE job_id = ? AND name = ?",
                arguments: [jobID, name]
            )
            .map { (Self.artifactInfo(from: $0), $0["rowid"]) }
        }
    }

    /// SQLite's incremental BLOB I/O reads just the requested range (`SELECT data` would load all of it).
    public func readArtifact(at location: Int64, offset: Int, length: Int) throws -> Data {
        try database.read { db in
            var blob: OpaquePointer?
            let opened = sqlite3_blob_open(db.sqliteConnection, "main", "artifacts", "data", location, 0, &blob)
            defer { sqlite3_blob_close(blob) }
            guard opened == SQLITE_OK, let blob else { throw DatabaseError(resultCode: ResultCode(rawValue: opened)) }
            let size = Int(sqlite3_blob_bytes(blob))
            let count = max(0, min(length, size - offset))
            guard count > 0 else { return Data() }
            var data = Data(count: count)
            let status = data.withUnsafeMutableBytes { sqlite3_blob_read(blob, $0.baseAddress, Int32(count), Int32(offset)) }
            guard status == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: status)) }
            return data
        }
    }

    // MARK: Recovery

    public func rescueAbandoned(allActive: Bool, now: Date) throws -> RescueReport {
        let (report, touched): (RescueReport, [String]) = try database.write { db in
            let rows =
                allActive
                ? try Row.fetchAll(db, sql: "SELECT \(Self.jobColumns) FROM jobs WHERE status IN \(JobStatus.sqlList(JobStatus.holdingWorker))")
                : try Row.fetchAll(
                    db,
                    sql: "SELECT \(Self.jobColumns) FROM jobs WHERE status IN \(JobStatus.sqlList(JobStatus.holdingWorker)) AND lease_expires_at < ?",
                    arguments: [now.timeIntervalSince1970])
            var report = RescueReport()
            var touched: [String] = []
            for row in rows {
                let job = try Self.job(from: row)
                let time = now.timeIntervalSince1970
                let updated: Row?
                if job.status == .cancelling {
                    updated = try Row.fetchOne(
                        db,
                        sql: """
                            UPDATE jobs SET status = \(JobStatus.cancelled.sql), reason = 'cancelled; its worker stopped before confirming',
                                finished_at = ?, worker_id = NULL, lease_expires_at = NULL, version = version + 1
                            WHERE id = ? RETURNING \(Self.jobColumns)
                            """, arguments: [time, job.id])
                    report.cancelled.append(job.id)
                } else if job.attempt >= job.maxAttempts {
                    updated = try Row.fetchOne(
                        db,
                        sql: """
                            UPDATE jobs SET status = \(JobStatus.failed.sql), finished_at = ?, worker_id = NULL, lease_expires_at = NULL,
                                reason = ?, version = version + 1
                            WHERE id = ? RETURNING \(Self.jobColumns)
                            """,
                        arguments: [time, "its worker was lost on each of \(job.attempt) attempts (budget \(job.maxAttempts))", job.id])
                    report.failed.append(job.id)
                } else {
                    updated = try Row.fetchOne(
                        db,
                        sql: """
                            UPDATE jobs SET status = \(JobStatus.queued.sql), worker_id = NULL, lease_expires_at = NULL,
                                reason = 'requeued: its worker was lost', version = version + 1
                            WHERE id = ? RETURNING \(Self.jobColumns)
                            """, arguments: [job.id])
                    report.requeued.append(job.id)
                }
                if let updated {
                    let job = try Self.job(from: updated)
                    if job.isTerminal {
                        try db.execute(sql: "DELETE FROM checkpoints WHERE job_id = ?", arguments: [job.id])
                    }
                    try Self.appendStatusEvent(db, job: job, now: now)
                    touched.append(job.id)
                }
            }
            return (report, touched)
        }
        for id in touched { committed(id) }
        return report
    }

    public func failActive(jobID: String, reason: String, now: Date) throws -> Job? {
        try transition(
            """
            UPDATE jobs SET status = \(JobStatus.failed.sql), reason = ?, finished_at = ?, worker_id = NULL, lease_expires_at = NULL,
                version = version + 1
            WHERE id = ? AND status IN \(JobStatus.sqlList(JobStatus.holdingWorker)) RETURNING \(Self.jobColumns)
            """, [reason, now.timeIntervalSince1970, jobID], now: now
        ) { db, _ in try db.execute(sql: "DELETE FROM checkpoints WHERE job_id = ?", arguments: [jobID]) }
    }

    public func ping() throws {
        _ = try database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    // MARK: Rows

    /// The columns of the jobs table that `job(from:)` reads by name.
    package enum JobColumn: String, CaseIterable {
        case seq, id, kind, name, priority, params, status, reason, result, progress, phase, message, attempt
        case maxAttempts = "max_attempts", createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at"
        case heartbeatAt = "heartbeat_at", version, owner, tags, metadata
    }
    private static let jobColumns = JobColumn.allCases.map(\.rawValue).joined(separator: ", ")

    /// Bytes an owner keeps: its datasets as stored and its jobs' artifacts.
    package static func storedBytes(_ db: Database, owner: String?) throws -> Int64 {
        var owned: Int64 = 0
        for table in ownedByteTables {
            owned += try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM \(table) WHERE owner IS ?", arguments: [owner]) ?? 0
        }
        let artifacts =
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT COALESCE(SUM(a.size), 0) FROM artifacts AS a JOIN jobs AS j ON j.id = a.job_id WHERE j.owner IS ?
                    """, arguments: [owner]) ?? 0
        return owned + artifacts
    }

    /// Tables of other stores in this database whose rows (`owner`, `bytes`) count toward an owner's
    /// stored-bytes quota, next to the jobs' artifacts: the dataset table, registered by the clustering side.
    nonisolated(unsafe) package static var ownedByteTables: Set<String> = []

    private static func job(from row: Row) throws -> Job {
        typealias C = JobColumn
        func date(_ column: C) -> Date? { (row[column.rawValue] as Double?).map(Date.init(timeIntervalSince1970:)) }
        return Job(
            id: row[C.id.rawValue], sequence: row[C.seq.rawValue], kind: row[C.kind.rawValue], name: row[C.name.rawValue],
            priority: row[C.priority.rawValue], paramsJSON: row[C.params.rawValue],
            // A status this build does not know (written by a newer one) reads as failed, never as runnable.
            status: JobStatus(rawValue: row[C.status.rawValue]) ?? .failed,
            reason: row[C.reason.rawValue], resultJSON: row[C.result.rawValue],
            progress: JobProgress(fraction: row[C.progress.rawValue], phase: row[C.phase.rawValue], message: row[C.message.rawValue]),
            attempt: row[C.attempt.rawValue], maxAttempts: row[C.maxAttempts.rawValue],
            createdAt: Date(timeIntervalSince1970: row[C.createdAt.rawValue]),
            startedAt: date(.startedAt), finishedAt: date(.finishedAt), heartbeatAt: date(.heartbeatAt),
            version: row[C.version.rawValue], owner: row[C.owner.rawValue],
            tagsJSON: row[C.tags.rawValue], metadataJSON: row[C.metadata.rawValue])
    }

    private static func artifactInfo(from row: Row) -> ArtifactInfo {
        ArtifactInfo(
            name: row["name"], mediaType: row["media_type"], size: row["size"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]), sha256: row["sha256"])
    }

    /// Whether `workerID` holds the job (running or cancelling under its lease): the fence of every worker write.
    private static func holds(_ db: Database, jobID: String, workerID: String) throws -> Bool {
        try String.fetchOne(
            db, sql: "SELECT worker_id FROM jobs WHERE id = ? AND status IN \(JobStatus.sqlList(JobStatus.holdingWorker))", arguments: [jobID]
        ) == workerID
    }

    private static func insertMetrics(_ db: Database, jobID: String, _ points: [MetricPoint]) throws {
        guard !points.isEmpty else { return }
        // A step replayed after a resume replaces its earlier value instead of duplicating it.
        let insert = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO metrics (job_id, name, step, value, time) VALUES (?, ?, ?, ?, ?)")
        for point in points {
            try insert.execute(arguments: [
                jobID, point.name, point.step, point.value.isNaN ? nil : point.value, point.time.timeIntervalSince1970,
            ])
            try appendEvent(
                db, jobID: jobID, type: .metric,
                data: JobEvent.metricData(point),
                now: point.time)
        }
    }

    private static func appendStatusEvent(_ db: Database, job: Job, now: Date) throws {
        try appendEvent(db, jobID: job.id, type: .status, data: JobEvent.statusData(job), now: now)
    }

    private static func appendEvent(_ db: Database, jobID: String, type: JobEvent.EventType, data: JSONValue, now: Date) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO events (job_id, type, data, time) VALUES (?, ?, ?, ?)")
        try insert.execute(arguments: [jobID, type.rawValue, data.canonicalText(), now.timeIntervalSince1970])
    }
}
