import Foundation

/// MCMC diagnostics as Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021) define them, computed
/// exactly as ArviZ does (rank-normalized split R̂, bulk and tail ESS, MCSE of mean, sd and quantiles),
/// so numbers agree with what users see in Python.
public enum Diagnostics {
    /// Per-parameter summary of chains × draws.
    public struct Summary: Sendable, Codable, Equatable {
        public var mean: Double
        public var sd: Double
        public var quantiles: [String: Double]
        public var mcseMean: Double
        public var mcseSD: Double
        public var essBulk: Double
        public var essTail: Double
        public var rHat: Double
        /// Why this parameter's draws should not be trusted yet (empty when they can be).
        public var warnings: [String]

        enum CodingKeys: String, CodingKey {
            case mean, sd, quantiles, warnings
            case mcseMean = "mcse_mean", mcseSD = "mcse_sd", essBulk = "ess_bulk", essTail = "ess_tail", rHat = "r_hat"
        }
    }

    public static let summaryProbabilities: [Double] = [0.05, 0.25, 0.5, 0.75, 0.95]

    public static func summary(_ chains: [[Double]]) -> Summary {
        let all = chains.flatMap { $0 }
        let mean = all.reduce(0, +) / Double(all.count)
        let sd = (all.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(all.count - 1)).squareRoot()
        let sorted = all.sorted()
        var quantiles: [String: Double] = [:]
        for p in summaryProbabilities { quantiles[String(format: "%g%%", p * 100)] = quantile(sorted: sorted, p) }
        let bulk = essBulk(chains)
        let tail = essTail(chains)
        let rhat = rHat(chains)
        var warnings: [String] = []
        if !(rhat < 1.01) { warnings.append("r_hat \(String(format: "%.3f", rhat)) ≥ 1.01: chains have not mixed") }
        if !(bulk >= 400) { warnings.append("ess_bulk \(Int(bulk.isFinite ? bulk : 0)) < 400: too few effective draws for the mean") }
        if !(tail >= 400) { warnings.append("ess_tail \(Int(tail.isFinite ? tail : 0)) < 400: tail quantiles are unreliable") }
        return Summary(
            mean: mean, sd: sd, quantiles: quantiles, mcseMean: mcseMean(chains), mcseSD: mcseSD(chains),
            essBulk: bulk, essTail: tail, rHat: rhat, warnings: warnings)
    }

    // MARK: R̂

    /// max(bulk R̂, tail R̂) on rank-normalized split chains.
    public static func rHat(_ chains: [[Double]]) -> Double {
        guard chains.count >= 1, (chains.first?.count ?? 0) >= 4 else { return .nan }
        let split = splitChains(chains)
        let bulk = classicRHat(zScale(split))
        let median = Self.median(split.flatMap { $0 })
        let folded = split.map { $0.map { abs($0 - median) } }
        let tail = classicRHat(zScale(folded))
        return max(bulk, tail)
    }

