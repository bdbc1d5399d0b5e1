import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Jobs

/// `GET /v1/jobs/{id}/events`: the job's status, progress and metric events as Server-Sent Events.
/// Events are durable rows, so a client that reconnects with `Last-Event-ID` (or `?last_event_id=`)
/// misses nothing, even across a server restart. The stream ends after the job's terminal event.
struct JobEventStream: Sendable {
    let state: ServiceState
    static let batchSize = 500

    func register(_ routes: inout Routes) {
        routes.add(.get, "/v1/jobs/{id}/events", query: ["last_event_id"]) { request, context in try await stream(request, context) }
    }

    private func stream(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        // The query parameter is checked even when the header is there: a bad value is never ignored.
        var cursor: Int64 = 0
        if let query = request.uri.queryParameters.get("last_event_id") {
            cursor = try Self.eventID(String(query), field: "last_event_id")
        }
        if let header = request.headers[HTTPField.Name("Last-Event-ID")!] {
            cursor = try Self.eventID(header, field: "Last-Event-ID")
        }
        _ = try await state.job(id, for: context.caller)
        let state = self.state
        let start = cursor
        let body = ResponseBody { writer in
            var cursor = start
            var lastWrite = ContinuousClock.now
            // The reconnection delay rides on the first real event: a block holding only `retry:` is an
            // empty event to some clients (httpx-sse), whose JSON decoding of it fails.
            var retrySent = false
            try await state.untilShutdown {
                while !state.isStopping {
                    let subscription = state.store.changes.subscribe(jobID: id)
                    // The job is read before its events: a terminal job's last event is then always in the batch.
                    // Off the cooperative pool: a reader may wait for one of GRDB's few reader connections.
                    let (store, after) = (state.store, cursor)
                    let (job, events) = try await offload {
                        (try store.job(id: id), try store.events(jobID: id, after: after, limit: Self.batchSize))
                    }
                    if !events.isEmpty {
                        var buffer = ByteBuffer()
                        for event in events {
                            if !retrySent {
                                buffer.writeString("retry: 2000\n")
                                retrySent = true
                            }
                            buffer.writeString("id: \(event.sequence)\nevent: \(event.type.rawValue)\ndata: ")
                            buffer.writeBytes(Self.payload(event).bytes)
                            buffer.writeString("\n\n")
                            cursor = event.sequence
                        }
                        try await writer.write(buffer)
                        lastWrite = ContinuousClock.now
                    }
                    if events.count == Self.batchSize {
                        subscription.cancel()
                        continue
                    }
                    guard let job, !job.isTerminal else {
                        subscription.cancel()
                        break
                    }
                    await subscription.wait(timeout: .seconds(1))
                    if ContinuousClock.now - lastWrite >= .seconds(state.configuration.keepAliveInterval) {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        lastWrite = ContinuousClock.now
                    }
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body)
    }

    private static func eventID(_ raw: String, field: String) throws -> Int64 {
        guard let value = Int64(raw.trimmingCharacters(in: CharacterSet.whitespaces)), value >= 0 else {
            let reason = "must be a non-negative integer event id, got \"\(raw.prefix(40))\""
            // The header is a header: the spec's `invalid_header`, not the query parameter's `invalid_query`.
            guard field == "Last-Event-ID" else { throw Problem.invalidQuery(field, reason) }
            throw Problem(.badRequest, code: .invalidHeader, title: "Invalid header", detail: reason, field: field)
        }
        return value
    }

    /// The stored fields plus `job_id` and `time`, spliced without re-parsing the stored JSON.
    private static func payload(_ event: JobEvent) -> JSONWriter {
        var json = JSONWriter(capacity: event.dataJSON.utf8.count + 96)
        json.raw("{"); json.key("job_id"); json.string(event.jobID); json.comma()
        json.key("time"); json.timestamp(event.time)
        let fields = event.dataJSON.dropFirst()  // the stored text is an object: "{...}"
        if fields != "}" { json.comma() }
        json.raw(String(fields))
        return json
    }
}
