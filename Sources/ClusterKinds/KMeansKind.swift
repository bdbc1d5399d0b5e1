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
        @Param(.integerOrAuto(minimum: 1, maximum: 1000), "Number of clusters, or \"auto\": the k in 2…k_max with the highest silhouette.")
        var k = ClusterCount.fixed(10)
        @Param(.integer(minimum: 2, maximum: 50), "The largest k \"auto\" considers (each candidate is a full fit).") var kMax = 10
        @Param(.integer(minimum: 1, maximum: 100), "Runs from different k-means++ seedings; the lowest inertia wins.") var nInit = 10
        @Param(.integer(minimum: 1, maximum: 10_000), "Most Lloyd iterations per run.") var maxIter = 300
        @Param(.number(minimum: 0), "A run stops when the centres' squared shift is below tol × the mean feature variance.") var tol = 1e-4
        @Param(ClassicalInputs.normalize) var normalize = "auto"
        @Param(ClassicalInputs.pcaComponents) var pcaComponents = 0
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
                step: "k-means++ run (1…n_init)"),
            MetricDeclaration("silhouette", "Mean silhouette of the best run for a candidate k (k \"auto\").", step: "candidate k"),
        ]
            + ClusterInputs.scoreMetrics(step: "n_init (the final assignment)")
    }

    public func references(_ params: JSONValue) -> [ResourceReference] { ClusterInputs.datasetReference(params) }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(normalized, given: given, library: library, notForImages: ["normalize", "pca_components"])
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClusterInputs.checkDataset(params, library: library)
        if let k = params["k"]?.integerValue, let dataset = params["dataset"]?.stringValue,
            let outline = try? library.outline(dataset, generatedSamples: Int(params["generated_samples"]?.integerValue ?? 600)), k > outline.samples
        {
            throw ParameterError(
                .outOfRange, field: "params.k", reason: "\(k) clusters need at least \(k) samples; the dataset has \(outline.samples)")
        }
    }

    /// Resumable progress: the runs of a fixed k, or the candidates of "auto" done so far.
    struct State: Codable {
        var nextRun: Int
        var best: KMeans.Result
        var nextCandidate: Int?
        var silhouettes: [Int: Double]?
        var bestK: Int?
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, dataset) = try ClusterInputs.start(self, context, library: library)
        let start = Date()
        // Feature vectors get the classical kinds' preprocessing; images are clustered as flattened pixels.
        let prepared =
            dataset.layout.isImages ? nil : try ClassicalInputs.prepare(dataset, normalize: params.normalize, pcaComponents: params.pcaComponents)
        let (values, d) = prepared.map { ($0.values, $0.dimension) } ?? dataset.flattened
        let n = dataset.count
        let state = try context.latestCheckpoint().map { try CheckpointJSON.decode(State.self, from: $0.data) }
        let k: Int
        let result: KMeans.Result
        var choice: JSONValue = .null
        if let fixed = params.k.fixed {
            guard n >= fixed else { throw JobFailure("params.k: \(fixed) clusters need at least \(fixed) samples; the dataset has \(n)") }
            k = fixed
            let kmeans = KMeans(k: k, runs: params.nInit, maxIterations: params.maxIter, tolerance: params.tol, seed: UInt64(params.seed))
            result = try kmeans.fit(values, count: n, dimension: d, resuming: state?.best, firstRun: state?.nextRun ?? 0) { run, best in
                try context.checkCancellation()
                context.metric("best_inertia", step: Int64(run + 1), value: best.inertia)
                context.progress(Double(run + 1) / Double(kmeans.runs), phase: "clustering", message: "run \(run + 1) of \(kmeans.runs)")
                // By time, not after every run: a run on embeddings takes milliseconds, and writing the best result after
                // each cost a fifth of the job (MNIST-LT10, 4,000 × 128: 25 ms of 130).
                try context.checkpointIfDue(step: Int64(run + 1)) { try CheckpointJSON.encode(State(nextRun: run + 1, best: best)) }
            }
        } else {
            // "auto": every k in 2…k_max, the highest mean silhouette (on at most 2,000 samples) wins.
            let candidates = Array(2...max(2, min(params.kMax, n - 1)))
            guard n >= 3 else { throw JobFailure("params.k: \"auto\" needs at least 3 samples; the dataset has \(n)") }
            var silhouettes = state?.silhouettes ?? [:]
            var best = state?.best
            var bestK = state?.bestK
            for (index, candidate) in candidates.enumerated() where index >= (state?.nextCandidate ?? 0) {
                try context.checkCancellation()
                context.progress(
                    Double(index) / Double(candidates.count), phase: "choosing k", message: "k = \(candidate) (\(index + 1) of \(candidates.count))")
                let fit = try KMeans(
                    k: candidate, runs: params.nInit, maxIterations: params.maxIter, tolerance: params.tol, seed: UInt64(params.seed)
                )
                .fit(values, count: n, dimension: d) { _, _ in try context.checkCancellation() }
                let score = ClusteringMetrics.silhouette(
                    values, count: n, dimension: d, clusters: fit.assignments, k: candidate, seed: UInt64(params.seed))
                silhouettes[candidate] = score
                context.metric("silhouette", step: Int64(candidate), value: score)
                if bestK == nil || score > silhouettes[bestK!]! {
                    best = fit
                    bestK = candidate
                }
                let state = State(nextRun: 0, best: best!, nextCandidate: index + 1, silhouettes: silhouettes, bestK: bestK)
                try context.checkpointIfDue(step: Int64(index + 1)) { try CheckpointJSON.encode(state) }
            }
            k = bestK!
            result = best!
            choice = [
                "criterion": "silhouette", "k": .integer(Int64(k)),
                "scores": .object(Dictionary(uniqueKeysWithValues: silhouettes.map { (String($0.key), JSONValue.number($0.value)) })),
            ]
        }
        let seconds = Date().timeIntervalSince(start)
        let scores = dataset.labels.map { ClusteringMetrics.scores(result.assignments, $0) }
        ClusterInputs.recordScores(scores, step: Int64(params.nInit), context: context)
        try ClusterInputs.writeAssignments(result.assignments, probabilities: nil, classes: k, context: context)
        try context.artifact(
            "centroids.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(shape: [k, d], descr: "<f4", payload: result.centroids.withUnsafeBufferPointer { Data(buffer: $0) }))
        try TrainedModels.save(
            KMeansModel(layout: dataset.layout, clusters: k, centroids: result.centroids, preprocessing: prepared?.map),
            architecture: ["parameters": .integer(Int64(result.centroids.count)), "macs_per_sample": .integer(Int64(result.centroids.count))],
            datasetSHA256: ClusterInputs.datasetSHA256(params.dataset, library: library), pixelScale: dataset.pixelScale, context: context)
        let sizes = ClusteringMetrics.sizes(result.assignments, k: k)
        return [
            "k": .integer(Int64(k)), "samples": .integer(Int64(n)), "layout": ClusterInputs.layoutJSON(dataset.layout),
            "inertia": .number(result.inertia), "iterations": .integer(Int64(result.iterations)), "best_run": .integer(Int64(result.bestRun)),
            "cluster_sizes": ClusterInputs.integers(sizes), "k_choice": choice, "preprocessing": prepared?.description ?? .null,
            "warnings": .array(ClusterInputs.resultWarnings(sizes: sizes).map(JSONValue.string)),
            "scores": ClusterInputs.scoresJSON(scores), "seconds": .number(seconds),
        ]
    }
}
