import Foundation

/// Where a job has got to, as its run function last reported.
public struct JobProgress: Sendable, Equatable, Codable {
    public var fraction: Double
    public var phase: String?
    public var message: String?

    public init(fraction: Double = 0, phase: String? = nil, message: String? = nil) {
        self.fraction = fraction
        self.phase = phase
        self.message = message
    }
}

/// A job as stored: what was asked for, where it is, and what came of it.
public struct Job: Sendable, Equatable {
    public var id: String
    /// Insertion order; newest-first listing and page tokens use it.
    public var sequence: Int64
    public var kind: String
    public var name: String?
    public var priority: Int
    /// Parameters as stored: canonical JSON text. Kept as text so reading a job for the API
    /// never parses and re-serializes it.
    public var paramsJSON: String
    public var status: JobStatus
    public var reason: String?
    /// The result summary as canonical JSON text, once the job succeeded.
    public var resultJSON: String?
    public var progress: JobProgress
    public var attempt: Int
    public var maxAttempts: Int
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var heartbeatAt: Date?
    /// Bumped on every change; the HTTP layer's ETag and long-polling are built on it.
    public var version: Int64
    /// The name of the API token that submitted it; nil for jobs submitted without a token (loopback).
    public var owner: String? = nil
    /// The client's labels (a JSON array of strings) and annotations (a JSON object), as canonical text.
    public var tagsJSON = "[]"
    public var metadataJSON = "{}"

    public var isTerminal: Bool { status.isTerminal }

    public var params: JSONValue { (try? JSONValue.parse(paramsJSON)) ?? .object([:]) }
    public var result: JSONValue? { resultJSON.flatMap { try? JSONValue.parse($0) } }
}

/// What a client asks for when submitting a job, after validation.
public struct JobSubmission: Sendable {
    public var kind: String
    public var name: String?
    public var priority: Int
    public var params: JSONValue
    public var maxAttempts: Int
    public var idempotencyKey: String?
    /// Canonical text of the request body; a repeated idempotency key must come with the same one.
    public var fingerprint: String
    /// Who submits it (a token's name; nil without a token) and whether that caller may use anyone's
    /// datasets and models (an admin token).
    public var owner: String? = nil
    public var ownerIsAdmin = false
    /// Rows the job will read, which must exist and be the submitter's (its kind's `references`).
    public var references: [ResourceReference] = []
    /// Labels to filter by (`?tag=`) and free annotations, both returned with the job.
    public var tags: [String] = []
    public var metadata: JSONValue = .object([:])

    public init(
        kind: String, name: String? = nil, priority: Int = 0, params: JSONValue, maxAttempts: Int = 3,
        idempotencyKey: String? = nil, fingerprint: String? = nil
    ) {
        self.kind = kind
        self.name = name
        self.priority = priority
        self.params = params
        self.maxAttempts = maxAttempts
        self.idempotencyKey = idempotencyKey
        self.fingerprint =
            fingerprint
            ?? JSONValue.object([
                "kind": .string(kind), "name": name.map(JSONValue.string) ?? .null,
                "priority": .integer(Int64(priority)), "params": params,
            ]).canonicalText()
    }
}

/// A row a job will read — an uploaded dataset, another job's model — named by its kind so the store can
/// check it exists and belongs to the submitter without knowing what a dataset is.
public struct ResourceReference: Sendable, Equatable {
    /// The table holding the row (with `id` and `owner` columns).
    public var table: String
    public var id: String
    /// The parameter that names it (`params.dataset`), what it is ("dataset") and what to tell the user when it is missing.
    public var field: String
    public var missing: String
    public var hint: String?

    public init(table: String, id: String, field: String, missing: String, hint: String? = nil) {
        self.table = table
        self.id = id
        self.field = field
        self.missing = missing
        self.hint = hint
    }
}

/// One point of a job's metric history.
public struct MetricPoint: Sendable, Equatable, Codable {
    public var name: String
    public var step: Int64
    public var value: Double
    public var time: Date

    public init(name: String, step: Int64, value: Double, time: Date = Date()) {
        self.name = name
        self.step = step
        self.value = value
        self.time = time
    }
}

/// Which of a job's metric points to read, in (name, step) order.
public struct MetricQuery: Sendable, Equatable {
    /// Only these series (empty: all).
    public var names: [String]
    /// Only points with a step above this, in every series.
    public var sinceStep: Int64?
    /// Only points after this one in (name, step) order: the cursor of the previous page.
    public var after: MetricPosition?
    public var limit: Int

    public init(names: [String] = [], sinceStep: Int64? = nil, after: MetricPosition? = nil, limit: Int = 10_000) {
        self.names = names
        self.sinceStep = sinceStep
        self.after = after
        self.limit = limit
    }
}

/// A point's place in (name, step) order.
public struct MetricPosition: Sendable, Equatable {
    public var name: String
    public var step: Int64
    public init(name: String, step: Int64) {
        self.name = name
        self.step = step
    }
}

