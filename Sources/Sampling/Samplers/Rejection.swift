import Foundation

/// Rejection sampling of a one-dimensional target p (unnormalized, given as a log density) under
/// M·q for a catalog proposal q. M is the user's, or found by maximizing log p − log q over a grid
/// of q's quantiles refined by golden-section search. Any draw with p(x) > M q(x) is an envelope
/// violation: the draws are then not exact, and the result says so.
public struct RejectionSampler: Sendable {
    public struct Result: Sendable {
        public var draws: [Double]
        public var proposals: Int
        public var acceptanceRate: Double
        public var logM: Double
        public var logMWasFound: Bool
        public var envelopeViolations: Int
        /// The largest p(x) / (M q(x)) seen; above 1 means the envelope was violated.
        public var largestRatio: Double
        /// log ∫ p, estimated as log M + log(acceptance rate).
        public var logNormalizer: Double
        public var warnings: [String]
    }

    public let target: Program
    public let proposal: any ContinuousDistribution
    public let logM: Double
    public let logMWasFound: Bool
    public static let maxProposals = 500_000_000

    public init(
        logDensity: String, variable: String = "x", lower: Double?, upper: Double?, data: [String: ExpressionSymbols.Value],
        proposal: any ContinuousDistribution, logM: Double?, shouldStop: () -> Bool = { false }
    ) throws {
        self.target = try ExpressionCompiler.compile(logDensity, symbols: ExpressionSymbols(parameters: [(name: variable, size: nil)], data: data))
        try Proposal.independent([proposal]).checkCovers([ParameterSpec(name: variable, lower: lower, upper: upper)])
        self.proposal = proposal
        if let logM {
            guard logM.isFinite else { throw SamplerError("log_m", "must be finite") }
            self.logM = logM
            self.logMWasFound = false
        } else {
            self.logM = try Self.findLogM(Evaluator(target), proposal: proposal, shouldStop: shouldStop)
            self.logMWasFound = true
        }
    }

    static func findLogM(_ evaluator: Evaluator, proposal: any ContinuousDistribution, shouldStop: () -> Bool) throws -> Double {
        func gap(_ x: Double) -> Double {
            let value = evaluator.value([x]) - proposal.logDensity(x)
            return value.isNaN ? -.infinity : value
        }
        let grid = (1..<4000).map { proposal.quantile(Double($0) / 4000) }
        var bestIndex = 0
        var best = -Double.infinity
        for (index, x) in grid.enumerated() {
            // 4,000 evaluations of a possibly long expression: a cancel must not wait for them.
            if index % 64 == 0, shouldStop() { throw JobInterruption.stopped }
            let value = gap(x)
            if value > best {
                best = value
                bestIndex = index
            }
        }
        guard best.isFinite else { throw SamplerError("log_density", "the target is zero wherever the proposal has mass") }
        if best == .infinity { throw SamplerError("proposal", "the target's density is unbounded relative to the proposal; no envelope exists") }
        // Golden-section search between the grid neighbours of the best point.
        var a = grid[max(0, bestIndex - 1)]
        var b = grid[min(grid.count - 1, bestIndex + 1)]
        let ratio = (5.0.squareRoot() - 1) / 2
        for _ in 0..<100 {
            let c = b - ratio * (b - a)
            let d = a + ratio * (b - a)
            if gap(c) > gap(d) { b = d } else { a = c }
        }
        best = max(best, gap((a + b) / 2))
        // A margin for what lies between the grid points and for rounding.
        return best + 1e-3
    }

