import Clustering
import Foundation
import Jobs

/// `cluster.spectral`: spectral clustering on the kNN graph — the recommended kind for embeddings.
public struct SpectralKind: TypedJobKind {
    let library: DatasetLibrary
    public init(library: DatasetLibrary) { self.library = library }
    public let name = "cluster.spectral"
    public let summary =
        "Spectral clustering of feature vectors (kNN graph, normalized Laplacian, block Krylov eigensolver, k-means into 2k groups on the "
        + "spectral embedding merged along the graph to k); k \"auto\" picks the largest eigengap. Recommended for embeddings."

    public struct Parameters: ClusterParameters {
        @Param(ClusterInputs.dataset) var dataset = ""
        @Param(.integerOrAuto(minimum: 2, maximum: SpectralKind.maxClusters), "Clusters, or \"auto\": the k in 2…k_max with the largest eigengap.")
        var k = ClusterCount.auto
        @Param(.integer(minimum: 2, maximum: SpectralKind.maxClusters), "The largest k \"auto\" considers.") var kMax = 20
        @Param(
            .integer(minimum: 2, maximum: 100),
            "Nearest neighbours per sample in the affinity graph (10: scikit-learn's default; clusters of about 10 samples are cut off "
                + "better at 5, which splits text embeddings' graphs: README, Embeddings).") var neighbours =
            10
        @Param(
            .string(maxLength: 20, allowed: ["random_walk", "normalized_rows"]),
            "The rows k-means clusters: random_walk (eigenvectors times D^-1/2, as scikit-learn's SpectralClustering) or normalized_rows "
                + "(each row of the eigenvectors scaled to unit length, Ng-Jordan-Weiss).")
        var embedding = "random_walk"
        @Param(
            .string(maxLength: 20, allowed: ["merge", "kmeans"]),
            "How the embedding's rows become clusters: merge (k-means into 2k groups, then the two groups with the most graph edges "
                + "between them relative to the product of their volumes joined until k remain, so a large cluster is not split to spare "
                + "a small one: README, Embeddings) or kmeans (k-means into k clusters, as scikit-learn's SpectralClustering).")
        var assignLabels = "merge"
        @Param(.integer(minimum: 1, maximum: 100), "k-means runs on the spectral embedding; the lowest inertia wins.") var nInit = 10
        @Param(ClassicalInputs.normalize) var normalize = "auto"
        @Param(ClassicalInputs.pcaComponents) var pcaComponents = 0
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    /// Eigenvectors kept: memory is N × (k + max(8, k/2)) × 12 doubles, 1.2 GB at N = 100,000 and k = 100.
    static let maxClusters: Int64 = 100
    /// The eigensolver's working memory a job may take (its Krylov basis and images).
    static let maxEigensolverBytes = 2 << 30

    /// Bytes the eigensolver needs for `wanted` eigenpairs of an N-node graph: 6 blocks of basis and 6 of images
    /// of N × block doubles, or the dense N × N matrix up to 600 nodes.
    static func eigensolverBytes(samples n: Int, wanted: Int) -> Int {
        n <= 600 ? n * n * 8 : 12 * n * min(wanted + max(8, wanted / 2), n) * 8
    }

