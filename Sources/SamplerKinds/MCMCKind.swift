import Foundation
import Jobs
import Sampling

/// `sample.mcmc`: several chains of random-walk Metropolis (adaptive) or HMC on a user's log
/// density, in parallel, with rank-normalized R̂, bulk/tail ESS and MCSE for every coordinate.
public struct MCMCKind: TypedJobKind {
    /// Reads an uploaded dataset for `data_from` (its features as a matrix, or `ID:labels` as ints);
    /// nil where datasets are not available.
    public typealias DatasetReader = @Sendable (_ id: String, _ labels: Bool) throws -> ModelData

    let readDataset: DatasetReader?

    public init(readDataset: DatasetReader? = nil) { self.readDataset = readDataset }
    public let name = "sample.mcmc"
    public let summary =
        "MCMC on a model program (a Stan subset) or a log-density expression: NUTS (default), static HMC or adaptive random-walk Metropolis, several parallel chains, full diagnostics."

    public struct Parameters: KindParameters {
        @Param(
            .string(maxLength: ExpressionLimits.maxLength),
            "A model program in Stan's syntax (data, transformed data, parameters, transformed parameters and model blocks; for loops, vectors, matrices, ~ statements). See the README's model language section. Give either model or log_density."
        )
        var model: String? = nil
        @Param(
            .string(maxLength: ExpressionLimits.maxLength),
            "A log density (unnormalized) in the expression language over `parameters`, e.g. \"-0.5 * ((x - mu) / sigma)^2\". Give either model or log_density."
        )
        var logDensity: String? = nil
        @Param(SamplingInputs.parameterList.type, "log_density only: the sampled parameters, in order.") var parameters: JSONValue? = nil
        @Param(
            .dictionary(of: .numericArray(maxItems: SamplingInputs.maxDataItems, depth: 3), maxEntries: 64),
            "Named numbers and arrays (nested arrays for matrices and arrays of vectors: a list of rows) the model or expression refers to.")
        var data: JSONValue = [:]
        @Param(
            .dictionary(of: .string(maxLength: 120), maxEntries: 16),
            "model only: data read from uploaded datasets, by name: \"ID\" gives the dataset's features as a matrix (N × d; a single column also fills a vector), \"ID:labels\" its labels as ints. For data too large for a request body."
        )
        var dataFrom: JSONValue = [:]
        @Param(
            .string(maxLength: 8, allowed: MCMCSettings.Method.allCases.map(\.rawValue)),
            "nuts: the No-U-Turn sampler (Stan's trajectories; nutpie's or Stan's warm-up, see adaptation); hmc: static Hamiltonian Monte Carlo; rwm: random-walk Metropolis with covariance adaptation (Haario)."
        )
        var method = MCMCSettings.Method.noUTurn.rawValue
        @Param(.integer(minimum: 1, maximum: 1000), "Keep every thin-th draw after warm-up.") var thin = 1
        @Param(
            .string(maxLength: 8, allowed: ["diag", "dense"]),
            "nuts: the inverse metric adapted in warm-up: diagonal, or dense (the draws' covariance) for correlated posteriors (at most 100 coordinates)."
        )
        var metric = "diag"
        @Param(
            .string(maxLength: 8, allowed: MCMCSettings.Adaptation.allCases.map(\.rawValue)),
            "nuts: the warm-up. nutpie (default): the metric is √(Var draws / Var gradients) over a sliding window of the last 80–160 draws (10–20 early on), so a chain that moves during warm-up sheds its old region from the metric quickly; the last 15 % tune the step size alone. stan: Stan's windows (a step-size window, slow windows doubling from 25 draws that each end with the metric as the window's variances, a final step-size window). The dense metric always uses Stan's; the result's adaptation says which ran."
        )
        var adaptation = MCMCSettings.Adaptation.nutpie.rawValue
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
            "model": .string(Self.eightSchools),
            "data": ["J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]],
            "chains": 4, "warmup": 1000, "draws": 1000, "seed": 1,
        ]
    }

    /// The non-centered eight schools (posteriordb's eight_schools_noncentered), the example.
    static let eightSchools = """
        data {
          int<lower=0> J;
          array[J] real y;
          array[J] real<lower=0> sigma;
        }
        parameters {
          vector[J] theta_trans;
          real mu;
          real<lower=0> tau;
        }
        transformed parameters {
          vector[J] theta = theta_trans * tau + mu;
        }
        model {
          theta_trans ~ normal(0, 1);
          y ~ normal(theta, sigma);
          mu ~ normal(0, 5);
          tau ~ cauchy(0, 5);
        }
        """

