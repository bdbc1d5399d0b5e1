import COpenBLAS
import Foundation
import Tensor

/// Gaussian mixtures fitted by EM, as scikit-learn's GaussianMixture: k-means initialisation of the
/// responsibilities, `regularization` added to every variance, convergence when the mean log-likelihood
/// per sample changes by less than `tolerance`, the best of `runs` initialisations by that bound.
public struct GaussianMixture: Sendable {
    public enum Covariance: String, Sendable, Codable, CaseIterable {
        case full, diag, spherical
    }

    public var k: Int
    public var covariance: Covariance
    public var runs: Int
    public var maxIterations: Int
    public var tolerance: Double
    public var regularization: Double
    public var seed: UInt64
    /// k-means++ seedings of the k-means pass that initialises each run (scikit-learn uses 1).
    public var initRuns = 1

    public init(
        k: Int, covariance: Covariance = .diag, runs: Int = 1, maxIterations: Int = 100, tolerance: Double = 1e-3, regularization: Double = 1e-6,
        seed: UInt64 = 0
    ) {
        self.k = k
        self.covariance = covariance
        self.runs = runs
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.regularization = regularization
        self.seed = seed
    }

    /// A fitted mixture: what `predict` needs.
    public struct Model: Sendable, Codable, Equatable {
        public var covariance: Covariance
        public var dimension: Int
        public var weights: [Double]
        /// k × d.
        public var means: [Double]
        /// full: k × d × d; diag: k × d; spherical: k.
        public var covariances: [Double]

        public var k: Int { weights.count }

        public init(covariance: Covariance, dimension: Int, weights: [Double], means: [Double], covariances: [Double]) {
            self.covariance = covariance
            self.dimension = dimension
            self.weights = weights
            self.means = means
            self.covariances = covariances
        }

        /// Free parameters (for BIC and AIC), as scikit-learn counts them.
        public var parameterCount: Int {
            let d = dimension
            let perComponent =
                switch covariance {
                case .full: d * (d + 1) / 2
                case .diag: d
                case .spherical: 1
                }
            return k * perComponent + k * d + k - 1
        }

        /// log(w_c) + log N(x_i | μ_c, Σ_c), n × k; nil when a covariance is not positive definite.
        /// - Parameter squares: x elementwise squared, when the caller keeps it across EM steps.
        public func weightedLogDensities(_ x: [Double], count n: Int, floats: [Float]? = nil, squares given: [Float]? = nil) -> [Double]? {
            let d = dimension
            var result = [Double](repeating: 0, count: n * k)
            let logTwoPi = log(2 * Double.pi)
            var diagonal: [Int] = []
            for c in 0..<k {
                let mean = Array(means[(c * d)..<((c + 1) * d)])
                let logWeight = log(max(weights[c], .leastNormalMagnitude))
                switch covariance {
                case .full:
                    guard let lower = LinearAlgebra.cholesky(Array(covariances[(c * d * d)..<((c + 1) * d * d)]), n: d) else { return nil }
                    var logDeterminant = 0.0
                    for j in 0..<d { logDeterminant += 2 * log(lower[j * d + j]) }
                    // y = (x − μ) L⁻ᵀ row by row: one triangular solve for all rows.
                    var centred = x
                    for i in 0..<n { for j in 0..<d { centred[i * d + j] -= mean[j] } }
                    lower.withUnsafeBufferPointer { l in
                        centred.withUnsafeMutableBufferPointer { y in
                            cblas_dtrsm(
                                CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(n), Int32(d), 1, l.baseAddress!, Int32(d),
                                y.baseAddress!, Int32(d))
                        }
                    }
                    for i in 0..<n {
                        var total = 0.0
                        for j in 0..<d { total += centred[i * d + j] * centred[i * d + j] }
                        result[i * k + c] = logWeight - 0.5 * (Double(d) * logTwoPi + logDeterminant + total)
                    }
                case .diag, .spherical:
                    diagonal.append(c)
                }
            }
            guard !diagonal.isEmpty else { return result }
            // Σⱼ (xⱼ − μⱼ)² pⱼ = Σ xⱼ² pⱼ − 2 Σ xⱼ μⱼ pⱼ + Σ μⱼ² pⱼ: two matrix products for all components at once.
            let m = diagonal.count
            var precisions = [Double](repeating: 0, count: m * d), scaledMeans = [Double](repeating: 0, count: m * d)
            var constants = [Double](repeating: 0, count: m)
            for (slot, c) in diagonal.enumerated() {
                var logDeterminant = 0.0, meanTerm = 0.0
                for j in 0..<d {
                    let variance = covariance == .diag ? covariances[c * d + j] : covariances[c]
                    guard variance > 0 else { return nil }
                    precisions[slot * d + j] = 1 / variance
                    scaledMeans[slot * d + j] = means[c * d + j] / variance
                    logDeterminant += log(variance)
                    meanTerm += means[c * d + j] * means[c * d + j] / variance
                }
                constants[slot] = log(max(weights[c], .leastNormalMagnitude)) - 0.5 * (Double(d) * logTwoPi + logDeterminant + meanTerm)
            }
            // In single precision, as scikit-learn computes float32 input: twice the speed of double products.
            let squares = given ?? x.map { Float($0 * $0) }
            let values = floats ?? x.map(Float.init)
            let precisionsF = precisions.map(Float.init), scaledMeansF = scaledMeans.map(Float.init)
            var quadratic = [Float](repeating: 0, count: n * m), cross = [Float](repeating: 0, count: n * m)
            squares.withUnsafeBufferPointer { s in
                precisionsF.withUnsafeBufferPointer { p in
                    quadratic.withUnsafeMutableBufferPointer { q in
                        MatrixMultiply.gemm(s.baseAddress!, p.baseAddress!, q.baseAddress!, m: n, n: m, k: d, transposeB: true)
                    }
                }
            }
            values.withUnsafeBufferPointer { s in
                scaledMeansF.withUnsafeBufferPointer { p in
                    cross.withUnsafeMutableBufferPointer { q in
                        MatrixMultiply.gemm(s.baseAddress!, p.baseAddress!, q.baseAddress!, m: n, n: m, k: d, transposeB: true)
                    }
                }
            }
            for i in 0..<n {
                for (slot, c) in diagonal.enumerated() {
                    result[i * k + c] = constants[slot] - 0.5 * Double(quadratic[i * m + slot]) + Double(cross[i * m + slot])
                }
            }
            return result
        }

