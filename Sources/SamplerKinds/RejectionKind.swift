import Foundation
import Jobs
import Sampling

/// `sample.rejection`: rejection sampling of a one-dimensional log density under a catalog proposal
/// (envelope M given or found), or adaptive rejection sampling for log-concave targets.
public struct RejectionKind: TypedJobKind {
    public init() {}
    public let name = "sample.rejection"
    public let summary = "Rejection sampling of a 1-D log density under M·q (M given or found), or adaptive rejection sampling (log-concave)."

    public struct Parameters: KindParameters {
        @Param(SamplingInputs.logDensity) var logDensity = ""
        @Param(.string(maxLength: 64), "Name of the variable in log_density.") var variable = "x"
        @Param(.number(), "Lower end of the target's domain (omit for −∞).") var lower: Double? = nil
        @Param(.number(), "Upper end of the target's domain (omit for +∞).") var upper: Double? = nil
        @Param(.object(SamplingInputs.distributionSpec()), "Catalog proposal q; required unless adaptive.") var proposal: JSONValue? = nil
        @Param(.number(), "log M of the envelope M·q; found numerically when omitted.") var logM: Double? = nil
        @Param(.boolean, "Use adaptive rejection sampling (Gilks & Wild) instead of a proposal; the target must be log-concave.") var adaptive = false
        @Param(SamplingInputs.data) var data: JSONValue = [:]
        @Param(.integer(minimum: 1, maximum: 10_000_000), "Accepted draws wanted.") var draws = 10_000
        @Param(SamplingInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    public var metrics: [MetricDeclaration] {
        [MetricDeclaration("acceptance_rate", "Accepted over proposed candidates.", step: "0 (one value per run)")]
    }

    public var example: JSONValue {
        [
            "log_density": "log(x) + 4 * log1p(-x)", "lower": 0, "upper": 1,
            "proposal": ["name": "uniform", "params": ["low": 0, "high": 1]], "draws": 20_000, "seed": 1,
        ]
    }

    enum Method {
        case envelope(RejectionSampler)
        case adaptive(AdaptiveRejectionSampler)
    }

    /// Compiles the expression and checks the proposal covers the domain; the envelope search (thousands
    /// of evaluations of the expression) belongs in the job, not in the request that submits it.
    public func validate(_ params: JSONValue) throws(ParameterError) {
        guard let typed = try? Parameters.decode(params) else { return }
        _ = try method(typed, data: params, validating: true)
    }

    /// `data`: the job's params, whose `data` member the expression reads.
    func method(_ params: Parameters, data raw: JSONValue, validating: Bool = false, shouldStop: @escaping () -> Bool = { false })
        throws(ParameterError)
        -> Method
    {
        let (source, variable, lower, upper) = (params.logDensity, params.variable, params.lower, params.upper)
        if let lower, let upper, lower >= upper {
            throw ParameterError(.invalidValue, field: "params.upper", reason: "must be greater than lower")
        }
        let data = SamplingInputs.symbols(raw)
        if params.adaptive {
            return .adaptive(
                try SamplingInputs.expression("params.log_density") {
                    try AdaptiveRejectionSampler(logDensity: source, variable: variable, lower: lower, upper: upper, data: data)
                })
        }
        guard let proposalSpec = params.proposal else {
            throw ParameterError(.missingParameter, field: "params.proposal", reason: "is required unless adaptive is true")
        }
        let proposal = try SamplingInputs.continuous(proposalSpec, field: "params.proposal")
        // While validating, a stand-in log M skips the search; the sampler is thrown away.
        let logM = params.logM ?? (validating ? 0 : nil)
        return .envelope(
            try SamplingInputs.expression("params.log_density") {
                try RejectionSampler(
                    logDensity: source, variable: variable, lower: lower, upper: upper, data: data, proposal: proposal, logM: logM,
                    shouldStop: shouldStop)
            })
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let params = try typedParameters(context.params)
        let count = params.draws
        let seed = UInt64(params.seed)
        context.progress(0, phase: "sampling")
        let stop = { context.isCancelled }
        var result: [String: JSONValue] = [:]
        let draws: [Double]
        var target: Program?
        do {
            context.progress(0, phase: "preparing")
            let method = try method(params, data: context.params, shouldStop: stop)
            context.progress(0, phase: "sampling")
            switch method {
            case .envelope(let sampler):
                target = sampler.target
                let run = try sampler.run(draws: count, seed: seed, shouldStop: stop)
                draws = run.draws
                result = [
                    "method": "rejection", "proposals": .integer(Int64(run.proposals)), "acceptance_rate": .number(run.acceptanceRate),
                    "log_m": .number(run.logM), "log_m_found": .bool(run.logMWasFound),
                    "envelope_violations": .integer(Int64(run.envelopeViolations)),
                    "largest_ratio": .number(run.largestRatio), "log_normalizer": .number(run.logNormalizer),
                    "warnings": .array(run.warnings.map(JSONValue.string)),
                ]
            case .adaptive(let sampler):
                target = sampler.target
                let run = try sampler.run(draws: count, seed: seed, shouldStop: stop)
                draws = run.draws
                result = [
                    "method": "adaptive_rejection", "proposals": .integer(Int64(run.proposals)),
                    "acceptance_rate": .number(run.acceptanceRate), "hull_points": .integer(Int64(run.hullPoints)), "warnings": [],
                ]
            }
        } catch JobInterruption.stopped {
            try context.checkCancellation()
            throw JobRunError.cancelled
        } catch let error as ParameterError {
            // A stop request interrupts the envelope search; it surfaces wrapped as a parameter error.
            try context.checkCancellation()
            throw error
        } catch let error as SamplerError {
            throw JobFailure("\(error.field): \(error.reason)")
        }
        context.metric("acceptance_rate", step: 0, value: result["acceptance_rate"]?.doubleValue ?? .nan)
        result["summary"] = SamplingInputs.summary(draws)
        try DrawArtifacts.write([draws], names: [params.variable], context: context)
        if let target {
            try TargetDensity.writeContinuous(
                variable: params.variable, draws: draws, lower: params.lower, upper: params.upper, context: context,
                logDensity: TargetDensity.evaluate(target))
        }
        return .object(result)
    }
}
