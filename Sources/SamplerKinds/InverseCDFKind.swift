import Foundation
import Jobs
import Sampling

/// `sample.inverse_cdf`: draws by inverting a CDF — a catalog distribution's quantile function, a
/// user's density on a bounded interval (numeric CDF, interpolated inverse), or a tabulated pdf.
public struct InverseCDFKind: TypedJobKind {
    public init() {}
    public let name = "sample.inverse_cdf"
    public let summary = "Inverse-CDF sampling of a catalog distribution, a user density on [lower, upper], or a tabulated pdf."
    static let maxDraws: Int64 = 10_000_000

    public struct Parameters: KindParameters {
        @Param(.object(SamplingInputs.distributionSpec()), "A catalog distribution {name, params}.") var distribution: JSONValue? = nil
        @Param(.string(maxLength: ExpressionLimits.maxLength), "A log density over `x` (unnormalized), with lower and upper.") var logDensity:
            String? = nil
        @Param(.number(), "Lower end of the interval for log_density.") var lower: Double? = nil
        @Param(.number(), "Upper end of the interval for log_density.") var upper: Double? = nil
        @Param(.number(minimum: 1e-13, maximum: 1e-4), "Target u-error of the numeric inverse.") var tolerance = 1e-10
        @Param(
            .object(
                ParameterSchema([
                    Parameter("x", .array(of: .number(), minItems: 2, maxItems: 1_000_000), "Increasing abscissae.", required: true),
                    Parameter(
                        "pdf", .array(of: .number(minimum: 0), minItems: 2, maxItems: 1_000_000), "Density values (any scale).", required: true),
                ])), "A tabulated density, linear between points.")
        var table: JSONValue? = nil
        @Param(SamplingInputs.data) var data: JSONValue = [:]
        @Param(.integer(minimum: 1, maximum: InverseCDFKind.maxDraws), "Number of draws.") var draws: Int64 = 10_000
        @Param(SamplingInputs.seed) var seed: Int64 = 0
        public init() {}
    }

    public var example: JSONValue {
        ["distribution": ["name": "gamma", "params": ["shape": 2.5, "rate": 1]], "draws": 100_000, "seed": 1]
    }

    public func validate(_ params: JSONValue) throws(ParameterError) {
        let given = ["distribution", "log_density", "table"].filter { params[$0] != nil }
        guard given.count == 1 else {
            throw ParameterError(
                .invalidValue, field: "params",
                reason: "give exactly one of distribution, log_density or table (got \(given.isEmpty ? "none" : given.joined(separator: ", ")))")
        }
        _ = try source(params, validating: true)
    }

    enum Source {
        case catalog(DistributionCatalog.Built)
        case numeric(NumericInversion)
        case table(TabulatedInversion)
    }

    /// `validating`: only the checks that cost no more than compiling the expression; numeric inversion's
    /// integration (up to 50,000 panels of evaluations) runs in the job, where it can be cancelled.
    func source(_ params: JSONValue, validating: Bool = false, shouldStop: @escaping () -> Bool = { false }) throws(ParameterError) -> Source? {
        if params["distribution"] != nil {
            return .catalog(try SamplingInputs.distribution(params["distribution"], field: "params.distribution"))
        }
        if let source = params["log_density"]?.stringValue {
            guard let lower = params["lower"]?.doubleValue else {
                throw ParameterError(.missingParameter, field: "params.lower", reason: "is required with log_density")
            }
            guard let upper = params["upper"]?.doubleValue, upper > lower else {
                throw ParameterError(.invalidValue, field: "params.upper", reason: "is required with log_density and must exceed lower")
            }
            let tolerance = params["tolerance"]?.doubleValue ?? Parameters().tolerance
            let data = SamplingInputs.symbols(params)
            if validating {
                try SamplingInputs.expression("params.log_density") {
                    try NumericInversion.check(logDensity: source, lower: lower, upper: upper, data: data)
                }
                return nil
            }
            return .numeric(
                try SamplingInputs.expression("params.log_density") {
                    try NumericInversion(logDensity: source, lower: lower, upper: upper, data: data, tolerance: tolerance, shouldStop: shouldStop)
                })
        }
        let x = SamplingInputs.numbers(params["table"]?["x"])
        let pdf = SamplingInputs.numbers(params["table"]?["pdf"])
        do {
            return .table(try TabulatedInversion(x: x, pdf: pdf))
        } catch {
            throw ParameterError(.invalidValue, field: "params.table.\(error.field)", reason: error.reason)
        }
    }

