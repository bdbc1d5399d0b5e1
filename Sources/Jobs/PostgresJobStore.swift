import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The job store on PostgreSQL, for several processes on several machines sharing one database: the same semantics
/// as `SQLiteJobStore` (its conformance tests run against both), with claims by `FOR UPDATE SKIP LOCKED`, and every
/// committed change to a job announced with `NOTIFY` so that long polls and event streams on other nodes wake.
/// Job rows read for status polls are cached, invalidated by this node's writes and by every other node's NOTIFY (a
/// lease renewal too); while the LISTEN connection is down the cache is off, and emptied when it is back.
public final class PostgresJobStore: JobStore, @unchecked Sendable {
    public let changes: JobChangeFeed
    public let pool: PostgresPool
    /// Limits per owner (the token that submitted); set once before the store is shared.
    public var quotas = OwnerQuotas()
    /// Uploaded datasets' files are kept in the database (default), unless the nodes share a folder (--blob-dir).
    public var storesDatasetFiles = true
    private let listener: NotificationListener
    private let hooks = NotificationHooks()
    private let cache: JobSnapshotCache?
    private let listening = SharedFlag()

    static let channel = "montecluster_jobs"
    /// The payload that says a job entered the queue (submitted or requeued): idle workers on every node look for it.
    static let queuedPayload = "queued"
    /// A lease renewal: the row changed (heartbeat, version) but nothing a waiter waits for; caches forget the row.
    static let leasePrefix = "lease:"

    /// Connects, brings the schema up to date (once, under an advisory lock) and starts listening for other nodes' changes.
    public init(
        url: String, poolSize: Int = 8, changes: JobChangeFeed = JobChangeFeed(), cachingReads: Bool = true,
        logger: Logger = Logger(label: "montecluster.postgres")
    ) throws {
        guard let location = PostgresLocation(url: url) else {
            throw PostgresStoreError("not a postgres:// URL (postgres://user:password@host:port/database)")
        }
        self.pool = PostgresPool(location, size: poolSize, logger: logger)
        self.changes = changes
        let cache = cachingReads ? JobSnapshotCache() : nil
        self.cache = cache
        try PostgresSchema.migrate(pool)
        let hooks = self.hooks
        self.listener = NotificationListener(
            pool: pool, channel: Self.channel, changes: changes, logger: logger,
            deliver: { payload in
                let (queued, changed) = hooks.current
                if payload == Self.queuedPayload {
                    queued?()
                } else if payload.hasPrefix(Self.leasePrefix) {
                    cache?.invalidate(String(payload.dropFirst(Self.leasePrefix.count)))
                } else {
                    cache?.invalidate(payload)
                    changes.publish(jobID: payload)
                    changed?(payload)
                }
            })
        let listening = self.listening
        listener.onConnection = { up in
            // Down: other nodes' writes go unheard, so nothing is served from the cache; back: start from empty.
            if up { cache?.invalidateAll() }
            listening.set(up)
        }
        listener.start()
    }

    deinit { listener.stop() }

    /// What this node's worker pool hears of other nodes: a job queued anywhere (`queued`: wake an idle worker) and a
    /// change to a job (`changed`: a cancel request reaches its run within a notification, not a heartbeat).
    public func observe(queued: @escaping @Sendable () -> Void, changed: @escaping @Sendable (String) -> Void) {
        hooks.set(queued: queued, changed: changed)
    }

    // MARK: Submitting and reading