        /// Responsibilities (n × k, rows summing to 1) and the mean log-likelihood per sample.
        public func responsibilities(_ x: [Double], count n: Int, floats: [Float]? = nil, squares: [Float]? = nil) -> (
            probabilities: [Double], meanLogLikelihood: Double
        )? {
            guard var weighted = weightedLogDensities(x, count: n, floats: floats, squares: squares) else { return nil }
            var total = 0.0
            for i in 0..<n {
                var largest = -Double.infinity
                for c in 0..<k { largest = max(largest, weighted[i * k + c]) }
                var sum = 0.0
                // exp below −708 underflows to 0 through glibc's slow error path (a quarter of a fit's time on
                // well-separated data): those terms are 0 to double precision anyway. Each exp is taken once and
                // the row scaled by 1 / sum (exp(a − log s) = exp(a) / s): the exps were a sixth of an EM step.
                for c in 0..<k {
                    let delta = weighted[i * k + c] - largest
                    let term = delta > -708 ? exp(delta) : 0
                    weighted[i * k + c] = term
                    sum += term
                }
                total += largest + log(sum)
                // A row whose every density is −∞ keeps zeros, as the two-pass form gave.
                let inverse = sum > 0 ? 1 / sum : 0
                for c in 0..<k { weighted[i * k + c] *= inverse }
            }
            return (weighted, total / Double(max(n, 1)))
        }
    }

    public struct Result: Sendable {
        public var model: Model
        public var probabilities: [Double]
        public var assignments: [Int]
        public var meanLogLikelihood: Double
        public var iterations: Int
        public var converged: Bool
        public var bestRun: Int
        public var bic: Double
        public var aic: Double
    }

    public struct FitError: Error, CustomStringConvertible {
        public var description: String
        static let collapsed = FitError(description: "a component's covariance stopped being positive definite (it collapsed onto too few samples)")
    }

