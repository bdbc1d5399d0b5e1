import Clustering
import Foundation
import Jobs

/// `cluster.kmeans`: k-means++ seeding, several runs keeping the lowest inertia, Lloyd iterations.
public struct KMeansKind: TypedJobKind {
    let library: DatasetLibrary
    public init(library: DatasetLibrary) { self.library = library }
    public let name = "cluster.kmeans"
    public let summary =
        "k-means (k-means++ seeding, n_init runs, Lloyd iterations) on feature vectors or flattened images; ACC/NMI/ARI when labels exist."

    public struct Parameters: ClusterParameters {
        @Param(ClusterInputs.dataset) var dataset = ""
        @Param(.integer(minimum: 1, maximum: 1000), "Number of clusters.") var k = 10
        @Param(.integer(minimum: 1, maximum: 100), "Runs from different k-means++ seedings; the lowest inertia wins.") var nInit = 10
        @Param(.integer(minimum: 1, maximum: 10_000), "Most Lloyd iterations per run.") var maxIter = 300
        @Param(.number(minimum: 0), "A run stops when the centres' squared shift is below tol × the mean feature variance.") var tol = 1e-4
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    public var example: JSONValue { ["dataset": "generated:blobs", "k": 3, "generated_samples": 600, "seed": 1] }

    public var metrics: [MetricDeclaration] {
        [
            MetricDeclaration(
                "best_inertia", "Lowest inertia (sum of squared distances to the centres) of the runs so far.", unit: "squared distance",
                step: "k-means++ run (1…n_init)")
        ]
            + ClusterInputs.scoreMetrics(step: "n_init (the final assignment)")
    }

    public func references(_ params: JSONValue) -> [ResourceReference] { ClusterInputs.datasetReference(params) }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(normalized, given: given, library: library)
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClusterInputs.checkDataset(params, library: library)
    }

    struct State: Codable {
        var nextRun: Int
        var best: KMeans.Result
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, dataset) = try ClusterInputs.start(self, context, library: library)
        let k = params.k
        guard dataset.count >= k else { throw JobFailure("params.k: \(k) clusters need at least \(k) samples; the dataset has \(dataset.count)") }
        let kmeans = KMeans(k: k, runs: params.nInit, maxIterations: params.maxIter, tolerance: params.tol, seed: UInt64(params.seed))
        var state: State?
        if let checkpoint = try context.latestCheckpoint() { state = try CheckpointJSON.decode(State.self, from: checkpoint.data) }
        let (values, d) = dataset.flattened
        let start = Date()
        let result = try kmeans.fit(values, count: dataset.count, dimension: d, resuming: state?.best, firstRun: state?.nextRun ?? 0) { run, best in
            try context.checkCancellation()
            context.metric("best_inertia", step: Int64(run + 1), value: best.inertia)
            context.progress(Double(run + 1) / Double(kmeans.runs), phase: "clustering", message: "run \(run + 1) of \(kmeans.runs)")
            try context.checkpoint(step: Int64(run + 1), data: CheckpointJSON.encode(State(nextRun: run + 1, best: best)))
        }
        let scores = dataset.labels.map { ClusteringMetrics.scores(result.assignments, $0) }
        ClusterInputs.recordScores(scores, step: Int64(kmeans.runs), context: context)
        try ClusterInputs.writeAssignments(result.assignments, probabilities: nil, classes: k, context: context)
        try context.artifact(
            "centroids.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(shape: [k, d], descr: "<f4", payload: result.centroids.withUnsafeBufferPointer { Data(buffer: $0) }))
        try TrainedModels.save(
            KMeansModel(layout: dataset.layout, clusters: k, centroids: result.centroids),
            architecture: ["parameters": .integer(Int64(result.centroids.count)), "macs_per_sample": .integer(Int64(result.centroids.count))],
            datasetSHA256: ClusterInputs.datasetSHA256(params.dataset, library: library), pixelScale: dataset.pixelScale, context: context)
        return [
            "k": .integer(Int64(k)), "samples": .integer(Int64(dataset.count)), "layout": ClusterInputs.layoutJSON(dataset.layout),
            "inertia": .number(result.inertia), "iterations": .integer(Int64(result.iterations)), "best_run": .integer(Int64(result.bestRun)),
            "cluster_sizes": ClusterInputs.integers(ClusteringMetrics.sizes(result.assignments, k: k)),
            "warnings": .array(ClusterInputs.resultWarnings(sizes: ClusteringMetrics.sizes(result.assignments, k: k)).map(JSONValue.string)),
            "scores": ClusterInputs.scoresJSON(scores), "seconds": .number(Date().timeIntervalSince(start)),
        ]
    }
}
