import Foundation

public struct Bernoulli: DiscreteDistribution {
    public let p: Double

    public init(p: Double) throws(DistributionError) {
        try DistributionError.require(p >= 0 && p <= 1, "p", "must be in [0, 1], got \(p)")
        self.p = p
    }

    public func logProbability(_ k: Int) -> Double { k == 1 ? log(p) : (k == 0 ? log1p(-p) : -.infinity) }
    public func cdf(_ k: Int) -> Double { k < 0 ? 0 : (k < 1 ? 1 - p : 1) }
    public func quantile(_ q: Double) -> Int { q <= 1 - p ? 0 : 1 }
    public func sample(_ rng: inout RandomStream) -> Int { rng.uniform() < p ? 1 : 0 }
    public var mean: Double { p }
    public var variance: Double { p * (1 - p) }
    public var support: (lower: Int, upper: Int) { (0, 1) }
}

public struct Binomial: DiscreteDistribution {
    public let n: Int
    public let p: Double

    public init(n: Int, p: Double) throws(DistributionError) {
        try DistributionError.require(n >= 0 && n <= 1 << 40, "n", "must be in [0, 2^40], got \(n)")
        try DistributionError.require(p >= 0 && p <= 1, "p", "must be in [0, 1], got \(p)")
        self.n = n
        self.p = p
    }

    public func logProbability(_ k: Int) -> Double {
        guard k >= 0 && k <= n else { return -.infinity }
        if p == 0 { return k == 0 ? 0 : -.infinity }
        if p == 1 { return k == n ? 0 : -.infinity }
        let nn = Double(n), kk = Double(k)
        return Special.logGamma(nn + 1) - Special.logGamma(kk + 1) - Special.logGamma(nn - kk + 1)
            + kk * log(p) + (nn - kk) * log1p(-p)
    }
    public func cdf(_ k: Int) -> Double {
        if k < 0 { return 0 }
        if k >= n { return 1 }
        return Special.betaI(1 - p, Double(n - k), Double(k + 1))
    }
    public func quantile(_ q: Double) -> Int {
        let guess = Int(saturating: (Double(n) * p + (Double(n) * p * (1 - p)).squareRoot() * Special.normalQuantile(q)).rounded(), nan: 0)
        return searchQuantile(q, guess: guess)
    }

    /// Inversion for small n·min(p, 1−p); Hörmann's BTRD (transformed rejection) beyond.
    public func sample(_ rng: inout RandomStream) -> Int {
        if n == 0 || p == 0 { return 0 }
        if p == 1 { return n }
        let flipped = p > 0.5
        let q = flipped ? 1 - p : p
        let k = Double(n) * q < 10 ? Self.inversion(n, q, &rng) : Self.btrd(n, q, &rng)
        return flipped ? n - k : k
    }

    private static func inversion(_ n: Int, _ p: Double, _ rng: inout RandomStream) -> Int {
        let q = 1 - p
        let s = p / q
        let a = Double(n + 1) * s
        var r = pow(q, Double(n))
        var u = rng.uniform()
        var x = 0
        while u > r {
            u -= r
            x += 1
            if x > n {
                // Rounding left u above the total mass: start over.
                x = 0
                u = rng.uniform()
                r = pow(q, Double(n))
                continue
            }
            r *= a / Double(x) - s
        }
        return x
    }

    private static func btrd(_ n: Int, _ p: Double, _ rng: inout RandomStream) -> Int {
        let nn = Double(n)
        let spq = (nn * p * (1 - p)).squareRoot()
        let b = 1.15 + 2.53 * spq
        let a = -0.0873 + 0.0248 * b + 0.01 * p
        let c = nn * p + 0.5
        let vr = 0.92 - 4.2 / b
        let alpha = (2.83 + 5.1 / b) * spq
        let lpq = log(p / (1 - p))
        let m = floor((nn + 1) * p)
        let h = Special.logGamma(m + 1) + Special.logGamma(nn - m + 1)
        while true {
            var u = rng.uniform() - 0.5
            var v = rng.uniform()
            let us = 0.5 - abs(u)
            var k = floor((2 * a / us + b) * u + c)
            if k < 0 || k > nn { continue }
            if us >= 0.07 && v <= vr { return Int(saturating: k, nan: 0) }
            v = log(v * alpha / (a / (us * us) + b))
            if v <= h - Special.logGamma(k + 1) - Special.logGamma(nn - k + 1) + (k - m) * lpq {
                return Int(saturating: k, nan: 0)
            }
            u = 0
            k = 0
        }
    }
    public var mean: Double { Double(n) * p }
    public var variance: Double { Double(n) * p * (1 - p) }
    public var support: (lower: Int, upper: Int) { (0, n) }
}

public struct Poisson: DiscreteDistribution {
    public let lambda: Double

    public init(lambda: Double) throws(DistributionError) {
        try DistributionError.require(
            lambda.isFinite && lambda >= 0 && lambda <= 1e12, "lambda",
            "must be in [0, 1e12], got \(lambda)")
        self.lambda = lambda
    }

    public func logProbability(_ k: Int) -> Double {
        guard k >= 0 else { return -.infinity }
        if lambda == 0 { return k == 0 ? 0 : -.infinity }
        return Double(k) * log(lambda) - lambda - Special.logGamma(Double(k) + 1)
    }
    public func cdf(_ k: Int) -> Double { k < 0 ? 0 : Special.gammaQ(Double(k) + 1, lambda) }
    public func quantile(_ q: Double) -> Int {
        let guess = Int(saturating: (lambda + lambda.squareRoot() * Special.normalQuantile(q)).rounded(), nan: 0)
        return searchQuantile(q, guess: max(0, guess))
    }

