import Foundation
import Jobs
import Sampling

/// `sample.rejection`: rejection sampling of a one-dimensional log density under a catalog proposal
/// (envelope M given or found), or adaptive rejection sampling for log-concave targets.
public struct RejectionKind: JobKind {
    public init() {}
    public let name = "sample.rejection"
    public let summary = "Rejection sampling of a 1-D log density under M·q (M given or found), or adaptive rejection sampling (log-concave)."

    public let parameters = ParameterSchema([
        SamplingInputs.logDensity,
        Parameter("variable", .string(maxLength: 64), "Name of the variable in log_density.", default: "x"),
        Parameter("lower", .number(), "Lower end of the target's domain (omit for −∞)."),
        Parameter("upper", .number(), "Upper end of the target's domain (omit for +∞)."),
        Parameter("proposal", .object(SamplingInputs.distributionSpec()), "Catalog proposal q; required unless adaptive."),
        Parameter("log_m", .number(), "log M of the envelope M·q; found numerically when omitted."),
        Parameter("adaptive", .boolean, "Use adaptive rejection sampling (Gilks & Wild) instead of a proposal; the target must be log-concave.", default: false),
        SamplingInputs.data,
        Parameter("draws", .integer(minimum: 1, maximum: 10_000_000), "Accepted draws wanted.", default: 10_000),
        SamplingInputs.seed,
    ])

    public var metrics: [MetricDeclaration] {
        [MetricDeclaration("acceptance_rate", "Accepted over proposed candidates.", step: "0 (one value per run)")]
    }

    public var example: JSONValue {
        ["log_density": "log(x) + 4 * log1p(-x)", "lower": 0, "upper": 1,
         "proposal": ["name": "uniform", "params": ["low": 0, "high": 1]], "draws": 20_000, "seed": 1]
    }

    enum Method {
        case envelope(RejectionSampler)
        case adaptive(AdaptiveRejectionSampler)
    }

    /// Compiles the expression and checks the proposal covers the domain; the envelope search (thousands
    /// of evaluations of the expression) belongs in the job, not in the request that submits it.
    public func validate(_ params: JSONValue) throws(ParameterError) { _ = try method(params, validating: true) }

    func method(_ params: JSONValue, validating: Bool = false, shouldStop: @escaping () -> Bool = { false }) throws(ParameterError) -> Method {
        let source = params["log_density"]?.stringValue ?? ""
        let variable = params["variable"]?.stringValue ?? "x"
        let lower = params["lower"]?.doubleValue
        let upper = params["upper"]?.doubleValue
        if let lower, let upper, lower >= upper {
            throw ParameterError(.invalidValue, field: "params.upper", reason: "must be greater than lower")
        }
        let data = SamplingInputs.symbols(params)
        if params["adaptive"]?.boolValue == true {
            return .adaptive(try SamplingInputs.expression("params.log_density") {
                try AdaptiveRejectionSampler(logDensity: source, variable: variable, lower: lower, upper: upper, data: data)
            })
        }
        guard params["proposal"] != nil else {
            throw ParameterError(.missingParameter, field: "params.proposal", reason: "is required unless adaptive is true")
        }
        let proposal = try SamplingInputs.continuous(params["proposal"], field: "params.proposal")
        // While validating, a stand-in log M skips the search; the sampler is thrown away.
        let logM = params["log_m"]?.doubleValue ?? (validating ? 0 : nil)
        return .envelope(try SamplingInputs.expression("params.log_density") {
            try RejectionSampler(logDensity: source, variable: variable, lower: lower, upper: upper, data: data, proposal: proposal, logM: logM,
                                 shouldStop: shouldStop)
        })
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let params = context.params
        let count = Int(params["draws"]?.integerValue ?? 10_000)
        let seed = UInt64(params["seed"]?.integerValue ?? 0)
        context.progress(0, phase: "sampling")
        let stop = { context.isCancelled }
        var result: [String: JSONValue] = [:]
        let draws: [Double]
        do {
            context.progress(0, phase: "preparing")
            let method = try method(params, shouldStop: stop)
            context.progress(0, phase: "sampling")
            switch method {
            case .envelope(let sampler):
                let run = try sampler.run(draws: count, seed: seed, shouldStop: stop)
                draws = run.draws
                result = [
                    "method": "rejection", "proposals": .integer(Int64(run.proposals)), "acceptance_rate": .number(run.acceptanceRate),
                    "log_m": .number(run.logM), "log_m_found": .bool(run.logMWasFound), "envelope_violations": .integer(Int64(run.envelopeViolations)),
                    "largest_ratio": .number(run.largestRatio), "log_normalizer": .number(run.logNormalizer),
                    "warnings": .array(run.warnings.map(JSONValue.string)),
                ]
            case .adaptive(let sampler):
                let run = try sampler.run(draws: count, seed: seed, shouldStop: stop)
                draws = run.draws
                result = ["method": "adaptive_rejection", "proposals": .integer(Int64(run.proposals)),
                          "acceptance_rate": .number(run.acceptanceRate), "hull_points": .integer(Int64(run.hullPoints)), "warnings": []]
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
        try DrawArtifacts.write([draws], names: [params["variable"]?.stringValue ?? "x"], context: context)
        return .object(result)
    }
}
