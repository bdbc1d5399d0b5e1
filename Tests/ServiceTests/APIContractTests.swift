import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Jobs
import NIOCore
import XCTest
@testable import Service

/// The HTTP contract a generated client and a notebook rely on (issue 12): strict query parameters,
/// list filters, tags and metadata, metric paging and CSV, artifact ranges and validators, and the
/// served OpenAPI document.
final class APIContractTests: XCTestCase {
    func testUnknownQueryParametersAreRefusedByName() async throws {
        try await withServer { client in
            try assertProblem(try await client.get("/v1/jobs?nmae=x"), .badRequest, code: "unknown_query_parameter", field: "nmae")
            try assertProblem(try await client.get("/healthz?verbose=1"), .badRequest, code: "unknown_query_parameter", field: "verbose")
            let id = try await client.submitCount()
            try assertProblem(try await client.get("/v1/jobs/\(id)?wiat=5"), .badRequest, code: "unknown_query_parameter", field: "wiat")
            try assertProblem(try await client.get("/v1/jobs/\(id)/metrics?step=3"), .badRequest, code: "unknown_query_parameter", field: "step")
            try assertProblem(try await client.get("/v1/jobs?view=everything"), .badRequest, code: "invalid_query", field: "view")
            try assertProblem(try await client.get("/v1/jobs?created_after=yesterday"), .badRequest, code: "invalid_query", field: "created_after")
            try assertProblem(try await client.get("/v1/jobs?kind=demo.count,"), .badRequest, code: "invalid_query", field: "kind")
        }
    }