/// One metric a job recorded, summarized.
public struct MetricSeries: Sendable, Equatable {
    public var name: String
    public var count: Int
    public var firstStep: Int64
    public var lastStep: Int64
    /// The value at `lastStep` (NaN when it was not finite).
    public var lastValue: Double
}

/// A durable entry in a job's event stream (what SSE clients receive).
public struct JobEvent: Sendable, Equatable {
    public enum EventType: String, Sendable, Codable {
        case status, progress, metric
        /// A line of the job's log: phase changes, resumption, warnings, the failure and its cause.
        case log
    }

    public var sequence: Int64
    public var jobID: String
    public var type: EventType
    /// The event's fields as a canonical JSON object text.
    public var dataJSON: String
    public var time: Date

    public var data: JSONValue { (try? JSONValue.parse(dataJSON)) ?? .object([:]) }

    /// The fields each kind of event stores, one definition for every store (SSE clients see the same text whichever
    /// database the server runs on).
    /// The event types a job's log shows, as an SQL list.
    static let logTypesSQL = "('\(EventType.status.rawValue)', '\(EventType.log.rawValue)')"

    static func statusData(_ job: Job) -> JSONValue {
        var data: [String: JSONValue] = ["status": .string(job.status.rawValue), "attempt": .integer(Int64(job.attempt))]
        if let reason = job.reason { data["reason"] = .string(reason) }
        return .object(data)
    }

    static func progressData(_ progress: JobProgress) -> JSONValue {
        var data: [String: JSONValue] = ["fraction": .number(progress.fraction)]
        if let phase = progress.phase { data["phase"] = .string(phase) }
        if let message = progress.message { data["message"] = .string(message) }
        return .object(data)
    }

    static func metricData(_ point: MetricPoint) -> JSONValue {
        ["name": .string(point.name), "step": .integer(point.step), "value": .number(point.value)]
    }

    /// Long messages (a failure's cause) are kept whole up to 4 KiB: a log is for reading, not for dumps.
    static func logData(level: JobLogLevel, message: String) -> JSONValue {
        ["level": .string(level.rawValue), "message": .string(message.count > 4096 ? String(message.prefix(4096)) + "…" : message)]
    }
}

public struct Checkpoint: Sendable, Equatable {
    public var step: Int64
    public var data: Data
    public var time: Date
}

public struct ArtifactInfo: Sendable, Equatable {
    public var name: String
    public var mediaType: String
    public var size: Int
    public var createdAt: Date
    /// Lowercase hex SHA-256 of the bytes (nil for artifacts stored before digests were kept).
    public var sha256: String? = nil
}

public struct Artifact: Sendable, Equatable {
    public var info: ArtifactInfo
    public var data: Data
}

/// Filter and position for listing jobs newest first.
public struct JobQuery: Sendable {
    public var statuses: [JobStatus]
    /// Any of these kinds (empty: all).
    public var kinds: [String] = []
    public var kind: String? {
        get { kinds.first }
        set { kinds = newValue.map { [$0] } ?? [] }
    }
    /// Jobs whose name starts with this (case-sensitive).
    public var namePrefix: String? = nil
    /// Jobs carrying this tag.
    public var tag: String? = nil
    /// Jobs created at or after / strictly before these instants.
    public var createdAfter: Date? = nil
    public var createdBefore: Date? = nil
    public var limit: Int
    /// Only jobs inserted before this sequence number (the page token).
    public var beforeSequence: Int64?
    /// Only this owner's jobs (`.only(nil)`: those submitted without a token), or everyone's.
    public var owner: OwnerFilter = .any

    public init(statuses: [JobStatus] = [], kind: String? = nil, limit: Int = 50, beforeSequence: Int64? = nil) {
        self.statuses = statuses
        self.kinds = kind.map { [$0] } ?? []
        self.limit = limit
        self.beforeSequence = beforeSequence
    }
}

/// Whose rows a read may see: an admin sees `.any`, everyone else `.only(their name)`.
public enum OwnerFilter: Sendable, Equatable {
    case any
    case only(String?)

    public func allows(_ owner: String?) -> Bool {
        switch self {
        case .any: true
        case .only(let name): name == owner
        }
    }
}

/// Per-owner limits the store enforces in the same transactions that would exceed them.
public struct OwnerQuotas: Sendable, Equatable {
    /// Queued jobs one owner may have.
    public var maxQueued: Int
    /// Jobs of one owner that run at once; the rest wait even when workers are free.
    public var maxRunning: Int
    /// Bytes of datasets and artifacts one owner may keep.
    public var maxStoredBytes: Int64

    public init(maxQueued: Int = 1_000, maxRunning: Int = 1_000, maxStoredBytes: Int64 = 10 << 30) {
        self.maxQueued = maxQueued
        self.maxRunning = maxRunning
        self.maxStoredBytes = maxStoredBytes
    }
}

/// How a run ended, as the worker reports it to the store.
public enum JobOutcome: Sendable {
    case succeeded(JSONValue)
    case failed(String)
    case cancelled(String)
    /// Handed back without counting the attempt (graceful shutdown).
    case requeued(String)
}