    public func run(draws n: Int, seed: UInt64, shouldStop: () -> Bool = { false }) throws -> Result {
        var rng = RandomStream(seed: seed)
        let evaluator = Evaluator(target)
        var draws: [Double] = []
        draws.reserveCapacity(n)
        var proposals = 0
        var violations = 0
        var largest = -Double.infinity
        while draws.count < n {
            if proposals % 65_536 == 0 {
                if shouldStop() { throw JobInterruption.stopped }
                if proposals >= Self.maxProposals {
                    throw SamplerError(
                        "proposal", "only \(draws.count) of \(n) draws accepted in \(proposals) proposals; the envelope is far too loose")
                }
            }
            let x = proposal.sample(&rng)
            proposals += 1
            let logRatio = evaluator.value([x]) - logM - proposal.logDensity(x)
            if logRatio > largest { largest = logRatio }
            if logRatio > 0 { violations += 1 }
            if log(rng.uniformOpen()) < logRatio { draws.append(x) }
        }
        let rate = Double(n) / Double(proposals)
        var warnings: [String] = []
        if violations > 0 {
            warnings.append(
                "envelope violated \(violations) times (p(x) reached \(String(format: "%.3g", exp(largest)))·M·q(x)); draws are not exact — raise log_m"
            )
        }
        if rate < 0.01 { warnings.append("acceptance rate \(String(format: "%.2g", rate)) is low; a closer proposal would be faster") }
        return Result(
            draws: draws, proposals: proposals, acceptanceRate: rate, logM: logM, logMWasFound: logMWasFound,
            envelopeViolations: violations, largestRatio: exp(largest), logNormalizer: logM + log(rate), warnings: warnings)
    }
}

/// Adaptive rejection sampling (Gilks & Wild 1992, tangent version) for log-concave targets, with
/// tangents from the expression language's gradient. The hull tightens at every rejection, so the
/// acceptance rate climbs towards 1; a slope that fails to decrease proves the target is not
/// log-concave, which is reported instead of sampled wrongly.
public struct AdaptiveRejectionSampler: Sendable {
    public struct Result: Sendable {
        public var draws: [Double]
        public var proposals: Int
        public var hullPoints: Int
        public var acceptanceRate: Double
    }

    public let target: Program
    public let lower: Double
    public let upper: Double

    public init(logDensity: String, variable: String = "x", lower: Double?, upper: Double?, data: [String: ExpressionSymbols.Value]) throws {
        self.target = try ExpressionCompiler.compile(logDensity, symbols: ExpressionSymbols(parameters: [(name: variable, size: nil)], data: data))
        self.lower = lower ?? -.infinity
        self.upper = upper ?? .infinity
        guard self.lower < self.upper else { throw SamplerError("upper", "must be greater than lower") }
    }

    struct Point {
        var x: Double
        var h: Double
        var slope: Double
    }

    public func run(draws n: Int, seed: UInt64, initial: [Double]? = nil, shouldStop: () -> Bool = { false }) throws -> Result {
        var rng = RandomStream(seed: seed)
        let evaluator = Evaluator(target)
        func point(_ x: Double) throws -> Point {
            let (h, gradient) = evaluator.valueAndGradient([x])
            guard h.isFinite, gradient[0].isFinite else {
                throw SamplerError("log_density", "not finite at x = \(x) inside the bounds; ARS needs a log density finite on (lower, upper)")
            }
            return Point(x: x, h: h, slope: gradient[0])
        }
        var points = try startingPoints(initial, point)
        var hull = try Hull(points, lower: lower, upper: upper)
        var draws: [Double] = []
        draws.reserveCapacity(n)
        var proposals = 0
        while draws.count < n {
            if proposals % 16_384 == 0, shouldStop() { throw JobInterruption.stopped }
            proposals += 1
            let (x, upperValue) = hull.sample(&rng)
            let logU = log(rng.uniformOpen())
            if logU <= hull.squeeze(x, points) - upperValue {
                draws.append(x)
                continue
            }
            let candidate = try point(x)
            if candidate.h > upperValue + 1e-9 * max(1, abs(upperValue)) {
                throw SamplerError("log_density", "is not log-concave: it lies above its tangent hull at x = \(x)")
            }
            if logU <= candidate.h - upperValue { draws.append(x) }
            // Every rejection step tightens the hull (up to a cap that keeps each draw cheap).
            if points.count < 200 {
                points.append(candidate)
                points.sort { $0.x < $1.x }
                hull = try Hull(points, lower: lower, upper: upper)
            }
        }
        return Result(draws: draws, proposals: proposals, hullPoints: points.count, acceptanceRate: Double(n) / Double(proposals))
    }

