import Foundation
import Jobs
import Sampling

/// `sample.importance`: self-normalized importance sampling of expectations E[f(θ)] under a user's
/// log density, with Pareto-smoothed weights, MCSE, Kish ESS and the k̂ diagnostic.
public struct ImportanceKind: TypedJobKind {
    public init() {}
    public let name = "sample.importance"
    public let summary = "Self-normalized importance sampling of E[f(θ)] with PSIS (Pareto k̂), MCSE and Kish ESS."
    static let maxValues: Int64 = 10_000_000

    public struct Parameters: KindParameters {
        @Param(SamplingInputs.logDensity) var logDensity = ""
        @Param(SamplingInputs.parameterList) var parameters: JSONValue = []
        @Param(
            .object(SamplingInputs.distributionSpec(multivariate: true)),
            "A catalog distribution used independently for every coordinate, or multivariate_normal with params mean (d) and cov (d·d, row-major).",
            required: true)
        var proposal: JSONValue = [:]
        @Param(
            .dictionary(of: .string(maxLength: ExpressionLimits.maxLength), maxEntries: 50),
            "Named expressions f(θ) whose expectations are estimated.")
        var functions: [String: String] = [:]
        @Param(SamplingInputs.data) var data: JSONValue = [:]
        @Param(.integer(minimum: 10, maximum: 1_000_000), "Number of proposal draws.") var draws = 10_000
        @Param(SamplingInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    public var metrics: [MetricDeclaration] {
        [
            MetricDeclaration(
                "pareto_k", "Pareto k̂ of the importance weights (PSIS); above 0.7 the estimate is unreliable.", step: "0 (one value per run)"),
            MetricDeclaration("kish_ess", "Kish effective sample size of the weights.", unit: "draws", step: "0 (one value per run)"),
        ]
    }

    public var example: JSONValue {
        [
            "log_density": "-0.5 * (x - 1)^2", "parameters": [["name": "x"]],
            "proposal": ["name": "normal", "params": ["mu": 0, "sigma": 3]],
            "functions": ["mean": "x", "second_moment": "x^2", "p_above_2": "x > 2"], "draws": 20_000, "seed": 1,
        ]
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        let sampler = try self.sampler(params)
        let draws = (try? Parameters.decode(params))?.draws ?? 0
        if Int64(draws) * Int64(sampler.proposal.dimension) > Self.maxValues {
            throw ParameterError(.outOfRange, field: "params.draws", reason: "draws × dimension must be at most \(Self.maxValues)")
        }
    }

    func sampler(_ params: JSONValue) throws(ParameterError) -> ImportanceSampler {
        let specs = try SamplingInputs.parameterSpecs(params)
        let dimension = specs.reduce(0) { $0 + $1.length }
        let spec = params["proposal"]
        let proposal: Proposal
        if spec?["name"]?.stringValue == "multivariate_normal" {
            let mean = SamplingInputs.numbers(spec?["params"]?["mean"])
            let flat = SamplingInputs.numbers(spec?["params"]?["cov"])
            guard mean.count == dimension else {
                throw ParameterError(.invalidValue, field: "params.proposal.params.mean", reason: "must have \(dimension) values, one per coordinate")
            }
            guard flat.count == dimension * dimension else {
                throw ParameterError(
                    .invalidValue, field: "params.proposal.params.cov", reason: "must have \(dimension * dimension) values (row-major)")
            }
            let covariance = (0..<dimension).map { Array(flat[($0 * dimension)..<(($0 + 1) * dimension)]) }
            proposal = .multivariateNormal(
                try SamplingInputs.expression("params.proposal.params") {
                    try MultivariateNormal(mean: mean, covariance: covariance)
                })
        } else {
            let distribution = try SamplingInputs.continuous(spec, field: "params.proposal")
            proposal = .independent(Array(repeating: distribution, count: dimension))
        }
        let functions = (params["functions"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map {
            (name: $0.key, source: $0.value.stringValue ?? "")
        }
        let data = SamplingInputs.symbols(params)
        let source = params["log_density"]?.stringValue ?? ""
        return try SamplingInputs.expression("params.log_density") {
            try ImportanceSampler(target: source, parameters: specs, data: data, proposal: proposal, functions: functions)
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let sampler = try self.sampler(context.params)
        let params = try typedParameters(context.params)
        context.progress(0, phase: "sampling")
        let result: ImportanceSampler.Result
        do {
            result = try sampler.run(
                draws: params.draws, seed: UInt64(params.seed),
                shouldStop: { context.isCancelled })
        } catch JobInterruption.stopped {
            try context.checkCancellation()
            throw JobRunError.cancelled
        } catch let error as SamplerError {
            throw JobFailure("\(error.field): \(error.reason)")
        }
        context.metric("pareto_k", step: 0, value: result.paretoK)
        context.metric("kish_ess", step: 0, value: result.kishESS)
        var estimates: [String: JSONValue] = [:]
        for estimate in result.estimates { estimates[estimate.name] = try JSONValue.encoding(estimate) }
        let names = sampler.parameters.flatMap { spec in spec.size == nil ? [spec.name] : (0..<spec.length).map { "\(spec.name)[\($0)]" } }
        try DrawArtifacts.write(
            [result.draws.flatMap { $0 }], names: names,
            extraColumns: [("log_weight", result.logWeights), ("smoothed_log_weight", result.smoothedLogWeights)],
            context: context)
        try context.artifact(
            "log_weights.npy", mediaType: "application/octet-stream",
            data: DrawArtifacts.npy(result.logWeights, shape: [result.logWeights.count]))
        return [
            "estimates": .object(estimates), "pareto_k": .number(result.paretoK), "kish_ess": .number(result.kishESS),
            "smoothed_ess": .number(result.smoothedESS), "log_normalizer": .number(result.logNormalizer),
            "draws": .integer(Int64(result.draws.count)), "warnings": .array(result.warnings.map(JSONValue.string)),
        ]
    }
}
