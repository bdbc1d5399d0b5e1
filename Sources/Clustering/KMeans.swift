import Foundation
import Sampling
import Tensor

/// Lloyd's k-means with greedy k-means++ seeding (as scikit-learn: 2 + ⌊ln k⌋ candidates per
/// centre, the one that lowers the potential most is kept), `runs` seedings keeping the lowest
/// inertia. Distances come from one SGEMM per iteration: ‖x‖² − 2 x·c + ‖c‖².
public struct KMeans: Sendable {
    public var k: Int
    public var runs: Int
    public var maxIterations: Int
    /// Convergence when the centres' squared shift is below tolerance × the data's mean variance.
    public var tolerance: Double
    public var seed: UInt64

    public init(k: Int, runs: Int = 10, maxIterations: Int = 300, tolerance: Double = 1e-4, seed: UInt64 = 0) {
        self.k = k
        self.runs = runs
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.seed = seed
    }

    public struct Result: Sendable, Codable, Equatable {
        public var assignments: [Int]
        /// k × dimension, row-major.
        public var centroids: [Float]
        public var inertia: Double
        public var iterations: Int
        /// Which seeding won (0-based).
        public var bestRun: Int
    }

    /// x: n × d row-major. `progress(run, best)` is called after each run (it may throw to stop, and
    /// may checkpoint `best`); a resumed fit passes the best so far and the first run still to do.
    public func fit(_ x: [Float], count n: Int, dimension d: Int, resuming previous: Result? = nil, firstRun: Int = 0,
                    progress: (Int, Result) throws -> Void = { _, _ in }) rethrows -> Result {
        precondition(n >= k && k >= 1, "needs at least k samples")
        let squaredNorms = (0..<n).map { i in x.withUnsafeBufferPointer { p in Double(dot(p.baseAddress! + i * d, p.baseAddress! + i * d, d)) } }
        let threshold = tolerance * meanVariance(x, n: n, d: d)
        var best = previous
        for run in firstRun..<max(firstRun, runs) {
            var rng = RandomStream(seed: seed, stream: run)
            var centroids = seedPlusPlus(x, n: n, d: d, norms: squaredNorms, rng: &rng)
            var assignments = [Int](repeating: 0, count: n)
            var iterations = 0
            var inertia = 0.0
            for iteration in 1...max(1, maxIterations) {
                iterations = iteration
                inertia = assign(x, n: n, d: d, norms: squaredNorms, centroids: centroids, into: &assignments)
                let updated = means(x, n: n, d: d, assignments: assignments, previous: centroids)
                var shift = 0.0
                for i in 0..<(k * d) { let delta = Double(updated[i] - centroids[i]); shift += delta * delta }
                centroids = updated
                if shift <= threshold { break }
            }
            // The final assignment to the final centres, as scikit-learn reports it.
            inertia = assign(x, n: n, d: d, norms: squaredNorms, centroids: centroids, into: &assignments)
            if best == nil || inertia < best!.inertia {
                best = Result(assignments: assignments, centroids: centroids, inertia: inertia, iterations: iterations, bestRun: run)
            }
            try progress(run, best!)
        }
        return best!
    }

    /// Nearest centre for each row of x (for prediction).
    public static func predict(_ x: [Float], count n: Int, dimension d: Int, centroids: [Float], k: Int) -> [Int] {
        let norms = (0..<n).map { i in x.withUnsafeBufferPointer { p in Double(dot(p.baseAddress! + i * d, p.baseAddress! + i * d, d)) } }
        var assignments = [Int](repeating: 0, count: n)
        _ = KMeans(k: k).assign(x, n: n, d: d, norms: norms, centroids: centroids, into: &assignments)
        return assignments
    }

    func meanVariance(_ x: [Float], n: Int, d: Int) -> Double {
        var total = 0.0
        for j in 0..<d {
            var mean = 0.0, square = 0.0
            for i in 0..<n { let v = Double(x[i * d + j]); mean += v; square += v * v }
            mean /= Double(n)
            total += square / Double(n) - mean * mean
        }
        return total / Double(d)
    }

