import Clustering
import Foundation
import HTTPTypes
import HummingbirdTesting
import Jobs
import NIOCore
import XCTest
@testable import Service

/// Requests an attacker (or an unlucky notebook) sends, each with the answer it must get now. The
/// process-level checks (no exit, /healthz latency, RSS) are in tests/system/hostile_test.py.
final class HostileRequestTests: XCTestCase {
    func testDuplicateKeysAndDeepNestingAreRefused() async throws {
        try await withServer { client in
            try assertProblem(
                try await client.post("/v1/jobs", json: #"{"kind": "demo.count", "params": {"steps": 1, "steps": 5}}"#),
                .badRequest, code: "duplicate_key", field: "params.steps")
            try assertProblem(
                try await client.post("/v1/jobs", json: #"{"kind": "demo.count", "kind": "sample.mcmc"}"#),
                .badRequest, code: "duplicate_key", field: "kind")
            // 10 KB of nesting took Foundation's decoder 18 s of an event loop; now it is refused at level 65.
            try assertProblem(
                try await client.post("/v1/jobs", json: String(repeating: #"{"a":["#, count: 2_000)),
                .badRequest, code: "malformed_json", field: "body")
            let count = try await client.jobCount()
            XCTAssertEqual(count, 0)
        }
    }

    /// The envelope search runs in the job now: a target with no envelope is accepted (201) and the job
    /// fails with the reason, instead of the request computing for up to a minute.
    func testExpensiveValidationRunsInTheJob() async throws {
        try await withServer { client in
            let body = #"{"kind": "sample.rejection", "params": {"log_density": "x > 100 ? 0 : -inf", "proposal": {"name": "normal"}, "draws": 10}}"#
            let response = try await client.post("/v1/jobs", json: body)
            XCTAssertEqual(response.status, .created, response.text)
            let id = try XCTUnwrap(try response.json["id"]?.stringValue)
            let job = try await client.waitUntilTerminal(id)
            XCTAssertEqual(job["status"], "failed")
            XCTAssertTrue(job["reason"]?.stringValue?.contains("zero wherever the proposal has mass") == true, "\(job)")
            // A compile error is still caught at submission.
            try assertProblem(
                try await client.post(
                    "/v1/jobs", json: #"{"kind": "sample.rejection", "params": {"log_density": "x +", "proposal": {"name": "normal"}}}"#),
                .unprocessableContent, code: "invalid_value", field: "params.log_density")
        }
    }

    /// A dataset deleted while a job naming it is submitted: never both 201 and 204.
    func testDeletingADatasetWhileSubmittingNeverLeavesAnOrphanJob() async throws {
        let blobs = GeneratedDatasets.make("blobs", count: 30, classes: 3, seed: 5)!
        try await withServer(workers: 1) { client in
            // Keep the worker busy so submitted jobs stay queued (and so "in use").
            _ = try await client.submitCount(#"{"steps": 400, "step_ms": 20}"#)
            for _ in 0..<12 {
                let uploaded = try await client.upload([("data", "x.npy", npy(blobs.values, shape: [30, 2]))])
                let id = try XCTUnwrap(try uploaded.json["id"]?.stringValue)
                async let submitted = client.post("/v1/jobs", json: #"{"kind": "cluster.kmeans", "params": {"dataset": "\#(id)", "k": 3}}"#)
                async let deleted = client.execute(uri: "/v1/datasets/\(id)", method: .delete, headers: [:])
                let (submit, delete) = try await (submitted, deleted)
                if submit.status == .created {
                    XCTAssertEqual(delete.status, .conflict, "the job was queued first, so the dataset is in use")
                } else {
                    XCTAssertEqual(delete.status, .noContent)
                    try assertProblem(submit, .unprocessableContent, code: "invalid_value", field: "params.dataset")
                }
            }
        }
    }

    /// Multipart part headers are capped at 16 KiB: a 64 MiB "header" once took 54 s to parse.
    func testHugeMultipartHeaderIsRefusedEarly() async throws {
        try await withServer { client in
            var body = Data("--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"".utf8)
            body.append(Data(repeating: UInt8(ascii: "x"), count: 1 << 20))
            body.append(Data("\"\r\n\r\n1,2\r\n--b--\r\n".utf8))
            let response = try await client.execute(
                uri: "/v1/datasets", method: .post, headers: [.contentType: "multipart/form-data; boundary=b"],
                body: ByteBuffer(bytes: body))
            try assertProblem(response, .badRequest, code: "multipart_header_too_large", field: "body")
            let listed = try await client.get("/v1/datasets").json["datasets"]?.arrayValue?.count
            XCTAssertEqual(listed, 0)
        }
    }

    /// MultipartKit 4.7.1 traps on a part header name with a byte ≥ 0x80 (a 128-entry table indexed by
    /// the byte): one such upload killed the server. The fuzzer found it; the guard refuses it first.
    func testNonASCIIMultipartHeaderNameIsRefusedNotACrash() async throws {
        try await withServer { client in
            for body in [
                Data("--b\r\nCont\u{e9}nt-Disposition: form-data; name=\"data\"\r\n\r\n1,2\r\n--b--\r\n".utf8),
                Data([0xFF, 0xFF]) + Data("--b\r\nCont".utf8) + Data([0x97]) + Data("ent: x\r\n\r\n--b--\r\n".utf8),
            ] {
                let response = try await client.execute(
                    uri: "/v1/datasets", method: .post, headers: [.contentType: "multipart/form-data; boundary=b"],
                    body: ByteBuffer(bytes: body))
                try assertProblem(response, .badRequest, code: "malformed_multipart", field: "body")
            }
            // A UTF-8 file name in a header value is fine.
            let (body, headers) = multipart([("data", "données.csv", Data("1,2\n3,4\n".utf8))])
            let accepted = try await client.execute(uri: "/v1/datasets", method: .post, headers: headers, body: body)
            XCTAssertEqual(accepted.status, .created, accepted.text)
        }
    }

    /// Artifacts stream in 256 KiB chunks (a slow reader no longer holds the whole file): a multi-chunk
    /// artifact arrives whole, with its Content-Length, byte for byte as the job wrote it.
    func testLargeArtifactsStreamWhole() async throws {
        try await withServer { client in
            let response = try await client.post(
                "/v1/jobs",
                json:
                    #"{"kind": "sample.inverse_cdf", "params": {"distribution": {"name": "uniform", "params": {"low": 0, "high": 1}}, "draws": 300000, "seed": 3}}"#
            )
            let id = try XCTUnwrap(try response.json["id"]?.stringValue)
            let job = try await client.waitUntilTerminal(id, timeout: 60)
            XCTAssertEqual(job["status"], "succeeded")
            let artifact = try await client.get("/v1/jobs/\(id)/artifacts/draws.npy")
            XCTAssertEqual(artifact.status, .ok)
            let bytes = Data(artifact.body.readableBytesView)
            XCTAssertGreaterThan(bytes.count, 4 * JobRoutes.artifactChunkBytes, "several chunks")
            XCTAssertEqual(artifact.headers[.contentLength], String(bytes.count))
            let array = try NumericArray.read(bytes, field: "draws").array
            XCTAssertEqual(array.shape, [1, 300_000, 1])
            let draws = array.doubles()
            XCTAssertTrue(draws.allSatisfy { (0...1).contains($0) })
            // Each chunk boundary falls inside the data: values on both sides of it are draws, not zeros.
            let boundary = (JobRoutes.artifactChunkBytes - 128) / 8
            XCTAssertTrue(draws[boundary - 1] > 0 && draws[boundary] > 0 && draws[boundary + 1] > 0)
        }
    }

    /// Uploads whose headers claim absurd sizes get 422, and the server answers the next request.
    func testUploadsWithHostileHeadersGet422() async throws {
        try await withServer { client in
            let idx = Data([0, 0, 0x0D, 3] + [UInt8](repeating: 0xFF, count: 12))
            let columns = Data((Array(repeating: "1", count: 100_000).joined(separator: ",") + "\n").utf8)
            var labelsFile = NumericArray.npyFile(shape: [3], descr: "<f8", payload: [0.0, 1e20, 2].withUnsafeBufferPointer { Data(buffer: $0) })
            for (label, parts) in [
                ("idx", [("data", "x.idx", idx)]), ("csv columns", [("data", "x.csv", columns)]),
                ("huge label", [("data", "x.npy", npy([1, 2, 3, 4, 5, 6], shape: [3, 2])), ("labels", "y.npy", labelsFile)]),
            ] {
                let response = try await client.upload(parts)
                XCTAssertEqual(response.status, .unprocessableContent, "\(label): \(response.text)")
            }
            labelsFile.removeAll()
            let health = try await client.get("/healthz")
            XCTAssertEqual(health.status, .ok)
        }
    }
}
