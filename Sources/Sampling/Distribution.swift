import Foundation

/// Why a distribution's parameters were refused; `parameter` names the field.
public struct DistributionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var parameter: String
    public var reason: String

    public init(_ parameter: String, _ reason: String) {
        self.parameter = parameter
        self.reason = reason
    }

    public var description: String { "\(parameter): \(reason)" }

    static func require(_ condition: Bool, _ parameter: String, _ reason: String) throws(DistributionError) {
        if !condition { throw DistributionError(parameter, reason) }
    }

    static func finite(_ value: Double, _ parameter: String) throws(DistributionError) {
        try require(value.isFinite, parameter, "must be finite, got \(value)")
    }

    static func positive(_ value: Double, _ parameter: String) throws(DistributionError) {
        try require(value.isFinite && value > 0, parameter, "must be > 0, got \(value)")
    }
}

/// A univariate continuous distribution.
public protocol ContinuousDistribution: Sendable {
    func logDensity(_ x: Double) -> Double
    func cdf(_ x: Double) -> Double
    /// The inverse CDF on (0, 1).
    func quantile(_ p: Double) -> Double
    func sample(_ rng: inout RandomStream) -> Double
    var mean: Double { get }
    var variance: Double { get }
    /// The closure of the support, possibly infinite at either end.
    var support: (lower: Double, upper: Double) { get }
}

extension ContinuousDistribution {
    public func density(_ x: Double) -> Double { exp(logDensity(x)) }

    /// Upper tail; distributions with a more precise form override it.
    public func survival(_ x: Double) -> Double { 1 - cdf(x) }

    /// Fills `buffer` with independent draws.
    public func fill(_ buffer: UnsafeMutableBufferPointer<Double>, _ rng: inout RandomStream) {
        for index in buffer.indices { buffer[index] = sample(&rng) }
    }

    public func samples(_ count: Int, _ rng: inout RandomStream) -> [Double] {
        [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer, &rng)
            initialized = count
        }
    }
}

/// A distribution on the integers.
public protocol DiscreteDistribution: Sendable {
    func logProbability(_ k: Int) -> Double
    /// P(X ≤ k).
    func cdf(_ k: Int) -> Double
    /// The smallest k with P(X ≤ k) ≥ p.
    func quantile(_ p: Double) -> Int
    func sample(_ rng: inout RandomStream) -> Int
    var mean: Double { get }
    var variance: Double { get }
    var support: (lower: Int, upper: Int) { get }
}

extension DiscreteDistribution {
    public func probability(_ k: Int) -> Double { exp(logProbability(k)) }

    /// Generic quantile by search from a starting guess: gallops away from the guess in doubling steps
    /// until the answer is bracketed, then bisects. O(log distance) CDF evaluations, so a poor guess
    /// (a skewed negative binomial, a geometric with p = 1e-12) costs microseconds, not minutes of an
    /// uncancellable one-by-one walk.
    func searchQuantile(_ p: Double, guess: Int) -> Int {
        let (lower, upper) = support
        let start = min(max(guess, lower), upper)
        // The answer lies in low…high: cdf(high) ≥ p (or high is the upper end), cdf(low − 1) < p (or low is the lower end).
        var low = lower
        var high = upper
        var step = 1
        if cdf(start) >= p {
            high = start
            while high > lower {
                let candidate = high - min(step, high - lower)
                if cdf(candidate) >= p {
                    high = candidate
                    step = min(step * 2, Int.max / 4)
                } else {
                    low = candidate + 1
                    break
                }
            }
            if high == lower { return lower }
        } else {
            var probe = start
            low = start + 1
            while probe < upper {
                let candidate = probe + min(step, upper - probe)
                if cdf(candidate) >= p {
                    high = candidate
                    break
                }
                low = candidate + 1
                probe = candidate
                step = min(step * 2, Int.max / 4)
            }
            if low > upper { return upper }
        }
        while low < high {
            let middle = low + (high - low) / 2
            if cdf(middle) >= p { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