    /// Multiplication for λ < 10, Hörmann's PTRS beyond.
    public func sample(_ rng: inout RandomStream) -> Int {
        if lambda < 10 {
            let limit = exp(-lambda)
            var product = rng.uniform()
            var k = 0
            while product > limit {
                product *= rng.uniform()
                k += 1
            }
            return k
        }
        let slam = lambda.squareRoot()
        let loglam = log(lambda)
        let b = 0.931 + 2.53 * slam
        let a = -0.059 + 0.02483 * b
        let invalpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = rng.uniform() - 0.5
            let v = rng.uniform()
            let us = 0.5 - abs(u)
            let k = floor((2 * a / us + b) * u + lambda + 0.43)
            if us >= 0.07 && v <= vr { return Int(saturating: k, nan: 0) }
            if k < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(invalpha) - log(a / (us * us) + b) <= -lambda + k * loglam - Special.logGamma(k + 1) {
                return Int(saturating: k, nan: 0)
            }
        }
    }
    public var mean: Double { lambda }
    public var variance: Double { lambda }
    public var support: (lower: Int, upper: Int) { (0, Int.max - 1) }
}

/// Number of trials up to and including the first success (k ≥ 1), as numpy and scipy count.
public struct Geometric: DiscreteDistribution {
    public let p: Double

    public init(p: Double) throws(DistributionError) {
        try DistributionError.require(p > 0 && p <= 1, "p", "must be in (0, 1], got \(p)")
        self.p = p
    }

    public func logProbability(_ k: Int) -> Double { k >= 1 ? Double(k - 1) * log1p(-p) + log(p) : -.infinity }
    public func cdf(_ k: Int) -> Double { k < 1 ? 0 : -expm1(Double(k) * log1p(-p)) }
    public func quantile(_ q: Double) -> Int {
        if p == 1 { return 1 }
        let guess = Int(saturating: ceil(log1p(-q) / log1p(-p)), nan: 1)
        return searchQuantile(q, guess: max(1, guess))
    }
    public func sample(_ rng: inout RandomStream) -> Int {
        if p == 1 { return 1 }
        return Int(saturating: ceil(log(rng.uniformOpen()) / log1p(-p)), in: 1...(Int.max - 1), nan: 1)
    }
    public var mean: Double { 1 / p }
    public var variance: Double { (1 - p) / (p * p) }
    public var support: (lower: Int, upper: Int) { (1, Int.max - 1) }
}

/// Failures before the r-th success (r may be real), as scipy's nbinom.
public struct NegativeBinomial: DiscreteDistribution {
    public let r: Double
    public let p: Double

    public init(r: Double, p: Double) throws(DistributionError) {
        try DistributionError.positive(r, "r")
        try DistributionError.require(p > 0 && p <= 1, "p", "must be in (0, 1], got \(p)")
        self.r = r
        self.p = p
    }

    public func logProbability(_ k: Int) -> Double {
        guard k >= 0 else { return -.infinity }
        let kk = Double(k)
        return Special.logGamma(kk + r) - Special.logGamma(kk + 1) - Special.logGamma(r) + r * log(p) + kk * log1p(-p)
    }
    public func cdf(_ k: Int) -> Double { k < 0 ? 0 : Special.betaI(p, r, Double(k) + 1) }
    public func quantile(_ q: Double) -> Int {
        let guess = Int(saturating: (mean + variance.squareRoot() * Special.normalQuantile(q)).rounded(), nan: 0)
        return searchQuantile(q, guess: max(0, guess))
    }
    /// A Poisson whose rate is gamma distributed.
    public func sample(_ rng: inout RandomStream) -> Int {
        if p == 1 { return 0 }
        let rate = Gamma.standard(r, &rng) * (1 - p) / p
        return (try? Poisson(lambda: min(rate, 1e12)))?.sample(&rng) ?? 0
    }
    public var mean: Double { r * (1 - p) / p }
    public var variance: Double { r * (1 - p) / (p * p) }
    public var support: (lower: Int, upper: Int) { (0, Int.max - 1) }
}

/// Values 0…K−1 with the given probabilities (normalized if they do not sum to 1).
public struct Categorical: DiscreteDistribution {
    public let probabilities: [Double]
    private let cumulative: [Double]

    public init(probabilities: [Double]) throws(DistributionError) {
        try DistributionError.require(!probabilities.isEmpty, "p", "must have at least one category")
        try DistributionError.require(probabilities.allSatisfy { $0.isFinite && $0 >= 0 }, "p", "must be finite and non-negative")
        let total = probabilities.reduce(0, +)
        try DistributionError.require(total > 0, "p", "must not be all zero")
        self.probabilities = probabilities.map { $0 / total }
        var running = 0.0
        self.cumulative = self.probabilities.map {
            running += $0; return running
        }
    }

    public func logProbability(_ k: Int) -> Double { k >= 0 && k < probabilities.count ? log(probabilities[k]) : -.infinity }
    public func cdf(_ k: Int) -> Double { k < 0 ? 0 : (k >= probabilities.count - 1 ? 1 : cumulative[k]) }
    public func quantile(_ q: Double) -> Int {
        var low = 0
        var high = probabilities.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] >= q { high = middle } else { low = middle + 1 }
        }
        return low
    }
    public func sample(_ rng: inout RandomStream) -> Int { quantile(rng.uniform() * cumulative[cumulative.count - 1]) }
    public var mean: Double { probabilities.enumerated().reduce(0) { $0 + Double($1.offset) * $1.element } }
    public var variance: Double {
        let m = mean
        return probabilities.enumerated().reduce(0) { $0 + (Double($1.offset) - m) * (Double($1.offset) - m) * $1.element }
    }
    public var support: (lower: Int, upper: Int) { (0, probabilities.count - 1) }
}
