import Foundation

/// Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024), computed as
/// ArviZ's `psislw` does: the largest weights are replaced by expected order statistics of a
/// generalized Pareto fitted to them (Zhang & Stephens' empirical Bayes estimate), and k̂ — the fitted
/// shape — says how far the estimates can be trusted (k̂ > 0.7: not at all).
public enum ParetoSmoothing {
    /// Smoothed, normalized log weights and k̂ for independent draws (relative efficiency 1).
    public static func smooth(_ logWeights: [Double], relativeEfficiency: Double = 1) -> (logWeights: [Double], k: Double) {
        let n = logWeights.count
        guard n > 0 else { return ([], .nan) }
        let tailLength = Int(ceil(min(Double(n) / 5, 3 * (Double(n) / relativeEfficiency).squareRoot())))
        let largest = logWeights.max()!
        var x = logWeights.map { $0 - largest }
        let sortedIndex = x.indices.sorted { x[$0] < x[$1] }
        let cutoffPosition = n - tailLength - 1
        let cutoff = max(cutoffPosition >= 0 ? x[sortedIndex[cutoffPosition]] : -.infinity, log(Double.leastNormalMagnitude))
        let expCutoff = exp(cutoff)
        let tail = x.indices.filter { x[$0] > cutoff }.sorted { x[$0] < x[$1] }
        var k = Double.infinity
        if tail.count > 4 {
            let values = tail.map { exp(x[$0]) - expCutoff }
            let (shape, scale) = fitGeneralizedPareto(values)
            k = shape
            if shape.isFinite {
                for (position, index) in tail.enumerated() {
                    let probability = (Double(position) + 0.5) / Double(tail.count)
                    x[index] = log(generalizedParetoQuantile(probability, k: shape, sigma: scale) + expCutoff)
                }
                for index in x.indices where x[index] > 0 { x[index] = 0 }
            }
        }
        let total = logSumExp(x)
        return (x.map { $0 - total }, k)
    }

    /// Zhang & Stephens (2009) with the weakly informative prior on k that PSIS uses. `values` ascending.
    static func fitGeneralizedPareto(_ values: [Double]) -> (k: Double, sigma: Double) {
        let n = values.count
        let priorB = 3.0, priorK = 10.0
        let m = 30 + Int(Double(n).squareRoot())
        let quartile = values[Int(Double(n) / 4 + 0.5) - 1]
        var b = (1...m).map { 1 - (Double(m) / (Double($0) - 0.5)).squareRoot() }
        b = b.map { $0 / (priorB * quartile) + 1 / values[n - 1] }
        let kValues = b.map { bj in values.reduce(0) { $0 + log1p(-bj * $1) } / Double(n) }
        let lengthScale = zip(b, kValues).map { bj, kj in Double(n) * (log(-(bj / kj)) - kj - 1) }
        var weights = lengthScale.map { li in 1 / lengthScale.reduce(0) { $0 + exp($1 - li) } }
        var kept = b
        let keep = weights.map { $0 >= 10 * Double.ulpOfOne }
        if keep.contains(false) {
            weights = zip(weights, keep).filter(\.1).map(\.0)
            kept = zip(b, keep).filter(\.1).map(\.0)
        }
        let weightTotal = weights.reduce(0, +)
        let bPost = zip(kept, weights).reduce(0) { $0 + $1.0 * $1.1 / weightTotal }
        var kPost = values.reduce(0) { $0 + log1p(-bPost * $1) } / Double(n)
        let sigma = -kPost / bPost
        kPost = (Double(n) * kPost + priorK * 0.5) / (Double(n) + priorK)
        return (kPost, sigma)
    }

    static func generalizedParetoQuantile(_ p: Double, k: Double, sigma: Double) -> Double {
        guard sigma > 0 else { return .nan }
        if abs(k) < Double.ulpOfOne { return -log1p(-p) * sigma }
        return expm1(-k * log1p(-p)) / k * sigma
    }

    static func logSumExp(_ values: [Double]) -> Double {
        guard let largest = values.max(), largest.isFinite else { return values.max() ?? -.infinity }
        return largest + log(values.reduce(0) { $0 + exp($1 - largest) })
    }
}
