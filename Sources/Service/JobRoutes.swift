import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Jobs

/// `/v1/jobs`: submit, list, read (with ETags and long polling), cancel, delete, and the
/// job's metrics, result and artifacts. Events (SSE) live in `JobEventStream`.
struct JobRoutes: Sendable {
    let state: ServiceState

    func register(on router: Router<AppRequestContext>, table: inout RouteTable) {
        router.post("/v1/jobs") { request, context in try await submit(request, context) }
        router.get("/v1/jobs") { request, context in try await list(request, context) }
        table.add("/v1/jobs", [.get, .post])
        router.get("/v1/jobs/:id") { request, context in try await read(request, context) }
        router.delete("/v1/jobs/:id") { request, context in try await delete(request, context) }
        table.add("/v1/jobs/{id}", [.get, .delete])
        router.post("/v1/jobs/:id/cancel") { request, context in try await cancel(request, context) }
        table.add("/v1/jobs/{id}/cancel", [.post])
        router.get("/v1/jobs/:id/metrics") { request, context in try await metrics(request, context) }
        table.add("/v1/jobs/{id}/metrics", [.get])
        router.get("/v1/jobs/:id/result") { request, context in try result(request, context) }
        table.add("/v1/jobs/{id}/result", [.get])
        router.get("/v1/jobs/:id/artifacts") { request, context in try artifacts(request, context) }
        table.add("/v1/jobs/{id}/artifacts", [.get])
        router.get("/v1/jobs/:id/artifacts/:name") { request, context in try await artifact(request, context) }
        table.add("/v1/jobs/{id}/artifacts/{name}", [.get])
    }

    // MARK: Handlers

    private func submit(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let idempotencyKey = try Self.idempotencyKey(request)
        try state.requireSpace()
        try RequestParsing.requireJSON(request)
        let body = try await RequestParsing.collectBody(request, limit: state.configuration.maxRequestBodyBytes)
        let (store, registry, configuration, caller) = (state.store, state.registry, state.configuration, context.caller)
        // Parsing and the kind's validation run off the event loop: both are linear in the body, but a
        // 1 MiB body still costs milliseconds that /healthz and other connections must not wait for.
        let (job, created) = try await offload {
            let value = try RequestParsing.parseJSON(body)
            var submission = try RequestParsing.submission(from: value, idempotencyKey: idempotencyKey, registry: registry,
                                                           configuration: configuration)
            submission.owner = caller.owner
            submission.ownerIsAdmin = caller.admin
            return try store.submit(submission, maxQueued: configuration.maxQueuedJobs, now: Date())
        }
        if created { state.pool.workAvailable() }
        var headers: HTTPFields = [.location: "/v1/jobs/\(job.id)", .eTag: JobResource.etag(job)]
        if !created { headers[Self.replayedHeader] = "true" }
        if !job.isTerminal { headers[.retryAfter] = "1" }
        return JobResource.response(job, status: .created, headers: headers)
    }

    private func list(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        var statuses: [JobStatus] = []
        if let raw = request.uri.queryParameters.get("status") {
            for name in raw.split(separator: ",", omittingEmptySubsequences: false) {
                guard let status = JobStatus(rawValue: String(name)) else {
                    throw Problem.invalidQuery("status", "unknown status \"\(name.prefix(40))\"; use \(JobStatus.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated")
                }
                statuses.append(status)
            }
        }
        let kind = request.uri.queryParameters.get("kind").flatMap { $0.isEmpty ? nil : $0 }
        let pageSize = try RequestParsing.integer(request, "page_size", default: 50, range: 1...200) ?? 50
        var before: Int64?
        if let token = request.uri.queryParameters.get("page_token") {
            guard let sequence = PageToken.decode(token) else {
                throw Problem.invalidQuery("page_token", "must be the next_page_token of a previous page (a positive integer)")
            }
            before = sequence
        }
        // One extra row tells whether another page exists without a count query.
        var query = JobQuery(statuses: statuses, kind: kind, limit: pageSize + 1, beforeSequence: before)
        query.owner = context.caller.visible
        let store = state.store
        // A page of up to 200 rows is read off the event loop, like every uncached query.
        let finalQuery = query
        let rows = try await offload { try store.jobs(matching: finalQuery) }
        let page = Array(rows.prefix(pageSize))
        let next = rows.count > pageSize ? page.last.map { PageToken.encode($0.sequence) } : nil
        var json = JSONWriter(capacity: 1024 * page.count + 64)
        json.raw("{"); json.key("jobs"); json.raw("[")
        for (index, job) in page.enumerated() {
            if index > 0 { json.comma() }
            JobResource.write(job, into: &json)
        }
        json.raw("]"); json.comma()
        json.key("next_page_token"); json.string(next)
        json.raw("}")
        return JSONResponse.make(json)
    }

