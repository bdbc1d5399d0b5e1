import Clustering
import Foundation
import Jobs

/// Parameters and outputs every clustering kind shares: the dataset reference, generated-data
/// options, the seed, and the assignment artifacts.
/// The parameters every clustering kind has (declared in each kind's `Parameters` with the shared
/// declarations below).
protocol ClusterParameters: KindParameters {
    var dataset: String { get }
    var generatedSamples: Int { get }
    var generatedClasses: Int { get }
    var seed: Int64 { get }
}

enum ClusterInputs {
    /// Hungarian-matched accuracy, NMI and ARI against the dataset's labels, when it has labels.
    static func scoreMetrics(step: String, phase: String? = nil) -> [MetricDeclaration] {
        [
            MetricDeclaration("acc", "Accuracy under the best one-to-one matching of clusters to labels (Hungarian).", step: step, phase: phase),
            MetricDeclaration("nmi", "Normalized mutual information between clusters and labels (arithmetic mean).", step: step, phase: phase),
            MetricDeclaration("ari", "Adjusted Rand index between clusters and labels.", step: step, phase: phase),
        ]
    }

    static let dataset = Parameter(
        "dataset", .string(maxLength: 100),
        "An uploaded dataset's id (POST /v1/datasets), or generated:NAME for a generated one (\(GeneratedDatasets.names.map { "generated:\($0)" }.joined(separator: ", "))).",
        required: true)
    static let generatedSamples = Parameter(
        "generated_samples", .integer(minimum: 10, maximum: 100_000),
        "Samples of a generated dataset.", default: 600)
    static let generatedClasses = Parameter(
        "generated_classes", .integer(minimum: 2, maximum: 20),
        "Clusters of generated:blobs (moons and rings have 2, shapes 4).", default: 3)
    static let seed = Parameter("seed", .integer(minimum: 0), "Seed: the same seed and parameters give the same result.", default: 0)

    /// The uploaded dataset a job reads (none for generated data), for the store to check at submission.
    static func datasetReference(_ params: JSONValue) -> [ResourceReference] {
        guard let id = params["dataset"]?.stringValue, !id.hasPrefix("generated:") else { return [] }
        return [
            ResourceReference(
                table: datasetTable, id: id, field: "params.dataset",
                missing: "dataset", hint: "it may have been deleted; upload one with POST /v1/datasets")
        ]
    }

    /// The echo of a clustering job's parameters: without those that do not apply — the generated-data
    /// settings for an uploaded dataset, and `notForVectors` (a pretext's settings) for feature vectors —
    /// and a 422 when one of them was given explicitly.
    static func echo(
        _ normalized: JSONValue, given: JSONValue?, library: DatasetLibrary, notForVectors: [String] = [], notForImages: [String] = []
    ) throws(ParameterError) -> JSONValue {
        guard case .object(var members) = normalized, let dataset = members["dataset"]?.stringValue else { return normalized }
        var irrelevant: [(String, String)] = []
        if !dataset.hasPrefix("generated:") {
            irrelevant += ["generated_samples", "generated_classes"].map {
                ($0, "applies to generated datasets only; \(dataset.prefix(100)) is uploaded")
            }
        }
        let samples = members["generated_samples"]?.integerValue.map(Int.init) ?? 600
        if !notForVectors.isEmpty || !notForImages.isEmpty, let outline = try? library.outline(dataset, generatedSamples: samples) {
            if outline.isImages {
                irrelevant += notForImages.map { ($0, "applies to feature vectors only; images are clustered as their pixels") }
            } else {
                irrelevant += notForVectors.map { ($0, "applies to images only; this dataset holds feature vectors") }
            }
        }
        for (name, reason) in irrelevant {
            if let value = given?[name], value != .null { throw ParameterError(.invalidValue, field: "params.\(name)", reason: reason) }
            members[name] = nil
        }
        return .object(members)
    }

    static func checkDataset(_ params: JSONValue, library: DatasetLibrary) throws(ParameterError) {
        guard let reference = params["dataset"]?.stringValue else {
            throw ParameterError(.missingParameter, field: "params.dataset", reason: "is required")
        }
        let exists: Bool
        do { exists = try library.exists(reference) } catch {
            throw ParameterError(.invalidValue, field: "params.dataset", reason: "could not be looked up: \(error)")
        }
        guard exists else {
            throw ParameterError(
                .invalidValue, field: "params.dataset",
                reason: reference.hasPrefix("generated:")
                    ? "no generated dataset '\(reference.dropFirst(10))'; there are \(GeneratedDatasets.names.joined(separator: ", "))"
                    : "no dataset with id '\(reference)'; upload one with POST /v1/datasets")
        }
        // PCA cannot keep as many components as the vectors have dimensions (a run would fail on it).
        if let components = params["pca_components"]?.integerValue, components > 0,
            let dimension = (try? library.outline(reference, generatedSamples: 0))?.dimension, components >= dimension
        {
            throw ParameterError(
                .outOfRange, field: "params.pca_components",
                reason: "\(components) components need more than \(components) dimensions; the dataset's vectors have \(dimension)")
        }
    }

