import Clustering
import Foundation
import Jobs
import Tensor

/// `cluster.gmm`: Gaussian mixtures by EM; k "auto" by BIC.
public struct GMMKind: TypedJobKind {
    let library: DatasetLibrary
    public init(library: DatasetLibrary) { self.library = library }
    public let name = "cluster.gmm"
    public let summary =
        "Gaussian mixture by EM (full, diagonal or spherical covariances, k-means initialisation, n_init runs); membership probabilities, "
        + "log-likelihood, BIC and AIC; k \"auto\" picks the lowest BIC in 1…k_max."

    public struct Parameters: ClusterParameters {
        @Param(ClusterInputs.dataset) var dataset = ""
        @Param(.integerOrAuto(minimum: 1, maximum: 200), "Components, or \"auto\": the k in 1…k_max with the lowest BIC.") var k = ClusterCount.auto
        @Param(.integer(minimum: 1, maximum: 50), "The largest k \"auto\" considers (each candidate is a full fit).") var kMax = 10
        @Param(
            .string(maxLength: 10, allowed: GaussianMixture.Covariance.allCases.map(\.rawValue)),
            "Covariance of each component: diag (default: embeddings have too many dimensions for full), full, or spherical.")
        var covariance = "diag"
        @Param(.integer(minimum: 1, maximum: 50), "EM runs from different k-means initialisations; the highest likelihood wins.") var nInit = 1
        @Param(.integer(minimum: 1, maximum: 10_000), "Most EM iterations per run.") var maxIter = 100
        @Param(.number(minimum: 0), "A run stops when the mean log-likelihood per sample changes by less than this.") var tol = 1e-3
        @Param(.number(minimum: 0, maximum: 1), "Added to every variance (keeps covariances positive definite).") var regCovar = 1e-6
        @Param(ClassicalInputs.normalize) var normalize = "auto"
        @Param(ClassicalInputs.pcaComponents) var pcaComponents = 0
        @Param(ClusterInputs.generatedSamples) var generatedSamples = 600
        @Param(ClusterInputs.generatedClasses) var generatedClasses = 3
        @Param(ClusterInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    /// Full covariances hold k × d² numbers: bounded so a fit stays within memory.
    static let maxFullCovarianceValues = 20_000_000

    public var example: JSONValue { ["dataset": "generated:blobs", "k": 3, "covariance": "full", "seed": 1] }
    public var metrics: [MetricDeclaration] {
        [
            MetricDeclaration(
                "log_likelihood", "Mean log-likelihood per sample after each EM step (of the current run and k).", unit: "nats",
                step: "EM iteration")
        ] + ClusterInputs.scoreMetrics(step: "1 (the final assignment)")
    }
    public func references(_ params: JSONValue) -> [ResourceReference] { ClusterInputs.datasetReference(params) }

    public func echo(_ normalized: JSONValue, given: JSONValue?) throws(ParameterError) -> JSONValue {
        try ClusterInputs.echo(normalized, given: given, library: library)
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        try ClassicalInputs.validate(params, library: library, k: params["k"]?.integerValue.map(Int.init))
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let (params, dataset) = try ClusterInputs.start(self, context, library: library)
        let start = Date()
        let prepared = try ClassicalInputs.prepare(dataset, normalize: params.normalize, pcaComponents: params.pcaComponents)
        let (n, d) = (dataset.count, prepared.dimension)
        let covariance = GaussianMixture.Covariance(rawValue: params.covariance) ?? .diag
        let candidates = params.k.fixed.map { [$0] } ?? Array(1...min(params.kMax, n))
        if covariance == .full, (candidates.max() ?? 1) * d * d > Self.maxFullCovarianceValues {
            throw JobFailure(
                "params.covariance: full covariances of \(candidates.max() ?? 1) components in \(d) dimensions exceed \(Self.maxFullCovarianceValues) "
                    + "values; use \"diag\" or pca_components")
        }
        if let k = params.k.fixed, k > n { throw JobFailure("params.k: \(k) components need at least \(k) samples; the dataset has \(n)") }
        let x = prepared.values.map(Double.init)
        var fits: [(k: Int, result: GaussianMixture.Result)] = []
        var failedCandidates: [(k: Int, reason: String)] = []
        var step: Int64 = 0
        for (index, k) in candidates.enumerated() {
            let mixture = GaussianMixture(
                k: k, covariance: covariance, runs: params.nInit, maxIterations: params.maxIter, tolerance: params.tol,
                regularization: params.regCovar, seed: UInt64(params.seed))
            let result: GaussianMixture.Result
            do {
                result = try mixture.fit(x, count: n, dimension: d) { run, iteration, logLikelihood in
                    try context.checkCancellation()
                    step += 1
                    context.metric("log_likelihood", step: step, value: logLikelihood)
                    context.progress(
                        (Double(index) + Double(run) / Double(params.nInit)) / Double(candidates.count), phase: "em",
                        message: "k = \(k): run \(run + 1) of \(params.nInit), iteration \(iteration)")
                }
            } catch let error as GaussianMixture.FitError {
                // "auto" goes on without a k that cannot be fitted, as a model with no likelihood has no BIC.
                failedCandidates.append((k, error.description))
                continue
            }
            fits.append((k, result))
        }
        let hint = "raise reg_covar or lower k" + (covariance == .full ? ", or use covariance \"diag\"" : "")
        guard let best = fits.min(by: { $0.result.bic < $1.result.bic }) else {
            let (k, reason) = failedCandidates[0]
            throw JobFailure("params.k: k = \(k): \(reason); \(hint)")
        }
        let (k, fit) = best
        let seconds = Date().timeIntervalSince(start)
        var warnings: [String] = []
        if !failedCandidates.isEmpty {
            warnings.append(
                "k = \(failedCandidates.map { String($0.k) }.joined(separator: ", ")) could not be fitted (\(failedCandidates[0].reason)) and "
                    + "were left out of the BIC choice; \(hint)")
        }
        if !fit.converged { warnings.append("EM did not converge in \(params.maxIter) iterations (tol \(params.tol)); raise max_iter") }
        let probabilities = fit.probabilities.map(Float.init)
        try ClusterInputs.writeAssignments(fit.assignments, probabilities: probabilities, classes: k, context: context)
        let model = GaussianMixtureModel(layout: dataset.layout, preprocessing: prepared.map, mixture: fit.model)
        try TrainedModels.save(
            model, architecture: ["parameters": .integer(Int64(fit.model.parameterCount)), "macs_per_sample": .integer(Int64(2 * k * d))],
            datasetSHA256: ClusterInputs.datasetSHA256(params.dataset, library: library), pixelScale: 1, context: context)
        var result = ClassicalInputs.resultFields(
            fit.assignments, k: k, dataset: dataset, prepared: prepared, seconds: seconds, context: context, extraWarnings: warnings)
        result["covariance"] = .string(covariance.rawValue)
        result["log_likelihood"] = .number(fit.meanLogLikelihood)
        result["bic"] = .number(fit.bic)
        result["aic"] = .number(fit.aic)
        result["iterations"] = .integer(Int64(fit.iterations))
        result["converged"] = .bool(fit.converged)
        result["weights"] = ClassicalInputs.numbers(fit.model.weights)
        if params.k.fixed == nil {
            result["k_choice"] = [
                "criterion": "bic", "k": .integer(Int64(k)),
                "scores": .object(
                    Dictionary(
                        uniqueKeysWithValues: fits.map { (String($0.k), JSONValue.number($0.result.bic)) }
                            + failedCandidates.map { (String($0.k), JSONValue.null) })),
            ]
        }
        return .object(result)
    }
}

/// A fitted Gaussian mixture with the preprocessing it was fitted after: `predict` gives the most probable
/// component and every component's probability.
public struct GaussianMixtureModel: TrainedModel {
    public static let kind = "gmm"
    public static let jobKind = "cluster.gmm"
    public let layout: Dataset.Layout
    public let preprocessing: FeaturePreprocessing
    public let mixture: GaussianMixture.Model
    public var clusters: Int { mixture.k }
    public var normalization: ChannelNormalization? { nil }