    private func read(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let wait = try RequestParsing.integer(request, "wait", default: 0, range: 0...state.configuration.maxLongPollSeconds) ?? 0
        let ifNoneMatch = request.headers[.ifNoneMatch]
        var job = try state.job(id, for: context.caller)
        if wait > 0, !job.isTerminal, ifNoneMatch == nil || Self.matches(ifNoneMatch, JobResource.etag(job)) {
            // Long poll: wait until the job's representation changes or the time is up.
            let baseline = JobResource.etag(job)
            let deadline = ContinuousClock.now + .seconds(wait)
            while !state.isStopping {
                let subscription = state.store.changes.subscribe(jobID: id)
                guard let current = try state.store.job(id: id) else {
                    subscription.cancel()
                    throw Problem.jobNotFound(id)
                }
                job = current
                let remaining = deadline - ContinuousClock.now
                if JobResource.etag(job) != baseline || job.isTerminal || remaining <= .zero {
                    subscription.cancel()
                    break
                }
                await subscription.wait(timeout: min(remaining, .seconds(1)))
            }
        }
        let etag = JobResource.etag(job)
        var headers: HTTPFields = [.eTag: etag, .cacheControl: "no-cache"]
        if !job.isTerminal { headers[.retryAfter] = "1" }
        if Self.matches(ifNoneMatch, etag) {
            return Response(status: .notModified, headers: headers)
        }
        return JobResource.response(job, headers: headers)
    }

    private func cancel(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let store = state.store
        _ = try state.job(id, for: context.caller)
        let storage = state.storage
        let job = try await offload { try storage.withReserve { try store.requestCancel(jobID: id, now: Date()) } }
        state.pool.cancel(jobID: id)
        var headers: HTTPFields = [.eTag: JobResource.etag(job)]
        if !job.isTerminal { headers[.retryAfter] = "1" }
        return JobResource.response(job, headers: headers)
    }

    private func delete(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let store = state.store
        _ = try state.job(id, for: context.caller)
        let storage = state.storage
        try await offload {
            try storage.withReserve { try store.delete(jobID: id) }
            storage.restoreReserve()
        }
        return Response(status: .noContent)
    }

    private func metrics(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let name = request.uri.queryParameters.get("name").flatMap { $0.isEmpty ? nil : $0 }
        let since = try RequestParsing.integer(request, "since_step", default: nil, range: -1...Int(Int32.max))
        let limit = try RequestParsing.integer(request, "limit", default: 10_000, range: 1...100_000) ?? 10_000
        _ = try state.job(id, for: context.caller)
        let store = state.store
        // Up to 100,000 points: read and rendered off the event loop.
        return try await offload {
        let points = try store.metrics(jobID: id, name: name, sinceStep: since.map(Int64.init), limit: limit)
        var json = JSONWriter(capacity: 96 * points.count + 64)
        json.raw("{"); json.key("job_id"); json.string(id); json.comma()
        json.key("metrics"); json.raw("[")
        for (index, point) in points.enumerated() {
            if index > 0 { json.comma() }
            json.raw("{"); json.key("name"); json.string(point.name); json.comma()
            json.key("step"); json.integer(point.step); json.comma()
            json.key("time"); json.timestamp(point.time); json.comma()
            json.key("value"); json.number(point.value)
            json.raw("}")
        }
        json.raw("]}")
        return JSONResponse.make(json)
        }
    }

