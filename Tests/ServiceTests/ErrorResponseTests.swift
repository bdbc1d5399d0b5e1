import Foundation
import HTTPTypes
import HummingbirdTesting
import Jobs
import NIOCore
import XCTest
@testable import Service

/// Every kind of bad input gets its problem+json, and none of them changes the store.
final class ErrorResponseTests: XCTestCase {
    func testBadSubmissions() async throws {
        try await withServer(maxBody: 4096) { client in
            let cases: [(body: String, status: HTTPResponse.Status, code: String, field: String?)] = [
                ("{", .badRequest, "malformed_json", "body"),
                ("", .badRequest, "malformed_json", "body"),
                ("[1, 2]", .unprocessableContent, "invalid_type", "body"),
                (#"{"params": {}}"#, .unprocessableContent, "missing_parameter", "kind"),
                (#"{"kind": 7}"#, .unprocessableContent, "invalid_type", "kind"),
                (#"{"kind": "nope"}"#, .unprocessableContent, "unknown_kind", "kind"),
                (#"{"kind": "demo.count", "colour": "red"}"#, .unprocessableContent, "unknown_field", "colour"),
                (#"{"kind": "demo.count", "params": {"stepz": 3}}"#, .unprocessableContent, "unknown_parameter", "params.stepz"),
                (#"{"kind": "demo.count", "params": {"steps": "ten"}}"#, .unprocessableContent, "invalid_type", "params.steps"),
                (#"{"kind": "demo.count", "params": {"steps": 2.5}}"#, .unprocessableContent, "invalid_type", "params.steps"),
                (#"{"kind": "demo.count", "params": {"steps": 0}}"#, .unprocessableContent, "out_of_range", "params.steps"),
                (#"{"kind": "demo.count", "params": {"steps": 1e30}}"#, .unprocessableContent, "invalid_type", "params.steps"),
                (#"{"kind": "demo.count", "params": {"steps": 3, "fail_at_step": 0}}"#, .unprocessableContent, "out_of_range", "params.fail_at_step"),
                (#"{"kind": "demo.count", "params": [1]}"#, .unprocessableContent, "invalid_type", "params"),
                (#"{"kind": "demo.count", "priority": 1000}"#, .unprocessableContent, "out_of_range", "body.priority"),
                (#"{"kind": "demo.count", "name": 5}"#, .unprocessableContent, "invalid_type", "body.name"),
                (String(repeating: "[", count: 3000), .badRequest, "malformed_json", "body"),
                (#"{"kind": "demo.count", "name": "\#(String(repeating: "x", count: 5000))"}"#, .contentTooLarge, "body_too_large", "body"),
            ]
            for testCase in cases {
                let response = try await client.post("/v1/jobs", json: testCase.body)
                try assertProblem(response, testCase.status, code: testCase.code, field: testCase.field)
            }
            let wrongType = try await client.post("/v1/jobs", json: #"{"kind": "demo.count"}"#, headers: [.contentType: "text/plain"])
            try assertProblem(wrongType, .unsupportedMediaType, code: "unsupported_media_type", field: "Content-Type")
            let noType = try await client.post("/v1/jobs", json: #"{"kind": "demo.count"}"#, headers: [:])
            try assertProblem(noType, .unsupportedMediaType, code: "unsupported_media_type")
            var badKey: HTTPFields = [.contentType: "application/json"]
            badKey[HTTPField.Name("Idempotency-Key")!] = String(repeating: "k", count: 300)
            try assertProblem(
                try await client.post("/v1/jobs", json: #"{"kind": "demo.count"}"#, headers: badKey),
                .badRequest, code: "invalid_header", field: "Idempotency-Key")
            let awaited1 = try await client.jobCount()
            XCTAssertEqual(awaited1, 0, "no rejected request left a job behind")
        }
    }

    func testGarbageBodiesNeverCauseA500() async throws {
        try await withServer { client in
            var generator = SystemRandomNumberGenerator()
            let fragments = [
                "{", "}", "[", "]", "\"kind\"", ":", ",", "\"demo.count\"", "\"params\"", "1e999", "-0", "null",
                "true", "\"\\u0000\"", "\"steps\"", "9223372036854775808", "\u{FFFF}", "\\", "\"", " ",
            ]
            for _ in 0..<300 {
                let body = (0..<Int.random(in: 0...12, using: &generator)).map { _ in fragments.randomElement(using: &generator)! }.joined()
                let response = try await client.post("/v1/jobs", json: body)
                XCTAssertLessThan(response.status.code, 500, "\(body) → \(response.text)")
                if response.status.code >= 400 {
                    XCTAssertEqual(response.headers[.contentType], "application/problem+json", body)
                }
            }
        }
    }

    func testQueueFull() async throws {
        try await withServer(workers: 1, maxQueued: 1) { client in
            let running = try await client.submitCount(#"{"steps": 1, "step_ms": 5000}"#)
            try await client.waitForStatus(running, "running")
            _ = try await client.submitCount()
            let rejected = try await client.post("/v1/jobs", json: #"{"kind": "demo.count"}"#)
            try assertProblem(rejected, .tooManyRequests, code: "queue_full")
            XCTAssertNotNil(rejected.headers[.retryAfter])
            let awaited2 = try await client.jobCount()
            XCTAssertEqual(awaited2, 2)
            _ = try await client.execute(uri: "/v1/jobs/\(running)/cancel", method: .post)
        }
    }

    func testBadQueriesAndUnknownResources() async throws {
        try await withServer { client in
            try assertProblem(try await client.get("/v1/jobs?page_size=0"), .badRequest, code: "invalid_query", field: "page_size")
            try assertProblem(try await client.get("/v1/jobs?page_size=abc"), .badRequest, code: "invalid_query", field: "page_size")
            try assertProblem(try await client.get("/v1/jobs?status=done"), .badRequest, code: "invalid_query", field: "status")
            try assertProblem(try await client.get("/v1/jobs?page_token=zzz"), .badRequest, code: "invalid_query", field: "page_token")
            try assertProblem(try await client.get("/v1/jobs/nope"), .notFound, code: "job_not_found", field: "id")
            try assertProblem(try await client.get("/v1/jobs/nope/events"), .notFound, code: "job_not_found")
            try assertProblem(try await client.get("/v1/jobs/nope/result"), .notFound, code: "job_not_found")
            try assertProblem(try await client.get("/v1/jobs/nope/artifacts"), .notFound, code: "job_not_found")
            try assertProblem(try await client.get("/v1/jobs/nope/artifacts/x"), .notFound, code: "job_not_found")
            try assertProblem(try await client.execute(uri: "/v1/jobs/nope/cancel", method: .post), .notFound, code: "job_not_found")
            try assertProblem(try await client.get("/v2/elsewhere"), .notFound, code: "not_found")
            let wrongMethod = try await client.execute(uri: "/v1/jobs", method: .put)
            try assertProblem(wrongMethod, .methodNotAllowed, code: "method_not_allowed")
            XCTAssertEqual(wrongMethod.headers[.allow], "GET, HEAD, POST")

            let id = try await client.submitCount()
            try assertProblem(try await client.get("/v1/jobs/\(id)?wait=61"), .badRequest, code: "invalid_query", field: "wait")
            try assertProblem(try await client.get("/v1/jobs/\(id)/metrics?since_step=x"), .badRequest, code: "invalid_query", field: "since_step")
            try assertProblem(
                try await client.get("/v1/jobs/\(id)/events", headers: [HTTPField.Name("Last-Event-ID")!: "abc"]),
                .badRequest, code: "invalid_header", field: "Last-Event-ID")
            _ = try await client.waitUntilTerminal(id)
            try assertProblem(try await client.get("/v1/jobs/\(id)/artifacts/missing.npy"), .notFound, code: "artifact_not_found", field: "name")
        }
    }

    func testResultBeforeTheJobEnds() async throws {
        try await withServer { client in
            let id = try await client.submitCount(#"{"steps": 50, "step_ms": 100}"#)
            let early = try await client.get("/v1/jobs/\(id)/result")
            try assertProblem(early, .conflict, code: "result_not_ready")
            XCTAssertNotNil(early.headers[.retryAfter])
            _ = try await client.execute(uri: "/v1/jobs/\(id)/cancel", method: .post)
        }
    }

    func testSecondServerOnTheSameDataDirectoryIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("montecluster-lock-\(UUID().uuidString)").path
        try await withServer(dataDirectory: directory) { _ in
            XCTAssertThrowsError(try buildApplication(ServiceConfiguration(port: 0, dataDirectory: directory)))
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
