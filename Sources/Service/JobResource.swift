import Foundation
import Hummingbird
import Jobs

/// A job as the API shows it. Optional fields are written as null rather than left out, so
/// clients always see one shape.
enum JobResource {
    /// `full == false` is the compact form of lists: everything but `params` and `result`.
    static func write(_ job: Job, into json: inout JSONWriter, full: Bool = true) {
        let base = "/v1/jobs/\(job.id)"
        json.raw("{")
        json.key("attempt"); json.integer(job.attempt); json.comma()
        json.key("created_at"); json.timestamp(job.createdAt); json.comma()
        json.key("finished_at"); json.timestamp(job.finishedAt); json.comma()
        json.key("heartbeat_at"); json.timestamp(job.heartbeatAt); json.comma()
        json.key("id"); json.string(job.id); json.comma()
        json.key("kind"); json.string(job.kind); json.comma()
        json.key("links"); json.raw("{")
        json.key("artifacts"); json.string(base + "/artifacts"); json.comma()
        json.key("cancel"); json.string(base + "/cancel"); json.comma()
        json.key("events"); json.string(base + "/events"); json.comma()
        json.key("metrics"); json.string(base + "/metrics"); json.comma()
        json.key("result"); json.string(base + "/result"); json.comma()
        json.key("self"); json.string(base)
        json.raw("}"); json.comma()
        json.key("max_attempts"); json.integer(job.maxAttempts); json.comma()
        json.key("metadata"); json.raw(job.metadataJSON); json.comma()
        json.key("name"); json.string(job.name); json.comma()
        if full { json.key("params"); json.raw(job.paramsJSON); json.comma() }
        json.key("priority"); json.integer(job.priority); json.comma()
        json.key("progress"); json.raw("{")
        json.key("fraction"); json.number(job.progress.fraction); json.comma()
        json.key("message"); json.string(job.progress.message); json.comma()
        json.key("phase"); json.string(job.progress.phase)
        json.raw("}"); json.comma()
        json.key("reason"); json.string(job.reason); json.comma()
        if full { json.key("result"); json.raw(job.resultJSON ?? "null"); json.comma() }
        json.key("started_at"); json.timestamp(job.startedAt); json.comma()
        json.key("status"); json.string(job.status.rawValue); json.comma()
        json.key("tags"); json.raw(job.tagsJSON); json.comma()
        json.key("terminal"); json.bool(job.isTerminal)
        json.raw("}")
    }

    static func response(_ job: Job, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var json = JSONWriter()
        write(job, into: &json)
        return JSONResponse.make(json, status: status, headers: headers)
    }

    /// Strong validator: the store bumps `version` on every change to the job.
    static func etag(_ job: Job) -> String { "\"\(job.id)-\(job.version)\"" }
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

    static func make(_ json: JSONWriter, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }
}