    /// x: n × d row-major. `progress(run, iteration, meanLogLikelihood)` after each EM step (it may throw to stop).
    public func fit(_ x: [Double], count n: Int, dimension d: Int, progress: (Int, Int, Double) throws -> Void = { _, _, _ in }) throws -> Result {
        precondition(n >= k && k >= 1, "needs at least k samples")
        var best: Result?
        let floats = x.map(Float.init)
        let squares = x.map { Float($0 * $0) }
        for run in 0..<max(1, runs) {
            let start = try KMeans(k: k, runs: initRuns, seed: seed &+ UInt64(run)).fit(floats, count: n, dimension: d)
            var responsibilities = [Double](repeating: 0, count: n * k)
            for i in 0..<n { responsibilities[i * k + start.assignments[i]] = 1 }
            var model = maximization(x, floats: floats, squares: squares, n: n, d: d, responsibilities: responsibilities)
            var previous = -Double.infinity
            var converged = false
            var iterations = 0
            var current = -Double.infinity
            for iteration in 1...max(1, maxIterations) {
                iterations = iteration
                guard let (probabilities, meanLogLikelihood) = model.responsibilities(x, count: n, floats: floats, squares: squares) else {
                    throw FitError.collapsed
                }
                responsibilities = probabilities
                current = meanLogLikelihood
                try progress(run, iteration, current)
                if abs(current - previous) < tolerance {
                    converged = true
                    break
                }
                previous = current
                model = maximization(x, floats: floats, squares: squares, n: n, d: d, responsibilities: responsibilities)
            }
            // The E step for the final parameters, as scikit-learn labels with: on convergence the loop stopped before
            // changing them, so its last E step is that one.
            var probabilities = responsibilities, meanLogLikelihood = current
            if !converged {
                guard let (final, finalMean) = model.responsibilities(x, count: n, floats: floats, squares: squares) else { throw FitError.collapsed }
                (probabilities, meanLogLikelihood) = (final, finalMean)
            }
            if best == nil || current > best!.meanLogLikelihood {
                let assignments = (0..<n).map { i in (0..<k).max { probabilities[i * k + $0] < probabilities[i * k + $1] }! }
                let parameters = Double(model.parameterCount)
                best = Result(
                    model: model, probabilities: probabilities, assignments: assignments, meanLogLikelihood: meanLogLikelihood,
                    iterations: iterations, converged: converged, bestRun: run,
                    bic: -2 * meanLogLikelihood * Double(n) + parameters * log(Double(n)), aic: -2 * meanLogLikelihood * Double(n) + 2 * parameters)
            }
        }
        return best!
    }

    func maximization(_ x: [Double], floats: [Float], squares: [Float], n: Int, d: Int, responsibilities r: [Double]) -> Model {
        var totals = [Double](repeating: 0, count: k)
        for i in 0..<n { for c in 0..<k { totals[c] += r[i * k + c] } }
        for c in 0..<k { totals[c] += 10 * Double.ulpOfOne }
        let weights = r.map(Float.init)
        var sums = [Float](repeating: 0, count: k * d)
        weights.withUnsafeBufferPointer { rp in
            floats.withUnsafeBufferPointer { xp in
                sums.withUnsafeMutableBufferPointer { m in
                    MatrixMultiply.gemm(rp.baseAddress!, xp.baseAddress!, m.baseAddress!, m: k, n: d, k: n, transposeA: true)
                }
            }
        }
        var means = [Double](repeating: 0, count: k * d)
        for c in 0..<k { for j in 0..<d { means[c * d + j] = Double(sums[c * d + j]) / totals[c] } }
        var covariances: [Double]
        switch covariance {
        case .full:
            covariances = [Double](repeating: 0, count: k * d * d)
            var weighted = [Double](repeating: 0, count: n * d)
            for c in 0..<k {
                for i in 0..<n {
                    let root = r[i * k + c].squareRoot()
                    for j in 0..<d { weighted[i * d + j] = root * (x[i * d + j] - means[c * d + j]) }
                }
                weighted.withUnsafeBufferPointer { w in
                    covariances.withUnsafeMutableBufferPointer { s in
                        LinearAlgebra.gemm(
                            w.baseAddress!, w.baseAddress!, s.baseAddress! + c * d * d, m: d, n: d, k: n, transposeA: true, alpha: 1 / totals[c])
                    }
                }
                for j in 0..<d { covariances[c * d * d + j * d + j] += regularization }
            }
        case .diag, .spherical:
            // E[x²] − μ², as scikit-learn computes it (the squares by one product with the responsibilities).
            var averageSquaresF = [Float](repeating: 0, count: k * d)
            weights.withUnsafeBufferPointer { rp in
                squares.withUnsafeBufferPointer { xp in
                    averageSquaresF.withUnsafeMutableBufferPointer { m in
                        MatrixMultiply.gemm(rp.baseAddress!, xp.baseAddress!, m.baseAddress!, m: k, n: d, k: n, transposeA: true)
                    }
                }
            }
            let averageSquares = averageSquaresF.map(Double.init)
            covariances = [Double](repeating: 0, count: k * d)
            for c in 0..<k {
                for j in 0..<d {
                    covariances[c * d + j] = max(averageSquares[c * d + j] / totals[c] - means[c * d + j] * means[c * d + j], 0) + regularization
                }
            }
            if covariance == .spherical {
                covariances = (0..<k).map { c in covariances[(c * d)..<((c + 1) * d)].reduce(0, +) / Double(d) }
            }
        }
        return Model(covariance: covariance, dimension: d, weights: totals.map { $0 / Double(n) }, means: means, covariances: covariances)
    }
}
