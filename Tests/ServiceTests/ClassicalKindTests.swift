import Clustering
import Foundation
import Hummingbird
import HummingbirdTesting
import Jobs
import RandomStreams
import XCTest

@testable import Service

private func jobResult(_ client: any TestClientProtocol, _ kind: String, _ params: String) async throws -> JSONValue {
    let submitted = try await submitKind(client, kind, params)
    XCTAssertEqual(submitted.status, .created, submitted.text)
    let job = try submitted.json["id"]!.stringValue!
    let finished = try await client.waitUntilTerminal(job, timeout: 60)
    XCTAssertEqual(finished["status"], "succeeded", "\(kind): \(finished)")
    var result = try await client.get("/v1/jobs/\(job)/result").json["result"] ?? .null
    if case .object(var members) = result {
        members["job"] = .string(job)
        let names = try await client.get("/v1/jobs/\(job)/artifacts").json["artifacts"]?.arrayValue ?? []
        members["artifact_names"] = .array(names.compactMap { $0["name"] })
        result = .object(members)
    }
    return result
}

private func artifactNames(_ result: JSONValue) -> Set<String> { Set(result["artifact_names"]?.arrayValue?.compactMap(\.stringValue) ?? []) }

/// Issue 14: cluster.spectral, cluster.gmm, cluster.agglomerative and cluster.hdbscan end to end over HTTP.
final class ClassicalKindTests: XCTestCase {
    func testEachKindClustersBlobsAndChoosesKItself() async throws {
        try await withServer(workers: 2) { client in
            let blobs = #""dataset": "generated:blobs", "generated_samples": 300, "generated_classes": 3, "seed": 5"#
            // Fixed k: the blobs are found (σ 0.6, centres in [−10, 10]²: separated for this seed).
            for (kind, extra, artifact) in [
                ("cluster.spectral", #""k": 3"#, "spectral_embedding.npy"), ("cluster.gmm", #""k": 3, "covariance": "full""#, "probabilities.npy"),
                ("cluster.agglomerative", #""k": 3"#, "linkage.npy"), ("cluster.hdbscan", #""min_cluster_size": 20"#, "membership.npy"),
            ] {
                let result = try await jobResult(client, kind, "{\(blobs), \(extra)}")
                XCTAssertGreaterThan(result["scores"]?["ari"]?.doubleValue ?? 0, 0.95, "\(kind): \(result)")
                XCTAssertEqual(result["preprocessing"]?["normalize"], "none", "2-D points are not embeddings")
                XCTAssertTrue(artifactNames(result).isSuperset(of: ["assignments.npy", "assignments.csv", artifact]), "\(kind)")
            }
            // Spectral's assignment: 2k k-means groups merged to k by default, scikit-learn's k-means into k on request; both find the blobs.
            for (assign, groups) in [("merge", 6), ("kmeans", 3)] {
                let result = try await jobResult(client, "cluster.spectral", "{\(blobs), \"k\": 3, \"assign_labels\": \"\(assign)\"}")
                XCTAssertEqual(result["assignment"]?["method"]?.stringValue, assign, "\(result)")
                XCTAssertEqual(result["assignment"]?["kmeans_groups"]?.integerValue, Int64(groups))
                XCTAssertEqual(result["cluster_sizes"]?.arrayValue?.count, 3)
                XCTAssertGreaterThan(result["scores"]?["ari"]?.doubleValue ?? 0, 0.95, "\(assign): \(result)")
            }
            // k "auto" (the default for spectral and GMM): the eigengap and BIC choose 3, with every candidate's score.
            let spectral = try await jobResult(client, "cluster.spectral", "{\(blobs), \"k_max\": 8}")
            XCTAssertEqual(spectral["k"], 3, "\(spectral)")
            XCTAssertEqual(spectral["k_choice"]?["criterion"], "eigengap")
            XCTAssertEqual(spectral["k_choice"]?["scores"]?.objectValue?.count, 7)
            let gmm = try await jobResult(client, "cluster.gmm", "{\(blobs), \"k_max\": 6}")
            XCTAssertEqual(gmm["k"], 3, "\(gmm)")
            XCTAssertEqual(gmm["k_choice"]?["criterion"], "bic")
            let bics = gmm["k_choice"]?["scores"]?.objectValue?.mapValues { $0.doubleValue! } ?? [:]
            XCTAssertEqual(bics.min { $0.value < $1.value }?.key, "3")
            let kmeans = try await jobResult(client, "cluster.kmeans", "{\(blobs), \"k\": \"auto\", \"k_max\": 6}")
            XCTAssertEqual(kmeans["k"], 3, "\(kmeans)")
            XCTAssertEqual(kmeans["k_choice"]?["criterion"], "silhouette")
            XCTAssertEqual(kmeans["k_choice"]?["scores"]?.objectValue?.count, 5)
            let wardAuto = try await jobResult(client, "cluster.agglomerative", "{\(blobs), \"k\": \"auto\", \"k_max\": 8}")
            XCTAssertEqual(wardAuto["k"], 3, "\(wardAuto)")
            XCTAssertEqual(wardAuto["k_choice"]?["criterion"], "height_jump")
            XCTAssertEqual(wardAuto["k_choice"]?["scores"]?.objectValue?.count, 7)
            // The dendrogram in scipy's linkage layout: N − 1 rows of 4.
            let ward = try await jobResult(client, "cluster.agglomerative", "{\(blobs), \"k\": 3}")
            let linkage = try await client.get("/v1/jobs/\(ward["job"]!.stringValue!)/artifacts/linkage.npy")
            XCTAssertEqual(NumericArray.declaredShape(Data(linkage.body.readableBytesView)), [299, 4])
            // auto is exact Ward at this size; knn is the graph-restricted one, and the result says which ran.
            XCTAssertEqual(ward["connectivity"], "none")
            XCTAssertEqual(ward["neighbours"], .null)
            let graphWard = try await jobResult(client, "cluster.agglomerative", "{\(blobs), \"k\": 3, \"connectivity\": \"knn\"}")
            XCTAssertEqual(graphWard["connectivity"], "knn")
            XCTAssertEqual(graphWard["neighbours"], 10)
        }
    }

    /// Degenerate data never takes the server down: 40 identical points through every kind (k = 1 for Ward
    /// once indexed past the end of its merges), then a normal job still runs.
    func testDegenerateDataDoesNotCrash() async throws {
        let same = [Float](repeating: 0.5, count: 40 * 3)
        try await withServer { client in
            let id = try await client.upload([("data", "x.npy", npy(same, shape: [40, 3]))]).json["id"]!.stringValue!
            for (kind, extra) in [
                ("cluster.agglomerative", #""k": 1"#), ("cluster.agglomerative", #""k": 40"#), ("cluster.hdbscan", #""min_cluster_size": 5"#),
                ("cluster.spectral", #""k": 2"#), ("cluster.spectral", #""k": "auto""#), ("cluster.gmm", #""k": 2, "covariance": "full""#),
                ("cluster.kmeans", #""k": "auto""#), ("cluster.gmm", #""k": "auto", "pca_components": 2"#),
            ] {
                let submitted = try await submitKind(client, kind, #"{"dataset": "\#(id)", \#(extra)}"#)
                XCTAssertEqual(submitted.status, .created, submitted.text)
                let finished = try await client.waitUntilTerminal(try submitted.json["id"]!.stringValue!, timeout: 60)
                let status = finished["status"]?.stringValue ?? ""
                XCTAssertTrue(
                    status == "succeeded" || (status == "failed" && finished["reason"]?.stringValue?.isEmpty == false),
                    "\(kind) \(extra): \(finished)")
            }
            let ward = try await jobResult(client, "cluster.agglomerative", #"{"dataset": "\#(id)", "k": 1}"#)
            XCTAssertEqual(ward["cut_height"], .null)
            XCTAssertEqual(ward["cluster_sizes"], [40])
            XCTAssertEqual(ward["warnings"], [], "one cluster of identical samples is no degenerate answer")
            // Two clusters of identical samples are arbitrary, and the result says so.
            for kind in ["cluster.spectral", "cluster.agglomerative"] {
                let split = try await jobResult(client, kind, #"{"dataset": "\#(id)", "k": 2}"#)
                let warnings = split["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
                XCTAssertTrue(warnings.contains { $0.hasPrefix("the data holds only 1 distinct vector (after scaling) for 2 clusters") }, "\(split)")
            }
            _ = try await jobResult(client, "cluster.kmeans", #"{"dataset": "generated:blobs", "k": 3}"#)
        }
    }

    /// Vectors whose squared lengths leave float's range (k-means gave empty clusters on them, GMM a failed fit
    /// that blamed the covariances): the job fails naming `normalize`, and with `l2` it clusters them.
    func testVectorsBeyondFloatRangeAskForScaling() async throws {
        var rng = RandomStream(seed: 4)
        for scale: Float in [1e30, 1e-30] {
            var values: [Float] = [], labels: [Int] = []
            for i in 0..<60 {
                let centre: [Float] = i % 2 == 0 ? [1, 0, 0] : [0, 0, 1]
                values += centre.map { scale * ($0 + 0.05 * Float(Ziggurat.normal.normal(&rng))) }
                labels.append(i % 2)
            }
            let (vectors, classes) = (values, labels)
            try await withServer { client in
                let id = try await client.upload([("data", "x.npy", npy(vectors, shape: [60, 3])), ("labels", "y.npy", npyLabels(classes))])
                    .json["id"]!.stringValue!
                for kind in ["cluster.kmeans", "cluster.gmm"] {
                    let submitted = try await submitKind(client, kind, #"{"dataset": "\#(id)", "k": 2}"#)
                    let finished = try await client.waitUntilTerminal(try submitted.json["id"]!.stringValue!, timeout: 60)
                    XCTAssertEqual(finished["status"], "failed", "\(kind) at \(scale): \(finished)")
                    let reason = finished["reason"]?.stringValue ?? ""
                    XCTAssertTrue(reason.hasPrefix("params.normalize:") && reason.contains("l2"), reason)
                    let scaled = try await jobResult(client, kind, #"{"dataset": "\#(id)", "k": 2, "normalize": "l2"}"#)
                    XCTAssertEqual(scaled["scores"]?["ari"], 1, "\(kind) at \(scale): \(scaled)")
                    // predict applies the saved L2 map to the same extreme rows and scores them as the job did.
                    let (body, headers) = multipart([("data", "x.npy", npy(vectors, shape: [60, 3])), ("labels", "y.npy", npyLabels(classes))])
                    let job = scaled["job"]!.stringValue!
                    let predicted = try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
                    XCTAssertEqual(try predicted.json["scores"]?["ari"], 1, predicted.text)
                }
                // A model fitted on data in range refuses new rows whose distances would overflow, naming the data.
                let ordinary = (0..<60).map { Float($0 % 5) }
                let inRange = try await client.upload([("data", "x.npy", npy(ordinary, shape: [20, 3]))]).json["id"]!.stringValue!
                for kind in ["cluster.kmeans", "cluster.gmm"] {
                    let fitted = try await jobResult(client, kind, #"{"dataset": "\#(inRange)", "k": 2, "normalize": "none"}"#)
                    let (body, headers) = multipart([("data", "x.npy", npy(vectors, shape: [60, 3]))])
                    let refused = try await client.execute(
                        uri: "/v1/jobs/\(fitted["job"]!.stringValue!)/predict", method: .post, headers: headers, body: body)
                    try assertProblem(refused, .unprocessableContent, code: "invalid_dataset", field: "data")
                }
            }
        }
    }

    /// GMM's k "auto" leaves out a k whose components collapse (singular covariances with reg_covar 0) and says so;
    /// that k given alone fails naming k and the remedies.
    func testGMMLeavesOutCandidatesThatCannotBeFitted() async throws {
        // Two pairs of points, each pair apart along x only: two components have exactly zero variance along y.
        let pairs: [Float] = [0, 0, 1, 0, 10, 10, 11, 10]
        let points = Array((0..<3).map { _ in pairs }.joined())
        try await withServer { client in
            let id = try await client.upload([("data", "x.npy", npy(points, shape: [12, 2]))]).json["id"]!.stringValue!
            let auto = try await jobResult(
                client, "cluster.gmm", #"{"dataset": "\#(id)", "k": "auto", "k_max": 3, "covariance": "full", "reg_covar": 0}"#)
            XCTAssertEqual(auto["k"], 1, "\(auto)")
            XCTAssertEqual(auto["k_choice"]?["scores"]?["2"], .null, "\(auto)")
            XCTAssertNotNil(auto["k_choice"]?["scores"]?["1"]?.doubleValue, "\(auto)")
            let warnings = auto["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
            XCTAssertTrue(warnings.contains { $0.hasPrefix("k = 2, 3 could not be fitted") && $0.contains("reg_covar") }, "\(warnings)")
            let submitted = try await submitKind(client, "cluster.gmm", #"{"dataset": "\#(id)", "k": 2, "covariance": "full", "reg_covar": 0}"#)
            let finished = try await client.waitUntilTerminal(try submitted.json["id"]!.stringValue!, timeout: 60)
            XCTAssertEqual(finished["status"], "failed")
            let reason = finished["reason"]?.stringValue ?? ""
            XCTAssertTrue(reason.hasPrefix("params.k: k = 2:") && reason.contains("reg_covar") && reason.contains("diag"), reason)
        }
    }

    /// HDBSCAN's `normalize: auto` keeps embeddings as given (k-means' L2-normalises them): two groups along one
    /// direction at lengths 4 and 12 are two densities, and one once every row is put on the unit sphere.
    func testHDBSCANKeepsVectorLengthsByDefault() async throws {
        var rng = RandomStream(seed: 12)
        let d = 40
        let direction = (0..<d).map { _ in Float(Ziggurat.normal.normal(&rng)) }
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var values: [Float] = [], labels: [Int] = []
        for i in 0..<200 {
            let length: Float = i % 2 == 0 ? 4 : 12
            values += (0..<d).map { j in length * direction[j] / norm + 0.15 * Float(Ziggurat.normal.normal(&rng)) }
            labels.append(i % 2)
        }
        let (vectors, classes) = (values, labels)
        try await withServer { client in
            let id = try await client.upload([("data", "x.npy", npy(vectors, shape: [200, d])), ("labels", "y.npy", npyLabels(classes))]).json["id"]!
                .stringValue!
            let kept = try await jobResult(client, "cluster.hdbscan", #"{"dataset": "\#(id)", "min_cluster_size": 15}"#)
            XCTAssertEqual(kept["preprocessing"]?["normalize"], "none")
            XCTAssertEqual(kept["scores"]?["ari"], 1, "\(kept)")
            let projected = try await jobResult(client, "cluster.hdbscan", #"{"dataset": "\#(id)", "min_cluster_size": 15, "normalize": "l2"}"#)
            XCTAssertEqual(projected["preprocessing"]?["normalize"], "l2")
            XCTAssertLessThan(projected["scores"]?["ari"]?.doubleValue ?? 1, 0.5, "\(projected)")
        }
    }

    /// HDBSCAN labels scattered points −1 and says how many there are.
    func testHDBSCANLabelsNoise() async throws {
        var rng = RandomStream(seed: 9)
        var values: [Float] = []
        for i in 0..<200 {
            let centre: Float = i % 2 == 0 ? 0 : 8
            values += [centre + 0.3 * Float(Ziggurat.normal.normal(&rng)), centre + 0.3 * Float(Ziggurat.normal.normal(&rng))]
        }
        for _ in 0..<10 { values += [Float(rng.uniform() * 40 - 20), Float(rng.uniform() * 40 + 20)] }
        let points = values
        try await withServer { client in
            let id = try await client.upload([("data", "x.npy", npy(points, shape: [210, 2]))]).json["id"]!.stringValue!
            let result = try await jobResult(client, "cluster.hdbscan", #"{"dataset": "\#(id)", "min_cluster_size": 15}"#)
            XCTAssertEqual(result["k"], 2, "\(result)")
            XCTAssertEqual(result["noise"], 10, "\(result)")
            let csv = try await client.get("/v1/jobs/\(result["job"]!.stringValue!)/artifacts/assignments.csv").text
            let labels = csv.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[1])! }
            XCTAssertEqual(Array(labels.suffix(10)), [Int](repeating: -1, count: 10))
        }
    }

    /// k-means on embeddings: L2 normalisation by default (40-dimensional vectors), saved with the model and
    /// applied again by predict.
    func testKMeansOnEmbeddingsNormalizesAndPredictsTheSame() async throws {
        var rng = RandomStream(seed: 6)
        let d = 40
        let centres = (0..<(3 * d)).map { _ in Float(Ziggurat.normal.normal(&rng)) }
        var values: [Float] = []
        for i in 0..<90 {
            let scale = Float(1 + rng.uniform() * 9)
            values += (0..<d).map { j in scale * (centres[(i % 3) * d + j] + 0.3 * Float(Ziggurat.normal.normal(&rng))) }
        }
        let vectors = values
        try await withServer { client in
            let id = try await client.upload([("data", "x.npy", npy(vectors, shape: [90, d]))]).json["id"]!.stringValue!
            let result = try await jobResult(client, "cluster.kmeans", #"{"dataset": "\#(id)", "k": 3}"#)
            XCTAssertEqual(result["preprocessing"]?["normalize"], "l2")
            XCTAssertEqual(result["cluster_sizes"], [30, 30, 30], "lengths vary tenfold; only directions group the rows")
            let job = result["job"]!.stringValue!
            let description = try await client.get("/v1/jobs/\(job)/artifacts/model.json").json
            XCTAssertEqual(description["configuration"]?["normalize"], "l2")
            let (body, headers) = multipart([("data", "x.npy", npy(vectors, shape: [90, d]))])
            let predicted = try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
            let csv = try await client.get("/v1/jobs/\(job)/artifacts/assignments.csv").text
            let assigned = csv.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[1])! }
            XCTAssertEqual(try predicted.json["assignments"]?.arrayValue?.map { Int($0.integerValue!) }, assigned)
        }
    }

    /// SCAN and IIC on feature vectors take the same preprocessing (here L2 then PCA to 8 dimensions): the
    /// network sees 8 inputs, the model takes the original 40 and re-applies the saved map at predict.
    func testTrainingKindsPreprocessVectorsAndPredictTheSame() async throws {
        var rng = RandomStream(seed: 8)
        let d = 40
        let centres = (0..<(3 * d)).map { _ in Float(Ziggurat.normal.normal(&rng)) }
        var values: [Float] = []
        for i in 0..<150 {
            let scale = Float(1 + rng.uniform() * 4)
            values += (0..<d).map { j in scale * (centres[(i % 3) * d + j] + 0.2 * Float(Ziggurat.normal.normal(&rng))) }
        }
        let vectors = values
        try await withServer(workers: 1) { client in
            let id = try await client.upload([("data", "x.npy", npy(vectors, shape: [150, d]))]).json["id"]!.stringValue!
            for (kind, extra) in [
                ("cluster.scan", #""neighbours": 5, "scan_epochs": 5, "self_label_epochs": 1"#), ("cluster.iic", #""epochs": 3"#),
            ] {
                let result = try await jobResult(client, kind, #"{"dataset": "\#(id)", "k": 3, "pca_components": 8, "seed": 2, \#(extra)}"#)
                XCTAssertEqual(result["preprocessing"]?["normalize"], "l2", kind)
                XCTAssertEqual(result["preprocessing"]?["dimension"], 8, kind)
                if kind == "cluster.scan" { XCTAssertEqual(result["size_prior"]?["kind"], "estimated", "size_prior auto on vectors") }
                XCTAssertEqual(result["layout"]?["dimension"], 40, kind)
                let job = result["job"]!.stringValue!
                let description = try await client.get("/v1/jobs/\(job)/artifacts/model.json").json
                XCTAssertEqual(description["configuration"]?["normalize"], "l2", kind)
                XCTAssertEqual(description["input"]?["dimension"], 40, kind)
                let (body, headers) = multipart([("data", "x.npy", npy(vectors, shape: [150, d]))])
                let predicted = try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
                XCTAssertEqual(predicted.status, .ok, predicted.text)
                let csv = try await client.get("/v1/jobs/\(job)/artifacts/assignments.csv").text
                let assigned = csv.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[1])! }
                XCTAssertEqual(try predicted.json["assignments"]?.arrayValue?.map { Int($0.integerValue!) }, assigned, kind)
            }
        }
    }

    /// A GMM saves its preprocessing with the model: predict on the training embeddings gives the training
    /// assignments (L2 normalisation, chosen automatically for 40-dimensional vectors, is applied again).
    func testGMMPredictAppliesTheSavedPreprocessing() async throws {
        var rng = RandomStream(seed: 2)
        let d = 40
        let centres = (0..<(3 * d)).map { _ in Float(Ziggurat.normal.normal(&rng)) }
        var values: [Float] = [], labels: [Int] = []
        for i in 0..<150 {
            let scale = Float(1 + rng.uniform() * 4)  // lengths vary: only the direction carries the cluster
            values += (0..<d).map { j in scale * (centres[(i % 3) * d + j] + 0.2 * Float(Ziggurat.normal.normal(&rng))) }
            labels.append(i % 3)
        }
        let (vectors, classes) = (values, labels)
        try await withServer { client in
            let id = try await client.upload([("data", "x.npy", npy(vectors, shape: [150, d])), ("labels", "y.npy", npyLabels(classes))]).json["id"]!
                .stringValue!
            let result = try await jobResult(client, "cluster.gmm", #"{"dataset": "\#(id)", "k": 3, "pca_components": 5}"#)
            XCTAssertEqual(result["preprocessing"]?["normalize"], "l2")
            XCTAssertEqual(result["preprocessing"]?["dimension"], 5)
            XCTAssertEqual(result["scores"]?["ari"], 1, "\(result)")
            let job = result["job"]!.stringValue!
            let (body, headers) = multipart([("data", "x.npy", npy(vectors, shape: [150, d]))])
            let predicted = try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
            XCTAssertEqual(predicted.status, .ok, predicted.text)
            let csv = try await client.get("/v1/jobs/\(job)/artifacts/assignments.csv").text
            let assigned = csv.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[1])! }
            XCTAssertEqual(try predicted.json["assignments"]?.arrayValue?.map { Int($0.integerValue!) }, assigned)
        }
    }

    /// Images with image_normalization "per_channel": the training data's channel mean and standard deviation
    /// go into model.json and predict applies them unchanged (the same images get the training answers).
    func testPerChannelImageNormalizationIsSavedAndApplied() async throws {
        let shapes = GeneratedDatasets.make("shapes", count: 120, seed: 4)!
        let images = shapes.values.map { UInt8(($0 * 200).rounded()) }
        try await withServer(workers: 1) { client in
            let data = NumericArray.npyFile(shape: [120, 8, 8], descr: "|u1", payload: Data(images))
            let id = try await client.upload([("data", "x.npy", data)]).json["id"]!.stringValue!
            for kind in ["cluster.iic", "cluster.scan"] {
                let params =
                    kind == "cluster.iic"
                    ? #"{"dataset": "\#(id)", "k": 4, "epochs": 2, "image_normalization": "per_channel", "seed": 1}"#
                    : #"{"dataset": "\#(id)", "k": 4, "pretext_epochs": 1, "scan_epochs": 1, "self_label_epochs": 0, "image_normalization": "per_channel", "seed": 1}"#
                let result = try await jobResult(client, kind, params)
                if kind == "cluster.scan" { XCTAssertEqual(result["size_prior"]?["kind"], "uniform", "size_prior auto on images") }
                let job = result["job"]!.stringValue!
                let description = try await client.get("/v1/jobs/\(job)/artifacts/model.json").json
                let scaled = images.map { Double($0) / Double(images.max()!) }
                let mean = scaled.reduce(0, +) / Double(scaled.count)
                let std = (scaled.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(scaled.count)).squareRoot()
                XCTAssertEqual(description["normalization"]?["mean"]?.arrayValue?.count, 1, kind)
                XCTAssertEqual(description["normalization"]?["mean"]?.arrayValue?.first?.doubleValue ?? 0, mean, accuracy: 1e-5, kind)
                XCTAssertEqual(description["normalization"]?["std"]?.arrayValue?.first?.doubleValue ?? 0, std, accuracy: 1e-5, kind)
                let (body, headers) = multipart([("data", "p.npy", data)])
                let predicted = try await client.execute(uri: "/v1/jobs/\(job)/predict", method: .post, headers: headers, body: body)
                XCTAssertEqual(predicted.status, .ok, predicted.text)
                let csv = try await client.get("/v1/jobs/\(job)/artifacts/assignments.csv").text
                let assigned = csv.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[1])! }
                XCTAssertEqual(try predicted.json["assignments"]?.arrayValue?.map { Int($0.integerValue!) }, assigned, kind)
            }
            // Feature vectors have no channels: given explicitly, it is refused.
            try assertProblem(
                try await submitKind(client, "cluster.iic", #"{"dataset": "generated:blobs", "image_normalization": "per_channel"}"#),
                .unprocessableContent, code: "invalid_value", field: "params.image_normalization")
        }
    }

    func testBadInputsAreRefusedAtSubmissionWithTheField() async throws {
        try await withServer { client in
            let small = #""dataset": "generated:blobs", "generated_samples": 20"#
            for (kind, params, code, field) in [
                ("cluster.spectral", "{\(small), \"k\": 50}", "out_of_range", "params.k"),
                ("cluster.gmm", "{\(small), \"k\": 21}", "out_of_range", "params.k"),
                ("cluster.agglomerative", "{\(small), \"k\": 30}", "out_of_range", "params.k"),
                ("cluster.spectral", "{\(small), \"neighbours\": 20}", "out_of_range", "params.neighbours"),
                ("cluster.hdbscan", "{\(small), \"min_cluster_size\": 1}", "out_of_range", "params.min_cluster_size"),
                ("cluster.hdbscan", "{\(small), \"min_cluster_size\": 25}", "out_of_range", "params.min_cluster_size"),
                ("cluster.gmm", #"{"dataset": "generated:shapes"}"#, "invalid_value", "params.dataset"),
                ("cluster.spectral", #"{"dataset": "generated:shapes"}"#, "invalid_value", "params.dataset"),
                ("cluster.gmm", "{\(small), \"k\": \"many\"}", "invalid_type", "params.k"),
                ("cluster.gmm", "{\(small), \"covariance\": \"tied\"}", "invalid_value", "params.covariance"),
                ("cluster.spectral", "{\(small), \"normalize\": \"max\"}", "invalid_value", "params.normalize"),
                ("cluster.spectral", "{\(small), \"assign_labels\": \"discretize\"}", "invalid_value", "params.assign_labels"),
                ("cluster.kmeans", #"{"dataset": "generated:shapes", "normalize": "l2"}"#, "invalid_value", "params.normalize"),
                ("cluster.kmeans", "{\(small), \"k\": 21}", "out_of_range", "params.k"),
                // Exact Ward's N(N − 1)/2 distances are bounded: 20,001 samples are refused, not run out of memory.
                (
                    "cluster.agglomerative", #"{"dataset": "generated:blobs", "generated_samples": 20001, "connectivity": "none"}"#, "out_of_range",
                    "params.connectivity"
                ),
                ("cluster.agglomerative", "{\(small), \"connectivity\": \"full\"}", "invalid_value", "params.connectivity"),
            ] {
                try assertProblem(try await submitKind(client, kind, params), .unprocessableContent, code: code, field: field)
            }
            // The eigensolver's memory is bounded: 100 clusters of 250,000 samples would need 3.4 GiB of eigenvectors.
            let many = try await client.upload([("data", "x.npy", npy([Float](repeating: 1, count: 250_000), shape: [250_000, 1]))]).json["id"]!
                .stringValue!
            try assertProblem(
                try await submitKind(client, "cluster.spectral", #"{"dataset": "\#(many)", "k": 100}"#), .unprocessableContent, code: "out_of_range",
                field: "params.k")
            // So is HDBSCAN's kNN graph: 250,000 samples × 499 neighbours is beyond 25,000,000 entries.
            try assertProblem(
                try await submitKind(client, "cluster.hdbscan", #"{"dataset": "\#(many)", "min_samples": 500}"#), .unprocessableContent,
                code: "out_of_range", field: "params.min_samples")
            try assertProblem(
                try await submitKind(client, "cluster.hdbscan", #"{"dataset": "\#(many)", "min_cluster_size": 500}"#), .unprocessableContent,
                code: "out_of_range", field: "params.min_cluster_size")
            // PCA keeps fewer components than the vectors have dimensions: refused before the run, for every kind with the option.
            let threeDimensional = try await client.upload([("data", "x.npy", npy((0..<60).map { Float($0 % 7) }, shape: [20, 3]))]).json["id"]!
                .stringValue!
            for (kind, extra) in [
                ("cluster.kmeans", #""k": 2"#), ("cluster.spectral", #""k": 2, "neighbours": 5"#), ("cluster.gmm", #""k": 2"#),
                ("cluster.hdbscan", #""min_cluster_size": 5"#), ("cluster.scan", #""k": 2, "neighbours": 5"#),
            ] {
                try assertProblem(
                    try await submitKind(client, kind, #"{"dataset": "\#(threeDimensional)", \#(extra), "pca_components": 3}"#),
                    .unprocessableContent, code: "out_of_range", field: "params.pca_components")
            }
            // "auto" is the published default; the schema says integer or "auto".
            let kinds = try await client.get("/v1/kinds").json["kinds"]?.arrayValue ?? []
            let spectral = kinds.first { $0["name"] == "cluster.spectral" }
            XCTAssertEqual(spectral?["defaults"]?["k"], "auto")
            XCTAssertNotNil(spectral?["parameters"]?["properties"]?["k"]?["oneOf"])
        }
    }
}
