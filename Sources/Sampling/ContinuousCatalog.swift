import Foundation

// The univariate continuous catalog. Sampling uses the fastest exact method known for each
// (ziggurat, Marsaglia–Tsang, Best–Fisher, inversion where the quantile is cheap).

public struct Uniform: ContinuousDistribution {
    public let lower: Double
    public let upper: Double

    public init(lower: Double = 0, upper: Double = 1) throws(DistributionError) {
        try DistributionError.finite(lower, "low")
        try DistributionError.finite(upper, "high")
        try DistributionError.require(lower < upper, "high", "must be greater than low (\(lower)), got \(upper)")
        self.lower = lower
        self.upper = upper
    }

    public func logDensity(_ x: Double) -> Double { x >= lower && x <= upper ? -log(upper - lower) : -.infinity }
    public func cdf(_ x: Double) -> Double { min(max((x - lower) / (upper - lower), 0), 1) }
    public func quantile(_ p: Double) -> Double { lower + p * (upper - lower) }
    public func sample(_ rng: inout RandomStream) -> Double { lower + rng.uniform() * (upper - lower) }
    public var mean: Double { (lower + upper) / 2 }
    public var variance: Double { (upper - lower) * (upper - lower) / 12 }
    public var support: (lower: Double, upper: Double) { (lower, upper) }
}

public struct Normal: ContinuousDistribution {
    public let mu: Double
    public let sigma: Double
    private let logNormalizer: Double

    public init(mu: Double = 0, sigma: Double = 1) throws(DistributionError) {
        try DistributionError.finite(mu, "mu")
        try DistributionError.positive(sigma, "sigma")
        self.mu = mu
        self.sigma = sigma
        self.logNormalizer = -log(sigma) - 0.5 * log(2 * Double.pi)
    }

    public func logDensity(_ x: Double) -> Double {
        let z = (x - mu) / sigma
        return logNormalizer - 0.5 * z * z
    }
    public func cdf(_ x: Double) -> Double { Special.normalCDF((x - mu) / sigma) }
    public func survival(_ x: Double) -> Double { Special.normalSurvival((x - mu) / sigma) }
    public func quantile(_ p: Double) -> Double { mu + sigma * Special.normalQuantile(p) }
    @inline(__always)
    public func sample(_ rng: inout RandomStream) -> Double { mu + sigma * Ziggurat.normal.normal(&rng) }
    public var mean: Double { mu }
    public var variance: Double { sigma * sigma }
    public var support: (lower: Double, upper: Double) { (-.infinity, .infinity) }

    /// The draw loop in one place, so the table pointers are loaded once, not per draw.
    public func fill(_ buffer: UnsafeMutableBufferPointer<Double>, _ rng: inout RandomStream) {
        let ziggurat = Ziggurat.normal
        for index in buffer.indices { buffer[index] = mu + sigma * ziggurat.normal(&rng) }
    }
}

public struct LogNormal: ContinuousDistribution {
    public let mu: Double
    public let sigma: Double

    public init(mu: Double = 0, sigma: Double = 1) throws(DistributionError) {
        try DistributionError.finite(mu, "mu")
        try DistributionError.positive(sigma, "sigma")
        self.mu = mu
        self.sigma = sigma
    }

    public func logDensity(_ x: Double) -> Double {
        guard x > 0 else { return -.infinity }
        let z = (log(x) - mu) / sigma
        return -log(x * sigma) - 0.5 * log(2 * Double.pi) - 0.5 * z * z
    }
    public func cdf(_ x: Double) -> Double { x <= 0 ? 0 : Special.normalCDF((log(x) - mu) / sigma) }
    public func quantile(_ p: Double) -> Double { exp(mu + sigma * Special.normalQuantile(p)) }
    public func sample(_ rng: inout RandomStream) -> Double { exp(mu + sigma * Ziggurat.normal.normal(&rng)) }
    public var mean: Double { exp(mu + sigma * sigma / 2) }
    public var variance: Double { (exp(sigma * sigma) - 1) * exp(2 * mu + sigma * sigma) }
    public var support: (lower: Double, upper: Double) { (0, .infinity) }
}

public struct Exponential: ContinuousDistribution {
    public let rate: Double

    public init(rate: Double = 1) throws(DistributionError) {
        try DistributionError.positive(rate, "rate")
        self.rate = rate
    }