    /// At least one point with a positive slope (unless bounded below) and one with a negative
    /// slope (unless bounded above), found by stepping outwards from a start.
    private func startingPoints(_ initial: [Double]?, _ point: (Double) throws -> Point) throws -> [Point] {
        var xs = initial ?? []
        if xs.isEmpty {
            if lower.isFinite && upper.isFinite {
                xs = [lower + 0.1 * (upper - lower), lower + 0.5 * (upper - lower), lower + 0.9 * (upper - lower)]
            } else if lower.isFinite {
                xs = [lower + 0.5, lower + 1, lower + 2]
            } else if upper.isFinite {
                xs = [upper - 2, upper - 1, upper - 0.5]
            } else {
                xs = [-1, 0, 1]
            }
        }
        var points = try xs.filter { $0 > lower && $0 < upper }.sorted().map(point)
        guard !points.isEmpty else { throw SamplerError("initial", "needs points strictly inside (lower, upper)") }
        var step = 1.0
        while !lower.isFinite, points[0].slope <= 0 {
            step *= 2
            guard step < 1e12 else { throw SamplerError("log_density", "does not decrease towards −∞; it is not a proper log-concave density") }
            points.insert(try point(points[0].x - step), at: 0)
        }
        step = 1
        while !upper.isFinite, points[points.count - 1].slope >= 0 {
            step *= 2
            guard step < 1e12 else { throw SamplerError("log_density", "does not decrease towards +∞; it is not a proper log-concave density") }
            points.append(try point(points[points.count - 1].x + step))
        }
        return points
    }

    /// The upper hull: tangents meeting at z_j, a piecewise exponential to sample from.
    struct Hull {
        var points: [Point]
        var z: [Double]
        var logMass: [Double]
        var lower: Double
        var upper: Double

        init(_ points: [Point], lower: Double, upper: Double) throws {
            self.points = points
            self.lower = lower
            self.upper = upper
            for (a, b) in zip(points, points.dropFirst()) where b.slope > a.slope + 1e-10 * max(1, abs(a.slope)) {
                throw SamplerError("log_density", "is not log-concave: its slope rises between x = \(a.x) and x = \(b.x)")
            }
            var z = [lower]
            for (a, b) in zip(points, points.dropFirst()) {
                if abs(a.slope - b.slope) < 1e-12 {
                    z.append((a.x + b.x) / 2)
                } else {
                    z.append((b.h - a.h - b.x * b.slope + a.x * a.slope) / (a.slope - b.slope))
                }
            }
            z.append(upper)
            self.z = z
            // log ∫_{z_j}^{z_{j+1}} exp(h_j + s_j (x − x_j)) dx
            logMass = points.indices.map { j in
                let p = points[j]
                let (a, b) = (z[j], z[j + 1])
                if abs(p.slope) < 1e-12 { return p.h + log(b - a) }
                let ua = p.h + p.slope * (a - p.x)
                let ub = p.h + p.slope * (b - p.x)
                // log |exp(ub) − exp(ua)| − log |s|, computed stably.
                let high = max(ua, ub), low = min(ua, ub)
                return high + log(-expm1(low - high)) - log(abs(p.slope))
            }
        }

        func sample(_ rng: inout RandomStream) -> (x: Double, upperValue: Double) {
            let total = ParetoSmoothing.logSumExp(logMass)
            var u = rng.uniform()
            var j = 0
            while j < logMass.count - 1 {
                let mass = exp(logMass[j] - total)
                if u < mass { break }
                u -= mass
                j += 1
            }
            let p = points[j]
            let (a, b) = (z[j], z[j + 1])
            let v = rng.uniformOpen()
            let x: Double
            if abs(p.slope) < 1e-12 {
                x = a + v * (b - a)
            } else if p.slope > 0 {
                // Inverse CDF of exp(s x) on [a, b], from the upper end for stability.
                x = b + log(v + (1 - v) * exp(-p.slope * (b - a))) / p.slope
            } else {
                x = a + log1p(-v * (-expm1(p.slope * (b - a)))) / p.slope
            }
            return (x, p.h + p.slope * (x - p.x))
        }

        /// The lower squeeze: chords between neighbouring points, −∞ outside them.
        func squeeze(_ x: Double, _ points: [Point]) -> Double {
            guard x >= points[0].x, x <= points[points.count - 1].x else { return -.infinity }
            var j = 0
            while j < points.count - 2 && x > points[j + 1].x { j += 1 }
            let a = points[j], b = points[j + 1]
            return a.h + (b.h - a.h) * (x - a.x) / (b.x - a.x)
        }
    }
}