    private func result(_ request: Request, _ context: AppRequestContext) throws -> Response {
        let id = try context.parameters.require("id")
        let job = try state.job(id, for: context.caller)
        switch job.status {
        case .succeeded:
            var json = JSONWriter()
            json.raw("{"); json.key("job_id"); json.string(job.id); json.comma()
            json.key("kind"); json.string(job.kind); json.comma()
            json.key("result"); json.raw(job.resultJSON ?? "null"); json.comma()
            json.key("status"); json.string(job.status.rawValue)
            json.raw("}")
            return JSONResponse.make(json)
        case .failed, .cancelled:
            throw Problem(.conflict, code: "no_result", title: "Job has no result",
                          detail: "the job \(job.status.rawValue)" + (job.reason.map { ": \($0)" } ?? "") + "; its artifacts may still help",
                          field: "status")
        case .queued, .running, .cancelling:
            throw Problem(.conflict, code: "result_not_ready", title: "Result not ready",
                          detail: "the job is \(job.status.rawValue); poll it or stream its events", field: "status",
                          headers: [.retryAfter: "1"])
        }
    }

    private func artifacts(_ request: Request, _ context: AppRequestContext) throws -> Response {
        let id = try context.parameters.require("id")
        _ = try state.job(id, for: context.caller)
        let list = try state.store.artifacts(jobID: id).map {
            ArtifactList.Entry(name: $0.name, media_type: $0.mediaType, size: $0.size,
                               created_at: Timestamp.format($0.createdAt), href: "/v1/jobs/\(id)/artifacts/\($0.name)")
        }
        return try JSONResponse.make(ArtifactList(job_id: id, artifacts: list))
    }

    private func artifact(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let name = try context.parameters.require("name")
        _ = try state.job(id, for: context.caller)
        let store = state.store
        // Off the cooperative pool: while many downloads stream, reads may wait for a reader connection.
        guard let (info, location) = try await offload({ try store.artifactLocation(jobID: id, name: name) }) else {
            throw Problem(.notFound, code: "artifact_not_found", title: "Artifact not found",
                          detail: "job \(id) has no artifact \"\(name.prefix(100))\"", field: "name")
        }
        let safeName = name.filter { $0.isLetter || $0.isNumber || "._-".contains($0) }
        let size = info.size
        // Streamed in chunks read off the event loop; the writer waits for the client, so a slow reader
        // holds one chunk (256 KiB) however large the artifact is.
        let body = ResponseBody(contentLength: size) { writer in
            var offset = 0
            while offset < size {
                let start = offset
                let chunk = try await offload { try store.readArtifact(at: location, offset: start, length: Self.artifactChunkBytes) }
                guard !chunk.isEmpty else { break }
                try await writer.write(ByteBuffer(bytes: chunk))
                offset += chunk.count
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: info.mediaType, .contentDisposition: "attachment; filename=\"\(safeName)\""],
            body: body)
    }

    // MARK: Helpers

    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!
    static let artifactChunkBytes = 256 << 10

    private static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[HTTPField.Name("Idempotency-Key")!] else { return nil }
        guard (1...255).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7E }) else {
            throw Problem(.badRequest, code: "invalid_header", title: "Invalid header",
                          detail: "Idempotency-Key must be 1 to 255 visible ASCII characters", field: "Idempotency-Key")
        }
        return key
    }

    /// `If-None-Match` with a list of tags, `*`, or weak tags (compared weakly, as RFC 9110 asks).
    static func matches(_ header: String?, _ etag: String) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { candidate in
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == etag
        }
    }
}

struct ArtifactList: Encodable {
    struct Entry: Encodable {
        var name: String
        var media_type: String
        var size: Int
        var created_at: String
        var href: String
    }

    var job_id: String
    var artifacts: [Entry]
}

/// A cursor: the sequence number of the last job on the page. Any positive number is a valid
/// position (it lists the jobs submitted before it), so a client can never hold a "bad" token.
enum PageToken {
    static func encode(_ sequence: Int64) -> String { String(sequence) }

    static func decode(_ token: String) -> Int64? {
        guard token.count <= 18, token.allSatisfy(\.isASCII), let sequence = Int64(token), sequence > 0 else { return nil }
        return sequence
    }
}
