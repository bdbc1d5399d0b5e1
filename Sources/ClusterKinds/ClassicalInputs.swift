import Clustering
import Foundation
import Jobs

/// What the classical kinds (spectral, GMM, agglomerative, HDBSCAN) share: feature vectors only, the
/// preprocessing options, and checks of k against the dataset at submission.
enum ClassicalInputs {
    static let scalings = ["auto", "l2", "standardize", "none"]
    static let normalize = Parameter(
        "normalize", .string(maxLength: 20, allowed: scalings),
        "Scaling before clustering: l2 (each row to unit length: embeddings are compared by cosine), standardize (each feature to mean 0, "
            + "variance 1), none; auto is l2 for feature vectors of 32 or more dimensions (embeddings) and none for fewer (tabular data, points).",
        default: "auto")
    /// HDBSCAN's: auto is none. Density is measured in the space as given; L2 moves short, ambiguous vectors (a
    /// ReLU feature's length carries how typical it is) onto the sphere between clusters, where they bridge them.
    static let densityNormalize = Parameter(
        "normalize", .string(maxLength: 20, allowed: scalings),
        "Scaling before clustering: l2 (each row to unit length), standardize (each feature to mean 0, variance 1), none; auto is none: "
            + "densities are measured in the space as given (on MNIST pretext features, 9 sets, L2 lowered HDBSCAN's NMI by 3.7 points on "
            + "average and by up to 13 on long-tailed ones). Embeddings stored at unit length are unchanged either way.",
        default: "auto")
    static let pcaComponents = Parameter(
        "pca_components", .integer(minimum: 0, maximum: 1024),
        "Project onto this many principal components after scaling (0 keeps every dimension).", default: 0)
    /// Feature vectors of at least this many dimensions count as embeddings for `normalize: auto`.
    static let embeddingDimension = 32

    /// A 422 for images (these methods take feature vectors) and for a fixed k above the number of samples.
    static func validate(_ params: JSONValue, library: DatasetLibrary, k: Int?, kField: String = "params.k") throws(ParameterError) {
        try ClusterInputs.checkDataset(params, library: library)
        guard let dataset = params["dataset"]?.stringValue else { return }
        let samples = params["generated_samples"]?.integerValue.map(Int.init) ?? 600
        guard let outline = try? library.outline(dataset, generatedSamples: samples) else { return }
        if outline.isImages {
            throw ParameterError(
                .invalidValue, field: "params.dataset",
                reason: "is images; this method clusters feature vectors: use cluster.kmeans, cluster.iic or cluster.scan, or upload embeddings")
        }
        if let k, k > outline.samples {
            throw ParameterError(.outOfRange, field: kField, reason: "\(k) clusters need at least \(k) samples; the dataset has \(outline.samples)")
        }
    }

    struct Prepared {
        var map: FeaturePreprocessing
        var values: [Float]
        var dimension: Int
        var description: JSONValue
    }

    /// The dataset's vectors after the requested scaling and PCA.
    /// - Parameter automatic: what `auto` means for embeddings (32 or more dimensions); fewer dimensions: none.
    static func prepare(_ dataset: Dataset, normalize: String, pcaComponents: Int, automatic: FeaturePreprocessing.Scaling = .l2) throws -> Prepared {
        guard case .features(let d) = dataset.layout else {
            throw JobFailure("params.dataset: is images; this method clusters feature vectors")
        }
        guard pcaComponents < d || pcaComponents == 0 else {
            throw JobFailure("params.pca_components: \(pcaComponents) components need more than \(pcaComponents) dimensions; the data has \(d)")
        }
        let scaling: FeaturePreprocessing.Scaling =
            switch normalize {
            case "l2": .l2
            case "standardize": .standardize
            case "none": .none
            default: d >= embeddingDimension ? automatic : .none
            }
        let (map, values) = FeaturePreprocessing.fit(
            dataset.values, count: dataset.count, dimension: d, scaling: scaling, pcaComponents: pcaComponents)
        try checkRange(values, count: dataset.count, dimension: map.outputDimension, scaling: scaling)
        var description: [String: JSONValue] = ["normalize": .string(scaling.rawValue), "input_dimension": .integer(Int64(d))]
        description["dimension"] = .integer(Int64(map.outputDimension))
        if let explained = map.explainedVariance {
            description["pca_explained_variance"] = .array(explained.map { .number($0) })
        }
        return Prepared(map: map, values: values, dimension: map.outputDimension, description: .object(description))
    }

