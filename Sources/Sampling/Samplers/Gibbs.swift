import Foundation

/// A conditionally conjugate model sampled one block at a time from exact full conditionals.
public protocol GibbsModel: Sendable {
    /// Names of the recorded coordinates.
    var coordinateNames: [String] { get }
    /// Size of the per-chain accumulator `accumulate` adds to (e.g. assignment counts); 0 for none.
    var accumulatorSize: Int { get }
    func initialState(_ rng: inout RandomStream) -> [Double]
    func sweep(_ state: inout [Double], _ rng: inout RandomStream)
    func record(_ state: [Double]) -> [Double]
    func accumulate(_ state: [Double], into accumulator: inout [Double])
}

extension GibbsModel {
    public var accumulatorSize: Int { 0 }
    public func accumulate(_ state: [Double], into accumulator: inout [Double]) {}
}

/// A Gibbs chain's resumable state.
public struct GibbsChainState: Sendable, Codable, Equatable {
    public var state: [Double]
    public var rng: RandomStream
    public var iteration: Int
    public var draws: [Double]
    public var accumulator: [Double]
}

/// Runs chains of a `GibbsModel` in parallel.
public struct GibbsSampler: Sendable {
    public let model: any GibbsModel
    public let chains: Int
    public let warmup: Int
    public let draws: Int
    public let seed: UInt64

    public init(model: any GibbsModel, chains: Int, warmup: Int, draws: Int, seed: UInt64) {
        self.model = model
        self.chains = chains
        self.warmup = warmup
        self.draws = draws
        self.seed = seed
    }

    public var totalIterations: Int { warmup + draws }

    public func initialStates() -> [GibbsChainState] {
        (0..<chains).map { chain in
            var rng = RandomStream(seed: seed, stream: chain)
            let state = model.initialState(&rng)
            return GibbsChainState(
                state: state, rng: rng, iteration: 0, draws: [],
                accumulator: [Double](repeating: 0, count: model.accumulatorSize))
        }
    }

    public func advance(_ states: inout [GibbsChainState], to iteration: Int, shouldStop: @Sendable () -> Bool = { false }) {
        let target = min(iteration, totalIterations)
        let results = ChainResults(states)
        DispatchQueue.concurrentPerform(iterations: states.count) { index in
            var chain = results.get(index)
            while chain.iteration < target {
                if chain.iteration % 64 == 0 && shouldStop() { break }
                model.sweep(&chain.state, &chain.rng)
                chain.iteration += 1
                if chain.iteration > warmup {
                    chain.draws.append(contentsOf: model.record(chain.state))
                    model.accumulate(chain.state, into: &chain.accumulator)
                }
            }
            results.set(index, chain)
        }
        states = results.all
    }
}

private final class ChainResults: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [GibbsChainState]
    init(_ states: [GibbsChainState]) { storage = states }
    func get(_ index: Int) -> GibbsChainState { lock.withLock { storage[index] } }
    func set(_ index: Int, _ state: GibbsChainState) { lock.withLock { storage[index] = state } }
    var all: [GibbsChainState] { lock.withLock { storage } }
}

// MARK: Models

/// Multivariate normal by coordinate-wise conditionals x_i | x_−i ~ N(μ_i − Σ_{j≠i} Q_ij (x_j − μ_j) / Q_ii, 1 / Q_ii), Q = Σ⁻¹.
public struct GibbsMultivariateNormal: GibbsModel {
    public let mean: [Double]
    let precision: [Double]

    public init(mean: [Double], covariance: [[Double]]) throws(DistributionError) {
        let distribution = try MultivariateNormal(mean: mean, covariance: covariance)
        self.mean = mean
        self.precision = Matrix.inverseFromCholesky(distribution.cholesky, dimension: mean.count)
    }

    public var coordinateNames: [String] { (0..<mean.count).map { "x[\($0)]" } }
    public func initialState(_ rng: inout RandomStream) -> [Double] { mean.map { $0 + rng.uniform() * 4 - 2 } }
    public func record(_ state: [Double]) -> [Double] { state }