    public func run(_ context: JobContext) throws -> JSONValue {
        let params = context.params
        let typed = try typedParameters(params)
        let count = Int(typed.draws)
        var rng = RandomStream(seed: UInt64(typed.seed))
        context.progress(0, phase: "preparing")
        let source: Source
        do {
            guard let prepared = try self.source(params, shouldStop: { context.isCancelled }) else { throw JobFailure("no sampler source") }
            source = prepared
        } catch {
            // A stop request interrupts the integration; it surfaces wrapped as a parameter error.
            try context.checkCancellation()
            throw error
        }
        var draws = [Double](repeating: 0, count: count)
        var result: [String: JSONValue] = [:]
        // Built once per job (it was rebuilt for every chunk of a million draws).
        let discreteTable: DiscreteInversionTable? =
            if case .catalog(.discrete(let distribution)) = source {
                DiscreteInversionTable(distribution)
            } else {
                nil
            }
        let chunk = 1 << 20
        var start = 0
        while start < count {
            try context.checkCancellation()
            let end = min(count, start + chunk)
            draws.withUnsafeMutableBufferPointer { all in
                let buffer = UnsafeMutableBufferPointer(rebasing: all[start..<end])
                switch source {
                case .catalog(.continuous(let distribution)):
                    for index in buffer.indices { buffer[index] = distribution.quantile(rng.uniformOpen()) }
                case .catalog(.discrete):
                    guard let table = discreteTable else { return }
                    for index in buffer.indices { buffer[index] = Double(table.quantile(rng.uniformOpen())) }
                case .numeric(let inversion):
                    inversion.fill(buffer, &rng)
                case .table(let table):
                    for index in buffer.indices { buffer[index] = table.sample(&rng) }
                }
            }
            start = end
            context.progress(Double(start) / Double(count), phase: "sampling", message: "\(start) of \(count) draws")
        }
        switch source {
        case .catalog(let built):
            result["method"] = "catalog"
            switch built {
            case .continuous(let distribution):
                result["exact"] = ["mean": .number(distribution.mean), "variance": .number(distribution.variance)]
            case .discrete(let distribution):
                result["exact"] = ["mean": .number(distribution.mean), "variance": .number(distribution.variance)]
            }
        case .numeric(let inversion):
            result["method"] = "numeric"
            result["approximation_error"] = .number(inversion.approximationError)
            result["log_normalizer"] = .number(inversion.logNormalizer)
        case .table:
            result["method"] = "table"
            result["approximation_error"] = 0
        }
        result["summary"] = SamplingInputs.summary(draws)
        try DrawArtifacts.write([draws], names: ["x"], context: context)
        // The target beside the draws, for the marginals plot.
        switch source {
        case .catalog(.continuous(let distribution)):
            try TargetDensity.writeContinuous(variable: "x", draws: draws, context: context, logDensity: distribution.logDensity)
        case .catalog(.discrete(let distribution)):
            try TargetDensity.writeDiscrete(variable: "x", draws: draws, context: context, probability: distribution.probability)
        case .numeric(let inversion):
            if let source = params["log_density"]?.stringValue,
                let program = try? ExpressionCompiler.compile(
                    source, symbols: ExpressionSymbols(parameters: [(name: "x", size: nil)], data: SamplingInputs.symbols(params)))
            {
                try TargetDensity.writeContinuous(
                    variable: "x", draws: draws, lower: inversion.lower, upper: inversion.upper, context: context,
                    logDensity: TargetDensity.evaluate(program))
            }
        case .table:
            try TargetDensity.writeTable(
                variable: "x", x: SamplingInputs.numbers(params["table"]?["x"]), pdf: SamplingInputs.numbers(params["table"]?["pdf"]),
                context: context)
        }
        return .object(result)
    }
}

/// The CDF of a discrete distribution tabulated over all but 1e-15 of its mass, so each draw is a
/// binary search instead of a search that evaluates incomplete gamma or beta functions.
struct DiscreteInversionTable {
    let distribution: any DiscreteDistribution
    let first: Int
    let cumulative: [Double]
    /// P(X < first): below it the table does not reach.
    let below: Double
    static let maxEntries = 1_000_000

    init(_ distribution: any DiscreteDistribution) {
        self.distribution = distribution
        let low = distribution.quantile(1e-15)
        let high = distribution.quantile(1 - 1e-15)
        first = low
        below = low > distribution.support.lower ? distribution.cdf(low - 1) : 0
        // A million CDF evaluations at most (incomplete beta or gamma each, about a second in all): wider
        // distributions fall back to the search, which is logarithmic.
        if high - low < Self.maxEntries {
            cumulative = (low...high).map { distribution.cdf($0) }
        } else {
            cumulative = []
        }
    }

    func quantile(_ p: Double) -> Int {
        guard let last = cumulative.last, p <= last, p > below else {
            return distribution.quantile(p)
        }
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] >= p { high = middle } else { low = middle + 1 }
        }
        return first + low
    }
}
