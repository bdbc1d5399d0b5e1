import Foundation

/// A proposal for importance or rejection sampling: independent catalog distributions per
/// coordinate, or a multivariate normal.
public enum Proposal: Sendable {
    case independent([any ContinuousDistribution])
    case multivariateNormal(MultivariateNormal)

    public var dimension: Int {
        switch self {
        case .independent(let distributions): return distributions.count
        case .multivariateNormal(let mvn): return mvn.dimension
        }
    }

    func sample(_ rng: inout RandomStream, into x: inout [Double]) {
        switch self {
        case .independent(let distributions):
            for i in distributions.indices { x[i] = distributions[i].sample(&rng) }
        case .multivariateNormal(let mvn):
            x = mvn.sample(&rng)
        }
    }

    func logDensity(_ x: [Double]) -> Double {
        switch self {
        case .independent(let distributions):
            var total = 0.0
            for i in distributions.indices { total += distributions[i].logDensity(x[i]) }
            return total
        case .multivariateNormal(let mvn):
            return mvn.logDensity(x)
        }
    }

    /// Checks that the proposal puts mass wherever the target may: on each coordinate's declared domain.
    func checkCovers(_ parameters: [ParameterSpec]) throws(SamplerError) {
        guard case .independent(let distributions) = self else { return }
        let bounds = parameters.flatMap { spec in Array(repeating: (spec.lower ?? -.infinity, spec.upper ?? .infinity), count: spec.length) }
        for (index, (distribution, bound)) in zip(distributions, bounds).enumerated() {
            let support = distribution.support
            if support.lower > bound.0 || support.upper < bound.1 {
                throw SamplerError(
                    "proposal",
                    "its support [\(support.lower), \(support.upper)] misses part of coordinate \(index)'s domain [\(bound.0), \(bound.1)]; "
                        + "choose a proposal that covers it, or declare the parameter's lower/upper bounds if the target is zero outside")
            }
        }
    }
}

/// Self-normalized importance sampling with Pareto smoothing.
public struct ImportanceSampler: Sendable {
    public struct Estimate: Sendable, Codable, Equatable {
        public var name: String
        public var estimate: Double
        public var mcse: Double
        /// The raw self-normalized estimate, before Pareto smoothing.
        public var rawEstimate: Double

        enum CodingKeys: String, CodingKey {
            case name, estimate, mcse
            case rawEstimate = "raw_estimate"
        }
    }

    public struct Result: Sendable {
        public var draws: [[Double]]
        public var logWeights: [Double]
        public var smoothedLogWeights: [Double]
        public var estimates: [Estimate]
        public var kishESS: Double
        public var smoothedESS: Double
        public var paretoK: Double
        public var logNormalizer: Double
        public var warnings: [String]
    }

    public let target: Program
    public let parameters: [ParameterSpec]
    public let proposal: Proposal
    /// Expressions f(θ) whose expectations are estimated.
    public let functions: [(name: String, program: Program)]

    public init(
        target: String, parameters: [ParameterSpec], data: [String: ExpressionSymbols.Value], proposal: Proposal,
        functions: [(name: String, source: String)]
    ) throws {
        let symbols = ExpressionSymbols(parameters: parameters.map { (name: $0.name, size: $0.size) }, data: data)
        self.target = try ExpressionCompiler.compile(target, symbols: symbols)
        self.parameters = parameters
        guard proposal.dimension == symbols.parameterCount else {
            throw SamplerError("proposal", "has \(proposal.dimension) dimensions but the parameters have \(symbols.parameterCount)")
        }
        try proposal.checkCovers(parameters)
        self.proposal = proposal
        self.functions = try functions.map { function in
            do {
                return (function.name, try ExpressionCompiler.compile(function.source, symbols: symbols))
            } catch {
                throw SamplerError("functions.\(function.name)", "\(error)")
            }
        }
    }

    public func run(draws n: Int, seed: UInt64, shouldStop: () -> Bool = { false }) throws -> Result {
        var rng = RandomStream(seed: seed)
        let evaluator = Evaluator(target)
        let d = proposal.dimension
        var x = [Double](repeating: 0, count: d)
        var draws: [[Double]] = []
        draws.reserveCapacity(n)
        var logWeights: [Double] = []
        logWeights.reserveCapacity(n)
        for index in 0..<n {
            if index % 4096 == 0, shouldStop() { throw JobInterruption.stopped }
            proposal.sample(&rng, into: &x)
            let logTarget = evaluator.value(x)
            let logProposal = proposal.logDensity(x)
            logWeights.append(logTarget.isFinite && logProposal.isFinite ? logTarget - logProposal : -.infinity)
            draws.append(x)
        }
        guard logWeights.contains(where: \.isFinite) else {
            throw SamplerError("proposal", "the target's density is zero at every proposed draw")
        }
        let (smoothed, k) = ParetoSmoothing.smooth(logWeights)
        let rawTotal = ParetoSmoothing.logSumExp(logWeights)
        let raw = logWeights.map { exp($0 - rawTotal) }
        let weights = smoothed.map { exp($0) }
        let kish = 1 / raw.reduce(0) { $0 + $1 * $1 }
        let smoothedESS = 1 / weights.reduce(0) { $0 + $1 * $1 }
        var estimates: [Estimate] = []
        for function in functions {
            let f = Evaluator(function.program)
            let values = draws.map { f.rawValue($0) }
            let estimate = zip(weights, values).reduce(0) { $0 + $1.0 * $1.1 }
            let rawEstimate = zip(raw, values).reduce(0) { $0 + $1.0 * $1.1 }
            let mcse = zip(weights, values).reduce(0) { $0 + $1.0 * $1.0 * ($1.1 - estimate) * ($1.1 - estimate) }.squareRoot()
            estimates.append(Estimate(name: function.name, estimate: estimate, mcse: mcse, rawEstimate: rawEstimate))
        }
        var warnings: [String] = []
        if k > 0.7 {
            warnings.append(
                "Pareto k̂ = \(String(format: "%.2f", k)) > 0.7: the importance weights have too heavy a tail; estimates are unreliable. Use a wider proposal."
            )
        } else if k > 0.5 {
            warnings.append("Pareto k̂ = \(String(format: "%.2f", k)) > 0.5: estimates converge slowly.")
        }
        if kish < 100 { warnings.append("Kish ESS \(Int(kish)) < 100: few draws carry the weight.") }
        return Result(
            draws: draws, logWeights: logWeights, smoothedLogWeights: smoothed, estimates: estimates, kishESS: kish,
            smoothedESS: smoothedESS, paretoK: k, logNormalizer: rawTotal - log(Double(n)), warnings: warnings)
    }
}

/// A run that stopped because it was told to (cancel or shutdown); the job layer maps it.
public enum JobInterruption: Error, Sendable {
    case stopped
}
