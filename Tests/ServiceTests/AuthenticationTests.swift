import Clustering
import Foundation
import HTTPTypes
import HummingbirdTesting
import Jobs
import NIOCore
import XCTest
@testable import Service

/// Tokens, ownership and quotas: one owner's jobs and datasets are invisible to another on every route.
final class AuthenticationTests: XCTestCase {
    /// A data directory with tokens already issued; returns the directory and name → secret.
    func directoryWithTokens(_ tokens: [(name: String, admin: Bool, scopes: Set<String>)]) throws -> (String, [String: String]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("montecluster-auth-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try SQLiteJobStore(path: (directory as NSString).appendingPathComponent("montecluster.sqlite"))
        var secrets: [String: String] = [:]
        for token in tokens {
            secrets[token.name] = try issueToken(name: token.name, admin: token.admin, scopes: token.scopes, store: store).get()
        }
        return (directory, secrets)
    }

    func testOwnersAreIsolatedOnEveryRoute() async throws {
        let (directory, secrets) = try directoryWithTokens([
            ("alice", false, []), ("bob", false, []), ("root", true, []), ("ops", false, ["metrics"]),
        ])
        let (alice, bob, root, ops) = (secrets["alice"]!, secrets["bob"]!, secrets["root"]!, secrets["ops"]!)
        let blobs = GeneratedDatasets.make("blobs", count: 30, classes: 3, seed: 5)!
        try await withServer(dataDirectory: directory, configure: { $0.requireAuth = true }) { client in
            // No token, a wrong one, a malformed header.
            try assertProblem(try await client.get("/v1/jobs"), .unauthorized, code: "unauthorized", field: "Authorization")
            try assertProblem(try await client.get("/v1/jobs", headers: bearer("mc_wrong")), .unauthorized, code: "unauthorized")
            try assertProblem(try await client.get("/v1/jobs", headers: [.authorization: "Basic abc"]), .unauthorized, code: "unauthorized")
            let health = try await client.get("/healthz")
            XCTAssertEqual(health.status, .ok, "health checks need no token")

            // Alice's job (finished, so it has a result, metrics and artifacts) and dataset.
            var headers = bearer(alice, [.contentType: "application/json"])
            headers[HTTPField.Name("Idempotency-Key")!] = "shared-key"
            let submitted = try await client.post(
                "/v1/jobs", json: #"{"kind": "demo.count", "params": {"steps": 3, "step_ms": 0}}"#, headers: headers)
            XCTAssertEqual(submitted.status, .created, submitted.text)
            let job = try XCTUnwrap(try submitted.json["id"]?.stringValue)
            for _ in 0..<50 {
                let current = try await client.get("/v1/jobs/\(job)?wait=2", headers: bearer(alice)).json
                if current["terminal"] == true { break }
            }
            let (body, uploadHeaders) = multipart([("data", "x.npy", npy(blobs.values, shape: [30, 2]))])
            let uploaded = try await client.execute(uri: "/v1/datasets", method: .post, headers: uploadHeaders.merging(bearer(alice)), body: body)
            XCTAssertEqual(uploaded.status, .created, uploaded.text)
            let dataset = try XCTUnwrap(try uploaded.json["id"]?.stringValue)
            let model = try await client.post(
                "/v1/jobs", json: #"{"kind": "cluster.kmeans", "params": {"dataset": "\#(dataset)", "k": 3}}"#,
                headers: bearer(alice, [.contentType: "application/json"]))
            XCTAssertEqual(model.status, .created, "the owner may use her dataset: \(model.text)")

            // Bob sees none of it, on every route, exactly as if it did not exist.
            let asBob = bearer(bob)
            for path in [
                "/v1/jobs/\(job)", "/v1/jobs/\(job)/metrics", "/v1/jobs/\(job)/result", "/v1/jobs/\(job)/artifacts",
                "/v1/jobs/\(job)/artifacts/values.csv", "/v1/jobs/\(job)/events",
            ] {
                try assertProblem(try await client.get(path, headers: asBob), .notFound, code: "job_not_found", field: "id")
            }
            try assertProblem(
                try await client.execute(uri: "/v1/jobs/\(job)/cancel", method: .post, headers: asBob), .notFound, code: "job_not_found")
            try assertProblem(try await client.execute(uri: "/v1/jobs/\(job)", method: .delete, headers: asBob), .notFound, code: "job_not_found")
            let (predictBody, predictHeaders) = multipart([("data", "x.npy", npy(blobs.values, shape: [30, 2]))])
            try assertProblem(
                try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: predictHeaders.merging(asBob), body: predictBody),
                .notFound, code: "job_not_found")
            try assertProblem(try await client.get("/v1/datasets/\(dataset)", headers: asBob), .notFound, code: "dataset_not_found")
            try assertProblem(
                try await client.execute(uri: "/v1/datasets/\(dataset)", method: .delete, headers: asBob), .notFound, code: "dataset_not_found")
            try assertProblem(
                try await client.post(
                    "/v1/jobs", json: #"{"kind": "cluster.kmeans", "params": {"dataset": "\#(dataset)", "k": 3}}"#,
                    headers: bearer(bob, [.contentType: "application/json"])),
                .unprocessableContent, code: "invalid_value", field: "params.dataset")
            // Nor do a kind's checks of what a job would read tell Bob anything: Alice's dataset is "no dataset" before its
            // size is compared with k, and her job is "no job to refine" whatever its state.
            for (params, field, detail) in [
                (#"{"kind": "cluster.spectral", "params": {"dataset": "\#(dataset)", "k": 50}}"#, "params.dataset", "no dataset with id"),
                (#"{"kind": "cluster.ruc", "params": {"source_job": "\#(job)"}}"#, "params.source_job", "no job to refine with id"),
            ] {
                let refused = try await client.post("/v1/jobs", json: params, headers: bearer(bob, [.contentType: "application/json"]))
                try assertProblem(refused, .unprocessableContent, code: "invalid_value", field: field)
                XCTAssertTrue(try refused.json["detail"]?.stringValue?.hasPrefix(detail) == true, refused.text)
            }
            let bobsJobs = try await client.get("/v1/jobs", headers: asBob).json["jobs"]?.arrayValue?.count
            XCTAssertEqual(bobsJobs, 0)
            let bobsDatasets = try await client.get("/v1/datasets", headers: asBob).json["datasets"]?.arrayValue?.count
            XCTAssertEqual(bobsDatasets, 0)
            var bobKey = bearer(bob, [.contentType: "application/json"])
            bobKey[HTTPField.Name("Idempotency-Key")!] = "shared-key"
            let replay = try await client.post("/v1/jobs", json: #"{"kind": "demo.count", "params": {"steps": 3, "step_ms": 0}}"#, headers: bobKey)
            try assertProblem(replay, .conflict, code: "idempotency_conflict")
            XCTAssertFalse(replay.text.contains(job), "another owner's idempotency key must not reveal the job")

            // The admin sees everyone's; alice sees her own.
            let all = try await client.get("/v1/jobs", headers: bearer(root)).json["jobs"]?.arrayValue?.count
            XCTAssertEqual(all, 2)
            let adminRead = try await client.get("/v1/jobs/\(job)", headers: bearer(root))
            XCTAssertEqual(adminRead.status, .ok)
            let alicesDatasets = try await client.get("/v1/datasets", headers: bearer(alice)).json["datasets"]?.arrayValue?.count
            XCTAssertEqual(alicesDatasets, 1)

            // /metrics needs the metrics scope (or an admin).
            try assertProblem(try await client.get("/metrics", headers: bearer(alice)), .forbidden, code: "forbidden")
            let scraped = try await client.get("/metrics", headers: bearer(ops))
            XCTAssertEqual(scraped.status, .ok)
        }
    }

    func testQuotas() async throws {
        let (directory, secrets) = try directoryWithTokens([("alice", false, []), ("bob", false, [])])
        let (alice, bob) = (secrets["alice"]!, secrets["bob"]!)
        try await withServer(
            workers: 2, dataDirectory: directory,
            configure: {
                $0.requireAuth = true
                $0.quotas = OwnerQuotas(maxQueued: 2, maxRunning: 1, maxStoredBytes: 400)
            }
        ) { client in
            let json = bearer(alice, [.contentType: "application/json"])
            let slow = #"{"kind": "demo.count", "params": {"steps": 50, "step_ms": 20}}"#
            var ids: [String] = []
            for _ in 0..<3 {
                let response = try await client.post("/v1/jobs", json: slow, headers: json)
                XCTAssertEqual(response.status, .created, response.text)
                ids.append(try XCTUnwrap(try response.json["id"]?.stringValue))
                try await Task.sleep(for: .milliseconds(300))
            }
            // One running (the running quota is 1 although two workers are free), two queued: the queue quota is full.
            let running = try await client.get("/v1/jobs?status=running", headers: bearer(alice)).json["jobs"]?.arrayValue?.count
            XCTAssertEqual(running, 1, "at most maxRunning of an owner's jobs run at once")
            let refused = try await client.post("/v1/jobs", json: slow, headers: json)
            try assertProblem(refused, .tooManyRequests, code: "quota_exceeded")
            XCTAssertTrue(refused.text.contains("2 of a limit of 2"), refused.text)
            // Bob's quota is his own.
            let bobs = try await client.post(
                "/v1/jobs", json: #"{"kind": "demo.count", "params": {"steps": 1, "step_ms": 0}}"#,
                headers: bearer(bob, [.contentType: "application/json"]))
            XCTAssertEqual(bobs.status, .created, bobs.text)
            // Stored bytes: a 400-byte quota refuses a dataset larger than that.
            let (body, headers) = multipart([("data", "x.npy", npy([Float](repeating: 1, count: 200), shape: [100, 2]))])
            let upload = try await client.execute(uri: "/v1/datasets", method: .post, headers: headers.merging(bearer(alice)), body: body)
            try assertProblem(upload, .insufficientStorage, code: "quota_exceeded")
            for id in ids { _ = try await client.execute(uri: "/v1/jobs/\(id)/cancel", method: .post, headers: bearer(alice)) }
        }
    }

    func testBrowserOriginsAndCORS() async throws {
        try await withServer(configure: { $0.corsOrigins = ["http://localhost:8888"] }) { client in
            let body = #"{"kind": "demo.count", "params": {"steps": 1, "step_ms": 0}}"#
            // A page on another site may not submit (a "simple" text/plain POST included), even to a loopback server.
            try assertProblem(
                try await client.post("/v1/jobs", json: body, headers: [.contentType: "text/plain", .origin: "http://evil.example"]),
                .forbidden, code: "origin_not_allowed", field: "Origin")
            try assertProblem(
                try await client.execute(
                    uri: "/v1/jobs", method: .options,
                    headers: [.origin: "http://evil.example", .accessControlRequestMethod: "POST"]),
                .forbidden, code: "origin_not_allowed")
            // The allowed notebook origin gets its preflight and its headers.
            let preflight = try await client.execute(
                uri: "/v1/jobs", method: .options,
                headers: [.origin: "http://localhost:8888", .accessControlRequestMethod: "POST"])
            XCTAssertEqual(preflight.status, .noContent)
            XCTAssertEqual(preflight.headers[.accessControlAllowOrigin], "http://localhost:8888")
            let allowed = try await client.post(
                "/v1/jobs", json: body, headers: [.contentType: "application/json", .origin: "http://localhost:8888"])
            XCTAssertEqual(allowed.status, .created, allowed.text)
            XCTAssertEqual(allowed.headers[.accessControlAllowOrigin], "http://localhost:8888")
            // Problems reach the allowed origin too, so the page can read which field was wrong.
            let invalid = try await client.post(
                "/v1/jobs", json: #"{"kind": "nope"}"#,
                headers: [.contentType: "application/json", .origin: "http://localhost:8888"])
            try assertProblem(invalid, .unprocessableContent, code: "unknown_kind", field: "kind")
            XCTAssertEqual(invalid.headers[.accessControlAllowOrigin], "http://localhost:8888")
            // Reads from any origin are not blocked, but get no CORS headers (the browser then hides them).
            let read = try await client.get("/v1/jobs", headers: [.origin: "http://evil.example"])
            XCTAssertEqual(read.status, .ok)
            XCTAssertNil(read.headers[.accessControlAllowOrigin])
        }
    }

    func testRefusesToServeAllInterfacesWithoutTokens() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("montecluster-auth-\(UUID().uuidString)").path
        var configuration = ServiceConfiguration(host: "0.0.0.0", port: 0, dataDirectory: directory)
        XCTAssertThrowsError(try buildApplication(configuration)) { error in
            XCTAssertTrue("\(error)".contains("without API tokens"), "\(error)")
        }
        configuration.insecureNoAuth = true
        XCTAssertNoThrow(try buildApplication(configuration), "--insecure-no-auth starts (with a loud warning)")
        let (withToken, _) = try directoryWithTokens([("alice", false, [])])
        XCTAssertNoThrow(try buildApplication(ServiceConfiguration(host: "0.0.0.0", port: 0, dataDirectory: withToken)))
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var result = self
        for field in other { result[field.name] = field.value }
        return result
    }
}

func bearer(_ secret: String?, _ extra: HTTPFields = [:]) -> HTTPFields {
    var fields = extra
    if let secret { fields[.authorization] = "Bearer \(secret)" }
    return fields
}