    public func references(_ params: JSONValue) -> [ResourceReference] {
        (params["data_from"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.compactMap { name, value in
            guard let reference = value.stringValue else { return nil }
            let id = reference.hasSuffix(":labels") ? String(reference.dropLast(7)) : reference
            return ResourceReference(
                table: "datasets", id: id, field: "params.data_from.\(name)", missing: "dataset",
                hint: "upload one with POST /v1/datasets")
        }
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        let model = try self.model(params)
        if let typed = try? Parameters.decode(params) {
            try ChainRuns.checkSize(chains: typed.chains, draws: typed.draws, dimension: model.coordinateNames.count)
            // Like metric, a warm-up other than the default is for method nuts only. (The dense metric always runs Stan's
            // warm-up, which the result's `adaptation` reports.)
            if typed.adaptation != MCMCSettings.Adaptation.nutpie.rawValue && typed.method != MCMCSettings.Method.noUTurn.rawValue {
                throw ParameterError(.invalidValue, field: "params.adaptation", reason: "the warm-up choice applies to method nuts only")
            }
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
            throw ParameterError(
                .outOfRange, field: model.isProgram ? "params.model" : "params.parameters",
                reason: "at most 1000 coordinates in all, got \(model.dimension)")
        }
        if let initial = params["initial"], initial != .null {
            guard !model.isProgram else {
                throw ParameterError(
                    .invalidValue, field: "params.initial",
                    reason: "model programs start each chain at a random point (uniform in (−2, 2) on the unconstrained scale, as Stan); omit initial"
                )
            }
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
        let program = params["model"]?.stringValue
        let expression = params["log_density"]?.stringValue
        switch (program, expression) {
        case (nil, nil):
            throw ParameterError(
                .missingParameter, field: "params.model", reason: "give a model program (model) or a log-density expression (log_density)")
        case (.some, .some):
            throw ParameterError(.invalidValue, field: "params.log_density", reason: "give either model or log_density, not both")
        case (let source?, nil):
            if let parameters = params["parameters"], parameters != .null {
                throw ParameterError(
                    .invalidValue, field: "params.parameters", reason: "a model program declares its parameters in its parameters block")
            }
            var data = try SamplingInputs.modelData(params["data"], field: "params.data")
            for (name, value) in (params["data_from"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                let field = "params.data_from.\(name)"
                guard data[name] == nil else { throw ParameterError(.invalidValue, field: field, reason: "\(name) is also given in data") }
                guard let readDataset else { throw ParameterError(.invalidValue, field: field, reason: "datasets are not available on this server") }
                let reference = value.stringValue ?? ""
                let labels = reference.hasSuffix(":labels")
                do {
                    data[name] = try readDataset(labels ? String(reference.dropLast(7)) : reference, labels)
                } catch {
                    throw ParameterError(.invalidValue, field: field, reason: "could not read dataset '\(reference.prefix(120))': \(error)")
                }
            }
            return try SamplingInputs.expression("params.model") { try Model(program: source, data: data) }
        case (nil, let source?):
            guard params["parameters"]?.arrayValue != nil else {
                throw ParameterError(.missingParameter, field: "params.parameters", reason: "log_density needs the list of parameters it samples")
            }
            if let dataFrom = params["data_from"]?.objectValue, !dataFrom.isEmpty {
                throw ParameterError(.invalidValue, field: "params.data_from", reason: "data_from is for model programs")
            }
            for (name, value) in params["data"]?.objectValue ?? [:] where value.arrayValue?.contains(where: { $0.arrayValue != nil }) == true {
                throw ParameterError(
                    .invalidType, field: "params.data.\(name)",
                    reason: "log_density expressions take numbers and flat arrays; nested arrays need a model program")
            }
            let specs = try SamplingInputs.parameterSpecs(params)
            let data = SamplingInputs.symbols(params)
            return try SamplingInputs.expression("params.log_density") { try Model(logDensity: source, parameters: specs, data: data) }
        }
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
        settings.adaptation = settings.denseMetric ? .stan : MCMCSettings.Adaptation(rawValue: params.adaptation) ?? .nutpie
        settings.maxTreeDepth = params.maxTreeDepth
        let sampler = MarkovChainSampler(model: model, settings: settings)
        let d = model.coordinateNames.count
        let states = try ChainRuns.run(
            context: context, total: settings.totalIterations, warmup: settings.warmup,
            initial: {
                do { return try sampler.initialStates() } catch let error as SamplerError { throw JobFailure("\(error.field): \(error.reason)") }
            },
            iteration: { $0.iteration },
            advance: { states, target in sampler.advance(&states, to: target, shouldStop: { context.isCancelled }) },
            monitor: { states, diagnosticsDue in
                let proposals = states.reduce(0) { $0 + $1.proposalsAfterWarmup }
                var metrics: [(String, Double)] = []
                if proposals > 0 {
                    let accepted = states.reduce(0.0) { $0 + $1.acceptanceRate * Double($1.proposalsAfterWarmup) }
                    metrics.append(("acceptance_rate", accepted / Double(proposals)))
                }
                if settings.method == .noUTurn {
                    metrics.append(("divergences", Double(states.reduce(0) { $0 + ($1.nuts?.divergences ?? 0) })))
                }
                return metrics + (diagnosticsDue ? ChainRuns.convergence(states.map(\.draws), dimension: d) : [])
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
            result["adaptation"] = .string(settings.adaptation.rawValue)
            try NUTSReport.add(states, names: names, to: &result, context: context)
        }
        return .object(result)
    }
}