    public func logDensity(_ x: Double) -> Double { x >= 0 ? log(rate) - rate * x : -.infinity }
    public func cdf(_ x: Double) -> Double { x <= 0 ? 0 : -expm1(-rate * x) }
    public func survival(_ x: Double) -> Double { x <= 0 ? 1 : exp(-rate * x) }
    public func quantile(_ p: Double) -> Double { -log1p(-p) / rate }
    @inline(__always)
    public func sample(_ rng: inout RandomStream) -> Double { Ziggurat.exponential.exponential(&rng) / rate }
    public var mean: Double { 1 / rate }
    public var variance: Double { 1 / (rate * rate) }
    public var support: (lower: Double, upper: Double) { (0, .infinity) }

    public func fill(_ buffer: UnsafeMutableBufferPointer<Double>, _ rng: inout RandomStream) {
        let ziggurat = Ziggurat.exponential
        let scale = 1 / rate
        for index in buffer.indices { buffer[index] = scale * ziggurat.exponential(&rng) }
    }
}

public struct Gamma: ContinuousDistribution {
    public let shape: Double
    public let rate: Double

    public init(shape: Double, rate: Double = 1) throws(DistributionError) {
        try DistributionError.positive(shape, "shape")
        try DistributionError.positive(rate, "rate")
        self.shape = shape
        self.rate = rate
    }

    public func logDensity(_ x: Double) -> Double {
        guard x >= 0 else { return -.infinity }
        if x == 0 { return shape == 1 ? log(rate) : (shape < 1 ? .infinity : -.infinity) }
        return shape * log(rate) + (shape - 1) * log(x) - rate * x - Special.logGamma(shape)
    }
    public func cdf(_ x: Double) -> Double { Special.gammaP(shape, rate * x) }
    public func survival(_ x: Double) -> Double { Special.gammaQ(shape, rate * x) }
    public func quantile(_ p: Double) -> Double { Special.inverseGammaP(shape, p) / rate }
    public func sample(_ rng: inout RandomStream) -> Double { Self.standard(shape, &rng) / rate }
    public var mean: Double { shape / rate }
    public var variance: Double { shape / (rate * rate) }
    public var support: (lower: Double, upper: Double) { (0, .infinity) }

    /// Marsaglia & Tsang (2000), in the random-stream module (`RandomStream.standardGamma`).
    @inline(__always)
    public static func standard(_ shape: Double, _ rng: inout RandomStream) -> Double { rng.standardGamma(shape) }

    public func fill(_ buffer: UnsafeMutableBufferPointer<Double>, _ rng: inout RandomStream) {
        let scale = 1 / rate
        if shape < 1 {
            for index in buffer.indices { buffer[index] = scale * Self.standard(shape, &rng) }
            return
        }
        let d = shape - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        let normal = Ziggurat.normal
        for index in buffer.indices {
            while true {
                var x: Double
                var v: Double
                repeat {
                    x = normal.normal(&rng)
                    v = 1 + c * x
                } while v <= 0
                v = v * v * v
                let u = rng.uniform()
                let x2 = x * x
                if u < 1 - 0.0331 * x2 * x2 || log(u) < 0.5 * x2 + d * (1 - v + log(v)) {
                    buffer[index] = scale * d * v
                    break
                }
            }
        }
    }
}

public struct Beta: ContinuousDistribution {
    public let a: Double
    public let b: Double

    public init(a: Double, b: Double) throws(DistributionError) {
        try DistributionError.positive(a, "a")
        try DistributionError.positive(b, "b")
        self.a = a
        self.b = b
    }

    public func logDensity(_ x: Double) -> Double {
        guard x >= 0 && x <= 1 else { return -.infinity }
        return (a - 1) * log(x) + (b - 1) * log1p(-x) - Special.logBeta(a, b)
    }
    public func cdf(_ x: Double) -> Double { Special.betaI(x, a, b) }
    public func survival(_ x: Double) -> Double { Special.betaIComplement(x, a, b) }
    public func quantile(_ p: Double) -> Double { Special.inverseBetaI(p, a, b) }
    public func sample(_ rng: inout RandomStream) -> Double {
        let x = Gamma.standard(a, &rng)
        let y = Gamma.standard(b, &rng)
        return x / (x + y)
    }
    public var mean: Double { a / (a + b) }
    public var variance: Double { a * b / ((a + b) * (a + b) * (a + b + 1)) }
    public var support: (lower: Double, upper: Double) { (0, 1) }

