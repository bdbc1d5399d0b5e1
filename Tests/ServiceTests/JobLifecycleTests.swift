import Foundation
import HTTPTypes
import HummingbirdTesting
import Jobs
import XCTest
@testable import Service

final class JobLifecycleTests: XCTestCase {
    func testSubmitPollStreamResult() async throws {
        try await withServer { client in
            let submitted = try await client.post(
                "/v1/jobs", json: #"{"kind": "demo.count", "name": "first", "params": {"steps": 6, "step_ms": 30, "checkpoint_every": 2, "seed": 3}}"#
            )
            XCTAssertEqual(submitted.status, .created)
            let job = try submitted.json
            let id = try XCTUnwrap(job["id"]?.stringValue)
            XCTAssertEqual(submitted.headers[.location], "/v1/jobs/\(id)")
            XCTAssertEqual(job["params"], ["steps": 6, "step_ms": 30, "checkpoint_every": 2, "seed": 3], "defaults filled in")
            XCTAssertEqual(job["name"], "first")

            // ETag and conditional GET. The job runs meanwhile: a 200 to If-None-Match must carry a new ETag (the job
            // changed), and once the job holds still a 304 carries the same one.
            let firstResponse = try await client.get("/v1/jobs/\(id)")
            let firstETag = try XCTUnwrap(firstResponse.headers[.eTag])
            var notModifiedSeen = false
            for _ in 0..<100 where !notModifiedSeen {
                let current = try await client.get("/v1/jobs/\(id)")
                let etag = try XCTUnwrap(current.headers[.eTag])
                let conditional = try await client.get("/v1/jobs/\(id)", headers: [.ifNoneMatch: etag])
                if conditional.status == .notModified {
                    XCTAssertEqual(conditional.headers[.eTag], etag)
                    notModifiedSeen = true
                } else {
                    XCTAssertEqual(conditional.status, .ok)
                    XCTAssertNotEqual(conditional.headers[.eTag], etag, "a 200 to If-None-Match means the job changed")
                }
            }
            XCTAssertTrue(notModifiedSeen)

            // SSE from the start: every event up to the terminal one, then the stream ends.
            let stream = try await client.get("/v1/jobs/\(id)/events")
            XCTAssertEqual(stream.status, .ok)
            XCTAssertEqual(stream.headers[.contentType], "text/event-stream")
            let events = parseSSE(stream.text)
            let statuses = events.filter { $0.event == "status" }.compactMap { try? JSONValue.parse($0.data)["status"]?.stringValue }
            XCTAssertEqual(statuses, ["queued", "running", "succeeded"])
            XCTAssertEqual(events.filter { $0.event == "metric" }.count, 12, "value and attempt for each of 6 steps")
            XCTAssertFalse(events.filter { $0.event == "progress" }.isEmpty)
            let ids = events.compactMap { Int($0.id) }
            XCTAssertEqual(ids, ids.sorted())

            // No block is a lone `retry:` field (some clients yield it as an empty event); it rides on the first event.
            let blocks = try await client.get("/v1/jobs/\(id)/events").text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            XCTAssertTrue(blocks.first?.hasPrefix("retry: 2000\nid: ") == true, blocks.first ?? "no block")
            XCTAssertTrue(blocks.allSatisfy { $0.contains("data: ") || $0.hasPrefix(":") }, "every block is an event or a comment")
            // Resuming with Last-Event-ID gives exactly the rest.
            let resumeFrom = ids[ids.count / 2]
            let rest = parseSSE(try await client.get("/v1/jobs/\(id)/events", headers: [HTTPField.Name("Last-Event-ID")!: "\(resumeFrom)"]).text)
            XCTAssertEqual(rest.compactMap { Int($0.id) }, ids.filter { $0 > resumeFrom })

            let done = try await client.get("/v1/jobs/\(id)")
            XCTAssertEqual(try done.json["status"], "succeeded")
            XCTAssertNil(done.headers[.retryAfter], "terminal responses carry no Retry-After")
            XCTAssertNotEqual(done.headers[.eTag], firstETag)

            let result = try await client.get("/v1/jobs/\(id)/result").json
            let expected = (1...6).map { CountingJobKind.value(seed: 3, step: Int64($0)) }.reduce(0, +)
            XCTAssertEqual(result["result"]?["sum"]?.doubleValue ?? 0, expected, accuracy: 1e-12)

            let metrics = try await client.get("/v1/jobs/\(id)/metrics?name=value&since_step=4").json
            XCTAssertEqual(metrics["metrics"]?.arrayValue?.compactMap { $0["step"]?.integerValue }, [5, 6])

            let artifacts = try await client.get("/v1/jobs/\(id)/artifacts").json
            XCTAssertEqual(artifacts["artifacts"]?.arrayValue?.first?["name"], "values.csv")
            let csv = try await client.get("/v1/jobs/\(id)/artifacts/values.csv")
            XCTAssertEqual(csv.headers[.contentType], "text/csv")
            XCTAssertEqual(csv.text.split(separator: "\n").count, 7)
        }
    }