    public func submit(_ submission: JobSubmission, maxQueued: Int, now: Date) throws -> (job: Job, created: Bool) {
        let quotas = self.quotas
        let outcome: (Job, Bool) = try pool.transaction { db in
            // Submissions with the same key serialize on it; the rest take a shared lock of the queue count.
            if let key = submission.idempotencyKey {
                try db.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))")
                if let row = try db.query("SELECT \(unescaped: Self.jobColumns), fingerprint FROM jobs WHERE idempotency_key = \(key)").first {
                    let existing = try Self.job(from: row)
                    guard existing.owner == submission.owner else {
                        throw JobStoreError.idempotencyConflict(key: key, existingJobID: "of another owner")
                    }
                    guard try row.makeRandomAccess()["fingerprint"].decode(String.self) == submission.fingerprint else {
                        throw JobStoreError.idempotencyConflict(key: key, existingJobID: existing.id)
                    }
                    return (existing, false)
                }
            }
            for reference in submission.references {
                guard reference.table.allSatisfy({ $0.isLetter || $0 == "_" }),
                    let row = try db.query(
                        PostgresQuery(unsafeSQL: "SELECT owner FROM \(reference.table) WHERE id = $1 FOR SHARE", binds: Self.binds(reference.id))
                    )
                    .first
                else { throw JobStoreError.referenceMissing(reference) }
                let rowOwner = try row.decode(String?.self)
                guard submission.ownerIsAdmin || rowOwner == submission.owner else { throw JobStoreError.referenceMissing(reference) }
            }
            let queued = try Self.count(db, "SELECT COUNT(*) FROM jobs WHERE status = \(unescaped: JobStatus.queued.sql)")
            if queued >= maxQueued { throw JobStoreError.queueFull(limit: maxQueued) }
            if let owner = submission.owner {
                let ownQueued = try Self.count(db, "SELECT COUNT(*) FROM jobs WHERE status = \(unescaped: JobStatus.queued.sql) AND owner = \(owner)")
                if ownQueued >= quotas.maxQueued {
                    throw JobStoreError.quotaExceeded(what: "queued jobs", limit: Int64(quotas.maxQueued), current: Int64(ownQueued))
                }
                let stored = try Self.storedBytes(db, owner: owner)
                if stored >= quotas.maxStoredBytes {
                    throw JobStoreError.quotaExceeded(what: "stored bytes", limit: quotas.maxStoredBytes, current: stored)
                }
            }
            let id = UUID().uuidString.lowercased()
            let tags = JSONValue.array(submission.tags.map(JSONValue.string)).canonicalText()
            let row = try db.query(
                """
                INSERT INTO jobs (id, kind, name, priority, params, status, attempt, max_attempts, created_at, idempotency_key, fingerprint,
                                  version, owner, tags, metadata)
                VALUES (\(id), \(submission.kind), \(submission.name), \(Int64(submission.priority)), \(submission.params.canonicalText()),
                        \(unescaped: JobStatus.queued.sql), 0, \(Int64(submission.maxAttempts)), \(now.timeIntervalSince1970),
                        \(submission.idempotencyKey), \(submission.fingerprint), 1, \(submission.owner), \(tags), \(submission.metadata.canonicalText()))
                RETURNING \(unescaped: Self.jobColumns)
                """)
            guard let inserted = row.first else { throw PostgresStoreError("INSERT … RETURNING returned no row") }
            let job = try Self.job(from: inserted)
            try Self.appendStatusEvent(db, job: job, now: now)
            return (job, true)
        }
        if outcome.1 { committed(outcome.0.id) }
        return outcome
    }

    public func referenceVisible(_ reference: ResourceReference, owner: String?, admin: Bool) throws -> Bool {
        guard reference.table.allSatisfy({ $0.isLetter || $0 == "_" }) else { return false }
        return try pool.session { db in
            guard
                let row = try db.query(
                    PostgresQuery(unsafeSQL: "SELECT owner FROM \(reference.table) WHERE id = $1", binds: Self.binds(reference.id))
                )
                .first
            else { return false }
            return try admin || row.decode(String?.self) == owner
        }
    }

    public func job(id: String) throws -> Job? {
        let useCache = cache != nil && listening.isSet
        let (cached, epoch) = useCache ? cache!.lookup(id) : (nil, 0)
        if let cached { return cached }
        let job = try pool.session { db in try db.query("SELECT \(unescaped: Self.jobColumns) FROM jobs WHERE id = \(id)").first.map(Self.job(from:))
        }
        if useCache, let job { cache?.store(job, readAtEpoch: epoch) }
        return job
    }

    public func cachedJob(id: String) -> Job? {
        guard let cache, listening.isSet else { return nil }
        return cache.lookup(id).job
    }

    /// Every committed write to a job: the cache forgets it and waiters here hear of it at once, other nodes through
    /// the NOTIFY sent with it.
    private func committed(_ jobID: String) {
        cache?.invalidate(jobID)
        changes.publish(jobID: jobID)
    }

    public func jobs(matching query: JobQuery) throws -> [Job] {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if !query.statuses.isEmpty { conditions.append("status IN (\(query.statuses.map { bind($0.rawValue) }.joined(separator: ",")))") }
        if !query.kinds.isEmpty { conditions.append("kind IN (\(query.kinds.map { bind($0) }.joined(separator: ",")))") }
        if let prefix = query.namePrefix { conditions.append("left(name, \(bind(Int64(prefix.count)))::int) = \(bind(prefix))") }
        if let tag = query.tag { conditions.append("tags::jsonb ? \(bind(tag))") }
        if let after = query.createdAfter { conditions.append("created_at >= \(bind(after.timeIntervalSince1970))") }
        if let before = query.createdBefore { conditions.append("created_at < \(bind(before.timeIntervalSince1970))") }
        if let before = query.beforeSequence { conditions.append("seq < \(bind(before))") }
        if case .only(let owner) = query.owner {
            if let owner { conditions.append("owner = \(bind(owner))") } else { conditions.append("owner IS NULL") }
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Self.jobColumns) FROM jobs \(whereClause) ORDER BY seq DESC LIMIT \(bind(Int64(query.limit)))"
        let finalBinds = binds
        return try pool.session { db in try db.query(sql, finalBinds).map(Self.job(from:)) }
    }

    public func countsByStatus() throws -> [JobStatus: Int] {
        try pool.session { db in
            var counts: [JobStatus: Int] = [:]
            for row in try db.query("SELECT status, COUNT(*) FROM jobs GROUP BY status") {
                let (status, count) = try row.decode((String, Int64).self)
                if let status = JobStatus(rawValue: status) { counts[status] = Int(count) }
            }
            return counts
        }
    }

    // MARK: Worker side

    public func claim(workerID: String, leaseDuration: TimeInterval, now: Date) throws -> Job? {
        // One statement, one round trip: take the oldest, highest-priority queued job no other claimer has locked
        // (SKIP LOCKED), write its status event and NOTIFY, atomically (data-modifying CTEs run once, in the statement).
        let time = now.timeIntervalSince1970
        let claimed: Job? = try pool.session { db in
            try db.query(
                """
                WITH claimed AS (
                    UPDATE jobs
                    SET status = \(unescaped: JobStatus.running.sql), worker_id = \(workerID), attempt = attempt + 1,
                        started_at = COALESCE(started_at, \(time)), heartbeat_at = \(time), lease_expires_at = \(time + leaseDuration),
                        version = version + 1
                    WHERE seq = (
                        SELECT seq FROM jobs AS q WHERE q.status = \(unescaped: JobStatus.queued.sql)
                            AND (q.owner IS NULL
                                 OR (SELECT COUNT(*) FROM jobs AS r WHERE r.owner = q.owner
                                     AND r.status IN \(unescaped: JobStatus.sqlList(JobStatus.holdingWorker))) < \(Int64(quotas.maxRunning)))
                        ORDER BY q.priority DESC, q.seq ASC LIMIT 1
                        FOR UPDATE SKIP LOCKED)
                    RETURNING \(unescaped: Self.jobColumns)
                ), event AS (
                    -- The same text appendStatusEvent writes: keys in order, the reason when there is one.
                    INSERT INTO events (job_id, type, data, time)
                    SELECT id, 'status', '{"attempt":' || attempt || COALESCE(',"reason":' || to_json(reason)::text, '') || ',"status":"running"}',
                           \(time)
                    FROM claimed
                ), notified AS (
                    SELECT pg_notify(\(Self.channel), id) FROM claimed
                )
                SELECT claimed.* FROM claimed, (SELECT COUNT(*) FROM notified) AS sent
                """
            ).first.map(Self.job(from:))
        }
        if let claimed { committed(claimed.id) }
        return claimed
    }

    /// One `UPDATE … RETURNING` that moves at most one job, with its status event and NOTIFY, in one transaction.
    private func transition(_ query: PostgresQuery, now: Date, also: (PostgresPool.Session, Job) throws -> Void = { _, _ in }) throws -> Job? {
        let moved: Job? = try pool.transaction { db in
            guard let row = try db.query(query).first else { return nil }
            let job = try Self.job(from: row)
            try also(db, job)
            try Self.appendStatusEvent(db, job: job, now: now)
            return job
        }
        if let moved { committed(moved.id) }
        return moved
    }

    public func renewLease(jobID: String, workerID: String, leaseDuration: TimeInterval, now: Date) throws -> LeaseRenewal {
        let time = now.timeIntervalSince1970
        let status: String? = try pool.session { db in
            try db.query(
                """
                UPDATE jobs SET heartbeat_at = \(time), lease_expires_at = \(time + leaseDuration), version = version + 1
                WHERE id = \(jobID) AND worker_id = \(workerID) AND status IN \(unescaped: JobStatus.sqlList(JobStatus.holdingWorker))
                RETURNING status, pg_notify(\(Self.channel), \(Self.leasePrefix) || id)::text
                """
            ).first.map { try $0.decode((String, String?).self).0 }
        }
        cache?.invalidate(jobID)
        switch status {
        case nil: return .lost
        case "cancelling": return .cancelRequested
        default: return .held
        }
    }

    public func reportProgress(jobID: String, workerID: String, progress: JobProgress, now: Date) throws {
        let updated: Bool = try pool.transaction { db in
            let rows = try db.query(
                """
                UPDATE jobs SET progress = \(progress.fraction), phase = \(progress.phase), message = \(progress.message), version = version + 1
                WHERE id = \(jobID) AND worker_id = \(workerID) AND status IN \(unescaped: JobStatus.sqlList(JobStatus.holdingWorker))
                RETURNING id
                """)
            guard !rows.isEmpty else { return false }
            try Self.appendEvent(db, jobID: jobID, type: .progress, data: JobEvent.progressData(progress), now: now)
            return true
        }
        if updated { committed(jobID) }
    }

    public func appendLog(jobID: String, workerID: String, level: JobLogLevel, message: String, now: Date) throws {
        let written: Bool = try pool.transaction { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID) else { return false }
            try Self.appendEvent(db, jobID: jobID, type: .log, data: JobEvent.logData(level: level, message: message), now: now)
            return true
        }
        if written { committed(jobID) }
    }

    public func recordMetrics(jobID: String, workerID: String, _ points: [MetricPoint]) throws {
        guard !points.isEmpty else { return }
        try pool.transaction { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID, locking: true) else { throw JobRunError.leaseLost }
            try Self.insertMetrics(db, jobID: jobID, points)
        }
        committed(jobID)
    }

    public func saveCheckpoint(jobID: String, workerID: String, step: Int64, data: Data, metrics: [MetricPoint], keep: Int, now: Date) throws {
        try pool.transaction { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID, locking: true) else { throw JobRunError.leaseLost }
            try Self.insertMetrics(db, jobID: jobID, metrics)
            try db.query(
                """
                INSERT INTO checkpoints (job_id, step, time, data) VALUES (\(jobID), \(step), \(now.timeIntervalSince1970), \(data))
                ON CONFLICT (job_id, step) DO UPDATE SET time = EXCLUDED.time, data = EXCLUDED.data
                """)
            try db.query(
                """
                DELETE FROM checkpoints WHERE job_id = \(jobID) AND step NOT IN (
                    SELECT step FROM checkpoints WHERE job_id = \(jobID) ORDER BY step DESC LIMIT \(Int64(max(1, keep))))
                """)
        }
        if !metrics.isEmpty { committed(jobID) }
    }

    public func latestCheckpoint(jobID: String) throws -> Checkpoint? {
        try pool.session { db in
            try db.query("SELECT step, data, time FROM checkpoints WHERE job_id = \(jobID) ORDER BY step DESC LIMIT 1").first.map { row in
                let (step, data, time) = try row.decode((Int64, Data, Double).self)
                return Checkpoint(step: step, data: data, time: Date(timeIntervalSince1970: time))
            }
        }
    }

    public func putArtifact(jobID: String, workerID: String, name: String, mediaType: String, data: Data, now: Date) throws {
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        try pool.transaction { db in
            guard try Self.holds(db, jobID: jobID, workerID: workerID, locking: true) else { throw JobRunError.leaseLost }
            try db.query(
                """
                INSERT INTO artifacts (job_id, name, media_type, size, created_at, sha256, data)
                VALUES (\(jobID), \(name), \(mediaType), \(Int64(data.count)), \(now.timeIntervalSince1970), \(digest), \(data))
                ON CONFLICT (job_id, name) DO UPDATE SET media_type = EXCLUDED.media_type, size = EXCLUDED.size,
                    created_at = EXCLUDED.created_at, sha256 = EXCLUDED.sha256, data = EXCLUDED.data, location = nextval('artifacts_location_seq')
                """)
        }
    }

    @discardableResult
    public func finish(jobID: String, workerID: String, outcome: JobOutcome, now: Date) throws -> Job? {
        let time = now.timeIntervalSince1970
        let holding = JobStatus.sqlList(JobStatus.holdingWorker)
        let query: PostgresQuery
        switch outcome {
        case .succeeded(let result):
            query = """
                UPDATE jobs SET status = \(unescaped: JobStatus.succeeded.sql), result = \(result.canonicalText()), reason = NULL, progress = 1,
                    finished_at = \(time), worker_id = NULL, lease_expires_at = NULL, version = version + 1
                WHERE id = \(jobID) AND worker_id = \(workerID) AND status IN \(unescaped: holding) RETURNING \(unescaped: Self.jobColumns)
                """
        case .failed(let reason), .cancelled(let reason):
            let status: JobStatus = if case .failed = outcome { .failed } else { .cancelled }
            query = """
                UPDATE jobs SET status = \(status.rawValue), reason = \(reason), finished_at = \(time), worker_id = NULL,
                    lease_expires_at = NULL, version = version + 1
                WHERE id = \(jobID) AND worker_id = \(workerID) AND status IN \(unescaped: holding) RETURNING \(unescaped: Self.jobColumns)
                """
        case .requeued(let reason):
            query = """
                UPDATE jobs SET status = \(unescaped: JobStatus.queued.sql), reason = \(reason), attempt = GREATEST(attempt - 1, 0),
                    worker_id = NULL, lease_expires_at = NULL, version = version + 1
                WHERE id = \(jobID) AND worker_id = \(workerID) AND status = \(unescaped: JobStatus.running.sql)
                RETURNING \(unescaped: Self.jobColumns)
                """
        }
        return try transition(query, now: now) { db, job in
            if job.isTerminal { try db.query("DELETE FROM checkpoints WHERE job_id = \(jobID)") }
        }
    }

    // MARK: Client actions

    public func requestCancel(jobID: String, now: Date) throws -> Job {
        let (job, changed): (Job, Bool) = try pool.transaction { db in
            guard let row = try db.query("SELECT \(unescaped: Self.jobColumns) FROM jobs WHERE id = \(jobID) FOR UPDATE").first else {
                throw JobStoreError.notFound(jobID)
            }
            let current = try Self.job(from: row)
            let query: PostgresQuery
            switch current.status {
            case .queued:
                query = """
                    UPDATE jobs SET status = \(unescaped: JobStatus.cancelled.sql), reason = 'cancelled before it started',
                        finished_at = \(now.timeIntervalSince1970), version = version + 1
                    WHERE id = \(jobID) RETURNING \(unescaped: Self.jobColumns)
                    """
            case .running:
                query = """
                    UPDATE jobs SET status = \(unescaped: JobStatus.cancelling.sql), version = version + 1
                    WHERE id = \(jobID) RETURNING \(unescaped: Self.jobColumns)
                    """
            case .cancelling:
                return (current, false)
            case .succeeded, .failed, .cancelled:
                throw JobStoreError.illegalTransition(jobID: jobID, current: current.status, requested: "cancel")
            }
            guard let updatedRow = try db.query(query).first else { throw JobStoreError.notFound(jobID) }
            let updated = try Self.job(from: updatedRow)
            try Self.appendStatusEvent(db, job: updated, now: now)
            return (updated, true)
        }
        if changed { committed(jobID) }
        return job
    }

    public func delete(jobID: String) throws {
        try pool.transaction { db in
            guard
                let status = try db.query("SELECT status FROM jobs WHERE id = \(jobID) FOR UPDATE").first
                    .flatMap({ JobStatus(rawValue: try $0.decode(String.self)) })
            else { throw JobStoreError.notFound(jobID) }
            guard status.isTerminal else { throw JobStoreError.illegalTransition(jobID: jobID, current: status, requested: "delete") }
            try db.query("DELETE FROM jobs WHERE id = \(jobID)")
            try db.query("SELECT pg_notify(\(Self.channel), \(jobID))")
        }
        committed(jobID)
    }

    // MARK: Histories

    public func metrics(jobID: String, matching query: MetricQuery) throws -> [MetricPoint] {
        var binds = PostgresBindings()
        func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        var sql = "SELECT name, step, value, time FROM metrics WHERE job_id = \(bind(jobID))"
        if !query.names.isEmpty { sql += " AND name IN (\(query.names.map { bind($0) }.joined(separator: ",")))" }
        if let sinceStep = query.sinceStep { sql += " AND step > \(bind(sinceStep))" }
        // Row comparison in the primary key's order; C collation so the order is bytewise, as SQLite's.
        if let after = query.after { sql += " AND (name COLLATE \"C\", step) > (\(bind(after.name)) COLLATE \"C\", \(bind(after.step)))" }
        sql += " ORDER BY name COLLATE \"C\", step LIMIT \(bind(Int64(query.limit)))"
        let finalBinds = binds
        return try pool.session { db in
            try db.query(sql, finalBinds).map { row in
                let (name, step, value, time) = try row.decode((String, Int64, Double?, Double).self)
                return MetricPoint(name: name, step: step, value: value ?? .nan, time: Date(timeIntervalSince1970: time))
            }
        }
    }

    public func metricSeries(jobID: String) throws -> [MetricSeries] {
        try pool.session { db in
            try db.query(
                """
                SELECT name, COUNT(*), MIN(step), MAX(step),
                       (SELECT value FROM metrics AS last WHERE last.job_id = metrics.job_id AND last.name = metrics.name
                        ORDER BY step DESC LIMIT 1)
                FROM metrics WHERE job_id = \(jobID) GROUP BY job_id, name ORDER BY name COLLATE "C"
                """
            ).map { row in
                let (name, count, first, last, value) = try row.decode((String, Int64, Int64, Int64, Double?).self)
                return MetricSeries(name: name, count: Int(count), firstStep: first, lastStep: last, lastValue: value ?? .nan)
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
        try pool.session { db in
            try db.query(
                """
                SELECT seq, job_id, type, data, time FROM events WHERE job_id = \(jobID) AND seq > \(sequence) \(unescaped: filter)
                ORDER BY seq LIMIT \(Int64(limit))
                """
            ).map { row in
                let (seq, job, type, data, time) = try row.decode((Int64, String, String, String, Double).self)
                return JobEvent(
                    sequence: seq, jobID: job, type: JobEvent.EventType(rawValue: type) ?? .status, dataJSON: data,
                    time: Date(timeIntervalSince1970: time))
            }
        }
    }

    public func artifacts(jobID: String) throws -> [ArtifactInfo] {
        try pool.session { db in
            try db.query("SELECT name, media_type, size, created_at, sha256 FROM artifacts WHERE job_id = \(jobID) ORDER BY name COLLATE \"C\"")
                .map(Self.artifactInfo(from:))
        }
    }

    public func artifact(jobID: String, name: String) throws -> Artifact? {
        try pool.session { db in
            try db.query("SELECT name, media_type, size, created_at, sha256, data FROM artifacts WHERE job_id = \(jobID) AND name = \(name)")
                .first.map { row in Artifact(info: try Self.artifactInfo(from: row), data: try row.makeRandomAccess()["data"].decode(Data.self)) }
        }
    }

    public func artifactLocation(jobID: String, name: String) throws -> (info: ArtifactInfo, location: Int64)? {
        try pool.session { db in
            try db.query(
                "SELECT name, media_type, size, created_at, sha256, location FROM artifacts WHERE job_id = \(jobID) AND name = \(name)"
            ).first.map { row in (try Self.artifactInfo(from: row), try row.makeRandomAccess()["location"].decode(Int64.self)) }
        }
    }

    /// A slice of the stored bytes: `data` is stored uncompressed out of line, so substring reads only its chunks.
    public func readArtifact(at location: Int64, offset: Int, length: Int) throws -> Data {
        guard length > 0, offset >= 0 else { return Data() }
        return try pool.session { db in
            try db.query(
                "SELECT substring(data FROM \(Int64(offset) + 1)::int FOR \(Int64(min(length, 1 << 30)))::int) FROM artifacts WHERE location = \(location)"
            )
            .first.map { try $0.decode(Data.self) } ?? Data()
        }
    }

    // MARK: Recovery

    public func rescueAbandoned(allActive: Bool, now: Date) throws -> RescueReport {
        let time = now.timeIntervalSince1970
        let (report, touched): (RescueReport, [String]) = try pool.transaction { db in
            // Locked rows are skipped: another node's rescuer is handling them (several may run at once).
            let holding = JobStatus.sqlList(JobStatus.holdingWorker)
            let rows =
                allActive
                ? try db.query("SELECT \(unescaped: Self.jobColumns) FROM jobs WHERE status IN \(unescaped: holding) FOR UPDATE SKIP LOCKED")
                : try db.query(
                    """
                    SELECT \(unescaped: Self.jobColumns) FROM jobs WHERE status IN \(unescaped: holding) AND lease_expires_at < \(time)
                    FOR UPDATE SKIP LOCKED
                    """)
            var report = RescueReport()
            var touched: [String] = []
            for row in rows {
                let job = try Self.job(from: row)
                let query: PostgresQuery
                if job.status == .cancelling {
                    query = """
                        UPDATE jobs SET status = \(unescaped: JobStatus.cancelled.sql), reason = 'cancelled; its worker stopped before confirming',
                            finished_at = \(time), worker_id = NULL, lease_expires_at = NULL, version = version + 1
                        WHERE id = \(job.id) RETURNING \(unescaped: Self.jobColumns)
                        """
                    report.cancelled.append(job.id)
                } else if job.attempt >= job.maxAttempts {
                    let reason = "its worker was lost on each of \(job.attempt) attempts (budget \(job.maxAttempts))"
                    query = """
                        UPDATE jobs SET status = \(unescaped: JobStatus.failed.sql), finished_at = \(time), worker_id = NULL,
                            lease_expires_at = NULL, reason = \(reason), version = version + 1
                        WHERE id = \(job.id) RETURNING \(unescaped: Self.jobColumns)
                        """
                    report.failed.append(job.id)
                } else {
                    query = """
                        UPDATE jobs SET status = \(unescaped: JobStatus.queued.sql), worker_id = NULL, lease_expires_at = NULL,
                            reason = 'requeued: its worker was lost', version = version + 1
                        WHERE id = \(job.id) RETURNING \(unescaped: Self.jobColumns)
                        """
                    report.requeued.append(job.id)
                }
                if let updatedRow = try db.query(query).first {
                    let updated = try Self.job(from: updatedRow)
                    if updated.isTerminal { try db.query("DELETE FROM checkpoints WHERE job_id = \(updated.id)") }
                    try Self.appendStatusEvent(db, job: updated, now: now)
                    touched.append(updated.id)
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
            UPDATE jobs SET status = \(unescaped: JobStatus.failed.sql), reason = \(reason), finished_at = \(now.timeIntervalSince1970),
                worker_id = NULL, lease_expires_at = NULL, version = version + 1
            WHERE id = \(jobID) AND status IN \(unescaped: JobStatus.sqlList(JobStatus.holdingWorker)) RETURNING \(unescaped: Self.jobColumns)
            """, now: now
        ) { db, _ in try db.query("DELETE FROM checkpoints WHERE job_id = \(jobID)") }
    }

    /// Readiness: a round trip within 3 s, or the database counts as unreachable.
    public func ping() throws {
        try pool.session(timeout: 3) { db in _ = try db.query("SELECT 1") }
    }

    // MARK: Rows

    private static let jobColumns = SQLiteJobStore.JobColumn.allCases.map(\.rawValue).joined(separator: ", ")

    static func job(from row: PostgresRow) throws -> Job {
        let cells = row.makeRandomAccess()
        func value<T: PostgresDecodable>(_ column: String, _ type: T.Type = T.self) throws -> T { try cells[column].decode(T.self) }
        func date(_ column: String) throws -> Date? { try value(column, Double?.self).map(Date.init(timeIntervalSince1970:)) }
        return Job(
            id: try value("id"), sequence: try value("seq"), kind: try value("kind"), name: try value("name"),
            priority: Int(try value("priority", Int64.self)), paramsJSON: try value("params"),
            status: JobStatus(rawValue: try value("status")) ?? .failed, reason: try value("reason"), resultJSON: try value("result"),
            progress: JobProgress(fraction: try value("progress"), phase: try value("phase"), message: try value("message")),
            attempt: Int(try value("attempt", Int64.self)), maxAttempts: Int(try value("max_attempts", Int64.self)),
            createdAt: Date(timeIntervalSince1970: try value("created_at")), startedAt: try date("started_at"),
            finishedAt: try date("finished_at"), heartbeatAt: try date("heartbeat_at"), version: try value("version"),
            owner: try value("owner"), tagsJSON: try value("tags"), metadataJSON: try value("metadata"))
    }

    private static func artifactInfo(from row: PostgresRow) throws -> ArtifactInfo {
        let cells = row.makeRandomAccess()
        return ArtifactInfo(
            name: try cells["name"].decode(String.self), mediaType: try cells["media_type"].decode(String.self),
            size: Int(try cells["size"].decode(Int64.self)), createdAt: Date(timeIntervalSince1970: try cells["created_at"].decode(Double.self)),
            sha256: try cells["sha256"].decode(String?.self))
    }

    private static func holds(_ db: PostgresPool.Session, jobID: String, workerID: String, locking: Bool = false) throws -> Bool {
        let holder = try db.query(
            """
            SELECT worker_id FROM jobs WHERE id = \(jobID) AND status IN \(unescaped: JobStatus.sqlList(JobStatus.holdingWorker))
            \(unescaped: locking ? "FOR SHARE" : "")
            """
        ).first.map { try $0.decode(String?.self) }
        return holder == workerID
    }

    private static func count(_ db: PostgresPool.Session, _ query: PostgresQuery) throws -> Int {
        Int(try db.query(query).first?.decode(Int64.self) ?? 0)
    }

    static func binds(_ values: String...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        return binds
    }

    /// Bytes an owner keeps: its datasets as stored and its jobs' artifacts.
    package static func storedBytes(_ db: PostgresPool.Session, owner: String?) throws -> Int64 {
        let datasets =
            try db.query("SELECT COALESCE(SUM(bytes), 0)::bigint FROM datasets WHERE owner IS NOT DISTINCT FROM \(owner)").first?
            .decode(Int64.self) ?? 0
        let artifacts =
            try db.query(
                """
                SELECT COALESCE(SUM(a.size), 0)::bigint FROM artifacts AS a JOIN jobs AS j ON j.id = a.job_id WHERE j.owner IS NOT DISTINCT FROM \(owner)
                """
            ).first?.decode(Int64.self) ?? 0
        return datasets + artifacts
    }

    private static func insertMetrics(_ db: PostgresPool.Session, jobID: String, _ points: [MetricPoint]) throws {
        guard !points.isEmpty else { return }
        // A step replayed after a resume replaces its earlier value instead of duplicating it.
        for point in points {
            let value: Double? = point.value.isNaN ? nil : point.value
            try db.query(
                """
                INSERT INTO metrics (job_id, name, step, value, time) VALUES (\(jobID), \(point.name), \(point.step), \(value), \(point.time.timeIntervalSince1970))
                ON CONFLICT (job_id, name, step) DO UPDATE SET value = EXCLUDED.value, time = EXCLUDED.time
                """)
            try appendEvent(
                db, jobID: jobID, type: .metric, data: JobEvent.metricData(point),
                now: point.time)
        }
    }

    private static func appendStatusEvent(_ db: PostgresPool.Session, job: Job, now: Date) throws {
        try appendEvent(db, jobID: job.id, type: .status, data: JobEvent.statusData(job), now: now)
        if job.status == .queued { try db.query("SELECT pg_notify(\(channel), \(queuedPayload))") }
    }

    /// Every event is also a NOTIFY (sent at commit, once per job and transaction): other nodes' waiters wake.
    private static func appendEvent(_ db: PostgresPool.Session, jobID: String, type: JobEvent.EventType, data: JSONValue, now: Date) throws {
        try db.query(
            "INSERT INTO events (job_id, type, data, time) VALUES (\(jobID), \(type.rawValue), \(data.canonicalText()), \(now.timeIntervalSince1970))"
        )
        try db.query("SELECT pg_notify(\(channel), \(jobID))")
    }
}

/// A flag shared between the store and its listener thread.
final class SharedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set(_ on: Bool) { value.store(on, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

/// The worker pool's callbacks for other nodes' notifications, set once the pool exists (after the store).
final class NotificationHooks: @unchecked Sendable {
    private let lock = NSLock()
    private var queued: (@Sendable () -> Void)?
    private var changed: (@Sendable (String) -> Void)?

    func set(queued: @escaping @Sendable () -> Void, changed: @escaping @Sendable (String) -> Void) {
        lock.withLock { (self.queued, self.changed) = (queued, changed) }
    }

    var current: ((@Sendable () -> Void)?, (@Sendable (String) -> Void)?) { lock.withLock { (queued, changed) } }
}

public struct PostgresStoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The server's SQLSTATE, when the server refused a statement (40001: serialization failure, 57P01: shut down…).
    public var sqlState: String?
    init(_ description: String) { self.description = description }

    /// What the server said (its message and SQLSTATE), or the connection problem; never the statement's values.
    init(_ error: any Error) {
        if let error = error as? PostgresStoreError {
            self = error
        } else if let error = error as? PSQLError {
            let message = error.serverInfo?[.message]
            let state = error.serverInfo?[.sqlState]
            sqlState = state
            description = message.map { "PostgreSQL: \($0)" + (state.map { " (SQLSTATE \($0))" } ?? "") } ?? "PostgreSQL: \(error.code)"
        } else {
            description = "PostgreSQL: \(error)"
        }
    }
}

/// A connection of its own that LISTENs on the store's channel and forwards each notification (a job id) to the
/// change feed; reconnects after a lost connection and then wakes every waiter, since it may have missed some.
final class NotificationListener: @unchecked Sendable {
    private let pool: PostgresPool
    private let channel: String
    private let changes: JobChangeFeed
    private let logger: Logger
    private let state = Mutex<(stopped: Bool, connection: PostgresConnection?)>((false, nil))
    private let deliver: @Sendable (String) -> Void
    /// Told true once LISTEN is in place, false when the connection is lost.
    var onConnection: (@Sendable (Bool) -> Void)?

    init(pool: PostgresPool, channel: String, changes: JobChangeFeed, logger: Logger, deliver: @escaping @Sendable (String) -> Void) {
        self.pool = pool
        self.channel = channel
        self.changes = changes
        self.logger = logger
        self.deliver = deliver
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "montecluster-postgres-listen"
        thread.start()
    }

    func stop() {
        let connection = state.withLock { state -> PostgresConnection? in
            state.stopped = true
            return state.connection
        }
        try? connection?.close().wait()
    }

    private func run() {
        var delay = 0.2
        while !state.withLock({ $0.stopped }) {
            do {
                let connection = try pool.connect()
                let deliver = self.deliver
                connection.addListener(channel: channel) { _, notification in deliver(notification.payload) }
                _ = try connection.simpleQuery("LISTEN \(channel)").wait()
                let stopped = state.withLock { state -> Bool in
                    state.connection = connection
                    return state.stopped
                }
                if stopped {
                    try? connection.close().wait()
                    return
                }
                // Whatever changed while we were not listening: every waiter re-reads the store.
                onConnection?(true)
                changes.publishAll()
                delay = 0.2
                try? connection.closeFuture.wait()
                onConnection?(false)
            } catch {
                logger.warning("LISTEN connection failed; retrying", metadata: ["error": "\(PostgresStoreError(error))"])
            }
            Thread.sleep(forTimeInterval: delay)
            delay = min(delay * 2, 5)
        }
    }
}
