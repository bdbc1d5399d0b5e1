import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import NIOCore

/// `GET /v1/jobs/{id}/logs`: the job's log as text, one line per status change or `log` event (phases, resumption,
/// warnings, the failure and its cause). `?follow=true` keeps the response open and streams new lines until the job ends.
struct JobLogRoutes: Sendable {
    let state: ServiceState
    /// Lines sent at most for one request without follow (the newest are kept when there are more).
    static let maxLines = 10_000

    func register(_ routes: inout Routes) {
        routes.add(.get, "/v1/jobs/{id}/logs", query: ["follow"]) { request, context in try await logs(request, context) }
    }

    private func logs(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let follow: Bool
        switch request.uri.queryParameters.get("follow") {
        case nil, "false", "0": follow = false
        case "true", "1": follow = true
        case let other?: throw Problem.invalidQuery("follow", "must be true or false, got \"\(other.prefix(40))\"")
        }
        _ = try await state.job(id, for: context.caller)
        let headers: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
        let store = state.store
        if !follow {
            let lines = try await offload {
                var lines: [String] = []
                var cursor: Int64 = 0
                while true {
                    let events = try store.logEvents(jobID: id, after: cursor, limit: 1_000)
                    lines += events.compactMap(Self.line)
                    if lines.count > Self.maxLines { lines.removeFirst(lines.count - Self.maxLines) }
                    guard let last = events.last, events.count == 1_000 else { break }
                    cursor = last.sequence
                }
                return lines
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: lines.joined())))
        }
        let state = self.state
        let body = ResponseBody { writer in
            var cursor: Int64 = 0
            try await state.untilShutdown {
                while !state.isStopping {
                    let subscription = state.store.changes.subscribe(jobID: id)
                    let after = cursor
                    let (job, events) = try await offload { (try store.job(id: id), try store.logEvents(jobID: id, after: after, limit: 1_000)) }
                    let text = events.compactMap(Self.line).joined()
                    if !text.isEmpty { try await writer.write(ByteBuffer(string: text)) }
                    if let last = events.last { cursor = last.sequence }
                    if events.count == 1_000 {
                        subscription.cancel()
                        continue
                    }
                    guard let job, !job.isTerminal else {
                        subscription.cancel()
                        break
                    }
                    await subscription.wait(timeout: .seconds(1))
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `TIME LEVEL message\n` for status and log events; nil for progress and metrics (they have their own endpoints).
    static func line(_ event: JobEvent) -> String? {
        let data = event.data
        let (level, message): (String, String)
        switch event.type {
        case .status:
            let status = data["status"]?.stringValue ?? "?"
            level = status == "failed" ? "error" : "info"
            message = "status \(status)" + (data["reason"]?.stringValue.map { ": \($0)" } ?? "")
        case .log:
            level = data["level"]?.stringValue ?? "info"
            message = data["message"]?.stringValue ?? ""
        case .progress, .metric:
            return nil
        }
        // One event is one line: newlines inside a message (a multi-line cause) are indented continuation lines.
        let body = message.replacingOccurrences(of: "\n", with: "\n    ")
        return "\(Timestamp.format(event.time)) \(level.uppercased().padding(toLength: 7, withPad: " ", startingAt: 0)) \(body)\n"
    }
}
