import Clustering
import Foundation
import Jobs

/// `cluster.hdbscan`: density-based clusters, no k; noise labelled −1.
public struct HDBSCANKind: TypedJobKind {
    let library: DatasetLibrary
    public init(library: DatasetLibrary) { self.library = library }
    public let name = "cluster.hdbscan"
    public let summary =
        "HDBSCAN: clusters of varying density without k (excess-of-mass selection); noise labelled −1, membership strengths in "
        + "membership.npy. Exact up to 8,192 samples, kNN-graph spanning tree beyond."

    public struct Parameters: ClusterParameters {
        @Param(ClusterInputs.dataset) var dataset = ""
        @Param(.integer(minimum: 2, maximum: 100_000), "The smallest group that counts as a cluster.") var minClusterSize = 5
        @Param(.integer(minimum: 1, maximum: 1000), "Neighbours (the point itself counted) for a point's core distance; null: min_cluster_size.")
        var minSamples: Int? = nil
        @Param(ClassicalInputs.densityNormalize) var normalize = "auto"
        @Param(ClassicalInputs.pcaComponents) var pcaComponents = 0
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    public var example: JSONValue { ["dataset": "generated:moons", "min_cluster_size": 15, "seed": 1] }
    public var metrics: [MetricDeclaration] { ClusterInputs.scoreMetrics(step: "1 (the final assignment; noise counts as one more label)") }
    public func references(_ params: JSONValue) -> [ResourceReference] { ClusterInputs.datasetReference(params) }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(normalized, given: given, library: library)
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClassicalInputs.validate(
            params, library: library, k: params["min_cluster_size"]?.integerValue.map(Int.init), kField: "params.min_cluster_size")
        if let samples = params["min_samples"]?.integerValue {
            try ClassicalInputs.validate(params, library: library, k: Int(samples), kField: "params.min_samples")
        }
        let minSamplesField = params["min_samples"]?.integerValue == nil ? "params.min_cluster_size" : "params.min_samples"
        if let dataset = params["dataset"]?.stringValue,
            let outline = try? library.outline(dataset, generatedSamples: Int(params["generated_samples"]?.integerValue ?? 600)),
            let minSamples = (params["min_samples"]?.integerValue ?? params["min_cluster_size"]?.integerValue).map(Int.init),
            let reason = Self.graphTooLarge(samples: outline.samples, minSamples: minSamples)
        {
            throw ParameterError(.outOfRange, field: minSamplesField, reason: reason)
        }
    }

    /// Why the kNN graph for these sizes would exceed `HDBSCAN.maxGraphEntries`, or nil.
    static func graphTooLarge(samples n: Int, minSamples: Int) -> String? {
        guard n >= 2 else { return nil }
        let neighbours = HDBSCAN.graphNeighbours(samples: n, minSamples: minSamples)
        guard n * neighbours > HDBSCAN.maxGraphEntries else { return nil }
        return "min_samples \(minSamples) on \(n) samples needs \(neighbours) neighbours each, beyond the limit of \(HDBSCAN.maxGraphEntries) "
            + "graph entries (samples × neighbours); lower min_samples (it defaults to min_cluster_size)"
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, dataset) = try ClusterInputs.start(self, context, library: library)
        let start = Date()
        let prepared = try ClassicalInputs.prepare(dataset, normalize: params.normalize, pcaComponents: params.pcaComponents, automatic: .none)
        let n = dataset.count
        let minSamples = params.minSamples ?? params.minClusterSize
        guard params.minClusterSize <= n, minSamples <= n, n >= 2 else {
            throw JobFailure("params.min_cluster_size: clusters of \(params.minClusterSize) need more samples; the dataset has \(n)")
        }
        if let reason = Self.graphTooLarge(samples: n, minSamples: minSamples) {
            throw JobFailure("\(params.minSamples == nil ? "params.min_cluster_size" : "params.min_samples"): \(reason)")
        }
        context.progress(0.1, phase: "tree", message: "mutual-reachability spanning tree of \(n) samples")
        let fit = try HDBSCAN(minClusterSize: params.minClusterSize, minSamples: minSamples).fit(
            prepared.values, count: n, dimension: prepared.dimension
        ) {
            try context.checkCancellation()
        }
        let k = fit.clusterCount
        let seconds = Date().timeIntervalSince(start)
        try ClusterInputs.writeAssignments(fit.labels, probabilities: nil, classes: max(k, 1), context: context)
        let strengths = fit.probabilities.map(Float.init)
        try context.artifact(
            "membership.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(shape: [n], descr: "<f4", payload: strengths.withUnsafeBufferPointer { Data(buffer: $0) }))
        let noise = fit.labels.filter { $0 < 0 }.count
        var warnings: [String] = []
        if k == 0 { warnings.append("no cluster was found: every sample is noise; lower min_cluster_size or min_samples") }
        if noise * 2 > n { warnings.append("\(noise) of \(n) samples (\(noise * 100 / n) %) are noise; lower min_samples to label more of them") }
        var result = ClassicalInputs.resultFields(
            fit.labels, k: k, dataset: dataset, prepared: prepared, seconds: seconds, context: context, extraWarnings: warnings)
        result["noise"] = .integer(Int64(noise))
        result["persistence"] = ClassicalInputs.numbers(fit.persistence)
        result["min_samples"] = .integer(Int64(minSamples))
        result["exact_tree"] = .bool(fit.exactTree)
        return .object(result)
    }
}