    public func sweep(_ x: inout [Double], _ rng: inout RandomStream) {
        let d = mean.count
        for i in 0..<d {
            var shift = 0.0
            for j in 0..<d where j != i { shift += precision[i * d + j] * (x[j] - mean[j]) }
            let qii = precision[i * d + i]
            x[i] = mean[i] - shift / qii + Ziggurat.normal.normal(&rng) / qii.squareRoot()
        }
    }
}

/// Normal data with unknown mean and variance under the conjugate normal–inverse-gamma prior
/// μ | σ² ~ N(m0, σ²/κ0), σ² ~ InvGamma(a0, b0).
public struct GibbsNormalInverseGamma: GibbsModel {
    public let data: [Double]
    public let m0: Double, kappa0: Double, a0: Double, b0: Double
    let n: Double, mean: Double

    public init(data: [Double], m0: Double, kappa0: Double, a0: Double, b0: Double) throws(SamplerError) {
        guard !data.isEmpty, data.allSatisfy(\.isFinite) else { throw SamplerError("data", "must be a non-empty array of finite numbers") }
        guard kappa0 > 0, a0 > 0, b0 > 0, m0.isFinite else { throw SamplerError("prior", "kappa0, a0 and b0 must be > 0") }
        self.data = data
        self.m0 = m0
        self.kappa0 = kappa0
        self.a0 = a0
        self.b0 = b0
        self.n = Double(data.count)
        self.mean = data.reduce(0, +) / Double(data.count)
    }

    public var coordinateNames: [String] { ["mu", "sigma2"] }
    public func initialState(_ rng: inout RandomStream) -> [Double] { [mean + rng.uniform() - 0.5, 1 + rng.uniform()] }
    public func record(_ state: [Double]) -> [Double] { state }

    public func sweep(_ state: inout [Double], _ rng: inout RandomStream) {
        let sigma2 = state[1]
        let kappaN = kappa0 + n
        let muN = (kappa0 * m0 + n * mean) / kappaN
        let mu = muN + (sigma2 / kappaN).squareRoot() * Ziggurat.normal.normal(&rng)
        var squares = kappa0 * (mu - m0) * (mu - m0)
        for y in data { squares += (y - mu) * (y - mu) }
        state[0] = mu
        state[1] = (b0 + squares / 2) / Gamma.standard(a0 + (n + 1) / 2, &rng)
    }
}

/// Bayesian linear regression y = Xβ + ε, ε ~ N(0, σ²), with β | σ² ~ N(0, σ²/λ · I) and σ² ~ InvGamma(a0, b0).
public struct GibbsLinearRegression: GibbsModel {
    public let p: Int
    let n: Double
    let a0: Double, b0: Double, lambda: Double
    let xty: [Double]
    let xtx: [Double]
    let yty: Double
    /// Cholesky factor of (XᵀX + λI)⁻¹ and its mean (XᵀX + λI)⁻¹ Xᵀy.
    let posteriorFactor: [Double]
    public let posteriorMean: [Double]

    public init(x: [[Double]], y: [Double], lambda: Double, a0: Double, b0: Double) throws(SamplerError) {
        guard !y.isEmpty, x.count == y.count else { throw SamplerError("x", "must have one row per observation in y (\(y.count))") }
        let p = x[0].count
        guard p >= 1, x.allSatisfy({ $0.count == p }) else { throw SamplerError("x", "rows must all have the same number of columns") }
        guard x.allSatisfy({ $0.allSatisfy(\.isFinite) }), y.allSatisfy(\.isFinite) else { throw SamplerError("x", "x and y must be finite") }
        guard lambda > 0, a0 > 0, b0 > 0 else { throw SamplerError("prior", "lambda, a0 and b0 must be > 0") }
        self.p = p
        self.n = Double(y.count)
        self.a0 = a0
        self.b0 = b0
        self.lambda = lambda
        var xtx = [Double](repeating: 0, count: p * p)
        var xty = [Double](repeating: 0, count: p)
        for (row, target) in zip(x, y) {
            for i in 0..<p {
                xty[i] += row[i] * target
                for j in 0..<p { xtx[i * p + j] += row[i] * row[j] }
            }
        }
        self.xtx = xtx
        self.xty = xty
        self.yty = y.reduce(0) { $0 + $1 * $1 }
        var a = xtx
        for i in 0..<p { a[i * p + i] += lambda }
        guard let factor = Cholesky.factor(a, dimension: p) else { throw SamplerError("x", "XᵀX + λI is not positive definite") }
        let inverse = Matrix.inverseFromCholesky(factor, dimension: p)
        guard let covarianceFactor = Cholesky.factor(inverse, dimension: p) else { throw SamplerError("x", "the posterior covariance is singular") }
        self.posteriorFactor = covarianceFactor
        self.posteriorMean = (0..<p).map { i in (0..<p).reduce(0) { $0 + inverse[i * p + $1] * xty[$1] } }
    }