    static func classicRHat(_ chains: [[Double]]) -> Double {
        let n = Double(chains[0].count)
        let means = chains.map { $0.reduce(0, +) / n }
        let variances = zip(chains, means).map { chain, m in chain.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1) }
        let between = n * sampleVariance(means)
        let within = variances.reduce(0, +) / Double(variances.count)
        return ((between / within + n - 1) / n).squareRoot()
    }

    // MARK: ESS

    public static func essBulk(_ chains: [[Double]]) -> Double {
        ess(zScale(splitChains(chains)))
    }

    public static func essTail(_ chains: [[Double]]) -> Double {
        min(essQuantile(chains, 0.05), essQuantile(chains, 0.95))
    }

    public static func essMean(_ chains: [[Double]]) -> Double {
        ess(splitChains(chains))
    }

    public static func essQuantile(_ chains: [[Double]], _ p: Double) -> Double {
        let threshold = quantile(sorted: chains.flatMap { $0 }.sorted(), p)
        return ess(splitChains(chains.map { $0.map { $0 <= threshold ? 1 : 0 } }))
    }

    /// ESS of chains as given (no splitting or ranking): Geyer's initial positive then monotone sequence.
    public static func ess(_ chains: [[Double]]) -> Double {
        let all = chains.flatMap { $0 }
        guard let low = all.min(), let high = all.max(), low.isFinite, high.isFinite else { return .nan }
        if high - low < 1e-15 { return Double(all.count) }
        let m = chains.count
        let n = chains[0].count
        let autocovariances = chains.map { Autocovariance($0) }
        let chainMeans = chains.map { $0.reduce(0, +) / Double(n) }
        func meanAutocovariance(_ lag: Int) -> Double {
            autocovariances.reduce(0) { $0 + $1.at(lag) } / Double(m)
        }
        let meanVar = meanAutocovariance(0) * Double(n) / (Double(n) - 1)
        var varPlus = meanVar * (Double(n) - 1) / Double(n)
        if m > 1 { varPlus += sampleVariance(chainMeans) }

        var rho = [Double](repeating: 0, count: n)
        var rhoEven = 1.0
        rho[0] = rhoEven
        var rhoOdd = 1 - (meanVar - meanAutocovariance(1)) / varPlus
        rho[1] = rhoOdd
        var t = 1
        while t < n - 3 && rhoEven + rhoOdd > 0 {
            rhoEven = 1 - (meanVar - meanAutocovariance(t + 1)) / varPlus
            rhoOdd = 1 - (meanVar - meanAutocovariance(t + 2)) / varPlus
            if rhoEven + rhoOdd >= 0 {
                rho[t + 1] = rhoEven
                rho[t + 2] = rhoOdd
            }
            t += 2
        }
        let maxT = t - 2
        if rhoEven > 0 { rho[maxT + 1] = rhoEven }
        t = 1
        while t <= maxT - 2 {
            if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t] {
                rho[t + 1] = (rho[t - 1] + rho[t]) / 2
                rho[t + 2] = rho[t + 1]
            }
            t += 2
        }
        let total = Double(m * n)
        var tau = -1 + 2 * rho[0...max(0, maxT)].reduce(0, +)
        if maxT + 1 < n { tau += rho[maxT + 1] }
        tau = max(tau, 1 / log10(total))
        return total / tau
    }

    // MARK: MCSE

    public static func mcseMean(_ chains: [[Double]]) -> Double {
        let all = chains.flatMap { $0 }
        return standardDeviation(all) / essMean(chains).squareRoot()
    }

    public static func mcseSD(_ chains: [[Double]]) -> Double {
        let all = chains.flatMap { $0 }
        let mean = all.reduce(0, +) / Double(all.count)
        let squared = chains.map { $0.map { ($0 - mean) * ($0 - mean) } }
        let flat = squared.flatMap { $0 }
        let ess = essMean(squared)
        let expectedVariance = flat.reduce(0, +) / Double(flat.count)
        let varianceOfVariance = (flat.reduce(0) { $0 + $1 * $1 } / Double(flat.count) - expectedVariance * expectedVariance) / ess
        return (varianceOfVariance / expectedVariance / 4).squareRoot()
    }

    public static func mcseQuantile(_ chains: [[Double]], _ p: Double) -> Double {
        let ess = essQuantile(chains, p)
        let sorted = chains.flatMap { $0 }.sorted()
        let size = Double(sorted.count)
        let lower = Special.inverseBetaI(0.1586553, ess * p + 1, ess * (1 - p) + 1) * size - 1
        let upper = Special.inverseBetaI(0.8413447, ess * p + 1, ess * (1 - p) + 1) * size - 1
        let low = sorted[Int(max(lower, 0).rounded(.down))]
        let high = sorted[Int(min(upper, size - 1).rounded(.up))]
        return (high - low) / 2
    }

    // MARK: Helpers

    /// Each chain cut in two halves (the middle draw dropped when the count is odd).
    static func splitChains(_ chains: [[Double]]) -> [[Double]] {
        let half = chains[0].count / 2
        return chains.flatMap { [Array($0.prefix(half)), Array($0.suffix(half))] }
    }

    /// Average ranks over all draws, Blom's offset, through the normal quantile.
    static func zScale(_ chains: [[Double]]) -> [[Double]] {
        let flat = chains.flatMap { $0 }
        let ranks = averageRanks(flat)
        let size = Double(flat.count)
        var index = 0
        return chains.map { chain in
            chain.map { _ in
                defer { index += 1 }
                return Special.normalQuantile((ranks[index] - 0.375) / (size - 0.75 + 1))
            }
        }
    }

    static func averageRanks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for position in start...end { ranks[order[position]] = rank }
            start = end + 1
        }
        return ranks
    }

    /// Type-7 (linear interpolation) quantile of sorted values, as numpy and R default to.
    public static func quantile(sorted: [Double], _ p: Double) -> Double {
        let position = p * Double(sorted.count - 1)
        let low = Int(position.rounded(.down))
        let high = min(low + 1, sorted.count - 1)
        return sorted[low] + (position - Double(low)) * (sorted[high] - sorted[low])
    }

    static func median(_ values: [Double]) -> Double { quantile(sorted: values.sorted(), 0.5) }

    public static func sampleVariance(_ values: [Double]) -> Double {
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
    }

    public static func standardDeviation(_ values: [Double]) -> Double { sampleVariance(values).squareRoot() }
}

/// Autocovariances of one chain at lags computed on demand (Geyer's sequence usually stops early).
struct Autocovariance {
    private let centered: [Double]

    init(_ chain: [Double]) {
        let mean = chain.reduce(0, +) / Double(chain.count)
        centered = chain.map { $0 - mean }
    }

    func at(_ lag: Int) -> Double {
        let n = centered.count
        guard lag < n else { return 0 }
        var sum = 0.0
        centered.withUnsafeBufferPointer { x in
            for i in 0..<(n - lag) { sum += x[i] * x[i + lag] }
        }
        return sum / Double(n)
    }
}
