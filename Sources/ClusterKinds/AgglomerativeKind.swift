import Clustering
import Foundation
import Jobs

/// `cluster.agglomerative`: Ward linkage, exact (scipy's) up to `WardClustering.exactAutoLimit` samples and under kNN
/// connectivity beyond; the dendrogram as an artifact.
public struct AgglomerativeKind: TypedJobKind {
    let library: DatasetLibrary
    public init(library: DatasetLibrary) { self.library = library }
    public let name = "cluster.agglomerative"
    public let summary =
        "Agglomerative clustering with Ward linkage: exact (scipy's and scikit-learn's hierarchy) up to 12,000 samples, merges restricted "
        + "to a kNN connectivity graph beyond (memory O(N·K), not O(N²)); the full dendrogram as linkage.npy in scipy's format."

    public struct Parameters: ClusterParameters {
        @Param(ClusterInputs.dataset) var dataset = ""
        @Param(
            .integerOrAuto(minimum: 1, maximum: 10_000),
            "Clusters: the dendrogram cut into k, or \"auto\": the cut in 2…k_max below the largest relative jump in merge height.")
        var k = ClusterCount.fixed(10)
        @Param(.integer(minimum: 2, maximum: 1000), "The largest k \"auto\" considers.") var kMax = 20
        @Param(
            .string(maxLength: 8, allowed: ["auto", "none", "knn"]),
            "Which clusters may merge. none: any two (exact Ward, as scipy's ward and scikit-learn without a connectivity; N(N − 1)/2 "
                + "float32 distances in memory, so at most 20,000 samples); knn: only clusters joined by an edge of the kNN graph (memory "
                + "O(N·K), any N; a slightly different tree); auto: none up to 12,000 samples (288 MB), knn beyond.")
        var connectivity = "auto"
        @Param(
            .integer(minimum: 1, maximum: 100), "connectivity knn: nearest neighbours per sample in the connectivity graph (only neighbours merge).")
        var neighbours = 10
        @Param(ClassicalInputs.normalize) var normalize = "auto"
        @Param(ClassicalInputs.pcaComponents) var pcaComponents = 0
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    public var example: JSONValue { ["dataset": "generated:blobs", "k": 3, "seed": 1] }
    public var metrics: [MetricDeclaration] { ClusterInputs.scoreMetrics(step: "1 (the final assignment)") }
    public func references(_ params: JSONValue) -> [ResourceReference] { ClusterInputs.datasetReference(params) }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(normalized, given: given, library: library)
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClassicalInputs.validate(params, library: library, k: params["k"]?.integerValue.map(Int.init))
        if params["connectivity"]?.stringValue == "none", let dataset = params["dataset"]?.stringValue,
            let outline = try? library.outline(dataset, generatedSamples: params["generated_samples"]?.integerValue.map(Int.init) ?? 600),
            outline.samples > WardClustering.exactLimit
        {
            throw ParameterError(
                .outOfRange, field: "params.connectivity",
                reason: "none (exact Ward) holds N(N − 1)/2 distances, so at most \(WardClustering.exactLimit) samples; the dataset has "
                    + "\(outline.samples): use knn or auto")
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, dataset) = try ClusterInputs.start(self, context, library: library)
        let start = Date()
        let prepared = try ClassicalInputs.prepare(dataset, normalize: params.normalize, pcaComponents: params.pcaComponents)
        let n = dataset.count
        let requested = params.k.fixed ?? 2
        guard requested <= n, n >= 2 else {
            throw JobFailure("params.k: \(requested) clusters need at least \(max(requested, 2)) samples; the dataset has \(n)")
        }
        let exact = params.connectivity == "none" || (params.connectivity == "auto" && n <= WardClustering.exactAutoLimit)
        guard !exact || n <= WardClustering.exactLimit else {
            throw JobFailure("params.connectivity: none (exact Ward) takes at most \(WardClustering.exactLimit) samples; the dataset has \(n)")
        }
        let linkage: WardClustering.Linkage
        if exact {
            context.progress(0.1, phase: "merging", message: "exact Ward merges of \(n) samples")
            linkage = try WardClustering.fitExact(prepared.values, count: n, dimension: prepared.dimension) { try context.checkCancellation() }
        } else {
            context.progress(0.1, phase: "merging", message: "Ward merges over the \(params.neighbours)-nearest-neighbour graph of \(n) samples")
            linkage = try WardClustering(neighbours: params.neighbours).fit(prepared.values, count: n, dimension: prepared.dimension) {
                try context.checkCancellation()
            }
        }
        var choice: JSONValue = .null
        let k: Int
        if let fixed = params.k.fixed {
            k = fixed
        } else {
            let (chosen, jumps) = linkage.largestJump(candidates: 2...max(2, min(params.kMax, n)))
            k = chosen
            choice = [
                "criterion": "height_jump", "k": .integer(Int64(chosen)),
                "scores": .object(Dictionary(uniqueKeysWithValues: jumps.map { (String($0.key), JSONValue.number($0.value)) })),
            ]
        }
        let assignments = linkage.cut(k)
        let seconds = Date().timeIntervalSince(start)
        try ClusterInputs.writeAssignments(assignments, probabilities: nil, classes: k, context: context)
        let matrix = linkage.matrix
        try context.artifact(
            "linkage.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(shape: [n - 1, 4], descr: "<f8", payload: matrix.withUnsafeBufferPointer { Data(buffer: $0) }))
        var warnings: [String] = []
        if linkage.bridgingMerges > 0 {
            warnings.append(
                "the connectivity graph had \(linkage.bridgingMerges + 1) components; they were joined by Ward merges between nearest centroids "
                    + "(raise neighbours to keep merges local)")
        }
        var result = ClassicalInputs.resultFields(
            assignments, k: k, dataset: dataset, prepared: prepared, seconds: seconds, context: context, extraWarnings: warnings)
        result["k_choice"] = choice
        result["linkage"] = "ward"
        result["connectivity"] = .string(exact ? "none" : "knn")
        result["neighbours"] = exact ? .null : .integer(Int64(params.neighbours))
        // The first merge not applied (merge n − k) is the cut; with k = 1 every merge is applied and there is none.
        result["cut_height"] = k >= 2 && k <= n ? .number(linkage.height[n - k]) : .null
        return .object(result)
    }
}