    public var coordinateNames: [String] { (0..<p).map { "beta[\($0)]" } + ["sigma2"] }
    public func initialState(_ rng: inout RandomStream) -> [Double] { posteriorMean.map { $0 + rng.uniform() - 0.5 } + [1 + rng.uniform()] }
    public func record(_ state: [Double]) -> [Double] { state }

    public func sweep(_ state: inout [Double], _ rng: inout RandomStream) {
        let sigma = state[p].squareRoot()
        let z = (0..<p).map { _ in Ziggurat.normal.normal(&rng) }
        for i in 0..<p {
            var offset = 0.0
            for j in 0...i { offset += posteriorFactor[i * p + j] * z[j] }
            state[i] = posteriorMean[i] + sigma * offset
        }
        // ‖y − Xβ‖² + λ‖β‖² = yᵀy − 2βᵀXᵀy + βᵀ(XᵀX + λI)β
        var quadratic = yty
        for i in 0..<p {
            quadratic -= 2 * state[i] * xty[i]
            for j in 0..<p { quadratic += state[i] * (xtx[i * p + j] + (i == j ? lambda : 0)) * state[j] }
        }
        state[p] = (b0 + max(quadratic, 0) / 2) / Gamma.standard(a0 + (n + Double(p)) / 2, &rng)
    }
}

/// Finite mixture of K univariate normals: weights ~ Dirichlet(α), μ_k ~ N(m0, s0²), σ²_k ~ InvGamma(a0, b0),
/// with latent assignments. Components are relabelled by increasing mean in every recorded draw, the
/// usual identifiability constraint against label switching.
public struct GibbsGaussianMixture: GibbsModel {
    public let data: [Double]
    public let k: Int
    let alpha: Double, m0: Double, s0: Double, a0: Double, b0: Double

    public init(data: [Double], components k: Int, alpha: Double, m0: Double, s0: Double, a0: Double, b0: Double) throws(SamplerError) {
        guard data.count >= 2, data.allSatisfy(\.isFinite) else { throw SamplerError("data", "must hold at least two finite numbers") }
        guard k >= 1 && k <= 50 else { throw SamplerError("components", "must be between 1 and 50") }
        guard alpha > 0, s0 > 0, a0 > 0, b0 > 0, m0.isFinite else { throw SamplerError("prior", "alpha, s0, a0 and b0 must be > 0") }
        self.data = data
        self.k = k
        self.alpha = alpha
        self.m0 = m0
        self.s0 = s0
        self.a0 = a0
        self.b0 = b0
    }

    // State: weights (k), means (k), variances (k), assignments (n).
    public var coordinateNames: [String] {
        var names: [String] = []
        for prefix in ["weight", "mu", "sigma"] {
            for j in 0..<k { names.append("\(prefix)[\(j)]") }
        }
        return names
    }
    public var accumulatorSize: Int { data.count * k }

    public func initialState(_ rng: inout RandomStream) -> [Double] {
        let sorted = data.sorted()
        var state = [Double](repeating: 1 / Double(k), count: k)
        let count = Double(sorted.count)
        for _ in 0..<k {
            let position = min(sorted.count - 1, Int(rng.uniform() * count))
            state.append(sorted[position])
        }
        let variance: Double = max(Diagnostics.sampleVariance(data), 1e-6)
        state.append(contentsOf: [Double](repeating: variance, count: k))
        for _ in data { state.append(Double(Int(rng.uniform() * Double(k)))) }
        return state
    }