    /// A clustering run's first steps: its typed parameters and its dataset, loaded in the "loading" phase.
    static func start<Kind: TypedJobKind>(_ kind: Kind, _ context: JobContext, library: DatasetLibrary) throws -> (Kind.Parameters, Dataset)
    where Kind.Parameters: ClusterParameters {
        let params = try kind.typedParameters(context.params)
        context.progress(0, phase: "loading")
        return (params, try load(params, library: library))
    }

    static func load(_ params: some ClusterParameters, library: DatasetLibrary) throws -> Dataset {
        do {
            return try library.load(
                params.dataset, generatedSamples: params.generatedSamples, generatedClasses: params.generatedClasses,
                seed: UInt64(params.seed))
        } catch let error as DatasetError {
            throw JobFailure("\(error.field): \(error.reason)")
        }
    }

    /// The SHA-256 of an uploaded dataset's file as uploaded (nil for generated data), for model.json.
    static func datasetSHA256(_ reference: String, library: DatasetLibrary) -> String? {
        guard !reference.hasPrefix("generated:") else { return nil }
        return (try? library.store.dataset(id: reference))??.meta["sha256"]?.stringValue
    }

    /// history.json: one row per step, its fields named as the kind's metrics (`loss_main`, `acc`, …), so
    /// `pandas.DataFrame(json.load(f))` lines up with `GET /metrics?format=csv`.
    static func writeHistory(_ rows: [[String: JSONValue]], context: JobContext) throws {
        let text = JSONValue.array(rows.map(JSONValue.object)).canonicalText()
        try context.artifact("history.json", mediaType: "application/json", data: Data(text.utf8))
    }

    /// Runs `train`; when it stops early — cancelled, or failed — after at least one checkpoint, first
    /// writes what that checkpoint had learnt (`restore` it, then `save` the assignments and model), so a
    /// stopped job keeps usable artifacts. Shutdown and a lost lease are not stops: the job resumes.
    static func keepingLastCheckpoint(
        _ context: JobContext, restore: (Data) throws -> Void, save: () throws -> Void,
        _ train: () throws -> Void
    ) throws {
        do {
            try train()
        } catch {
            if let stop = error as? JobRunError, stop != .cancelled { throw error }
            if let checkpoint = try? context.latestCheckpoint() {
                do {
                    try restore(checkpoint.data)
                    try save()
                } catch let failed {
                    context.logger.warning("could not keep the last checkpoint's artifacts", metadata: ["error": "\(failed)"])
                }
            }
            throw error
        }
    }

    /// Warnings for a degenerate result a user must not take at face value: clusters left empty.
    static func resultWarnings(sizes: [Int]) -> [String] {
        let empty = sizes.filter { $0 == 0 }.count
        guard empty > 0 else { return [] }
        return [
            "\(empty) of \(sizes.count) clusters are empty: the data may hold fewer groups than k, or training collapsed them; "
                + "try a smaller k (or, for SCAN, check entropy_weight)"
        ]
    }

    /// Records `acc`, `nmi` and `ari` at `step` when the dataset has labels (the kind declares them with `scoreMetrics`).
    static func recordScores(_ scores: ClusteringScores?, step: Int64, context: JobContext) {
        for (name, value) in scoreFields(scores) { context.metric(name, step: step, value: value.doubleValue ?? .nan) }
    }

    static func scoreFields(_ scores: ClusteringScores?) -> [String: JSONValue] {
        guard let scores else { return [:] }
        return ["acc": .number(scores.accuracy), "nmi": .number(scores.nmi), "ari": .number(scores.ari)]
    }

    /// assignments.npy (int64), assignments.csv (index, cluster, confidence) and probabilities.npy when given.
    static func writeAssignments(_ clusters: [Int], probabilities: [Float]?, classes: Int, context: JobContext) throws {
        let payload = clusters.map { Int64($0).littleEndian }.withUnsafeBufferPointer { Data(buffer: $0) }
        try context.artifact(
            "assignments.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(shape: [clusters.count], descr: "<i8", payload: payload))
        var csv = probabilities == nil ? "index,cluster\n" : "index,cluster,confidence\n"
        for (index, cluster) in clusters.enumerated() {
            if let probabilities {
                csv += "\(index),\(cluster),\(probabilities[index * classes + cluster])\n"
            } else {
                csv += "\(index),\(cluster)\n"
            }
        }
        try context.artifact("assignments.csv", mediaType: "text/csv", data: Data(csv.utf8))
        if let probabilities {
            try context.artifact(
                "probabilities.npy", mediaType: "application/octet-stream",
                data: NumericArray.npyFile(
                    shape: [clusters.count, classes], descr: "<f4",
                    payload: probabilities.withUnsafeBufferPointer { Data(buffer: $0) }))
        }
    }

    static func scoresJSON(_ scores: ClusteringScores?) -> JSONValue {
        scores == nil ? .null : .object(scoreFields(scores))
    }

    static func layoutJSON(_ layout: Dataset.Layout) -> JSONValue {
        switch layout {
        case .images(let c, let h, let w):
            ["kind": "images", "channels": .integer(Int64(c)), "height": .integer(Int64(h)), "width": .integer(Int64(w))]
        case .features(let d): ["kind": "features", "dimension": .integer(Int64(d))]
        }
    }

    static func integers(_ values: [Int]) -> JSONValue { .array(values.map { .integer(Int64($0)) }) }
}