    public func fill(_ buffer: UnsafeMutableBufferPointer<Double>, _ rng: inout RandomStream) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        // Two gamma passes (the second into scratch) keep each inner loop tight.
        let scratch = UnsafeMutableBufferPointer<Double>.allocate(capacity: buffer.count)
        defer { scratch.deallocate() }
        // Shapes were validated at construction; these initializers cannot fail.
        try! Gamma(shape: a).fill(buffer, &rng)
        try! Gamma(shape: b).fill(scratch, &rng)
        for index in 0..<buffer.count { base[index] = base[index] / (base[index] + scratch[index]) }
    }
}

public struct ChiSquare: ContinuousDistribution {
    public let degrees: Double
    private let gamma: Gamma

    public init(degrees: Double) throws(DistributionError) {
        try DistributionError.positive(degrees, "df")
        self.degrees = degrees
        self.gamma = try Gamma(shape: degrees / 2, rate: 0.5)
    }

    public func logDensity(_ x: Double) -> Double { gamma.logDensity(x) }
    public func cdf(_ x: Double) -> Double { gamma.cdf(x) }
    public func survival(_ x: Double) -> Double { gamma.survival(x) }
    public func quantile(_ p: Double) -> Double { gamma.quantile(p) }
    public func sample(_ rng: inout RandomStream) -> Double { gamma.sample(&rng) }
    public var mean: Double { degrees }
    public var variance: Double { 2 * degrees }
    public var support: (lower: Double, upper: Double) { (0, .infinity) }
}

public struct StudentT: ContinuousDistribution {
    public let degrees: Double
    public let mu: Double
    public let sigma: Double

    public init(degrees: Double, mu: Double = 0, sigma: Double = 1) throws(DistributionError) {
        try DistributionError.positive(degrees, "df")
        try DistributionError.finite(mu, "mu")
        try DistributionError.positive(sigma, "sigma")
        self.degrees = degrees
        self.mu = mu
        self.sigma = sigma
    }

    public func logDensity(_ x: Double) -> Double {
        let z = (x - mu) / sigma
        let v = degrees
        return Special.logGamma((v + 1) / 2) - Special.logGamma(v / 2) - 0.5 * log(v * Double.pi) - log(sigma)
            - (v + 1) / 2 * log1p(z * z / v)
    }
    public func cdf(_ x: Double) -> Double {
        let z = (x - mu) / sigma
        let tail = 0.5 * Special.betaI(degrees / (degrees + z * z), degrees / 2, 0.5)
        return z < 0 ? tail : 1 - tail
    }
    public func quantile(_ p: Double) -> Double {
        if p == 0.5 { return mu }
        let tail = min(p, 1 - p)
        let x = Special.inverseBetaI(2 * tail, degrees / 2, 0.5)
        let t = (degrees * (1 - x) / x).squareRoot()
        return mu + sigma * (p < 0.5 ? -t : t)
    }
    public func sample(_ rng: inout RandomStream) -> Double {
        let z = Ziggurat.normal.normal(&rng)
        let chi = 2 * Gamma.standard(degrees / 2, &rng)
        return mu + sigma * z / (chi / degrees).squareRoot()
    }
    public var mean: Double { degrees > 1 ? mu : .nan }
    public var variance: Double { degrees > 2 ? sigma * sigma * degrees / (degrees - 2) : (degrees > 1 ? .infinity : .nan) }
    public var support: (lower: Double, upper: Double) { (-.infinity, .infinity) }
}

public struct Cauchy: ContinuousDistribution {
    public let location: Double
    public let scale: Double

    public init(location: Double = 0, scale: Double = 1) throws(DistributionError) {
        try DistributionError.finite(location, "location")
        try DistributionError.positive(scale, "scale")
        self.location = location
        self.scale = scale
    }

    public func logDensity(_ x: Double) -> Double {
        let z = (x - location) / scale
        return -log(Double.pi * scale) - log1p(z * z)
    }
    public func cdf(_ x: Double) -> Double { 0.5 + atan((x - location) / scale) / Double.pi }
    /// Written with the cotangent of the smaller tail so p near 0 or 1 keeps its precision.
    public func quantile(_ p: Double) -> Double {
        if p == 0.5 { return location }
        return p < 0.5 ? location - scale / tan(Double.pi * p) : location + scale / tan(Double.pi * (1 - p))
    }
    public func sample(_ rng: inout RandomStream) -> Double { quantile(rng.uniformOpen()) }
    public var mean: Double { .nan }
    public var variance: Double { .nan }
    public var support: (lower: Double, upper: Double) { (-.infinity, .infinity) }
}

