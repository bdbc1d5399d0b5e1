import Clustering
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Jobs
import NIOCore
import Tensor
import XCTest
@testable import Service

/// A multipart/form-data body: (name, filename or nil for a text field, bytes).
func multipart(_ parts: [(String, String?, Data)], boundary: String = "mc-test-boundary") -> (ByteBuffer, HTTPFields) {
    var body = Data()
    for (name, filename, data) in parts {
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"".utf8))
        if let filename { body.append(Data("; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream".utf8)) }
        body.append(Data("\r\n\r\n".utf8))
        body.append(data)
        body.append(Data("\r\n".utf8))
    }
    body.append(Data("--\(boundary)--\r\n".utf8))
    return (ByteBuffer(bytes: body), [.contentType: "multipart/form-data; boundary=\(boundary)"])
}

func npy(_ values: [Float], shape: [Int]) -> Data {
    NumericArray.npyFile(shape: shape, descr: "<f4", payload: values.withUnsafeBufferPointer { Data(buffer: $0) })
}

func npyLabels(_ labels: [Int]) -> Data {
    NumericArray.npyFile(shape: [labels.count], descr: "<i8", payload: labels.map { Int64($0) }.withUnsafeBufferPointer { Data(buffer: $0) })
}

extension TestClientProtocol {
    func upload(_ parts: [(String, String?, Data)]) async throws -> TestResponse {
        let (body, headers) = multipart(parts)
        return try await execute(uri: "/v1/datasets", method: .post, headers: headers, body: body)
    }
}

final class DatasetRouteTests: XCTestCase {
    let blobs = GeneratedDatasets.make("blobs", count: 90, classes: 3, seed: 5)!