    public init(layout: Dataset.Layout, preprocessing: FeaturePreprocessing, mixture: GaussianMixture.Model) {
        self.layout = layout
        self.preprocessing = preprocessing
        self.mixture = mixture
    }

    public init(configuration: JSONValue, layout: Dataset.Layout, normalization: ChannelNormalization?, tensors: [String: NamedTensor]) throws {
        func fail(_ reason: String) -> TrainedModels.LoadError { TrainedModels.LoadError(description: "gmm model: \(reason)") }
        guard let covariance = configuration["covariance"]?.stringValue.flatMap(GaussianMixture.Covariance.init(rawValue:)),
            let scaling = configuration["normalize"]?.stringValue.flatMap(FeaturePreprocessing.Scaling.init(rawValue:)),
            let weights = tensors["weights"], let means = tensors["means"], let covariances = tensors["covariances"]
        else { throw fail("configuration or tensors missing") }
        let k = weights.values.count
        guard k > 0, means.values.count % k == 0 else { throw fail("means do not match the weights") }
        let d = means.values.count / k
        let expected =
            switch covariance {
            case .full: k * d * d
            case .diag: k * d
            case .spherical: k
            }
        guard covariances.values.count == expected else { throw fail("covariances do not match the means") }
        let preprocessing = try PreprocessingTensors.decode(scaling: scaling, tensors: tensors, inputDimension: layout.sampleSize)
        guard preprocessing.outputDimension == d else { throw fail("preprocessing does not match the means") }
        self.init(
            layout: layout, preprocessing: preprocessing,
            mixture: GaussianMixture.Model(
                covariance: covariance, dimension: d, weights: weights.values.map(Double.init), means: means.values.map(Double.init),
                covariances: covariances.values.map(Double.init)))
    }