    func testLongPollReturnsOnChange() async throws {
        try await withServer { client in
            let id = try await client.submitCount(#"{"steps": 2, "step_ms": 400}"#)
            try await client.waitForStatus(id, "running")
            let running = try await client.get("/v1/jobs/\(id)")
            XCTAssertEqual(running.headers[.retryAfter], "1")
            let etag = try XCTUnwrap(running.headers[.eTag])
            let start = Date()
            let changed = try await client.get("/v1/jobs/\(id)?wait=30", headers: [.ifNoneMatch: etag])
            let waited = Date().timeIntervalSince(start)
            XCTAssertEqual(changed.status, .ok)
            XCTAssertNotEqual(changed.headers[.eTag], etag)
            XCTAssertLessThan(waited, 10, "returned on the change, not at the deadline")
        }
    }

    func testLongPollTimesOutWith304() async throws {
        try await withServer(workers: 1) { client in
            // One worker busy on a long job keeps the second queued and unchanged.
            let blocker = try await client.submitCount(#"{"steps": 1, "step_ms": 5000}"#)
            try await client.waitForStatus(blocker, "running")
            let id = try await client.submitCount()
            let queued = try await client.get("/v1/jobs/\(id)")
            let etag = try XCTUnwrap(queued.headers[.eTag])
            let start = Date()
            let response = try await client.get("/v1/jobs/\(id)?wait=1", headers: [.ifNoneMatch: etag])
            XCTAssertEqual(response.status, .notModified)
            XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.9)
            _ = try await client.post("/v1/jobs/\(blocker)/cancel", json: "")
        }
    }

    func testCancelAndDelete() async throws {
        try await withServer { client in
            let id = try await client.submitCount(#"{"steps": 100, "step_ms": 100}"#)
            try await client.waitForStatus(id, "running")
            let deleteRunning = try await client.execute(uri: "/v1/jobs/\(id)", method: .delete)
            try assertProblem(deleteRunning, .conflict, code: "illegal_transition")

            let cancel = try await client.execute(uri: "/v1/jobs/\(id)/cancel", method: .post)
            XCTAssertEqual(cancel.status, .ok)
            let asked = Date()
            let final = try await client.waitUntilTerminal(id)
            XCTAssertEqual(final["status"], "cancelled")
            XCTAssertLessThan(Date().timeIntervalSince(asked), 3, "cancellation is prompt")

            let again = try await client.execute(uri: "/v1/jobs/\(id)/cancel", method: .post)
            try assertProblem(again, .conflict, code: "illegal_transition", field: "status")
            try assertProblem(try await client.get("/v1/jobs/\(id)/result"), .conflict, code: "no_result")

            let deleted = try await client.execute(uri: "/v1/jobs/\(id)", method: .delete)
            XCTAssertEqual(deleted.status, .noContent)
            try assertProblem(try await client.get("/v1/jobs/\(id)"), .notFound, code: "job_not_found")
            try assertProblem(try await client.get("/v1/jobs/\(id)/metrics"), .notFound, code: "job_not_found")
            try assertProblem(try await client.execute(uri: "/v1/jobs/\(id)", method: .delete), .notFound, code: "job_not_found")
        }
    }

    func testCancelQueuedJob() async throws {
        try await withServer(workers: 1) { client in
            let blocker = try await client.submitCount(#"{"steps": 1, "step_ms": 3000}"#)
            try await client.waitForStatus(blocker, "running")
            let id = try await client.submitCount()
            let cancelled = try await client.execute(uri: "/v1/jobs/\(id)/cancel", method: .post).json
            XCTAssertEqual(cancelled["status"], "cancelled")
            XCTAssertEqual(cancelled["terminal"], true)
            _ = try await client.execute(uri: "/v1/jobs/\(blocker)/cancel", method: .post)
        }
    }

    func testPaginationAndFilters() async throws {
        try await withServer(workers: 1) { client in
            var ids: [String] = []
            for _ in 0..<5 { ids.append(try await client.submitCount(#"{"steps": 1, "step_ms": 0}"#)) }
            var seen: [String] = []
            var token: String? = nil
            var pages = 0
            repeat {
                let uri = "/v1/jobs?page_size=2" + (token.map { "&page_token=\($0)" } ?? "")
                let page = try await client.get(uri).json
                seen += page["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                token = page["next_page_token"]?.stringValue
                pages += 1
            } while token != nil && pages < 10
            XCTAssertEqual(pages, 3)
            XCTAssertEqual(seen, ids.reversed(), "newest first, no repeats, none missing")

            for id in ids { _ = try await client.waitUntilTerminal(id) }
            let succeeded = try await client.get("/v1/jobs?status=succeeded&kind=demo.count").json
            XCTAssertEqual(succeeded["jobs"]?.arrayValue?.count, 5)
            let awaited1 = try await client.get("/v1/jobs?status=queued,running").json["jobs"]?.arrayValue?.count
            XCTAssertEqual(awaited1, 0)
            let awaited2 = try await client.get("/v1/jobs?kind=other").json["jobs"]?.arrayValue?.count
            XCTAssertEqual(awaited2, 0)
        }
    }

    func testIdempotencyKey() async throws {
        try await withServer { client in
            let body = #"{"kind": "demo.count", "params": {"steps": 2, "step_ms": 0}}"#
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[HTTPField.Name("Idempotency-Key")!] = "abc-123"
            let first = try await client.post("/v1/jobs", json: body, headers: headers)
            let second = try await client.post("/v1/jobs", json: #"{"params": {"step_ms": 0, "steps": 2}, "kind": "demo.count"}"#, headers: headers)
            XCTAssertEqual(first.status, .created)
            XCTAssertEqual(second.status, .created)
            XCTAssertEqual(try first.json["id"], try second.json["id"])
            XCTAssertEqual(second.headers[HTTPField.Name("Idempotent-Replayed")!], "true")
            let conflict = try await client.post("/v1/jobs", json: #"{"kind": "demo.count", "params": {"steps": 3}}"#, headers: headers)
            try assertProblem(conflict, .conflict, code: "idempotency_conflict", field: "Idempotency-Key")
            let awaited3 = try await client.jobCount()
            XCTAssertEqual(awaited3, 1)
        }
    }

    func testKindsListTheirSchemaAndExamplesRun() async throws {
        try await withServer { client in
            let kinds = try await client.get("/v1/kinds").json["kinds"]?.arrayValue ?? []
            XCTAssertFalse(kinds.isEmpty)
            // An example naming "JOB_ID" (cluster.ruc's source) gets the job of the cluster.kmeans example, listed before it.
            var clusteringJob = "JOB_ID"
            for kind in kinds {
                XCTAssertEqual(kind["parameters"]?["type"], "object")
                let name = try XCTUnwrap(kind["name"]?.stringValue)
                var example = try XCTUnwrap(kind["example"])
                if example["source_job"] == "JOB_ID", case .object(var members) = example {
                    members["source_job"] = .string(clusteringJob)
                    example = .object(members)
                }
                let body = JSONValue.object(["kind": .string(name), "params": example]).canonicalText()
                let submitted = try await client.post("/v1/jobs", json: body)
                XCTAssertEqual(submitted.status, .created, submitted.text)
                let id = try XCTUnwrap(try submitted.json["id"]?.stringValue)
                let final = try await client.waitUntilTerminal(id, timeout: 30)
                XCTAssertEqual(final["status"], "succeeded", "the example of \(name) must succeed")
                if name == "cluster.kmeans" { clusteringJob = id }
                // Every metric the run recorded is declared by its kind (name, unit, what step counts).
                let declared = Set((kind["metrics"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
                let recorded = try await client.get("/v1/jobs/\(id)/metrics/names").json["metrics"]?.arrayValue ?? []
                for series in recorded {
                    let metric = series["name"]?.stringValue ?? ""
                    XCTAssertTrue(declared.contains(metric), "\(name) recorded \(metric), which it does not declare")
                }
                for declaration in kind["metrics"]?.arrayValue ?? [] {
                    XCTAssertNotNil(declaration["step"]?.stringValue, "\(name): every metric says what its step counts")
                    XCTAssertNotNil(declaration["unit"]?.stringValue)
                }
            }
            let one = try await client.get("/v1/kinds/demo.count").json
            XCTAssertEqual(one["defaults"]?["steps"], 20)
            // Kinds with a required parameter publish their other defaults too (issue 14: they showed {}).
            let scan = try await client.get("/v1/kinds/cluster.scan").json
            XCTAssertEqual(scan["defaults"]?["k"], 10)
            XCTAssertEqual(scan["defaults"]?["entropy_weight"], 5)
            XCTAssertNil(scan["defaults"]?["dataset"], "a required parameter has no default")
            let mcmc = try await client.get("/v1/kinds/sample.mcmc").json
            XCTAssertEqual(mcmc["defaults"]?["method"], "nuts")
            try assertProblem(try await client.get("/v1/kinds/nope"), .notFound, code: "unknown_kind")
        }
    }

    func testHealthReadinessAndMetrics() async throws {
        try await withServer { client in
            let awaited4 = try await client.get("/healthz").status
            XCTAssertEqual(awaited4, .ok)
            let awaited5 = try await client.get("/readyz").status
            XCTAssertEqual(awaited5, .ok)
            let id = try await client.submitCount()
            _ = try await client.waitUntilTerminal(id)
            // The duration histogram is recorded just after the outcome commits (which wakes the poll), so
            // the scrape may need a moment to see it.
            var metrics = try await client.get("/metrics")
            for _ in 0..<50 where !metrics.text.contains(#"montecluster_job_duration_seconds_count{kind="demo.count""#) {
                try await Task.sleep(for: .milliseconds(20))
                metrics = try await client.get("/metrics")
            }
            XCTAssertTrue(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = metrics.text
            XCTAssertTrue(text.contains("montecluster_queue_length 0"), text)
            XCTAssertTrue(text.contains(#"montecluster_jobs{status="succeeded"} 1"#), text)
            XCTAssertTrue(text.contains(#"montecluster_job_duration_seconds_count{kind="demo.count",status="succeeded"} 1"#), text)
            XCTAssertTrue(text.contains(#"montecluster_http_requests_total{method="POST",route="/v1/jobs",status="201"} 1"#), text)
            XCTAssertTrue(text.contains(#"montecluster_build_info{version="\#(MonteClusterVersion.current)"} 1"#), text)
            let resident = text.split(separator: "\n").first { $0.hasPrefix("process_resident_memory_bytes ") }
            XCTAssertGreaterThan(resident.flatMap { Int($0.split(separator: " ")[1]) } ?? 0, 1 << 20, "the RSS of a running server")
            XCTAssertTrue(text.contains("process_cpu_seconds_total "), text)
        }
    }
}

struct ServerSentEvent {
    var id = ""
    var event = ""
    var data = ""
}

func parseSSE(_ text: String) -> [ServerSentEvent] {
    var events: [ServerSentEvent] = []
    for block in text.components(separatedBy: "\n\n") {
        var event = ServerSentEvent()
        var hasData = false
        for line in block.split(separator: "\n") {
            if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
            if line.hasPrefix("event: ") { event.event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") {
                event.data = String(line.dropFirst(6))
                hasData = true
            }
        }
        if hasData { events.append(event) }
    }
    return events
}