public struct Laplace: ContinuousDistribution {
    public let location: Double
    public let scale: Double

    public init(location: Double = 0, scale: Double = 1) throws(DistributionError) {
        try DistributionError.finite(location, "location")
        try DistributionError.positive(scale, "scale")
        self.location = location
        self.scale = scale
    }

    public func logDensity(_ x: Double) -> Double { -log(2 * scale) - abs(x - location) / scale }
    public func cdf(_ x: Double) -> Double {
        let z = (x - location) / scale
        return z < 0 ? 0.5 * exp(z) : 1 - 0.5 * exp(-z)
    }
    public func quantile(_ p: Double) -> Double {
        p < 0.5 ? location + scale * log(2 * p) : location - scale * log(2 - 2 * p)
    }
    public func sample(_ rng: inout RandomStream) -> Double { quantile(rng.uniformOpen()) }
    public var mean: Double { location }
    public var variance: Double { 2 * scale * scale }
    public var support: (lower: Double, upper: Double) { (-.infinity, .infinity) }
}

public struct Logistic: ContinuousDistribution {
    public let location: Double
    public let scale: Double

    public init(location: Double = 0, scale: Double = 1) throws(DistributionError) {
        try DistributionError.finite(location, "location")
        try DistributionError.positive(scale, "scale")
        self.location = location
        self.scale = scale
    }

    public func logDensity(_ x: Double) -> Double {
        let z = -abs((x - location) / scale)
        return z - log(scale) - 2 * log1p(exp(z))
    }
    public func cdf(_ x: Double) -> Double { 1 / (1 + exp(-(x - location) / scale)) }
    public func quantile(_ p: Double) -> Double { location + scale * (log(p) - log1p(-p)) }
    public func sample(_ rng: inout RandomStream) -> Double { quantile(rng.uniformOpen()) }
    public var mean: Double { location }
    public var variance: Double { scale * scale * Double.pi * Double.pi / 3 }
    public var support: (lower: Double, upper: Double) { (-.infinity, .infinity) }
}

public struct Weibull: ContinuousDistribution {
    public let shape: Double
    public let scale: Double

    public init(shape: Double, scale: Double = 1) throws(DistributionError) {
        try DistributionError.positive(shape, "shape")
        try DistributionError.positive(scale, "scale")
        self.shape = shape
        self.scale = scale
    }

    public func logDensity(_ x: Double) -> Double {
        guard x >= 0 else { return -.infinity }
        let z = x / scale
        return log(shape / scale) + (shape - 1) * log(z) - pow(z, shape)
    }
    public func cdf(_ x: Double) -> Double { x <= 0 ? 0 : -expm1(-pow(x / scale, shape)) }
    public func quantile(_ p: Double) -> Double { scale * pow(-log1p(-p), 1 / shape) }
    public func sample(_ rng: inout RandomStream) -> Double { scale * pow(Ziggurat.exponential.exponential(&rng), 1 / shape) }
    public var mean: Double { scale * exp(Special.logGamma(1 + 1 / shape)) }
    public var variance: Double {
        scale * scale * (exp(Special.logGamma(1 + 2 / shape)) - exp(2 * Special.logGamma(1 + 1 / shape)))
    }
    public var support: (lower: Double, upper: Double) { (0, .infinity) }
}

public struct Pareto: ContinuousDistribution {
    public let shape: Double
    public let scale: Double

    public init(shape: Double, scale: Double = 1) throws(DistributionError) {
        try DistributionError.positive(shape, "shape")
        try DistributionError.positive(scale, "scale")
        self.shape = shape
        self.scale = scale
    }

    public func logDensity(_ x: Double) -> Double {
        x >= scale ? log(shape) + shape * log(scale) - (shape + 1) * log(x) : -.infinity
    }
    public func cdf(_ x: Double) -> Double { x <= scale ? 0 : -expm1(shape * log(scale / x)) }
    public func quantile(_ p: Double) -> Double { scale * exp(-log1p(-p) / shape) }
    public func sample(_ rng: inout RandomStream) -> Double { scale * exp(Ziggurat.exponential.exponential(&rng) / shape) }
    public var mean: Double { shape > 1 ? shape * scale / (shape - 1) : .infinity }
    public var variance: Double {
        shape > 2 ? scale * scale * shape / ((shape - 1) * (shape - 1) * (shape - 2)) : .infinity
    }
    public var support: (lower: Double, upper: Double) { (scale, .infinity) }
}