    public func configuration() -> JSONValue {
        ["covariance": .string(mixture.covariance.rawValue), "k": .integer(Int64(clusters)), "normalize": .string(preprocessing.scaling.rawValue)]
    }

    public func tensors() -> [NamedTensor] {
        let d = mixture.dimension, k = mixture.k
        let covarianceShape =
            switch mixture.covariance {
            case .full: [k, d, d]
            case .diag: [k, d]
            case .spherical: [k]
            }
        var result = [
            NamedTensor(name: "weights", shape: [k], values: mixture.weights.map(Float.init)),
            NamedTensor(name: "means", shape: [k, d], values: mixture.means.map(Float.init)),
            NamedTensor(name: "covariances", shape: covarianceShape, values: mixture.covariances.map(Float.init)),
        ]
        result += PreprocessingTensors.encode(preprocessing)
        return result
    }

    public func predict(_ dataset: Dataset) throws -> (clusters: [Int], probabilities: [Float]?) {
        try TrainedModelInput.check(dataset, against: layout)
        let values = preprocessing.apply(dataset.values, count: dataset.count)
        try ClassicalInputs.checkPredictionRange(values, count: dataset.count, dimension: preprocessing.outputDimension)
        let x = values.map(Double.init)
        guard let (probabilities, _) = mixture.responsibilities(x, count: dataset.count) else {
            throw DatasetError(field: "model", "the saved covariances are not positive definite")
        }
        let k = clusters
        let assignments = (0..<dataset.count).map { i in (0..<k).max { probabilities[i * k + $0] < probabilities[i * k + $1] } ?? 0 }
        return (assignments, probabilities.map(Float.init))
    }
}

/// A fitted `FeaturePreprocessing` as named tensors of a model's safetensors (`preprocess.mean`, `preprocess.std`,
/// `preprocess.pca_mean`, `preprocess.components`), its scaling named in model.json's configuration.
enum PreprocessingTensors {
    static func encode(_ map: FeaturePreprocessing) -> [NamedTensor] {
        let input = map.inputDimension
        var result: [NamedTensor] = []
        if let mean = map.mean, let std = map.std {
            result += [
                NamedTensor(name: "preprocess.mean", shape: [input], values: mean), NamedTensor(name: "preprocess.std", shape: [input], values: std),
            ]
        }
        if let pcaMean = map.pcaMean, let components = map.components {
            result += [
                NamedTensor(name: "preprocess.pca_mean", shape: [input], values: pcaMean),
                NamedTensor(name: "preprocess.components", shape: [components.count / max(input, 1), input], values: components),
            ]
        }
        return result
    }

    static func decode(scaling: FeaturePreprocessing.Scaling, tensors: [String: NamedTensor], inputDimension input: Int) throws
        -> FeaturePreprocessing
    {
        var map = FeaturePreprocessing(scaling: scaling, inputDimension: input)
        map.mean = tensors["preprocess.mean"]?.values
        map.std = tensors["preprocess.std"]?.values
        map.pcaMean = tensors["preprocess.pca_mean"]?.values
        map.components = tensors["preprocess.components"]?.values
        guard input > 0, (map.components?.count ?? 0) % input == 0, map.components?.isEmpty != true,
            scaling != .standardize || (map.mean?.count == input && map.std?.count == input),
            (map.components == nil) == (map.pcaMean == nil), map.pcaMean == nil || map.pcaMean?.count == input
        else { throw TrainedModels.LoadError(description: "the saved preprocessing does not match the input layout") }
        return map
    }
}
