import Foundation
import Jobs
import Sampling

/// `sample.gibbs`: Gibbs sampling of built-in conditionally conjugate models from their data and priors.
public struct GibbsKind: TypedJobKind {
    public init() {}
    public let name = "sample.gibbs"
    public let summary =
        "Gibbs sampling of conjugate models: bivariate/multivariate normal, normal–inverse-gamma, Bayesian linear regression, Gaussian mixture."
    static let models = ["bivariate_normal", "multivariate_normal", "normal_inverse_gamma", "linear_regression", "gaussian_mixture"]

    public struct Parameters: KindParameters {
        @Param(.string(maxLength: 32, allowed: GibbsKind.models), "The model.", required: true) var model = ""
        @Param(.array(of: .number(), minItems: 1, maxItems: 100_000), "Observations (normal_inverse_gamma, linear_regression, gaussian_mixture).")
        var y: [Double]? = nil
        @Param(
            .array(of: .array(of: .number(), minItems: 1, maxItems: 100), minItems: 1, maxItems: 100_000),
            "Design matrix, one row per observation (linear_regression); include a column of ones for an intercept.")
        var x: [[Double]]? = nil
        @Param(.array(of: .number(), minItems: 1, maxItems: 100), "Mean vector (multivariate_normal; 2 values for bivariate_normal).") var mean:
            [Double]? = nil
        @Param(.array(of: .array(of: .number(), minItems: 1, maxItems: 100), minItems: 1, maxItems: 100), "Covariance matrix (multivariate_normal).")
        var cov: [[Double]]? = nil
        @Param(.array(of: .number(minimum: 0, exclusiveMinimum: true), minItems: 2, maxItems: 2), "Standard deviations (bivariate_normal).")
        var sd: [Double]? = nil
        @Param(.number(minimum: -1, maximum: 1), "Correlation (bivariate_normal), strictly between −1 and 1.") var rho: Double? = nil
        @Param(.integer(minimum: 1, maximum: 50), "Mixture components (gaussian_mixture).") var components = 2
        @Param(
            .dictionary(of: .number(), maxEntries: 16),
            "Prior settings: normal_inverse_gamma m0, kappa0, a0, b0; linear_regression lambda, a0, b0; gaussian_mixture alpha, m0, s0, a0, b0.")
        var priors: [String: Double] = [:]
        @Param(ChainRuns.chains) var chains = 4
        @Param(ChainRuns.warmup) var warmup = 1000
        @Param(ChainRuns.draws) var draws = 1000
        @Param(SamplingInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    public var metrics: [MetricDeclaration] { ChainRuns.convergenceMetrics }

    public var example: JSONValue {
        [
            "model": "gaussian_mixture", "components": 2, "chains": 4, "warmup": 500, "draws": 1000, "seed": 1,
            "y": [
                -3.1, -2.8, -3.3, -2.9, -3.4, -2.6, -3.0, -3.2, -2.7, -3.05, -2.95, -3.15, -2.85, -3.25, -2.75,
                2.2, 1.8, 2.5, 1.9, 2.1, 2.4, 2.0, 1.7, 2.3, 2.6, 1.6, 2.05, 2.15, 1.95, 2.45,
            ],
        ]
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        let model = try self.model(params)
        if let typed = try? Parameters.decode(params) {
            try ChainRuns.checkSize(chains: typed.chains, draws: typed.draws, dimension: model.coordinateNames.count)
        }
    }

    func model(_ params: JSONValue) throws(ParameterError) -> any GibbsModel {
        let kind = params["model"]?.stringValue ?? ""
        let priors = params["priors"]?.objectValue ?? [:]
        func prior(_ name: String, _ fallback: Double) -> Double { priors[name]?.doubleValue ?? fallback }
        func require(_ field: String) throws(ParameterError) -> JSONValue {
            guard let value = params[field] else {
                throw ParameterError(.missingParameter, field: "params.\(field)", reason: "is required for \(kind)")
            }
            return value
        }
        let allowedPriors: [String: [String]] = [
            "normal_inverse_gamma": ["m0", "kappa0", "a0", "b0"], "linear_regression": ["lambda", "a0", "b0"],
            "gaussian_mixture": ["alpha", "m0", "s0", "a0", "b0"],
        ]
        if let unknown = priors.keys.sorted().first(where: { !(allowedPriors[kind] ?? []).contains($0) }) {
            throw ParameterError(
                .unknownParameter, field: "params.priors.\(unknown)",
                reason:
                    "\(kind) takes priors: \((allowedPriors[kind] ?? []).joined(separator: ", ").isEmpty ? "none" : (allowedPriors[kind] ?? []).joined(separator: ", "))"
            )
        }
        return try SamplingInputs.expression("params") { () throws -> any GibbsModel in
            switch kind {
            case "bivariate_normal":
                let mean = SamplingInputs.numbers(try require("mean"))
                let sd = SamplingInputs.numbers(try require("sd"))
                let rho = try require("rho").doubleValue ?? 0
                guard mean.count == 2 else { throw SamplerError("mean", "must have 2 values for bivariate_normal") }
                guard abs(rho) < 1 else { throw SamplerError("rho", "must be strictly between −1 and 1") }
                let covariance = [[sd[0] * sd[0], rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] * sd[1]]]
                return try GibbsMultivariateNormal(mean: mean, covariance: covariance)
            case "multivariate_normal":
                return try GibbsMultivariateNormal(
                    mean: SamplingInputs.numbers(try require("mean")), covariance: SamplingInputs.matrix(try require("cov")))
            case "normal_inverse_gamma":
                let y = SamplingInputs.numbers(try require("y"))
                return try GibbsNormalInverseGamma(data: y, m0: prior("m0", 0), kappa0: prior("kappa0", 0.01), a0: prior("a0", 1), b0: prior("b0", 1))
            case "linear_regression":
                return try GibbsLinearRegression(
                    x: SamplingInputs.matrix(try require("x")), y: SamplingInputs.numbers(try require("y")),
                    lambda: prior("lambda", 0.01), a0: prior("a0", 1), b0: prior("b0", 1))
            default:
                let y = SamplingInputs.numbers(try require("y"))
                let mean = y.reduce(0, +) / Double(max(1, y.count))
                let spread = y.count > 1 ? Diagnostics.standardDeviation(y) : 1
                return try GibbsGaussianMixture(
                    data: y, components: Int(params["components"]?.integerValue ?? Int64(Parameters().components)), alpha: prior("alpha", 1),
                    m0: prior("m0", mean),
                    s0: prior("s0", max(10 * spread, 1e-6)), a0: prior("a0", 2), b0: prior("b0", max(spread * spread, 1e-12)))
            }
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let model = try self.model(context.params)
        let params = try typedParameters(context.params)
        let warmup = params.warmup
        let sampler = GibbsSampler(model: model, chains: params.chains, warmup: warmup, draws: params.draws, seed: UInt64(params.seed))
        let names = model.coordinateNames
        let states = try ChainRuns.run(
            context: context, total: sampler.totalIterations, warmup: warmup, initial: { sampler.initialStates() },
            iteration: { $0.iteration },
            advance: { states, target in sampler.advance(&states, to: target, shouldStop: { context.isCancelled }) },
            monitor: { states, due in due ? ChainRuns.convergence(states.map(\.draws), dimension: names.count) : [] })
        let (summary, warnings) = try ChainRuns.summarize(states.map(\.draws), names: names)
        try DrawArtifacts.write(states.map(\.draws), names: names, context: context)
        var result: [String: JSONValue] = [
            "model": .string(params.model), "parameters": summary, "warnings": .array(warnings.map(JSONValue.string)),
        ]
        if let mixture = model as? GibbsGaussianMixture {
            // Posterior assignment probabilities per observation, pooled over chains.
            let k = mixture.k
            var probabilities = [Double](repeating: 0, count: mixture.data.count * k)
            for state in states { for index in probabilities.indices { probabilities[index] += state.accumulator[index] } }
            var assignments: [JSONValue] = []
            var csv = "index,y,cluster," + (0..<k).map { "p\($0)" }.joined(separator: ",") + "\n"
            for i in 0..<mixture.data.count {
                let row = (0..<k).map { probabilities[i * k + $0] }
                let total = max(1, row.reduce(0, +))
                let normalized = row.map { $0 / total }
                let best = normalized.indices.max { normalized[$0] < normalized[$1] } ?? 0
                assignments.append(.integer(Int64(best)))
                for j in 0..<k { probabilities[i * k + j] = normalized[j] }
                csv += "\(i),\(mixture.data[i]),\(best)," + normalized.map { "\($0)" }.joined(separator: ",") + "\n"
            }
            result["assignments"] = .array(assignments)
            try context.artifact("assignments.csv", mediaType: "text/csv", data: Data(csv.utf8))
            try context.artifact(
                "probabilities.npy", mediaType: "application/octet-stream",
                data: DrawArtifacts.npy(probabilities, shape: [mixture.data.count, k]))
        }
        return .object(result)
    }
}