public struct Triangular: ContinuousDistribution {
    public let lower: Double
    public let mode: Double
    public let upper: Double

    public init(lower: Double, mode: Double, upper: Double) throws(DistributionError) {
        try DistributionError.finite(lower, "low")
        try DistributionError.finite(upper, "high")
        try DistributionError.finite(mode, "mode")
        try DistributionError.require(lower < upper, "high", "must be greater than low (\(lower)), got \(upper)")
        try DistributionError.require(mode >= lower && mode <= upper, "mode", "must lie in [low, high] = [\(lower), \(upper)], got \(mode)")
        self.lower = lower
        self.mode = mode
        self.upper = upper
    }

    public func logDensity(_ x: Double) -> Double {
        guard x >= lower && x <= upper else { return -.infinity }
        let width = upper - lower
        if x < mode { return log(2 * (x - lower) / (width * (mode - lower))) }
        if x > mode { return log(2 * (upper - x) / (width * (upper - mode))) }
        return log(2 / width)
    }
    public func cdf(_ x: Double) -> Double {
        if x <= lower { return 0 }
        if x >= upper { return 1 }
        let width = upper - lower
        if x <= mode { return (x - lower) * (x - lower) / (width * (mode - lower)) }
        return 1 - (upper - x) * (upper - x) / (width * (upper - mode))
    }
    public func quantile(_ p: Double) -> Double {
        let width = upper - lower
        let split = (mode - lower) / width
        if p <= split { return lower + (p * width * (mode - lower)).squareRoot() }
        return upper - ((1 - p) * width * (upper - mode)).squareRoot()
    }
    public func sample(_ rng: inout RandomStream) -> Double { quantile(rng.uniform()) }
    public var mean: Double { (lower + mode + upper) / 3 }
    public var variance: Double {
        (lower * lower + mode * mode + upper * upper - lower * mode - lower * upper - mode * upper) / 18
    }
    public var support: (lower: Double, upper: Double) { (lower, upper) }
}

public struct Gumbel: ContinuousDistribution {
    public let location: Double
    public let scale: Double

    public init(location: Double = 0, scale: Double = 1) throws(DistributionError) {
        try DistributionError.finite(location, "location")
        try DistributionError.positive(scale, "scale")
        self.location = location
        self.scale = scale
    }

    public func logDensity(_ x: Double) -> Double {
        let z = (x - location) / scale
        return -log(scale) - z - exp(-z)
    }
    public func cdf(_ x: Double) -> Double { exp(-exp(-(x - location) / scale)) }
    public func quantile(_ p: Double) -> Double { location - scale * log(-log(p)) }
    public func sample(_ rng: inout RandomStream) -> Double { location - scale * log(Ziggurat.exponential.exponential(&rng)) }
    public var mean: Double { location + scale * 0.57721566490153286 }
    public var variance: Double { Double.pi * Double.pi / 6 * scale * scale }
    public var support: (lower: Double, upper: Double) { (-.infinity, .infinity) }
}

public struct InverseGamma: ContinuousDistribution {
    public let shape: Double
    public let scale: Double

    public init(shape: Double, scale: Double = 1) throws(DistributionError) {
        try DistributionError.positive(shape, "shape")
        try DistributionError.positive(scale, "scale")
        self.shape = shape
        self.scale = scale
    }

    public func logDensity(_ x: Double) -> Double {
        guard x > 0 else { return -.infinity }
        return shape * log(scale) - Special.logGamma(shape) - (shape + 1) * log(x) - scale / x
    }
    public func cdf(_ x: Double) -> Double { x <= 0 ? 0 : Special.gammaQ(shape, scale / x) }
    public func survival(_ x: Double) -> Double { x <= 0 ? 1 : Special.gammaP(shape, scale / x) }
    public func quantile(_ p: Double) -> Double { scale / Special.inverseGammaQ(shape, p) }
    public func sample(_ rng: inout RandomStream) -> Double { scale / Gamma.standard(shape, &rng) }
    public var mean: Double { shape > 1 ? scale / (shape - 1) : .infinity }
    public var variance: Double {
        shape > 2 ? scale * scale / ((shape - 1) * (shape - 1) * (shape - 2)) : .infinity
    }
    public var support: (lower: Double, upper: Double) { (0, .infinity) }
}