    /// Squared lengths the single-precision distance computations hold: above, ‖x‖² + ‖y‖² − 2x·y overflows to
    /// inf; below, every difference is lost to underflow and all samples look alike.
    static let squaredLengths = 1e-30...1e36

    /// The largest squared row length when it lies outside `squaredLengths` (nil when in range, or all zero:
    /// constant data, which the methods handle and warn about).
    static func squaredLengthOutOfRange(_ values: [Float], count n: Int, dimension d: Int) -> Double? {
        var largest = 0.0
        for i in 0..<n {
            var total = 0.0
            for j in 0..<d { total += Double(values[i * d + j]) * Double(values[i * d + j]) }
            largest = max(largest, total)
        }
        return largest > 0 && !squaredLengths.contains(largest) ? largest : nil
    }

    static func rangeReason(_ squaredLength: Double) -> String {
        let length = squaredLength.squareRoot().formatted(.number.notation(.scientific).precision(.significantDigits(2)))
        return "the longest vector has length \(length), "
            + (squaredLength > squaredLengths.upperBound ? "so squared distances overflow" : "so distances underflow") + " single precision"
    }

    /// A job failure naming `normalize` when the vectors as scaled are too long or too short for float distances:
    /// such data gave empty clusters or failed fits with no word of why.
    static func checkRange(_ values: [Float], count n: Int, dimension d: Int, scaling: FeaturePreprocessing.Scaling) throws {
        guard let squaredLength = squaredLengthOutOfRange(values, count: n, dimension: d) else { return }
        throw JobFailure(
            "params.normalize: with normalize \"\(scaling.rawValue)\" \(rangeReason(squaredLength)); use normalize \"l2\" or \"standardize\", "
                + "or rescale the data")
    }

    /// `predict`'s check of new vectors after the model's own scaling: a 422 naming the data, not assignments from
    /// distances that overflowed.
    static func checkPredictionRange(_ values: [Float], count n: Int, dimension d: Int) throws {
        guard let squaredLength = squaredLengthOutOfRange(values, count: n, dimension: d) else { return }
        throw DatasetError(field: "data", "after the model's scaling \(rangeReason(squaredLength)); rescale the data as the training data was")
    }

    /// The prepared vectors as a dataset (the same samples and labels) for the training kinds.
    static func dataset(_ prepared: Prepared, like original: Dataset) -> Dataset {
        Dataset(layout: .features(dimension: prepared.dimension), count: original.count, values: prepared.values, labels: original.labels)
    }

    /// The fields every classical result has. `seconds` is the fit's time (preprocessing and the method, as a
    /// scikit-learn user times `fit_predict`), not loading the dataset or writing artifacts.
    static func resultFields(
        _ assignments: [Int], k: Int, dataset: Dataset, prepared: Prepared, seconds: Double, context: JobContext, extraWarnings: [String] = []
    ) -> [String: JSONValue] {
        let scores = dataset.labels.map { ClusteringMetrics.scores(assignments, $0) }
        ClusterInputs.recordScores(scores, step: 1, context: context)
        let sizes = ClusteringMetrics.sizes(assignments, k: k)
        var warnings = ClusterInputs.resultWarnings(sizes: sizes) + extraWarnings
        let distinct = distinctRows(prepared.values, count: dataset.count, dimension: prepared.dimension, enough: k)
        if distinct < k {
            warnings.append(
                "the data holds only \(distinct) distinct vector\(distinct == 1 ? "" : "s") (after scaling) for \(k) clusters: identical samples "
                    + "cannot be told apart, so clusters among them are arbitrary; use a smaller k")
        }
        return [
            "k": .integer(Int64(k)), "samples": .integer(Int64(dataset.count)), "cluster_sizes": ClusterInputs.integers(sizes),
            "preprocessing": prepared.description, "scores": ClusterInputs.scoresJSON(scores),
            "warnings": .array(warnings.map(JSONValue.string)),
            "seconds": .number(seconds),
        ]
    }

    /// How many different rows there are, counting stops at `enough` (on real data, after the first few rows).
    /// Rows are told apart by hash: a collision could only undercount.
    static func distinctRows(_ values: [Float], count n: Int, dimension d: Int, enough: Int) -> Int {
        var seen = Set<Int>()
        values.withUnsafeBufferPointer { buffer in
            for i in 0..<n where seen.count < enough {
                var hasher = Hasher()
                hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[(i * d)..<((i + 1) * d)])))
                seen.insert(hasher.finalize())
            }
        }
        return seen.count
    }

    static func numbers(_ values: [Double]) -> JSONValue { .array(values.map { $0.isFinite ? .number($0) : .null }) }
}
