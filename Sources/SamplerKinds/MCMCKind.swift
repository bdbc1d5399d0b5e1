import Foundation
import Jobs
import Sampling

/// `sample.mcmc`: several chains of random-walk Metropolis (adaptive) or HMC on a user's log
/// density, in parallel, with rank-normalized R̂, bulk/tail ESS and MCSE for every coordinate.
public struct MCMCKind: TypedJobKind {
    public init() {}
    public let name = "sample.mcmc"
    public let summary = "MCMC on a user log density: adaptive random-walk Metropolis (rwm) or HMC (hmc), several parallel chains, full diagnostics."

    public struct Parameters: KindParameters {
        @Param(SamplingInputs.logDensity) var logDensity = ""
        @Param(SamplingInputs.parameterList) var parameters: JSONValue = []
        @Param(SamplingInputs.data) var data: JSONValue = [:]
        @Param(
            .string(maxLength: 8, allowed: MCMCSettings.Method.allCases.map(\.rawValue)),
            "rwm: random-walk Metropolis with covariance adaptation (Haario); hmc: Hamiltonian Monte Carlo with gradients.")
        var method = MCMCSettings.Method.hamiltonian.rawValue
        @Param(.integer(minimum: 1, maximum: 1000), "Keep every thin-th draw after warm-up.") var thin = 1
        @Param(
            .string(maxLength: 8, allowed: ["diag", "dense"]),
            "nuts: the inverse metric adapted in warm-up: diagonal, or dense (the draws' covariance) for correlated posteriors (at most 100 coordinates)."
        )
        var metric = "diag"
        @Param(
            .number(minimum: 0.5, maximum: 0.999),
            "nuts: the mean acceptance statistic the step size is adapted to (Stan's adapt_delta); raise it towards 0.95–0.99 when there are divergences."
        )
        var targetAcceptance = 0.8
        @Param(.integer(minimum: 1, maximum: 15), "nuts: the deepest trajectory (2^depth leapfrog steps); transitions that reach it are reported.")
        var maxTreeDepth = 10
        @Param(.array(of: .number(), minItems: 1, maxItems: 100_000), "Starting point (constrained scale) for all chains.") var initial: [Double]? =
            nil
        @Param(ChainRuns.chains) var chains = 4
        @Param(ChainRuns.warmup) var warmup = 1000
        @Param(ChainRuns.draws) var draws = 1000
        @Param(SamplingInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    public var metrics: [MetricDeclaration] {
        [
            MetricDeclaration(
                "acceptance_rate", "Accepted proposals after warm-up over all chains, so far (NUTS: the mean acceptance statistic).",
                step: "iteration per chain (warm-up included)"),
            MetricDeclaration(
                "divergences", "NUTS: divergent transitions after warm-up over all chains, so far.", unit: "transitions",
                step: "iteration per chain (warm-up included)"),
        ] + ChainRuns.convergenceMetrics
    }

    public var example: JSONValue {
        [
            "log_density":
                "normal_lpdf(mu, 0, 5) + cauchy_lpdf(tau, 0, 5) + sum(normal_lpdf(theta, 0, 1)) + sum(normal_lpdf(y, mu + tau * theta, sigma))",
            "parameters": [["name": "mu"], ["name": "tau", "lower": 0], ["name": "theta", "size": 8]],
            "data": ["y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]],
            "method": "hmc", "chains": 4, "warmup": 1000, "draws": 1000, "seed": 1,
        ]
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        let model = try self.model(params)
        if let typed = try? Parameters.decode(params) {
            try ChainRuns.checkSize(chains: typed.chains, draws: typed.draws, dimension: model.dimension)
            if typed.metric == "dense" {
                guard typed.method == MCMCSettings.Method.noUTurn.rawValue else {
                    throw ParameterError(.invalidValue, field: "params.metric", reason: "a dense metric is adapted by method nuts only")
                }
                guard model.dimension <= 100 else {
                    throw ParameterError(
                        .outOfRange, field: "params.metric", reason: "a dense metric takes at most 100 coordinates, got \(model.dimension)")
                }
            }
        }
        if model.dimension > 1000 {
            throw ParameterError(.outOfRange, field: "params.parameters", reason: "at most 1000 coordinates in all, got \(model.dimension)")
        }
        if let initial = params["initial"] {
            let values = SamplingInputs.numbers(initial)
            guard values.count == model.dimension else {
                throw ParameterError(.invalidValue, field: "params.initial", reason: "must have \(model.dimension) values, one per coordinate")
            }
            guard model.unconstrain(values) != nil else {
                throw ParameterError(.invalidValue, field: "params.initial", reason: "must lie strictly inside the parameters' bounds")
            }
            guard model.makeEvaluator().logDensity(model.unconstrain(values)!).isFinite else {
                throw ParameterError(.invalidValue, field: "params.initial", reason: "the log density is not finite there")
            }
        }
    }

    func model(_ params: JSONValue) throws(ParameterError) -> Model {
        let specs = try SamplingInputs.parameterSpecs(params)
        let data = SamplingInputs.symbols(params)
        let source = params["log_density"]?.stringValue ?? ""
        return try SamplingInputs.expression("params.log_density") { try Model(logDensity: source, parameters: specs, data: data) }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let model = try self.model(context.params)
        let params = try typedParameters(context.params)
        guard let method = MCMCSettings.Method(rawValue: params.method) else { throw JobFailure("params.method: unknown method \(params.method)") }
        var settings = MCMCSettings(
            method: method, chains: params.chains, warmup: params.warmup, draws: params.draws, thin: params.thin,
            seed: UInt64(params.seed), initial: params.initial)
        settings.denseMetric = params.metric == "dense"
        settings.targetAcceptance = params.targetAcceptance
        settings.maxTreeDepth = params.maxTreeDepth
        let sampler = MarkovChainSampler(model: model, settings: settings)
        let d = model.dimension
        let states = try ChainRuns.run(
            context: context, total: settings.totalIterations, warmup: settings.warmup,
            initial: {
                do { return try sampler.initialStates() } catch let error as SamplerError { throw JobFailure("\(error.field): \(error.reason)") }
            },
            iteration: { $0.iteration },
            advance: { states, target in sampler.advance(&states, to: target, shouldStop: { context.isCancelled }) },
            monitor: { states in
                let proposals = states.reduce(0) { $0 + $1.proposalsAfterWarmup }
                var metrics: [(String, Double)] = []
                if proposals > 0 {
                    let accepted = states.reduce(0.0) { $0 + $1.acceptanceRate * Double($1.proposalsAfterWarmup) }
                    metrics.append(("acceptance_rate", accepted / Double(proposals)))
                }
                if settings.method == .noUTurn {
                    metrics.append(("divergences", Double(states.reduce(0) { $0 + ($1.nuts?.divergences ?? 0) })))
                }
                return metrics + ChainRuns.convergence(states.map(\.draws), dimension: d)
            })
        let names = model.coordinateNames
        let (summary, warnings) = try ChainRuns.summarize(states.map(\.draws), names: names)
        try DrawArtifacts.write(states.map(\.draws), names: names, context: context)
        var result: [String: JSONValue] = [
            "method": .string(settings.method.rawValue), "chains": .integer(Int64(settings.chains)),
            "warmup": .integer(Int64(settings.warmup)), "draws": .integer(Int64(settings.draws)), "thin": .integer(Int64(settings.thin)),
            "parameters": summary, "warnings": .array(warnings.map(JSONValue.string)),
            "converged": .bool(warnings.allSatisfy { !$0.contains("r_hat") }),
            "acceptance_rate": .array(states.map { .number($0.acceptanceRate) }),
        ]
        if settings.method != .randomWalk {
            result["step_size"] = .array(states.map { .number(exp($0.adaptation.averagedLogStep)) })
        }
        if settings.method == .noUTurn {
            try NUTSReport.add(states, names: names, to: &result, context: context)
        }
        return .object(result)
    }
}
