import Foundation
import Tensor

/// What the classical methods do to feature vectors before clustering, fitted on the training data and
/// saved with a model so `predict` applies exactly the same map: L2 normalisation (embeddings are compared
/// by cosine, and on unit vectors Euclidean distance ranks as cosine does), standardisation (each feature to
/// mean 0 and variance 1), and PCA to fewer dimensions.
public struct FeaturePreprocessing: Sendable, Codable, Equatable {
    public enum Scaling: String, Sendable, Codable, CaseIterable {
        case none
        /// Each row divided by its Euclidean norm.
        case l2
        /// Each feature minus its mean, divided by its standard deviation (features with none are left at 0).
        case standardize
    }

    public var scaling: Scaling
    /// Per-feature mean and standard deviation (standardize).
    public var mean: [Float]?
    public var std: [Float]?
    /// PCA: the centre and the leading principal axes (components × dimension, row-major), and the variance
    /// each explains.
    public var pcaMean: [Float]?
    public var components: [Float]?
    public var explainedVariance: [Double]?
    public var inputDimension: Int

    public init(scaling: Scaling, inputDimension: Int) {
        self.scaling = scaling
        self.inputDimension = inputDimension
    }

    public var outputDimension: Int { components.map { $0.count / inputDimension } ?? inputDimension }

    /// Fits the map on x (n × d) and returns it with the transformed data.
    /// - Parameter pcaComponents: 0 keeps every dimension.
    /// PCA diagonalises the d × d covariance (one SYRK-like product of the data, then LAPACK's symmetric
    /// eigensolver): exact, and for embeddings (d ≤ 4096) cheaper than a randomized SVD of the n × d data.
    public static func fit(_ x: [Float], count n: Int, dimension d: Int, scaling: Scaling, pcaComponents: Int) -> (
        FeaturePreprocessing, [Float]
    ) {
        var map = FeaturePreprocessing(scaling: scaling, inputDimension: d)
        if scaling == .standardize {
            // Two passes in double: E[x²] − μ² cancels to noise for a feature whose mean is large against its spread.
            var mean = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
            for i in 0..<n { for j in 0..<d { mean[j] += Double(x[i * d + j]) } }
            for j in 0..<d { mean[j] /= Double(max(n, 1)) }
            for i in 0..<n {
                for j in 0..<d {
                    let deviation = Double(x[i * d + j]) - mean[j]
                    squares[j] += deviation * deviation
                }
            }
            map.mean = mean.map(Float.init)
            // A spread beyond float range (features near ±3.4e38) is kept at the largest float: the scaled values stay finite.
            map.std = squares.map { Float(min(($0 / Double(max(n, 1))).squareRoot(), Double(Float.greatestFiniteMagnitude))) }
        }
        var scaled = map.scale(x, count: n)
        if pcaComponents > 0 && pcaComponents < d {
            map.fitPCA(scaled, count: n, components: pcaComponents)
            scaled = map.project(scaled, count: n)
        }
        return (map, scaled)
    }

    /// The fitted map applied to new rows (n × inputDimension).
    public func apply(_ x: [Float], count n: Int) -> [Float] {
        let scaled = scale(x, count: n)
        return components == nil ? scaled : project(scaled, count: n)
    }

    func scale(_ x: [Float], count n: Int) -> [Float] {
        let d = inputDimension
        var result = x
        switch scaling {
        case .none: break
        case .l2:
            // The squares in double: in float they overflow for components above 1.8e19 and vanish below 1e-19,
            // which turned such rows into zeros or left them unscaled.
            for i in 0..<n {
                var total = 0.0
                for j in 0..<d { total += Double(x[i * d + j]) * Double(x[i * d + j]) }
                guard total > 0 else { continue }
                let inverse = 1 / total.squareRoot()
                for j in 0..<d { result[i * d + j] = Float(Double(x[i * d + j]) * inverse) }
            }
        case .standardize:
            guard let mean, let std else { break }
            for i in 0..<n {
                for j in 0..<d {
                    // In double: x − μ overflows float when both are near ±3.4e38.
                    result[i * d + j] = std[j] > 0 ? Float((Double(x[i * d + j]) - Double(mean[j])) / Double(std[j])) : 0
                }
            }
        }
        return result
    }

    mutating func fitPCA(_ x: [Float], count n: Int, components p: Int) {
        let d = inputDimension
        var centre = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { centre[j] += Double(x[i * d + j]) } }
        for j in 0..<d { centre[j] /= Double(max(n, 1)) }
        // Covariance in blocks of rows: the centred block in double, then Cᵀ C accumulated by DGEMM.
        var covariance = [Double](repeating: 0, count: d * d)
        let blockRows = 1024
        var block = [Double](repeating: 0, count: min(blockRows, n) * d)
        for start in stride(from: 0, to: n, by: blockRows) {
            let rows = min(blockRows, n - start)
            for r in 0..<rows { for j in 0..<d { block[r * d + j] = Double(x[(start + r) * d + j]) - centre[j] } }
            block.withUnsafeBufferPointer { b in
                covariance.withUnsafeMutableBufferPointer { c in
                    LinearAlgebra.gemm(b.baseAddress!, b.baseAddress!, c.baseAddress!, m: d, n: d, k: rows, transposeA: true, beta: 1)
                }
            }
        }
        let scale = 1 / Double(max(n - 1, 1))
        for i in 0..<(d * d) { covariance[i] *= scale }
        guard let (values, vectors) = LinearAlgebra.symmetricEigen(covariance, n: d) else { return }
        var axes = [Float](repeating: 0, count: p * d)
        var explained: [Double] = []
        for c in 0..<p {
            let column = d - 1 - c  // ascending order: the largest is last
            explained.append(max(values[column], 0))
            // The sign convention scikit-learn uses (svd_flip): the largest-magnitude loading is positive.
            var largest = 0.0
            for j in 0..<d where abs(vectors[j * d + column]) > abs(largest) { largest = vectors[j * d + column] }
            let sign: Double = largest < 0 ? -1 : 1
            for j in 0..<d { axes[c * d + j] = Float(sign * vectors[j * d + column]) }
        }
        pcaMean = centre.map(Float.init)
        components = axes
        explainedVariance = explained
    }

    func project(_ x: [Float], count n: Int) -> [Float] {
        guard let components, let pcaMean else { return x }
        let d = inputDimension, p = components.count / d
        var centred = x
        for i in 0..<n { for j in 0..<d { centred[i * d + j] -= pcaMean[j] } }
        var result = [Float](repeating: 0, count: n * p)
        centred.withUnsafeBufferPointer { a in
            components.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { c in
                    MatrixMultiply.gemm(a.baseAddress!, b.baseAddress!, c.baseAddress!, m: n, n: p, k: d, transposeB: true)
                }
            }
        }
        return result
    }
}