    public var example: JSONValue { ["dataset": "generated:moons", "k": 2, "neighbours": 10, "seed": 1] }
    public var metrics: [MetricDeclaration] { ClusterInputs.scoreMetrics(step: "1 (the final assignment)") }
    public func references(_ params: JSONValue) -> [ResourceReference] { ClusterInputs.datasetReference(params) }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(normalized, given: given, library: library)
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        let k = params["k"]?.integerValue.map(Int.init)
        try ClassicalInputs.validate(params, library: library, k: k)
        if let neighbours = params["neighbours"]?.integerValue, let dataset = params["dataset"]?.stringValue,
            let outline = try? library.outline(dataset, generatedSamples: Int(params["generated_samples"]?.integerValue ?? 600)),
            neighbours >= outline.samples
        {
            throw ParameterError(
                .outOfRange, field: "params.neighbours", reason: "\(neighbours) neighbours need more samples; the dataset has \(outline.samples)")
        }
        if let dataset = params["dataset"]?.stringValue,
            let outline = try? library.outline(dataset, generatedSamples: Int(params["generated_samples"]?.integerValue ?? 600))
        {
            let wanted = min((k ?? Int(params["k_max"]?.integerValue ?? 20)) + 1, outline.samples)
            let bytes = Self.eigensolverBytes(samples: outline.samples, wanted: wanted)
            if bytes > Self.maxEigensolverBytes {
                throw ParameterError(
                    .outOfRange, field: k == nil ? "params.k_max" : "params.k",
                    reason: "\(wanted - 1) clusters of \(outline.samples) samples need \(bytes >> 20) MiB of eigenvectors; the limit is "
                        + "\(Self.maxEigensolverBytes >> 20) MiB (lower k, or reduce the data)")
            }
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, dataset) = try ClusterInputs.start(self, context, library: library)
        let start = Date()
        let prepared = try ClassicalInputs.prepare(dataset, normalize: params.normalize, pcaComponents: params.pcaComponents)
        let n = dataset.count
        guard params.neighbours < n else {
            throw JobFailure("params.neighbours: \(params.neighbours) neighbours need more samples; the dataset has \(n)")
        }
        if let k = params.k.fixed, k > n { throw JobFailure("params.k: \(k) clusters need at least \(k) samples; the dataset has \(n)") }
        let wanted = min((params.k.fixed ?? params.kMax) + 1, n)
        let bytes = Self.eigensolverBytes(samples: n, wanted: wanted)
        guard bytes <= Self.maxEigensolverBytes else {
            throw JobFailure(
                "params.k: \(wanted - 1) clusters of \(n) samples need \(bytes >> 20) MiB of eigenvectors; the limit is \(Self.maxEigensolverBytes >> 20) MiB"
            )
        }
        let stop = { try context.checkCancellation() }
        context.progress(0.05, phase: "graph", message: "\(params.neighbours) nearest neighbours of \(n) samples")
        let graph = try NeighbourGraph.build(prepared.values, count: n, dimension: prepared.dimension, k: params.neighbours, shouldStop: stop)
        let affinity = SparseSymmetric.connectivity(graph)
        context.progress(0.4, phase: "eigenvectors", message: "\(wanted) smallest eigenvalues of the normalized Laplacian")
        let spectral = SpectralClustering(neighbours: params.neighbours, kMeansRuns: params.nInit, seed: UInt64(params.seed))
        let spectrum = try spectral.spectrum(affinity, wanted: wanted, shouldStop: stop)
        var warnings: [String] = []
        var choice: JSONValue = .null
        let k: Int
        if let fixed = params.k.fixed {
            k = fixed
        } else {
            let (chosen, gaps) = SpectralClustering.eigengapChoice(
                spectrum.laplacianEigenvalues, candidates: 2...max(2, min(params.kMax, wanted - 1)))
            k = chosen
            choice = [
                "criterion": "eigengap", "k": .integer(Int64(chosen)),
                "scores": .object(Dictionary(uniqueKeysWithValues: gaps.map { (String($0.key), JSONValue.number($0.value)) })),
            ]
        }
        if !spectrum.converged {
            warnings.append(
                "the eigensolver stopped after \(spectrum.restarts) restarts before every eigenvector converged; the embedding is approximate")
        }
        if spectrum.components > 1 {
            warnings.append(
                "the \(params.neighbours)-nearest-neighbour graph has \(spectrum.components) connected components; each is at least one cluster "
                    + "(raise neighbours to join them)")
        }
        let groups = params.assignLabels == "merge" ? min(2 * k, n) : k
        context.progress(0.8, phase: "k-means", message: "k-means into \(groups) groups on the \(k)-dimensional spectral embedding")
        let embedding = SpectralClustering.embedding(spectrum, k: k, rowNormalized: params.embedding == "normalized_rows")
        let kmeans = try KMeans(k: groups, runs: params.nInit, seed: UInt64(params.seed)).fit(embedding, count: n, dimension: k) { _, _ in
            try stop()
        }
        let assignments = SpectralClustering.mergeGroups(kmeans.assignments, groups: groups, graph: affinity, into: k)
        let seconds = Date().timeIntervalSince(start)
        try ClusterInputs.writeAssignments(assignments, probabilities: nil, classes: k, context: context)
        try context.artifact(
            "spectral_embedding.npy", mediaType: "application/octet-stream",
            data: NumericArray.npyFile(shape: [n, k], descr: "<f4", payload: embedding.withUnsafeBufferPointer { Data(buffer: $0) }))
        var result = ClassicalInputs.resultFields(
            assignments, k: k, dataset: dataset, prepared: prepared, seconds: seconds, context: context, extraWarnings: warnings)
        result["eigenvalues"] = ClassicalInputs.numbers(spectrum.laplacianEigenvalues)
        result["eigengap"] =
            k < spectrum.laplacianEigenvalues.count ? .number(spectrum.laplacianEigenvalues[k] - spectrum.laplacianEigenvalues[k - 1]) : .null
        result["k_choice"] = choice
        result["graph"] = [
            "neighbours": .integer(Int64(params.neighbours)), "edges": .integer(Int64(affinity.columns.count / 2)),
            "components": .integer(Int64(spectrum.components)),
        ]
        result["eigensolver"] = ["restarts": .integer(Int64(spectrum.restarts)), "converged": .bool(spectrum.converged)]
        result["assignment"] = ["method": .string(params.assignLabels), "kmeans_groups": .integer(Int64(groups))]
        return .object(result)
    }
}
