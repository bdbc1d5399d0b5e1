import Foundation

/// Multivariate normal through the Cholesky factor of its covariance.
public struct MultivariateNormal: Sendable {
    public let mean: [Double]
    /// Lower-triangular L with L Lᵀ = Σ, row-major.
    public let cholesky: [Double]
    private let logNormalizer: Double

    public init(mean: [Double], covariance: [[Double]]) throws(DistributionError) {
        let d = mean.count
        try DistributionError.require(d >= 1, "mean", "must have at least one dimension")
        try DistributionError.require(mean.allSatisfy(\.isFinite), "mean", "must be finite")
        try DistributionError.require(
            covariance.count == d && covariance.allSatisfy { $0.count == d }, "cov",
            "must be \(d)×\(d) to match mean")
        for i in 0..<d {
            for j in 0..<d where abs(covariance[i][j] - covariance[j][i]) > 1e-12 * max(1, abs(covariance[i][j])) {
                throw DistributionError("cov", "must be symmetric; cov[\(i)][\(j)] ≠ cov[\(j)][\(i)]")
            }
        }
        guard let factor = Cholesky.factor(covariance.flatMap { $0 }, dimension: d) else {
            throw DistributionError("cov", "must be positive definite")
        }
        self.mean = mean
        self.cholesky = factor
        var logDeterminant = 0.0
        for i in 0..<d { logDeterminant += 2 * log(factor[i * d + i]) }
        self.logNormalizer = -0.5 * (Double(d) * log(2 * Double.pi) + logDeterminant)
    }

    public var dimension: Int { mean.count }

    public func logDensity(_ x: [Double]) -> Double {
        let d = dimension
        var z = [Double](repeating: 0, count: d)
        // Solve L z = x − μ by forward substitution.
        for i in 0..<d {
            var sum = x[i] - mean[i]
            for j in 0..<i { sum -= cholesky[i * d + j] * z[j] }
            z[i] = sum / cholesky[i * d + i]
        }
        return logNormalizer - 0.5 * z.reduce(0) { $0 + $1 * $1 }
    }

    public func sample(_ rng: inout RandomStream) -> [Double] {
        let d = dimension
        let z = (0..<d).map { _ in Ziggurat.normal.normal(&rng) }
        return (0..<d).map { i in
            var value = mean[i]
            for j in 0...i { value += cholesky[i * d + j] * z[j] }
            return value
        }
    }
}

public struct Dirichlet: Sendable {
    public let alpha: [Double]

    public init(alpha: [Double]) throws(DistributionError) {
        try DistributionError.require(alpha.count >= 2, "alpha", "must have at least two components")
        try DistributionError.require(alpha.allSatisfy { $0.isFinite && $0 > 0 }, "alpha", "must all be > 0")
        self.alpha = alpha
    }

    public func logDensity(_ x: [Double]) -> Double {
        guard x.count == alpha.count, x.allSatisfy({ $0 >= 0 }), abs(x.reduce(0, +) - 1) < 1e-9 else { return -.infinity }
        let normalizer = Special.logGamma(alpha.reduce(0, +)) - alpha.reduce(0) { $0 + Special.logGamma($1) }
        return normalizer + zip(alpha, x).reduce(0) { $0 + ($1.0 - 1) * log($1.1) }
    }

    public func sample(_ rng: inout RandomStream) -> [Double] {
        let gammas = alpha.map { Gamma.standard($0, &rng) }
        let total = gammas.reduce(0, +)
        return gammas.map { $0 / total }
    }

    public var mean: [Double] {
        let total = alpha.reduce(0, +)
        return alpha.map { $0 / total }
    }
}

/// Cholesky factorization of a symmetric positive-definite matrix (row-major).
public enum Cholesky {
    public static func factor(_ matrix: [Double], dimension d: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var sum = matrix[i * d + j]
                for k in 0..<j { sum -= l[i * d + k] * l[j * d + k] }
                if i == j {
                    guard sum > 0, sum.isFinite else { return nil }
                    l[i * d + i] = sum.squareRoot()
                } else {
                    l[i * d + j] = sum / l[j * d + j]
                }
            }
        }
        return l
    }
}
