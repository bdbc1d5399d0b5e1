import Foundation
import Hummingbird
import Jobs

/// A job as the API shows it.
struct JobResource: Encodable {
    struct Progress: Encodable {
        var fraction: Double
        var phase: String?
        var message: String?
    }

    struct Links: Encodable {
        var `self`: String
        var events: String
        var metrics: String
        var result: String
        var artifacts: String
        var cancel: String
    }

    var id: String
    var kind: String
    var name: String?
    var priority: Int
    var status: String
    var terminal: Bool
    var reason: String?
    var attempt: Int
    var max_attempts: Int
    var progress: Progress
    var params: JSONValue
    var result: JSONValue?
    var created_at: String
    var started_at: String?
    var finished_at: String?
    var heartbeat_at: String?
    var links: Links

    init(_ job: Job) {
        let base = "/v1/jobs/\(job.id)"
        id = job.id
        kind = job.kind
        name = job.name
        priority = job.priority
        status = job.status.rawValue
        terminal = job.isTerminal
        reason = job.reason
        attempt = job.attempt
        max_attempts = job.maxAttempts
        progress = Progress(fraction: job.progress.fraction, phase: job.progress.phase, message: job.progress.message)
        params = job.params
        result = job.result
        created_at = Timestamp.format(job.createdAt)
        started_at = job.startedAt.map(Timestamp.format)
        finished_at = job.finishedAt.map(Timestamp.format)
        heartbeat_at = job.heartbeatAt.map(Timestamp.format)
        links = Links(self: base, events: "\(base)/events", metrics: "\(base)/metrics", result: "\(base)/result",
                      artifacts: "\(base)/artifacts", cancel: "\(base)/cancel")
    }

    // Optional fields are written as null rather than left out, so clients see one shape.
    enum CodingKeys: String, CodingKey {
        case id, kind, name, priority, status, terminal, reason, attempt, max_attempts, progress, params, result,
             created_at, started_at, finished_at, heartbeat_at, links
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(name, forKey: .name)
        try container.encode(priority, forKey: .priority)
        try container.encode(status, forKey: .status)
        try container.encode(terminal, forKey: .terminal)
        try container.encode(reason, forKey: .reason)
        try container.encode(attempt, forKey: .attempt)
        try container.encode(max_attempts, forKey: .max_attempts)
        try container.encode(progress, forKey: .progress)
        try container.encode(params, forKey: .params)
        try container.encode(result, forKey: .result)
        try container.encode(created_at, forKey: .created_at)
        try container.encode(started_at, forKey: .started_at)
        try container.encode(finished_at, forKey: .finished_at)
        try container.encode(heartbeat_at, forKey: .heartbeat_at)
        try container.encode(links, forKey: .links)
    }

    /// Strong validator: the store bumps `version` on every change to the job.
    static func etag(_ job: Job) -> String { "\"\(job.id)-\(job.version)\"" }
}

enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func format(_ date: Date) -> String {
        date.formatted(style)
    }
}

/// JSON responses with a shared encoder.
enum JSONResponse {
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