    /// One timestamp format everywhere: datasets, like jobs, carry RFC 3339 UTC with milliseconds.
    func testDatasetTimestampsHaveMilliseconds() async throws {
        try await withServer { client in
            let uploaded = try await client.upload([("data", "x.csv", Data("1,2\n3,4\n".utf8))])
            let created = try XCTUnwrap(try uploaded.json["created_at"]?.stringValue)
            XCTAssertNotNil(created.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#, options: .regularExpression), created)
        }
    }

    func testUploadDescribeListAndDelete() async throws {
        let blobs = self.blobs
        try await withServer { client in
            let data = npy(blobs.values, shape: [90, 2])
            let created = try await client.upload([
                ("data", "x.npy", data), ("labels", "y.npy", npyLabels(blobs.labels!)), ("name", nil, Data("blobs".utf8)),
            ])
            XCTAssertEqual(created.status, .created, created.text)
            let dataset = try created.json
            let id = try XCTUnwrap(dataset["id"]?.stringValue)
            XCTAssertEqual(created.headers[.location], "/v1/datasets/\(id)")
            XCTAssertEqual(dataset["samples"], 90)
            XCTAssertEqual(dataset["kind"], "features")
            XCTAssertEqual(dataset["shape"], [90, 2])
            XCTAssertEqual(dataset["name"], "blobs")
            XCTAssertEqual(dataset["label_counts"], ["0": 30, "1": 30, "2": 30])
            XCTAssertEqual(dataset["sha256"]?.stringValue, SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
            let described = try await client.get("/v1/datasets/\(id)").json
            XCTAssertEqual(described, dataset)

            // The raw file as the body, CSV with its label column named in the query.
            var csv = "x,y,label\n"
            for i in 0..<90 { csv += "\(blobs.values[2 * i]),\(blobs.values[2 * i + 1]),\(blobs.labels![i])\n" }
            let raw = try await client.execute(
                uri: "/v1/datasets?name=csv&label_column=label", method: .post, headers: [.contentType: "text/csv"],
                body: ByteBuffer(string: csv))
            XCTAssertEqual(raw.status, .created, raw.text)
            XCTAssertEqual(try raw.json["source_format"], "csv")
            XCTAssertEqual(try raw.json["label_counts"], ["0": 30, "1": 30, "2": 30])

            let list = try await client.get("/v1/datasets").json["datasets"]?.arrayValue
            XCTAssertEqual(list?.count, 2)
            let deleted = try await client.execute(uri: "/v1/datasets/\(id)", method: .delete)
            XCTAssertEqual(deleted.status, .noContent)
            try assertProblem(try await client.get("/v1/datasets/\(id)"), .notFound, code: "dataset_not_found", field: "id")
            try assertProblem(try await client.execute(uri: "/v1/datasets/\(id)", method: .delete), .notFound, code: "dataset_not_found")
        }
    }

    func testBadUploadsGet4xxAndLeaveNothingBehind() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("montecluster-datasets-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withServer(maxUpload: 64 << 10, dataDirectory: directory) { client in
            let good = npy([1, 2, 3, 4, 5, 6], shape: [3, 2])
            let cases: [([(String, String?, Data)], HTTPResponse.Status, String, String)] = [
                ([("data", "x.npy", good.dropLast(4))], .unprocessableContent, "invalid_dataset", "data"),
                (
                    [("data", "x.npy", NumericArray.npyFile(shape: [3, 2], descr: "<c8", payload: Data(count: 48)))], .unprocessableContent,
                    "invalid_dataset", "data"
                ),
                ([("data", "x.npy", good), ("labels", "y.npy", npyLabels([0, 1]))], .unprocessableContent, "invalid_dataset", "labels"),
                ([("data", "x.npy", npy([1, .nan, 3, 4], shape: [2, 2]))], .unprocessableContent, "invalid_dataset", "data"),
                ([("data", "x.npy", npy([], shape: [0, 2]))], .unprocessableContent, "invalid_dataset", "data"),
                (
                    [("data", "x.npy", NumericArray.npyFile(shape: [1, 8, 8], descr: "<f8", payload: Data(count: 512)))], .unprocessableContent,
                    "invalid_dataset", "data"
                ),
                ([("data", "x.csv", Data("1,2\n3\n".utf8))], .unprocessableContent, "invalid_dataset", "data"),
                ([("data", "x.gz", Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 9, 9]))], .unprocessableContent, "invalid_dataset", "data"),
                ([("data", "x.npy", good), ("label_column", nil, Data("2".utf8))], .unprocessableContent, "invalid_dataset", "label_column"),
                ([("labels", "y.npy", npyLabels([0]))], .unprocessableContent, "missing_part", "data"),
                ([("data", "x.npy", good), ("extra", nil, Data("1".utf8))], .unprocessableContent, "unknown_part", "extra"),
                ([("data", "x.npy", Data(count: 70 << 10))], .contentTooLarge, "upload_too_large", "body"),
            ]
            for (parts, status, code, field) in cases {
                try assertProblem(try await client.upload(parts), status, code: code, field: field)
            }
            try assertProblem(
                try await client.execute(
                    uri: "/v1/datasets", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: "{}")), .unsupportedMediaType, code: "unsupported_media_type")
            try assertProblem(
                try await client.execute(
                    uri: "/v1/datasets", method: .post, headers: [.contentType: "multipart/form-data; boundary=x"],
                    body: ByteBuffer(string: "--x\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n123")),
                .badRequest, code: "malformed_multipart", field: "body")
            try assertProblem(
                try await client.execute(uri: "/v1/datasets?colour=red", method: .post, body: ByteBuffer(data: good)),
                .badRequest, code: "unknown_query_parameter", field: "colour")
            let remaining = try await client.get("/v1/datasets").json["datasets"]?.arrayValue?.count
            XCTAssertEqual(remaining, 0)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: directory + "/datasets")
        XCTAssertEqual(left, [], "scratch files left behind")
    }

    func testKMeansJobThenPredictReproducesItsAssignments() async throws {
        let blobs = self.blobs
        try await withServer { client in
            let id = try await client.upload([("data", "x.npy", npy(blobs.values, shape: [90, 2])), ("labels", "y.npy", npyLabels(blobs.labels!))])
                .json["id"]!.stringValue!
            let submitted = try await submitKind(client, "cluster.kmeans", #"{"dataset": "\#(id)", "k": 3, "seed": 2}"#)
            XCTAssertEqual(submitted.status, .created, submitted.text)
            let job = try submitted.json["id"]!.stringValue!
            let finished = try await client.waitUntilTerminal(job)
            XCTAssertEqual(finished["status"], "succeeded", "\(finished)")
            let result = try await client.get("/v1/jobs/\(job)/result").json["result"]!
            XCTAssertEqual(result["scores"]?["ari"], 1)
            XCTAssertEqual(result["cluster_sizes"]?.arrayValue?.count, 3)
            let artifacts = try await client.get("/v1/jobs/\(job)/artifacts").json["artifacts"]!.arrayValue!.compactMap { $0["name"]?.stringValue }
            XCTAssertEqual(Set(artifacts), ["assignments.npy", "assignments.csv", "centroids.npy", "model.safetensors", "model.json"])
            // The model in open formats: model.json says what it is, model.safetensors holds the centroids.
            let description = try await client.get("/v1/jobs/\(job)/artifacts/model.json").json
            XCTAssertEqual(description["kind"], "kmeans")
            XCTAssertEqual(description["input"]?["dimension"], 2)
            let uploaded = try await client.get("/v1/datasets/\(id)").json
            XCTAssertEqual(description["dataset_sha256"], uploaded["sha256"])
            let weights = try await client.get("/v1/jobs/\(job)/artifacts/model.safetensors")
            let tensors = try Safetensors.decode(Data(weights.body.readableBytesView)).tensors
            XCTAssertEqual(tensors["centroids"]?.shape, [3, 2])
            let csv = try await client.get("/v1/jobs/\(job)/artifacts/assignments.csv").text
            let assigned = csv.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[1])! }

            let (body, headers) = multipart([("data", "x.npy", npy(blobs.values, shape: [90, 2])), ("labels", "y.npy", npyLabels(blobs.labels!))])
            let predicted = try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
            XCTAssertEqual(predicted.status, .ok, predicted.text)
            XCTAssertEqual(try predicted.json["assignments"]?.arrayValue?.map { Int($0.integerValue!) }, assigned)
            XCTAssertEqual(try predicted.json["scores"]?["acc"], 1)
            // Same validation as uploads, and the layout must be the training one.
            let (wrong, wrongHeaders) = multipart([("data", "x.npy", npy([1, 2, 3], shape: [1, 3]))])
            try assertProblem(
                try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: wrongHeaders, body: wrong),
                .unprocessableContent, code: "invalid_dataset", field: "data")
            let demo = try await client.submitCount()
            _ = try await client.waitUntilTerminal(demo)
            let noModel = try await client.execute(uri: "/v1/jobs/\(demo)/predict", method: .post, headers: wrongHeaders, body: wrong)
            try assertProblem(noModel, .conflict, code: "no_model", field: "id")
            // It names every kind that can predict (it once named two of six).
            for kind in ["cluster.kmeans", "cluster.iic", "cluster.scan", "cluster.gmm", "semi.mixmatch", "cluster.ruc"] {
                XCTAssertTrue(try noModel.json["detail"]?.stringValue?.contains(kind) == true, noModel.text)
            }
            try assertProblem(
                try await client.execute(uri: "/v1/jobs/nope/predict", method: .post, headers: wrongHeaders, body: wrong),
                .notFound, code: "job_not_found")
            // Unknown datasets are refused at submission.
            try assertProblem(
                try await submitKind(client, "cluster.kmeans", #"{"dataset": "missing"}"#), .unprocessableContent,
                code: "invalid_value", field: "params.dataset")
            try assertProblem(
                try await submitKind(client, "cluster.iic", #"{"dataset": "generated:spirals"}"#), .unprocessableContent,
                code: "invalid_value", field: "params.dataset")
        }
    }

    /// Issue 14: `predict` scaled images by the request's own largest pixel, so an image's cluster changed
    /// when a brighter one came with it. Now the training data's scale is saved (model.json's
    /// `input.pixel_scale`) and applied unchanged: dim images get the same answers alone and beside a bright one.
    func testPredictDoesNotDependOnTheOtherSamplesInTheRequest() async throws {
        let shapes = GeneratedDatasets.make("shapes", count: 120, seed: 4)!
        try await withServer(workers: 1) { client in
            let images = shapes.values.map { UInt8(($0 * 200).rounded()) }
            let data = NumericArray.npyFile(shape: [120, 8, 8], descr: "|u1", payload: Data(images))
            let id = try await client.upload([("data", "x.npy", data)]).json["id"]!.stringValue!
            let job = try await submitKind(client, "cluster.kmeans", #"{"dataset": "\#(id)", "k": 4, "seed": 1}"#).json["id"]!.stringValue!
            let finished = try await client.waitUntilTerminal(job)
            XCTAssertEqual(finished["status"], "succeeded", "\(finished)")
            let description = try await client.get("/v1/jobs/\(job)/artifacts/model.json").json
            XCTAssertEqual(description["input"]?["pixel_scale"]?.doubleValue, Double(images.max()!))
            func predict(_ pixels: [UInt8], count: Int) async throws -> [Int] {
                let (body, headers) = multipart([("data", "p.npy", NumericArray.npyFile(shape: [count, 8, 8], descr: "|u1", payload: Data(pixels)))])
                let response = try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
                XCTAssertEqual(response.status, .ok, response.text)
                return try response.json["assignments"]?.arrayValue?.compactMap { $0.integerValue.map(Int.init) } ?? []
            }
            // The first 40 images at 40 % brightness, alone, then with one saturated image in front.
            let dim = images[0..<(40 * 64)].map { UInt8((Double($0) * 0.4).rounded()) }
            let alone = try await predict(Array(dim), count: 40)
            let withBright = try await predict([UInt8](repeating: 255, count: 64) + dim, count: 41)
            XCTAssertEqual(alone.count, 40)
            XCTAssertEqual(Array(withBright.dropFirst()), alone, "a sample's cluster must not depend on the rest of the request")
            // The training images themselves get the job's own assignments back.
            let csv = try await client.get("/v1/jobs/\(job)/artifacts/assignments.csv").text
            let assigned = csv.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[1])! }
            let again = try await predict(images, count: 120)
            XCTAssertEqual(again, assigned)
        }
    }

    /// Issue 14: what the run used to find out (too few samples for the neighbours, a CNN on feature
    /// vectors) is a 422 at submission, from the dataset's stored description.
    func testSubmissionKnowsTheDatasetsSizeAndLayout() async throws {
        try await withServer { client in
            let id = try await client.upload([("data", "x.csv", Data("1,2\n3,4\n5,6\n7,8\n9,10\n".utf8))]).json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "cluster.scan", #"{"dataset": "\#(id)", "k": 2, "neighbours": 5}"#), .unprocessableContent,
                code: "out_of_range", field: "params.neighbours")
            try assertProblem(
                try await submitKind(client, "cluster.scan", #"{"dataset": "generated:blobs", "generated_samples": 30, "neighbours": 40}"#),
                .unprocessableContent, code: "out_of_range", field: "params.neighbours")
            try assertProblem(
                try await submitKind(client, "cluster.iic", #"{"dataset": "\#(id)", "k": 2, "backbone": "cnn"}"#), .unprocessableContent,
                code: "invalid_value", field: "params.backbone")
            let fits = try await submitKind(
                client, "cluster.scan", #"{"dataset": "\#(id)", "k": 2, "neighbours": 4, "scan_epochs": 1, "self_label_epochs": 0}"#)
            XCTAssertEqual(fits.status, .created, fits.text)
        }
    }

    /// Issue 14: SCAN's progress said only "epoch N"; it now names the phase, its epoch of how many and the
    /// step within the epoch, as IIC's does (read back from the job's event stream).
    func testSCANProgressNamesPhaseEpochsAndSteps() async throws {
        try await withServer(workers: 1) { client in
            let id = try await submitKind(
                client, "cluster.scan",
                #"{"dataset": "generated:blobs", "generated_samples": 90, "k": 3, "neighbours": 5, "scan_epochs": 2, "scan_batch_size": 32, "self_label_epochs": 1, "seed": 1}"#
            ).json["id"]!.stringValue!
            let finished = try await client.waitUntilTerminal(id)
            XCTAssertEqual(finished["status"], "succeeded", "\(finished)")
            let events = try await client.get("/v1/jobs/\(id)/events").text
            XCTAssertTrue(events.contains("mining 5 neighbours"), events)
            XCTAssertTrue(events.contains("scan epoch 1 of 2, step 1 of 3"), events)
        }
    }

    /// Issue 14: parameters that do not apply are left out of the echo (generated-data settings with an
    /// uploaded dataset; SCAN's pretext settings on feature vectors) and refused when given; a SCAN run whose
    /// heads never trained says so.
    func testIrrelevantParametersAreNotEchoedAndUntrainedHeadsWarn() async throws {
        try await withServer(workers: 1) { client in
            let id = try await client.upload([("data", "x.csv", Data((0..<30).map { "\($0 % 3).0,\($0 % 5).0\n" }.joined().utf8))]).json["id"]!
                .stringValue!
            let kmeans = try await submitKind(client, "cluster.kmeans", #"{"dataset": "\#(id)", "k": 3}"#)
            XCTAssertEqual(kmeans.status, .created, kmeans.text)
            XCTAssertNil(try kmeans.json["params"]?["generated_samples"], "an uploaded dataset has no generated_samples")
            XCTAssertEqual(try kmeans.json["params"]?["k"], 3)
            try assertProblem(
                try await submitKind(client, "cluster.kmeans", #"{"dataset": "\#(id)", "generated_samples": 50}"#), .unprocessableContent,
                code: "invalid_value", field: "params.generated_samples")
            try assertProblem(
                try await submitKind(client, "cluster.scan", #"{"dataset": "\#(id)", "k": 3, "neighbours": 4, "pretext_epochs": 5}"#),
                .unprocessableContent, code: "invalid_value", field: "params.pretext_epochs")
            let untrained = try await submitKind(
                client, "cluster.scan", #"{"dataset": "\#(id)", "k": 3, "neighbours": 4, "scan_epochs": 0, "self_label_epochs": 0}"#)
            XCTAssertEqual(untrained.status, .created, untrained.text)
            XCTAssertNil(try untrained.json["params"]?["pretext_epochs"], "feature vectors skip the pretext")
            let job = try await client.waitUntilTerminal(try untrained.json["id"]!.stringValue!)
            XCTAssertEqual(job["status"], "succeeded", "\(job)")
            let warnings = job["result"]?["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
            XCTAssertTrue(warnings.contains { $0.contains("never trained") }, "\(warnings)")
        }
    }

    func testIICJobRunsAndADatasetInUseCannotBeDeleted() async throws {
        let shapes = GeneratedDatasets.make("shapes", count: 120, seed: 3)!
        try await withServer(workers: 1) { client in
            let images = shapes.values.map { UInt8(($0 * 255).rounded()) }
            let data = NumericArray.npyFile(shape: [120, 8, 8], descr: "|u1", payload: Data(images))
            let id = try await client.upload([("data", "x.npy", data), ("labels", "y.npy", npyLabels(shapes.labels!))]).json["id"]!.stringValue!
            let long = try await submitKind(client, "cluster.iic", #"{"dataset": "\#(id)", "k": 4, "epochs": 1000}"#).json["id"]!.stringValue!
            try await client.waitForStatus(long, "running")
            let refused = try await client.execute(uri: "/v1/datasets/\(id)", method: .delete)
            try assertProblem(refused, .conflict, code: "dataset_in_use", field: "id")
            XCTAssertTrue(try refused.json["detail"]!.stringValue!.contains(long))
            _ = try await client.execute(uri: "/v1/jobs/\(long)/cancel", method: .post)
            _ = try await client.waitUntilTerminal(long)

            let job = try await submitKind(client, "cluster.iic", #"{"dataset": "\#(id)", "k": 4, "epochs": 3, "batch_size": 32, "seed": 1}"#).json[
                "id"]!.stringValue!
            let finished = try await client.waitUntilTerminal(job, timeout: 60)
            XCTAssertEqual(finished["status"], "succeeded", "\(finished)")
            let result = try await client.get("/v1/jobs/\(job)/result").json["result"]!
            // The digits-net trunk (150,240, as counted in the tensor tests) and one 128→4 head with bias.
            XCTAssertEqual(result["model"]?["parameters"]?.integerValue, 150_240 + 128 * 4 + 4)
            XCTAssertNotNil(result["scores"]?["nmi"]?.doubleValue)
            let metrics = try await client.get("/v1/jobs/\(job)/metrics?name=acc").json
            XCTAssertEqual(metrics["metrics"]?.arrayValue?.count, 3, "\(metrics)")
            let csv = try await client.get("/v1/jobs/\(job)/artifacts/assignments.csv").text
            let assigned = csv.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[1])! }
            let (body, headers) = multipart([("data", "x.npy", data)])
            let predicted = try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
            XCTAssertEqual(try predicted.json["assignments"]?.arrayValue?.map { Int($0.integerValue!) }, assigned)
            XCTAssertEqual(try predicted.json["probabilities"]?.arrayValue?.count, 120)
            let deleted = try await client.execute(uri: "/v1/datasets/\(id)", method: .delete)
            XCTAssertEqual(deleted.status, .noContent)
        }
    }
}

final class SCANRouteTests: XCTestCase {
    func testSCANJobsEmbeddingsBackboneReuseAndPredict() async throws {
        try await withServer(workers: 1) { client in
            let small = #""generated_samples": 120, "neighbours": 5, "scan_epochs": 3, "self_label_epochs": 1, "heads": 2, "seed": 2"#
            // Feature vectors: no pretext.
            let vectors = try await submitKind(client, "cluster.scan", #"{"dataset": "generated:blobs", "k": 3, \#(small)}"#).json["id"]!.stringValue!
            let done = try await client.waitUntilTerminal(vectors, timeout: 120)
            XCTAssertEqual(done["status"], "succeeded", "\(done)")
            let result = try await client.get("/v1/jobs/\(vectors)/result").json["result"]!
            XCTAssertEqual(result["pretext_ran"], false)
            XCTAssertGreaterThan(result["neighbour_agreement"]?.doubleValue ?? 0, 0.9)
            let names = try await client.get("/v1/jobs/\(vectors)/artifacts").json["artifacts"]!.arrayValue!.compactMap { $0["name"]?.stringValue }
            XCTAssertEqual(
                Set(names),
                [
                    "assignments.npy", "assignments.csv", "probabilities.npy", "neighbours.npy", "embeddings.npy", "model.safetensors", "model.json",
                    "history.json",
                ])
            let agreement = try await client.get("/v1/jobs/\(vectors)/metrics?name=neighbour_agreement").json["metrics"]?.arrayValue
            XCTAssertEqual(agreement?.count, 1)

            // Images with a short pretext, then a second job starting from its backbone (no pretext).
            let images = try await submitKind(
                client, "cluster.scan", #"{"dataset": "generated:shapes", "k": 4, "pretext_epochs": 2, "pretext_batch_size": 32, \#(small)}"#
            )
            .json["id"]!.stringValue!
            let first = try await client.waitUntilTerminal(images, timeout: 120)
            XCTAssertEqual(first["status"], "succeeded", "\(first)")
            let pretextLoss = try await client.get("/v1/jobs/\(images)/metrics?name=pretext_loss").json["metrics"]?.arrayValue
            XCTAssertEqual(pretextLoss?.count, 2)
            let reuse = try await submitKind(
                client, "cluster.scan", #"{"dataset": "generated:shapes", "k": 4, "backbone_job": "\#(images)", \#(small)}"#)
            XCTAssertEqual(reuse.status, .created, reuse.text)
            let second = try reuse.json["id"]!.stringValue!
            let finished = try await client.waitUntilTerminal(second, timeout: 120)
            XCTAssertEqual(finished["status"], "succeeded", "\(finished)")
            let reused = try await client.get("/v1/jobs/\(second)/result").json["result"]
            XCTAssertEqual(reused?["pretext_ran"], false)
            let none = try await client.get("/v1/jobs/\(second)/metrics?name=pretext_loss").json["metrics"]?.arrayValue
            XCTAssertEqual(none?.count, 0)
            try assertProblem(
                try await submitKind(client, "cluster.scan", #"{"dataset": "generated:shapes", "backbone_job": "\#(vectors)x"}"#),
                .unprocessableContent, code: "invalid_value", field: "params.backbone_job")

            // The SCAN model predicts its own assignments.
            let shapes = GeneratedDatasets.make("shapes", count: 120, seed: 2)!
            let data = NumericArray.npyFile(shape: [120, 8, 8], descr: "|u1", payload: Data(shapes.values.map { UInt8(($0 * 255).rounded()) }))
            let (body, headers) = multipart([("data", "x.npy", data)])
            let predicted = try await client.execute(uri: "/v1/jobs/\(second)/predict", method: .post, headers: headers, body: body)
            XCTAssertEqual(predicted.status, .ok, predicted.text)
            XCTAssertEqual(try predicted.json["probabilities"]?.arrayValue?.count, 120)
        }
    }
}