    public func sweep(_ state: inout [Double], _ rng: inout RandomStream) {
        let n = data.count
        var counts = [Double](repeating: 0, count: k)
        var sums = [Double](repeating: 0, count: k)
        var logWeights = [Double](repeating: 0, count: k)
        for j in 0..<k {
            logWeights[j] = log(state[j]) - 0.5 * log(2 * Double.pi * state[2 * k + j])
        }
        // Assignments.
        var probabilities = [Double](repeating: 0, count: k)
        for i in 0..<n {
            var largest = -Double.infinity
            for j in 0..<k {
                let deviation = data[i] - state[k + j]
                probabilities[j] = logWeights[j] - 0.5 * deviation * deviation / state[2 * k + j]
                largest = max(largest, probabilities[j])
            }
            var total = 0.0
            for j in 0..<k {
                probabilities[j] = exp(probabilities[j] - largest)
                total += probabilities[j]
            }
            var u = rng.uniform() * total
            var chosen = k - 1
            for j in 0..<k {
                u -= probabilities[j]
                if u < 0 {
                    chosen = j
                    break
                }
            }
            state[3 * k + i] = Double(chosen)
            counts[chosen] += 1
            sums[chosen] += data[i]
        }
        // Weights.
        let gammas = counts.map { Gamma.standard(alpha + $0, &rng) }
        let gammaTotal = gammas.reduce(0, +)
        for j in 0..<k { state[j] = gammas[j] / gammaTotal }
        // Means, then variances.
        for j in 0..<k {
            let variance = state[2 * k + j]
            let precision = 1 / (s0 * s0) + counts[j] / variance
            let center = (m0 / (s0 * s0) + sums[j] / variance) / precision
            state[k + j] = center + Ziggurat.normal.normal(&rng) / precision.squareRoot()
        }
        var squares = [Double](repeating: 0, count: k)
        for i in 0..<n {
            let j = Int(state[3 * k + i])
            squares[j] += (data[i] - state[k + j]) * (data[i] - state[k + j])
        }
        for j in 0..<k {
            state[2 * k + j] = (b0 + squares[j] / 2) / Gamma.standard(a0 + counts[j] / 2, &rng)
        }
    }

    /// Components ordered by mean.
    func order(_ state: [Double]) -> [Int] {
        (0..<k).sorted { state[k + $0] < state[k + $1] }
    }

    public func record(_ state: [Double]) -> [Double] {
        let order = order(state)
        var recorded: [Double] = []
        recorded.reserveCapacity(3 * k)
        for j in order { recorded.append(state[j]) }
        for j in order { recorded.append(state[k + j]) }
        for j in order { recorded.append(state[2 * k + j].squareRoot()) }
        return recorded
    }

    public func accumulate(_ state: [Double], into accumulator: inout [Double]) {
        let order = order(state)
        var rank = [Int](repeating: 0, count: k)
        for (position, component) in order.enumerated() { rank[component] = position }
        for i in 0..<data.count { accumulator[i * k + rank[Int(state[3 * k + i])]] += 1 }
    }
}

/// Small dense-matrix helpers (row-major).
enum Matrix {
    /// (L Lᵀ)⁻¹ from the Cholesky factor L.
    static func inverseFromCholesky(_ l: [Double], dimension d: Int) -> [Double] {
        // Invert L (lower triangular), then A⁻¹ = L⁻ᵀ L⁻¹.
        var inverseL = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            inverseL[i * d + i] = 1 / l[i * d + i]
            for j in 0..<i {
                var sum = 0.0
                for k in j..<i { sum -= l[i * d + k] * inverseL[k * d + j] }
                inverseL[i * d + j] = sum / l[i * d + i]
            }
        }
        var result = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0..<d {
                var sum = 0.0
                for k in max(i, j)..<d { sum += inverseL[k * d + i] * inverseL[k * d + j] }
                result[i * d + j] = sum
            }
        }
        return result
    }
}