/// Von Mises on [μ − π, μ + π).
public struct VonMises: ContinuousDistribution {
    public let mu: Double
    public let kappa: Double
    private let logI0: Double
    private let ratios: [Double]

    public init(mu: Double = 0, kappa: Double) throws(DistributionError) {
        try DistributionError.finite(mu, "mu")
        try DistributionError.positive(kappa, "kappa")
        try DistributionError.require(kappa <= 1e4, "kappa", "must be at most 10000 (use a normal for tighter concentration), got \(kappa)")
        self.mu = mu
        self.kappa = kappa
        // Terms of the CDF's Fourier series until I_j/I_0 is negligible.
        let terms = Int(30 + 2 * kappa.squareRoot() * 10)
        let (ratios, logI0) = Special.besselIRatios(kappa, count: terms)
        self.ratios = ratios
        self.logI0 = logI0
    }

    public func logDensity(_ x: Double) -> Double {
        guard x >= mu - Double.pi && x <= mu + Double.pi else { return -.infinity }
        return kappa * cos(x - mu) - log(2 * Double.pi) - logI0
    }

    /// (1/2π) [θ + π + 2 Σ_j (I_j(κ)/I_0(κ)) sin(jθ)/j], θ = x − μ.
    public func cdf(_ x: Double) -> Double {
        let theta = x - mu
        if theta <= -Double.pi { return 0 }
        if theta >= Double.pi { return 1 }
        // Far in the tails the series' absolute error would swamp a tiny probability, so the
        // density is integrated directly there (it is smooth; Gauss–Legendre converges fast).
        if theta < 0, density(x) * (theta + Double.pi) < 1e-3 { return lowerTail(theta) }
        if theta > 0, density(x) * (Double.pi - theta) < 1e-3 { return 1 - lowerTail(-theta) }
        var sum = 0.0
        for j in 1..<ratios.count {
            let term = ratios[j] * sin(Double(j) * theta) / Double(j)
            sum += term
            if ratios[j] < 1e-18 { break }
        }
        return min(max((theta + Double.pi + 2 * sum) / (2 * Double.pi), 0), 1)
    }

    /// ∫ from −π to θ of the density (centred at 0), by 64-panel Gauss–Legendre.
    private func lowerTail(_ theta: Double) -> Double {
        let panels = 64
        let width = (theta + Double.pi) / Double(panels)
        var total = 0.0
        for panel in 0..<panels {
            let middle = -Double.pi + (Double(panel) + 0.5) * width
            total += GaussLegendre.integrate(over: middle - width / 2, middle + width / 2) { t in
                exp(kappa * cos(t) - log(2 * Double.pi) - logI0)
            }
        }
        return total
    }

    /// Newton on the CDF, safeguarded by bisection; the density is bounded away from zero.
    public func quantile(_ p: Double) -> Double {
        var low = mu - Double.pi
        var high = mu + Double.pi
        var x = try! Normal(mu: mu, sigma: 1 / kappa.squareRoot()).quantile(p)
        if !(x > low && x < high) { x = mu }
        for _ in 0..<200 {
            let error = cdf(x) - p
            if error > 0 { high = x } else { low = x }
            let step = error / density(x)
            var next = x - step
            if !(next > low && next < high) { next = 0.5 * (low + high) }
            if abs(next - x) <= 1e-15 * max(1, abs(x)) { return next }
            x = next
        }
        return x
    }

    /// Best & Fisher (1979).
    public func sample(_ rng: inout RandomStream) -> Double {
        let tau = 1 + (1 + 4 * kappa * kappa).squareRoot()
        let rho = (tau - (2 * tau).squareRoot()) / (2 * kappa)
        let r = (1 + rho * rho) / (2 * rho)
        while true {
            let u1 = rng.uniform()
            let z = cos(Double.pi * u1)
            let f = (1 + r * z) / (r + z)
            let c = kappa * (r - f)
            let u2 = rng.uniformOpen()
            if c * (2 - c) - u2 > 0 || log(c / u2) + 1 - c >= 0 {
                let u3 = rng.uniform()
                let angle = (u3 > 0.5 ? 1 : -1) * acos(min(max(f, -1), 1))
                return mu + angle
            }
        }
    }
    public var mean: Double { mu }
    /// Circular variance 1 − I_1(κ)/I_0(κ).
    public var variance: Double { 1 - ratios[1] }
    public var support: (lower: Double, upper: Double) { (mu - Double.pi, mu + Double.pi) }
}
