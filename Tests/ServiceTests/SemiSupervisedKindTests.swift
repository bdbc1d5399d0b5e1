import Clustering
import Foundation
import Hummingbird
import HummingbirdTesting
import Jobs
import XCTest

@testable import Service

private func predict(_ client: any TestClientProtocol, _ job: String, _ parts: [(String, String?, Data)]) async throws -> TestResponse {
    let (body, headers) = multipart(parts)
    return try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
}

private func succeeded(_ client: any TestClientProtocol, _ kind: String, _ params: String) async throws -> (id: String, result: JSONValue) {
    let submitted = try await submitKind(client, kind, params)
    XCTAssertEqual(submitted.status, .created, submitted.text)
    let job = try submitted.json["id"]!.stringValue!
    let finished = try await client.waitUntilTerminal(job, timeout: 120)
    XCTAssertEqual(finished["status"], "succeeded", "\(kind): \(finished)")
    return (job, try await client.get("/v1/jobs/\(job)/result").json["result"] ?? .null)
}

/// Issue 15: semi.mixmatch and cluster.ruc end to end over HTTP, their models at predict, and bad inputs as 422s
/// naming the field.
final class SemiSupervisedKindTests: XCTestCase {
    func testMixMatchBeatsSupervisedOnlyAndPredicts() async throws {
        try await withServer(workers: 2) { client in
            let shapes =
                #""dataset": "generated:shapes", "generated_samples": 400, "labelled_per_class": 3, "epochs": 1, "batch_size": 16, "seed": 2"#
            let (job, semi) = try await succeeded(client, "semi.mixmatch", "{\(shapes), \"validation_fraction\": 0.34, \"rampup_epochs\": 1}")
            let (_, supervised) = try await succeeded(
                client, "semi.mixmatch", "{\(shapes), \"validation_fraction\": 0.34, \"rampup_epochs\": 1, \"supervised_only\": true}")
            let accuracy = semi["scores"]?["acc"]?.doubleValue ?? 0
            XCTAssertGreaterThan(accuracy, 0.9, "\(semi)")
            XCTAssertGreaterThan(accuracy, supervised["scores"]?["acc"]?.doubleValue ?? 1, "\(supervised)")
            // 3 labels per class, one of each class held out for validation; 388 hidden and scored.
            XCTAssertEqual(semi["labelled"], 8)
            XCTAssertEqual(semi["validation"], 4)
            XCTAssertEqual(semi["hidden_labels"], 388)
            XCTAssertEqual(semi["confusion_matrix"]?.arrayValue?.count, 4)
            XCTAssertGreaterThan(semi["model"]?["parameters"]?.integerValue ?? 0, 0)
            let names = try await client.get("/v1/jobs/\(job)/artifacts").json["artifacts"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            XCTAssertTrue(
                Set(names).isSuperset(of: [
                    "predictions.npy", "predictions.csv", "probabilities.npy", "model.json", "model.safetensors", "history.json",
                ]))
            let metrics = try await client.get("/v1/jobs/\(job)/metrics/names").json
            let recorded = Set(metrics["metrics"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
            XCTAssertTrue(recorded.isSuperset(of: ["loss_x", "loss_u", "lambda_u", "acc", "acc_validation"]), "\(recorded)")
            // The saved (EMA) model answers predict as the job did.
            let dataset = GeneratedDatasets.make("shapes", count: 20, seed: 2)!
            let pixels = dataset.values.map { UInt8(($0 * 255).rounded()) }
            let upload = NumericArray.npyFile(shape: [20, 8, 8], descr: "|u1", payload: Data(pixels))
            let prediction = try await predict(client, job, [("data", "x.npy", upload), ("labels", "y.npy", npyLabels(dataset.labels!))])
            XCTAssertEqual(prediction.status, .ok, prediction.text)
            XCTAssertGreaterThan(try prediction.json["scores"]?["acc"]?.doubleValue ?? 0, 0.8, prediction.text)
        }
    }

    func testRUCRefinesAKMeansJob() async throws {
        try await withServer(workers: 2) { client in
            let (source, kmeans) = try await succeeded(
                client, "cluster.kmeans", #"{"dataset": "generated:blobs", "generated_samples": 300, "generated_classes": 3, "k": 3, "seed": 5}"#)
            let (job, ruc) = try await succeeded(client, "cluster.ruc", #"{"source_job": "\#(source)", "epochs": 2, "batch_size": 16}"#)
            XCTAssertEqual(ruc["k"], 3)
            XCTAssertEqual(ruc["source"]?["kind"], "cluster.kmeans")
            XCTAssertEqual(ruc["source"]?["scores"], kmeans["scores"], "the source's scores side by side")
            // k-means saves no probabilities: hybrid falls back to neighbour agreement, with a warning.
            XCTAssertEqual(ruc["selection"]?["method"], "metric")
            XCTAssertEqual(ruc["selection"]?["neighbours_from"], "raw features")
            XCTAssertTrue(ruc["warnings"]?.arrayValue?.contains { $0.stringValue?.contains("no probabilities") == true } == true)
            XCTAssertGreaterThan(ruc["scores"]?["acc"]?.doubleValue ?? 0, 0.95, "\(ruc)")
            XCTAssertNotNil(ruc["changes"]?["corrections"]?.integerValue)
            let metrics = try await client.get("/v1/jobs/\(job)/metrics/names").json
            let recorded = Set(metrics["metrics"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
            XCTAssertTrue(
                recorded.isSuperset(of: ["clean_size", "clean_accuracy", "refurbished", "loss_x_1", "loss_x_2", "loss_u_1", "loss_u_2", "acc", "nmi"]
                ),
                "\(recorded)")
            // Uploaded assignments of an uploaded dataset work too, and so does predict with the two networks.
            let dataset = GeneratedDatasets.make("blobs", count: 300, classes: 3, seed: 5)!
            let data = try await client.upload([
                ("data", "x.npy", npy(dataset.values, shape: [300, 2])), ("labels", "y.npy", npyLabels(dataset.labels!)),
            ])
            let assignments = dataset.labels!.enumerated().map { Float($0.offset < 30 ? -1 : $0.element) }
            let labels = try await client.upload([("data", "a.npy", npy(assignments, shape: [300, 1]))])
            let (refined, uploaded) = try await succeeded(
                client, "cluster.ruc",
                #"{"dataset": "\#(data.json["id"]!.stringValue!)", "assignments": "\#(labels.json["id"]!.stringValue!)", "epochs": 1, "selection": "metric"}"#
            )
            XCTAssertEqual(uploaded["selection"]?["unlabelled"]?.integerValue ?? 0 >= 30, true, "\(uploaded)")
            let prediction = try await predict(client, refined, [("data", "x.npy", npy(dataset.values, shape: [300, 2]))])
            XCTAssertEqual(prediction.status, .ok, prediction.text)
            XCTAssertEqual(try prediction.json["assignments"]?.arrayValue?.count, 300)
            // A refinement refined again: the data is found through the chain of source jobs (it once failed at run time).
            // With the defaults too: RUC's own probabilities are soft, so no sample reaches 0.99, and hybrid falls back
            // to neighbour agreement with a warning instead of failing.
            let (_, again) = try await succeeded(client, "cluster.ruc", #"{"source_job": "\#(job)", "epochs": 1, "batch_size": 16}"#)
            XCTAssertEqual(again["source"]?["kind"], "cluster.ruc")
            XCTAssertEqual(again["source"]?["scores"], ruc["scores"])
            XCTAssertEqual(again["selection"]?["method"], "metric", "\(again)")
            XCTAssertTrue(
                again["warnings"]?.arrayValue?.contains { $0.stringValue?.hasPrefix("no sample passed both tests") == true } == true, "\(again)")
            // A source whose dataset was deleted is refused at submission, not failed in the run.
            _ = try await client.execute(uri: "/v1/datasets/\(data.json["id"]!.stringValue!)", method: .delete)
            let orphan = try await submitKind(client, "cluster.ruc", #"{"source_job": "\#(refined)", "epochs": 1}"#)
            try assertProblem(orphan, .unprocessableContent, code: "invalid_value", field: "params.source_job")
            XCTAssertTrue(try orphan.json["detail"]?.stringValue?.contains("no longer exists") == true, orphan.text)
        }
    }

    /// On a source with probabilities, metric consults the neighbours alone: it once applied confidence_threshold
    /// too and so chose exactly hybrid's clean set.
    func testMetricSelectionIgnoresTheSourcesConfidence() async throws {
        try await withServer(workers: 1) { client in
            let (source, _) = try await succeeded(
                client, "cluster.gmm", #"{"dataset": "generated:blobs", "generated_samples": 300, "generated_classes": 3, "k": 3, "seed": 5}"#)
            let base = #""source_job": "\#(source)", "epochs": 1, "batch_size": 16, "confidence_threshold": 1"#
            let (_, metric) = try await succeeded(client, "cluster.ruc", #"{\#(base), "selection": "metric"}"#)
            let (_, hybrid) = try await succeeded(client, "cluster.ruc", #"{\#(base), "selection": "hybrid"}"#)
            let (_, confidence) = try await succeeded(client, "cluster.ruc", #"{\#(base), "selection": "confidence"}"#)
            let clean = { (result: JSONValue) in result["selection"]?["clean"]?.integerValue ?? -1 }
            XCTAssertEqual(metric["selection"]?["method"], "metric")
            XCTAssertEqual(metric["selection"]?["neighbours_from"], "raw features")
            // Hybrid keeps the samples both tests pass, so it is smaller than each (a threshold of 1 leaves some out).
            XCTAssertLessThan(clean(confidence), 300, "\(confidence)")
            XCTAssertLessThan(clean(hybrid), clean(metric), "\(hybrid) \(metric)")
            XCTAssertLessThanOrEqual(clean(hybrid), clean(confidence))
        }
    }

    func testBadInputsAreUnprocessableNamingTheField() async throws {
        try await withServer(workers: 1) { client in
            // A labels file with a value below −1 is refused at upload.
            let values = [Float](repeating: 0.5, count: 8)
            try assertProblem(
                try await client.upload([("data", "x.npy", npy(values, shape: [4, 2])), ("labels", "y.npy", npyLabels([0, 1, -2, -1]))]),
                .unprocessableContent, code: "invalid_dataset", field: "labels")
            // labelled_per_class larger than a class (class 1 has 2 labelled samples), and a class without labels.
            let partly = try await client.upload([
                ("data", "x.npy", npy([Float](repeating: 0.5, count: 12), shape: [6, 2])), ("labels", "y.npy", npyLabels([0, 0, 0, 1, 1, -1])),
            ]).json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "semi.mixmatch", #"{"dataset": "\#(partly)", "labelled_per_class": 3}"#), .unprocessableContent,
                code: "invalid_value", field: "params.labelled_per_class")
            let gap = try await client.upload([
                ("data", "x.npy", npy([Float](repeating: 0.5, count: 8), shape: [4, 2])), ("labels", "y.npy", npyLabels([0, 2, 2, -1])),
            ]).json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "semi.mixmatch", #"{"dataset": "\#(gap)"}"#), .unprocessableContent, code: "invalid_value",
                field: "params.dataset")
            // Bounds: rows a step pushes through the network; classes (each would be an output over every sample).
            try assertProblem(
                try await submitKind(client, "semi.mixmatch", #"{"dataset": "\#(partly)", "batch_size": 1024, "augmentations": 8}"#),
                .unprocessableContent, code: "out_of_range", field: "params.batch_size")
            let manyClasses = try await client.upload([
                ("data", "x.npy", npy([Float](repeating: 0.5, count: 2004), shape: [1002, 2])), ("labels", "y.npy", npyLabels(Array(0..<1002))),
            ]).json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "semi.mixmatch", #"{"dataset": "\#(manyClasses)"}"#), .unprocessableContent, code: "invalid_value",
                field: "params.dataset")
            // A labels file of −1 only is no labels.
            let none = try await client.upload([("data", "x.npy", npy(values, shape: [4, 2])), ("labels", "y.npy", npyLabels([-1, -1, -1, -1]))])
            XCTAssertEqual(try none.json["label_counts"], .null, none.text)
            let unlabelled = try await client.upload([("data", "x.npy", npy(values, shape: [4, 2]))]).json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "semi.mixmatch", #"{"dataset": "\#(unlabelled)"}"#), .unprocessableContent, code: "invalid_value",
                field: "params.dataset")
            // RUC's source: not a clustering job; not succeeded; absent; neither source nor assignments; both.
            let count = try await client.submitCount(#"{"steps": 2, "step_ms": 0}"#)
            _ = try await client.waitUntilTerminal(count)
            try assertProblem(
                try await submitKind(client, "cluster.ruc", #"{"source_job": "\#(count)"}"#), .unprocessableContent, code: "invalid_value",
                field: "params.source_job")
            let long = try await submitKind(client, "cluster.scan", #"{"dataset": "generated:blobs", "scan_epochs": 1000, "neighbours": 5}"#)
                .json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "cluster.ruc", #"{"source_job": "\#(long)"}"#), .unprocessableContent, code: "invalid_value",
                field: "params.source_job")
            _ = try await client.post("/v1/jobs/\(long)/cancel", json: "{}")
            let missing = try await submitKind(client, "cluster.ruc", #"{"source_job": "no-such-job"}"#)
            XCTAssertEqual(missing.status, .unprocessableContent, missing.text)
            try assertProblem(
                try await submitKind(client, "cluster.ruc", "{}"), .unprocessableContent, code: "missing_parameter", field: "params.source_job")
            try assertProblem(
                try await submitKind(client, "cluster.ruc", #"{"source_job": "\#(count)", "dataset": "generated:blobs"}"#), .unprocessableContent,
                code: "invalid_value", field: "params.dataset")
            // Uploaded assignments that are not clusters, or of another length; confidence without probabilities.
            let fractional = try await client.upload([("data", "a.npy", npy([0, 1, 2.5, 1], shape: [4, 1]))]).json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "cluster.ruc", #"{"dataset": "\#(unlabelled)", "assignments": "\#(fractional)"}"#),
                .unprocessableContent,
                code: "invalid_value", field: "params.assignments")
            // A short file is the wrong length even when it uses one cluster (it was once called "fewer than 2 clusters").
            let short = try await client.upload([("data", "a.npy", npy([0, 0, 0], shape: [3, 1]))]).json["id"]!.stringValue!
            let shortAnswer = try await submitKind(client, "cluster.ruc", #"{"dataset": "\#(unlabelled)", "assignments": "\#(short)"}"#)
            try assertProblem(shortAnswer, .unprocessableContent, code: "invalid_value", field: "params.assignments")
            XCTAssertTrue(try shortAnswer.json["detail"]?.stringValue?.contains("3 assignments for a dataset of 4 samples") == true, shortAnswer.text)
            let tooMany = try await client.upload([("data", "a.npy", npy([0, 1, 1000, 0], shape: [4, 1]))]).json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "cluster.ruc", #"{"dataset": "\#(unlabelled)", "assignments": "\#(tooMany)"}"#), .unprocessableContent,
                code: "invalid_value", field: "params.assignments")
            let good = try await client.upload([("data", "a.npy", npy([0, 1, 1, 0], shape: [4, 1]))]).json["id"]!.stringValue!
            try assertProblem(
                try await submitKind(client, "cluster.ruc", #"{"dataset": "\#(unlabelled)", "assignments": "\#(good)", "selection": "confidence"}"#),
                .unprocessableContent, code: "invalid_value", field: "params.selection")
        }
    }
}
