import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import Logging
import NIOCore
import XCTest
@testable import Service

/// Runs `body` against a real server on a loopback ephemeral port with its own data directory.
func withServer(
    workers: Int = 2, maxQueued: Int = 100, maxBody: Int = 1 << 20, maxUpload: Int = 64 << 20, dataDirectory: String? = nil,
    configure: (inout ServiceConfiguration) -> Void = { _ in },
    _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    let directory =
        dataDirectory
        ?? FileManager.default.temporaryDirectory
        .appendingPathComponent("montecluster-service-\(UUID().uuidString)").path
    var logger = Logger(label: "montecluster-test")
    logger.logLevel = .warning
    var configuration = ServiceConfiguration(
        host: "127.0.0.1", port: 0, dataDirectory: directory, workers: workers, maxQueuedJobs: maxQueued,
        maxRequestBodyBytes: maxBody, maxUploadBytes: maxUpload, maxLongPollSeconds: 60, leaseDuration: 10, heartbeatInterval: 0.5,
        rescueInterval: 1, keepAliveInterval: 15)
    configuration.reserveBytes = 1 << 20
    configure(&configuration)
    let app = try buildApplication(configuration, logger: logger)
    try await app.test(.live) { client in try await body(client) }
    if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
}

extension TestResponse {
    var json: JSONValue {
        get throws { try JSONValue.parse(Data(body.readableBytesView)) }
    }

    var text: String { String(buffer: body) }
}

extension TestClientProtocol {
    func post(_ uri: String, json: String, headers: HTTPFields = [.contentType: "application/json"]) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }

    /// Submits a `demo.count` job and returns its id.
    func submitCount(_ params: String = #"{"steps": 3, "step_ms": 0}"#) async throws -> String {
        let response = try await post("/v1/jobs", json: #"{"kind": "demo.count", "params": \#(params)}"#)
        XCTAssertEqual(response.status, .created, response.text)
        return try XCTUnwrap(try response.json["id"]?.stringValue)
    }

    /// Polls until the job is terminal; returns its representation.
    func waitUntilTerminal(_ id: String, timeout: TimeInterval = 20) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let job = try await get("/v1/jobs/\(id)?wait=5").json
            if job["terminal"] == true { return job }
        }
        XCTFail("job \(id) did not finish within \(timeout) s")
        return .null
    }

    func waitForStatus(_ id: String, _ status: String, timeout: TimeInterval = 20) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await get("/v1/jobs/\(id)").json["status"]?.stringValue == status { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTFail("job \(id) never reached \(status)")
    }

    func jobCount() async throws -> Int {
        try await get("/v1/jobs?page_size=200").json["jobs"]?.arrayValue?.count ?? -1
    }
}

/// Asserts a problem+json response with the given status, code and (optionally) field.
func assertProblem(
    _ response: TestResponse, _ status: HTTPResponse.Status, code: String, field: String? = nil,
    file: StaticString = #filePath, line: UInt = #line
) throws {
    XCTAssertEqual(response.status, status, response.text, file: file, line: line)
    XCTAssertEqual(response.headers[.contentType], "application/problem+json", file: file, line: line)
    let body = try response.json
    XCTAssertEqual(body["code"]?.stringValue, code, response.text, file: file, line: line)
    XCTAssertEqual(body["status"]?.integerValue, Int64(status.code), file: file, line: line)
    XCTAssertNotNil(body["detail"]?.stringValue, file: file, line: line)
    XCTAssertNotNil(body["title"]?.stringValue, file: file, line: line)
    if let field { XCTAssertEqual(body["field"]?.stringValue, field, response.text, file: file, line: line) }
}