    func testTagsMetadataFiltersAndCompactLists() async throws {
        try await withServer { client in
            func submit(_ name: String, _ tags: String, kind: String = "demo.count") async throws -> String {
                let params = kind == "demo.count" ? #"{"steps": 1, "step_ms": 0}"# : #"{"distribution": {"name": "normal"}, "draws": 10}"#
                let response = try await client.post(
                    "/v1/jobs",
                    json:
                        #"{"kind": "\#(kind)", "name": "\#(name)", "tags": \#(tags), "metadata": {"notebook": "n1", "run": {"lr": 0.1}}, "params": \#(params)}"#
                )
                XCTAssertEqual(response.status, .created, response.text)
                XCTAssertEqual(try response.json["tags"], try JSONValue.parse(tags))
                XCTAssertEqual(try response.json["metadata"]?["run"]?["lr"], 0.1)
                return try XCTUnwrap(try response.json["id"]?.stringValue)
            }
            let a = try await submit("sweep-1", #"["sweep", "lr"]"#)
            let b = try await submit("sweep-2", #"["sweep"]"#)
            let c = try await submit("other", #"[]"#)
            let d = try await submit("sweep%_3", #"["x"]"#, kind: "sample.inverse_cdf")
            func ids(_ query: String) async throws -> [String] {
                let response = try await client.get("/v1/jobs?\(query)")
                XCTAssertEqual(response.status, .ok, response.text)
                return try XCTUnwrap(try response.json["jobs"]?.arrayValue).compactMap { $0["id"]?.stringValue }
            }
            var found = try await ids("name=sweep-")
            XCTAssertEqual(found, [b, a], "name is a prefix, newest first")
            found = try await ids("name=sweep%25_")
            XCTAssertEqual(found, [d], "% and _ are not wildcards")
            found = try await ids("tag=sweep")
            XCTAssertEqual(found, [b, a])
            found = try await ids("tag=lr")
            XCTAssertEqual(found, [a])
            found = try await ids("kind=demo.count,sample.inverse_cdf")
            XCTAssertEqual(Set(found), [a, b, c, d])
            found = try await ids("kind=sample.inverse_cdf")
            XCTAssertEqual(found, [d])
            found = try await ids("created_after=2000-01-01&created_before=2100-01-01T00:00:00Z")
            XCTAssertEqual(found.count, 4)
            found = try await ids("created_after=2100-01-01")
            XCTAssertEqual(found, [])

            let compact = try await client.get("/v1/jobs?tag=lr").json["jobs"]?.arrayValue?.first
            XCTAssertNil(compact?["params"], "lists are compact by default")
            XCTAssertNil(compact?["result"])
            XCTAssertEqual(compact?["tags"], ["sweep", "lr"])
            let full = try await client.get("/v1/jobs?tag=lr&view=full").json["jobs"]?.arrayValue?.first
            XCTAssertNotNil(full?["params"]?["steps"])
            let single = try await client.get("/v1/jobs/\(a)").json
            XCTAssertNotNil(single["params"], "one job is always whole")

            let tooMany = "[" + (0...20).map { "\"t\($0)\"" }.joined(separator: ",") + "]"
            try assertProblem(
                try await client.post("/v1/jobs", json: #"{"kind": "demo.count", "tags": \#(tooMany)}"#),
                .unprocessableContent, code: "out_of_range", field: "tags")
            try assertProblem(
                try await client.post("/v1/jobs", json: #"{"kind": "demo.count", "tags": ["ok", 3]}"#),
                .unprocessableContent, code: "invalid_value", field: "tags[1]")
            try assertProblem(
                try await client.post("/v1/jobs", json: #"{"kind": "demo.count", "tags": ["a,b"]}"#),
                .unprocessableContent, code: "invalid_value", field: "tags[0]")
            try assertProblem(
                try await client.post("/v1/jobs", json: #"{"kind": "demo.count", "metadata": [1]}"#),
                .unprocessableContent, code: "invalid_type", field: "metadata")
            let big = #"{"kind": "demo.count", "metadata": {"blob": "\#(String(repeating: "x", count: 17 * 1024))"}}"#
            try assertProblem(try await client.post("/v1/jobs", json: big), .unprocessableContent, code: "out_of_range", field: "metadata")
        }
    }

    func testMetricsPageAcrossNamesWithACursorAndReadAsCSV() async throws {
        try await withServer { client in
            let id = try await client.submitCount(#"{"steps": 5, "step_ms": 0}"#)
            _ = try await client.waitUntilTerminal(id)
            let names = try await client.get("/v1/jobs/\(id)/metrics/names").json["metrics"]?.arrayValue ?? []
            XCTAssertEqual(names.compactMap { $0["name"]?.stringValue }, ["running_sum", "value"])
            XCTAssertEqual(names.first?["count"], 5)
            XCTAssertEqual(names.first?["last_step"], 5)
            XCTAssertFalse(names.contains { $0["name"] == "attempt" }, "the attempt is in the job, not a metric")

            // Pages of 3 over 10 points in two series: every point exactly once, in (name, step) order.
            var seen: [String] = []
            var token: String?
            repeat {
                let uri = "/v1/jobs/\(id)/metrics?limit=3" + (token.map { "&page_token=\($0)" } ?? "")
                let page = try await client.get(uri).json
                seen += (page["metrics"]?.arrayValue ?? []).map { "\($0["name"]!.stringValue!)@\($0["step"]!.integerValue!)" }
                token = page["next_page_token"]?.stringValue
            } while token != nil && seen.count < 100
            XCTAssertEqual(seen, (1...5).map { "running_sum@\($0)" } + (1...5).map { "value@\($0)" })

            let both = try await client.get("/v1/jobs/\(id)/metrics?name=value,running_sum&since_step=3").json["metrics"]?.arrayValue ?? []
            XCTAssertEqual(both.count, 4, "several names, since_step within each")
            try assertProblem(
                try await client.get("/v1/jobs/\(id)/metrics?page_token=garbage"), .badRequest, code: "invalid_query", field: "page_token")

            let csv = try await client.get("/v1/jobs/\(id)/metrics?format=csv&name=value")
            XCTAssertEqual(csv.headers[.contentType], "text/csv; charset=utf-8")
            let lines = csv.text.split(separator: "\n")
            XCTAssertEqual(lines.first, "name,step,value,time")
            XCTAssertEqual(lines.count, 6)
            XCTAssertTrue(lines[1].hasPrefix("value,1,\(CountingJobKind.value(seed: 0, step: 1)),"), String(lines[1]))
            let paged = try await client.get("/v1/jobs/\(id)/metrics?format=csv&limit=4")
            XCTAssertEqual(paged.text.split(separator: "\n").count, 5)
            let link = try XCTUnwrap(paged.headers[HTTPField.Name("Link")!])
            XCTAssertTrue(link.contains("rel=\"next\"") && link.contains("format=csv") && link.contains("page_token="), link)
        }
    }

    func testArtifactsAnswerNotReadyRangesAndValidators() async throws {
        try await withServer { client in
            let slow = try await client.submitCount(#"{"steps": 200, "step_ms": 20}"#)
            try await client.waitForStatus(slow, "running")
            let early = try await client.get("/v1/jobs/\(slow)/artifacts/values.csv")
            try assertProblem(early, .conflict, code: "artifact_not_ready", field: "name")
            XCTAssertEqual(early.headers[.retryAfter], "1")
            _ = try await client.execute(uri: "/v1/jobs/\(slow)/cancel", method: .post)
            _ = try await client.waitUntilTerminal(slow)
            try assertProblem(try await client.get("/v1/jobs/\(slow)/artifacts/values.csv"), .notFound, code: "artifact_not_found")
            let noResult = try await client.get("/v1/jobs/\(slow)/result")
            try assertProblem(noResult, .conflict, code: "no_result")
            XCTAssertFalse(noResult.text.contains("artifact"), "says nothing of artifacts when none were kept: \(noResult.text)")

            let id = try await client.submitCount(#"{"steps": 40, "step_ms": 0}"#)
            _ = try await client.waitUntilTerminal(id)
            let whole = try await client.get("/v1/jobs/\(id)/artifacts/values.csv")
            XCTAssertEqual(whole.status, .ok, whole.text)
            let bytes = Data(whole.body.readableBytesView)
            let sha = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            XCTAssertEqual(whole.headers[.eTag], "\"\(sha)\"")
            XCTAssertEqual(whole.headers[.acceptRanges], "bytes")
            XCTAssertEqual(whole.headers[HTTPField.Name("Repr-Digest")!], "sha-256=:\(Data(SHA256.hash(data: bytes)).base64EncodedString()):")
            let listed = try await client.get("/v1/jobs/\(id)/artifacts").json["artifacts"]?.arrayValue?.first
            XCTAssertEqual(listed?["sha256"]?.stringValue, sha)

            let notModified = try await client.get("/v1/jobs/\(id)/artifacts/values.csv", headers: [.ifNoneMatch: "\"\(sha)\""])
            XCTAssertEqual(notModified.status, .notModified)
            let head = try await client.execute(uri: "/v1/jobs/\(id)/artifacts/values.csv", method: .head)
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.headers[.contentLength], String(bytes.count))
            XCTAssertEqual(head.body.readableBytes, 0)

            let part = try await client.get("/v1/jobs/\(id)/artifacts/values.csv", headers: [.range: "bytes=5-14"])
            XCTAssertEqual(part.status, .partialContent)
            XCTAssertEqual(Data(part.body.readableBytesView), bytes[5...14])
            XCTAssertEqual(part.headers[.contentRange], "bytes 5-14/\(bytes.count)")
            let tail = try await client.get("/v1/jobs/\(id)/artifacts/values.csv", headers: [.range: "bytes=-7"])
            XCTAssertEqual(Data(tail.body.readableBytesView), bytes.suffix(7))
            let open = try await client.get("/v1/jobs/\(id)/artifacts/values.csv", headers: [.range: "bytes=\(bytes.count - 3)-"])
            XCTAssertEqual(Data(open.body.readableBytesView), bytes.suffix(3))
            let beyond = try await client.get("/v1/jobs/\(id)/artifacts/values.csv", headers: [.range: "bytes=\(bytes.count)-"])
            try assertProblem(beyond, .rangeNotSatisfiable, code: "range_not_satisfiable", field: "Range")
            XCTAssertEqual(beyond.headers[.contentRange], "bytes */\(bytes.count)")
            let stale = try await client.get("/v1/jobs/\(id)/artifacts/values.csv", headers: [.range: "bytes=0-1", .ifRange: "\"old\""])
            XCTAssertEqual(stale.status, .ok, "If-Range with another version sends the whole artifact")
            let garbage = try await client.get("/v1/jobs/\(id)/artifacts/values.csv", headers: [.range: "bytes=99999999999999999999-"])
            XCTAssertEqual(garbage.status, .ok, "an unreadable Range is ignored, never a crash")
        }
    }

    func testPandasCSVUploadSaysWhatItInferred() async throws {
        try await withServer { client in
            var rows = ",x,y,label\n"
            for row in 0..<12 { rows += "\(row),\(Double(row) * 0.5),\(row % 3),\(["cat", "dog", "emu"][row % 3])\n" }
            let response = try await client.execute(
                uri: "/v1/datasets?name=pets", method: .post, headers: [.contentType: "text/csv"],
                body: ByteBuffer(string: rows))
            XCTAssertEqual(response.status, .created, response.text)
            let dataset = try response.json
            XCTAssertEqual(dataset["shape"], [12, 2], "the index column is dropped, the label column taken out")
            XCTAssertEqual(dataset["label_names"], ["cat", "dog", "emu"])
            XCTAssertEqual(dataset["label_counts"]?["0"], 4)
            XCTAssertEqual(dataset["warnings"]?.arrayValue?.count, 3)
            let garbage = try await client.execute(uri: "/v1/datasets", method: .post, body: ByteBuffer(bytes: [0x50, 0x4B, 0x03, 0x04, 0, 0, 9, 9]))
            try assertProblem(garbage, .unprocessableContent, code: "invalid_dataset", field: "data")
            XCTAssertTrue(garbage.text.contains("not a CSV, .npy or IDX file"), garbage.text)
        }
    }

    /// A training job cancelled after some epochs keeps the assignments and model of its last checkpoint,
    /// and /result says so; one cancelled before any checkpoint keeps nothing and says nothing of artifacts.
    func testCancelledTrainingKeepsItsLastCheckpointsArtifacts() async throws {
        try await withServer { client in
            let body =
                #"{"kind": "cluster.iic", "params": {"dataset": "generated:blobs", "k": 3, "epochs": 1000, "batch_size": 16, "generated_samples": 600, "seed": 1}}"#
            let submitted = try await client.post("/v1/jobs", json: body)
            XCTAssertEqual(submitted.status, .created, submitted.text)
            let id = try XCTUnwrap(try submitted.json["id"]?.stringValue)
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let names = try await client.get("/v1/jobs/\(id)/metrics/names").json["metrics"]?.arrayValue ?? []
                if (names.first { $0["name"] == "loss_main" }?["count"]?.integerValue ?? 0) >= 2 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            _ = try await client.execute(uri: "/v1/jobs/\(id)/cancel", method: .post)
            let job = try await client.waitUntilTerminal(id, timeout: 60)
            XCTAssertEqual(job["status"], "cancelled")
            let artifacts =
                try await client.get("/v1/jobs/\(id)/artifacts").json["artifacts"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            XCTAssertTrue(Set(artifacts).isSuperset(of: ["assignments.npy", "assignments.csv", "model.json", "model.safetensors"]), "\(artifacts)")
            let result = try await client.get("/v1/jobs/\(id)/result")
            try assertProblem(result, .conflict, code: "no_result")
            XCTAssertTrue(result.text.contains("model.json"), result.text)
            let assignments = try await client.get("/v1/jobs/\(id)/artifacts/assignments.csv").text
            XCTAssertEqual(assignments.split(separator: "\n").count, 601, "every sample assigned")
        }
    }

    func testServesItsOwnContract() async throws {
        try await withServer { client in
            let yaml = try await client.get("/openapi.yaml")
            XCTAssertEqual(yaml.status, .ok)
            let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("openapi.yaml")
            try? yaml.text.write(toFile: "/tmp/served-openapi.yaml", atomically: true, encoding: .utf8)
            XCTAssertTrue(
                yaml.text == (try String(contentsOf: file, encoding: .utf8)),
                "Sources/Service/OpenAPIDocument.swift is stale: run scripts/embed-openapi.py")
            let json = try await client.get("/openapi.json")
            XCTAssertEqual(json.headers[.contentType], "application/json")
            XCTAssertEqual(try json.json["openapi"]?.stringValue?.hasPrefix("3."), true)
            XCTAssertNotNil(try json.json["paths"]?["/v1/jobs/{id}/metrics/names"], "the document declares the routes served")
        }
    }

    /// The dashboard is served from the binary, identical to dashboard/ (scripts/embed-dashboard.py), under a strict CSP.
    func testServesTheDashboardAsEmbedded() async throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("dashboard")
        try await withServer { client in
            for asset in DashboardAssets.all {
                let served = try await client.get(asset.path)
                XCTAssertEqual(served.status, .ok)
                XCTAssertEqual(served.headers[.contentType], asset.mediaType)
                XCTAssertTrue(served.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                XCTAssertEqual(
                    served.text, try String(contentsOf: folder.appendingPathComponent(asset.file), encoding: .utf8),
                    "Sources/Service/DashboardAssets.swift is stale: run scripts/embed-dashboard.py")
                let etag = try XCTUnwrap(served.headers[.eTag])
                let again = try await client.get(asset.path, headers: [.ifNoneMatch: etag])
                XCTAssertEqual(again.status, .notModified)
            }
            // The page loads only its own two files: no CDN.
            let page = try await client.get("/").text
            XCTAssertFalse(page.contains("http://") || page.contains("https://"), "the page references nothing off this server")
        }
    }

    /// Problem codes are one enum, and the contract lists exactly its cases.
    func testTheContractListsEveryProblemCode() throws {
        let document = try JSONValue.parse(Data(OpenAPIDocument.json.utf8))
        let listed = document["components"]?["schemas"]?["Problem"]?["properties"]?["code"]?["enum"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertEqual(Set(listed), Set(ProblemCode.allCases.map(\.rawValue)))
        XCTAssertEqual(listed.count, ProblemCode.allCases.count)
    }

    func testTimestampsParseRFC3339AndDatesOnly() {
        XCTAssertEqual(Timestamp.parse("2026-11-30T09:00:00Z")?.timeIntervalSince1970, 1_796_029_200)
        XCTAssertEqual(Timestamp.parse("2026-11-30")?.timeIntervalSince1970, 1_795_996_800)
        XCTAssertEqual(Timestamp.parse("2026-11-30T10:00:00.250+01:00")?.timeIntervalSince1970, 1_796_029_200.25)
        let now = Date(timeIntervalSince1970: 1_796_029_200.123)
        XCTAssertEqual(Timestamp.parse(Timestamp.format(now))?.timeIntervalSince1970 ?? 0, 1_796_029_200.123, accuracy: 1e-6)
        for bad in [
            "", "yesterday", "2026-02-31", "2026-13-01", "2026-11-30T25:00:00Z", "2026-11-30T09:00:00", "2026-11-30T09:00:00+1:00",
            "2026-11-30T09:00:00.Z", "９９９９-11-30", String(repeating: "9", count: 1000),
        ] {
            XCTAssertNil(Timestamp.parse(bad), bad)
        }
    }
}
