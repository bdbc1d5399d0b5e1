import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Jobs

/// `/v1/jobs`: submit, list, read (with ETags and long polling), cancel, delete, and the
/// job's metrics, result and artifacts. Events (SSE) live in `JobEventStream`.
struct JobRoutes: Sendable {
    let state: ServiceState

    func register(_ routes: inout Routes) {
        routes.add(.post, "/v1/jobs") { request, context in try await submit(request, context) }
        routes.add(.get, "/v1/jobs", query: JobListFilter.queryParameters) { request, context in try await list(request, context) }
        routes.add(.get, "/v1/jobs/{id}", query: ["wait"]) { request, context in try await read(request, context) }
        routes.add(.delete, "/v1/jobs/{id}") { request, context in try await delete(request, context) }
        routes.add(.post, "/v1/jobs/{id}/cancel") { request, context in try await cancel(request, context) }
        routes.add(.get, "/v1/jobs/{id}/metrics", query: MetricsQuery.queryParameters) { request, context in try await metrics(request, context) }
        routes.add(.get, "/v1/jobs/{id}/metrics/names") { request, context in try await metricNames(request, context) }
        routes.add(.get, "/v1/jobs/{id}/result") { request, context in try await result(request, context) }
        routes.add(.get, "/v1/jobs/{id}/artifacts") { request, context in try await artifacts(request, context) }
        routes.add(.get, "/v1/jobs/{id}/artifacts/{name}") { request, context in try await artifact(request, context) }
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
            var submission = try RequestParsing.submission(
                from: value, idempotencyKey: idempotencyKey, registry: registry, configuration: configuration,
                visible: { try store.referenceVisible($0, owner: caller.owner, admin: caller.admin) })
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
        let parameters = request.uri.queryParameters
        var query = JobQuery(
            statuses: try Self.list(
                "status", parameters.get("status"), JobStatus.init(rawValue:),
                known: JobStatus.allCases.map(\.rawValue), emptyMeansAll: false))
        query.kinds = try Self.list("kind", parameters.get("kind"), { $0 }, known: nil)
        if let name = parameters.get("name") {
            guard !name.isEmpty, name.unicodeScalars.count <= 200 else {
                throw Problem.invalidQuery("name", "must be 1 to 200 characters (a prefix of job names)")
            }
            query.namePrefix = name
        }
        if let tag = parameters.get("tag") {
            guard JobTags.isValid(tag) else { throw Problem.invalidQuery("tag", JobTags.rule) }
            query.tag = tag
        }
        query.createdAfter = try Self.timestamp(parameters.get("created_after"), "created_after")
        query.createdBefore = try Self.timestamp(parameters.get("created_before"), "created_before")
        let full = try Self.view(request)
        let pageSize = try RequestParsing.integer(request, "page_size", default: 50, range: 1...200) ?? 50
        if let token = parameters.get("page_token") {
            guard let sequence = PageToken.decode(token) else {
                throw Problem.invalidQuery("page_token", "must be the next_page_token of a previous page (a positive integer)")
            }
            query.beforeSequence = sequence
        }
        // One extra row tells whether another page exists without a count query.
        query.limit = pageSize + 1
        query.owner = context.caller.visible
        let store = state.store
        // A page of up to 200 rows is read off the event loop, like every uncached query.
        let finalQuery = query
        let rows = try await offload { try store.jobs(matching: finalQuery) }
        let page = Array(rows.prefix(pageSize))
        let next = rows.count > pageSize ? page.last.map { PageToken.encode($0.sequence) } : nil
        var json = JSONWriter(capacity: (full ? 1024 : 640) * page.count + 64)
        json.raw("{"); json.key("jobs"); json.raw("[")
        for (index, job) in page.enumerated() {
            if index > 0 { json.comma() }
            JobResource.write(job, into: &json, full: full)
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
        var job = try await state.job(id, for: context.caller)
        if wait > 0, !job.isTerminal, ifNoneMatch == nil || Self.matches(ifNoneMatch, JobResource.etag(job)) {
            // Long poll: wait until the job's representation changes or the time is up.
            let baseline = JobResource.etag(job)
            let deadline = ContinuousClock.now + .seconds(wait)
            job = try await state.untilShutdown { [job] in
                var job = job
                while !state.isStopping {
                    let subscription = state.store.changes.subscribe(jobID: id)
                    guard let current = try? await state.job(id, for: context.caller) else {
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
                return job
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
        let id = try await visibleJobID(context)
        let (store, storage) = (state.store, state.storage)
        let job = try await offload { try storage.withReserve { try store.requestCancel(jobID: id, now: Date()) } }
        state.pool.cancel(jobID: id)
        var headers: HTTPFields = [.eTag: JobResource.etag(job)]
        if !job.isTerminal { headers[.retryAfter] = "1" }
        return JobResource.response(job, headers: headers)
    }

    private func delete(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try await visibleJobID(context)
        let (store, storage) = (state.store, state.storage)
        try await offload {
            try storage.withReserve { try store.delete(jobID: id) }
            storage.restoreReserve()
        }
        return Response(status: .noContent)
    }

    private func metrics(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let parameters = request.uri.queryParameters
        let csv: Bool
        switch parameters.get("format") {
        case nil, "json": csv = false
        case "csv": csv = true
        case let other?: throw Problem.invalidQuery("format", "must be json or csv, got \"\(other.prefix(40))\"")
        }
        var query = MetricQuery()
        query.names = try Self.list("name", parameters.get("name"), { $0 }, known: nil)
        guard query.names.count <= 100 else { throw Problem.invalidQuery("name", "at most 100 names") }
        query.sinceStep = try RequestParsing.integer(request, "since_step", default: nil, range: -1...Int(Int32.max)).map(Int64.init)
        // A CSV is read whole by pandas.read_csv(url), so it gets the largest page by default.
        query.limit = try RequestParsing.integer(request, "limit", default: csv ? 100_000 : 10_000, range: 1...100_000) ?? 10_000
        if let token = parameters.get("page_token") {
            guard let position = MetricPageToken.decode(token) else {
                throw Problem.invalidQuery("page_token", "must be the next_page_token of a previous page of this job's metrics")
            }
            query.after = position
        }
        _ = try await state.job(id, for: context.caller)
        let store = state.store
        var pageQuery = query
        pageQuery.limit += 1
        let (finalQuery, limit) = (pageQuery, query.limit)
        // Up to 100,000 points: read and rendered off the event loop.
        return try await offload {
            var points = try store.metrics(jobID: id, matching: finalQuery)
            var next: String?
            if points.count > limit {
                points.removeLast()
                next = points.last.map { MetricPageToken.encode(MetricPosition(name: $0.name, step: $0.step)) }
            }
            if csv { return Self.metricsCSV(points, jobID: id, next: next, request: request) }
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
            json.raw("]"); json.comma()
            json.key("next_page_token"); json.string(next)
            json.raw("}")
            return JSONResponse.make(json)
        }
    }

    /// Long format, one point per line, for `pandas.read_csv(url)`; the next page is in `Link`.
    private static func metricsCSV(_ points: [MetricPoint], jobID: String, next: String?, request: Request) -> Response {
        var text = "name,step,value,time\n"
        text.reserveCapacity(48 * points.count + 32)
        for point in points {
            text += CSVField.escape(point.name); text += ","
            text += String(point.step); text += ","
            // Empty for a non-finite value: pandas reads it as NaN.
            if point.value.isFinite { text += "\(point.value)" }
            text += ","; text += Timestamp.format(point.time); text += "\n"
        }
        var headers: HTTPFields = [.contentType: "text/csv; charset=utf-8"]
        if let next {
            var components = URLComponents()
            components.path = "/v1/jobs/\(jobID)/metrics"
            var items = request.uri.queryParameters.filter { $0.key != "page_token" }.map {
                URLQueryItem(name: String($0.key), value: String($0.value))
            }
            items.append(URLQueryItem(name: "page_token", value: next))
            components.queryItems = items
            headers[HTTPField.Name("Link")!] = "<\(components.string ?? "")>; rel=\"next\""
            headers[Self.nextPageTokenHeader] = next
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func metricNames(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        _ = try await state.job(id, for: context.caller)
        let store = state.store
        let series = try await offload { try store.metricSeries(jobID: id) }
        // A few dozen names at most: a JSONValue (non-finite last values become null) rather than the writer.
        let entries: [JSONValue] = series.map {
            [
                "name": .string($0.name), "count": .integer(Int64($0.count)), "first_step": .integer($0.firstStep),
                "last_step": .integer($0.lastStep), "last_value": .number($0.lastValue),
            ]
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(["job_id": .string(id), "metrics": .array(entries)]).canonicalText())))
    }

    private func result(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let job = try await state.job(id, for: context.caller)
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
            let store = state.store
            let kept = try await offload { try store.artifacts(jobID: id).map(\.name) }
            // Only said when true: a training job stopped after a checkpoint keeps that checkpoint's assignments and model.
            let artifactsNote =
                kept.isEmpty
                ? "" : "; it kept \(kept.count) artifact\(kept.count == 1 ? "" : "s") (\(kept.joined(separator: ", "))) at /v1/jobs/\(id)/artifacts"
            throw Problem(
                .conflict, code: .noResult, title: "Job has no result",
                detail: "the job \(job.status.rawValue)" + (job.reason.map { ": \($0)" } ?? "") + artifactsNote,
                field: "status")
        case .queued, .running, .cancelling:
            throw Problem(
                .conflict, code: .resultNotReady, title: "Result not ready",
                detail: "the job is \(job.status.rawValue); poll it or stream its events", field: "status",
                headers: [.retryAfter: "1"])
        }
    }

    private func artifacts(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        _ = try await state.job(id, for: context.caller)
        let store = state.store
        let infos = try await offload { try store.artifacts(jobID: id) }
        let list = infos.map {
            ArtifactList.Entry(
                name: $0.name, media_type: $0.mediaType, size: $0.size, sha256: $0.sha256,
                created_at: Timestamp.format($0.createdAt), href: "/v1/jobs/\(id)/artifacts/\($0.name)")
        }
        return try JSONResponse.make(ArtifactList(job_id: id, artifacts: list))
    }

    private func artifact(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let name = try context.parameters.require("name")
        let job = try await state.job(id, for: context.caller)
        let store = state.store
        // Off the cooperative pool: while many downloads stream, reads may wait for a reader connection.
        guard let (info, location) = try await offload({ try store.artifactLocation(jobID: id, name: name) }) else {
            if !job.isTerminal {
                throw Problem(
                    .conflict, code: .artifactNotReady, title: "Artifact not ready",
                    detail: "job \(id) is \(job.status.rawValue) and has not written \"\(name.prefix(100))\" yet; retry, or wait for the job",
                    field: "name", headers: [.retryAfter: "1"])
            }
            throw Problem(
                .notFound, code: .artifactNotFound, title: "Artifact not found",
                detail: "job \(id) has no artifact \"\(name.prefix(100))\"", field: "name")
        }
        let safeName = name.filter { $0.isLetter || $0.isNumber || "._-".contains($0) }
        let etag = "\"" + (info.sha256 ?? "\(info.size)-\(Int64(info.createdAt.timeIntervalSince1970 * 1000))") + "\""
        var headers: HTTPFields = [
            .contentType: info.mediaType, .contentDisposition: "attachment; filename=\"\(safeName)\"", .eTag: etag,
            .acceptRanges: "bytes", .cacheControl: "no-cache",
        ]
        if let sha256 = info.sha256, let digest = Self.base64(hex: sha256) { headers[Self.reprDigestHeader] = "sha-256=:\(digest):" }
        if Self.matches(request.headers[.ifNoneMatch], etag) { return Response(status: .notModified, headers: headers) }
        let size = info.size
        var selected = 0..<size
        var status = HTTPResponse.Status.ok
        // A Range is honoured unless If-Range names another version (then the whole, current artifact is sent).
        if let header = request.headers[.range], request.headers[.ifRange].map({ $0 == etag }) ?? true {
            switch ByteRange.parse(header, size: size) {
            case .whole: break
            case .unsatisfiable:
                throw Problem(
                    .rangeNotSatisfiable, code: .rangeNotSatisfiable, title: "Range not satisfiable",
                    detail: "the artifact has \(size) bytes", field: "Range", headers: [.contentRange: "bytes */\(size)"])
            case .part(let part):
                selected = part
                status = .partialContent
                headers[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound - 1)/\(size)"
            }
        }
        // Streamed in chunks read off the event loop; the writer waits for the client, so a slow reader
        // holds one chunk (256 KiB) however large the artifact is.
        let range = selected
        // Declared here too so that HEAD, whose body is dropped, still tells the size.
        headers[.contentLength] = String(range.count)
        let body = ResponseBody(contentLength: range.count) { writer in
            var offset = range.lowerBound
            while offset < range.upperBound {
                let start = offset
                let length = min(Self.artifactChunkBytes, range.upperBound - offset)
                let chunk = try await offload { try store.readArtifact(at: location, offset: start, length: length) }
                guard !chunk.isEmpty else { break }
                try await writer.write(ByteBuffer(bytes: chunk))
                offset += chunk.count
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    // MARK: Helpers

    /// The `{id}` of the path, once the caller may see that job (404 otherwise).
    private func visibleJobID(_ context: AppRequestContext) async throws -> String {
        let id = try context.parameters.require("id")
        _ = try await state.job(id, for: context.caller)
        return id
    }

    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!
    static let nextPageTokenHeader = HTTPField.Name("Next-Page-Token")!
    /// RFC 9530: the digest of the whole artifact, whatever range is sent.
    static let reprDigestHeader = HTTPField.Name("Repr-Digest")!

    private static func base64(hex: String) -> String? {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return Data(bytes).base64EncodedString()
    }

    /// A comma-separated query value (`status=queued,running`), each item mapped or refused by name.
    private static func list<T>(_ field: String, _ raw: String?, _ map: (String) -> T?, known: [String]?, emptyMeansAll: Bool = true) throws -> [T] {
        guard let raw, !(raw.isEmpty && emptyMeansAll) else { return [] }
        return try raw.split(separator: ",", omittingEmptySubsequences: false).map { item in
            guard !item.isEmpty, item.count <= 200, let value = map(String(item)) else {
                throw Problem.invalidQuery(
                    field,
                    item.isEmpty
                        ? "has an empty item; separate values with single commas"
                        : "unknown value \"\(item.prefix(40))\"" + (known.map { "; use \($0.joined(separator: ", ")), comma-separated" } ?? ""))
            }
            return value
        }
    }

    private static func timestamp(_ raw: String?, _ field: String) throws -> Date? {
        guard let raw else { return nil }
        guard let date = Timestamp.parse(raw) else {
            throw Problem.invalidQuery(field, "must be an RFC 3339 timestamp (2026-11-30T09:00:00Z) or a date (2026-11-30)")
        }
        return date
    }

    /// `view=compact` (the default of lists: no params or result) or `view=full`.
    private static func view(_ request: Request) throws -> Bool {
        switch request.uri.queryParameters.get("view") {
        case nil, "compact": false
        case "full": true
        case let other?: throw Problem.invalidQuery("view", "must be compact or full, got \"\(other.prefix(40))\"")
        }
    }
    static let artifactChunkBytes = 256 << 10

    private static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[HTTPField.Name("Idempotency-Key")!] else { return nil }
        guard (1...255).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7E }) else {
            throw Problem(
                .badRequest, code: .invalidHeader, title: "Invalid header",
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
        var sha256: String?
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

/// The query parameters of `GET /v1/jobs` (the list and its filters).
enum JobListFilter {
    static let queryParameters = ["status", "kind", "name", "tag", "created_after", "created_before", "page_size", "page_token", "view"]
}

/// The query parameters of `GET /v1/jobs/{id}/metrics`.
enum MetricsQuery {
    static let queryParameters = ["name", "since_step", "limit", "page_token", "format"]
}

/// A metrics cursor: `STEP.NAME` of the last point of a page. Any such text is a valid position (the
/// points after it in (name, step) order), so a client can never hold a "bad" token, only an old one.
enum MetricPageToken {
    static func encode(_ position: MetricPosition) -> String { "\(position.step).\(position.name)" }

    static func decode(_ token: String) -> MetricPosition? {
        guard token.utf8.count <= 400, let dot = token.firstIndex(of: ".") else { return nil }
        let digits = token[..<dot]
        guard (1...19).contains(digits.count), digits.allSatisfy(\.isASCII), let step = Int64(digits) else { return nil }
        return MetricPosition(name: String(token[token.index(after: dot)...]), step: step)
    }
}

/// One byte range of a `Range` header (RFC 9110 §14.1.2); a list of several is served whole.
enum ByteRange: Equatable {
    case whole
    case part(Range<Int>)
    case unsatisfiable

    static func parse(_ header: String, size: Int) -> ByteRange {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes="), !trimmed.contains(",") else { return .whole }
        let spec = trimmed.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        // Digits only, at most 18 of them: no sign, no overflow.
        func number(_ text: Substring) -> Int? { text.count <= 18 && text.allSatisfy(\.isASCII) && text.allSatisfy(\.isNumber) ? Int(text) : nil }
        if first.isEmpty {
            guard let suffix = number(last) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .part(max(0, size - suffix)..<size)
        }
        guard let start = number(first) else { return .whole }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .part(start..<size) }
        guard let end = number(last), end >= start else { return .whole }
        return .part(start..<min(size, end + 1))
    }
}

/// CSV fields as RFC 4180 writes them.
enum CSVField {
    static func escape(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