    /// Assigns each row to its nearest centre; returns the inertia (sum of squared distances).
    func assign(_ x: [Float], n: Int, d: Int, norms: [Double], centroids: [Float], into assignments: inout [Int]) -> Double {
        let centreNorms = (0..<k).map { c in centroids.withUnsafeBufferPointer { p in dot(p.baseAddress! + c * d, p.baseAddress! + c * d, d) } }
        var inertia = 0.0
        // Blocks of rows keep the n × k product small for large n.
        let block = 4096
        var products = [Float](repeating: 0, count: min(n, block) * k)
        for start in stride(from: 0, to: n, by: block) {
            let rows = min(block, n - start)
            x.withUnsafeBufferPointer { xp in
                centroids.withUnsafeBufferPointer { cp in
                    products.withUnsafeMutableBufferPointer { pp in
                        MatrixMultiply.gemm(xp.baseAddress! + start * d, cp.baseAddress!, pp.baseAddress!, m: rows, n: k, k: d, transposeB: true)
                    }
                }
            }
            for r in 0..<rows {
                var bestCentre = 0
                var bestDistance = Float.infinity
                for c in 0..<k {
                    let distance = centreNorms[c] - 2 * products[r * k + c]
                    if distance < bestDistance { bestDistance = distance; bestCentre = c }
                }
                assignments[start + r] = bestCentre
                inertia += max(0, norms[start + r] + Double(bestDistance))
            }
        }
        return inertia
    }

    /// Cluster means; an emptied cluster keeps its previous centre.
    func means(_ x: [Float], n: Int, d: Int, assignments: [Int], previous: [Float]) -> [Float] {
        var sums = [Double](repeating: 0, count: k * d)
        var counts = [Int](repeating: 0, count: k)
        for i in 0..<n {
            let c = assignments[i]
            counts[c] += 1
            for j in 0..<d { sums[c * d + j] += Double(x[i * d + j]) }
        }
        var centroids = previous
        for c in 0..<k where counts[c] > 0 {
            for j in 0..<d { centroids[c * d + j] = Float(sums[c * d + j] / Double(counts[c])) }
        }
        return centroids
    }

    func seedPlusPlus(_ x: [Float], n: Int, d: Int, norms: [Double], rng: inout RandomStream) -> [Float] {
        var centroids = [Float](repeating: 0, count: k * d)
        let trials = 2 + Int(log(Double(k)))
        func squaredDistance(_ i: Int, _ j: Int) -> Double {
            x.withUnsafeBufferPointer { p in Double(squaredEuclidean(p.baseAddress! + i * d, p.baseAddress! + j * d, d)) }
        }
        var chosen = Int(rng.next() % UInt64(n))
        var closest = (0..<n).map { squaredDistance($0, chosen) }
        for t in 0..<d { centroids[t] = x[chosen * d + t] }
        for centre in 1..<k {
            let potential = closest.reduce(0, +)
            var bestCandidate = -1
            var bestPotential = Double.infinity
            var bestClosest: [Double] = []
            for _ in 0..<trials {
                // Sampled with probability proportional to the squared distance to the nearest centre.
                var target = rng.uniform() * potential
                var candidate = n - 1
                for i in 0..<n {
                    target -= closest[i]
                    if target < 0 { candidate = i; break }
                }
                let updated = (0..<n).map { min(closest[$0], squaredDistance($0, candidate)) }
                let candidatePotential = updated.reduce(0, +)
                if candidatePotential < bestPotential {
                    bestPotential = candidatePotential
                    bestCandidate = candidate
                    bestClosest = updated
                }
            }
            chosen = bestCandidate
            closest = bestClosest
            for t in 0..<d { centroids[centre * d + t] = x[chosen * d + t] }
        }
        return centroids
    }
}

func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i &+ 8 <= n {
        acc.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self), UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
        i &+= 8
    }
    var total = acc.sum()
    while i < n { total += a[i] * b[i]; i &+= 1 }
    return total
}

func squaredEuclidean(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i &+ 8 <= n {
        let delta = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) - UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        acc.addProduct(delta, delta)
        i &+= 8
    }
    var total = acc.sum()
    while i < n { let delta = a[i] - b[i]; total += delta * delta; i &+= 1 }
    return total
}
