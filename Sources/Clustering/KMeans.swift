import Foundation
import RandomStreams

/// Lloyd's k-means with greedy k-means++ seeding (as scikit-learn: 2 + ⌊ln k⌋ candidates per
/// centre, the one that lowers the potential most is kept), `runs` seedings keeping the lowest
/// inertia. Distances are ‖x‖² − 2 x·c + ‖c‖², from register-blocked dot products; Hamerly's bounds spare the rows that
/// cannot change cluster.
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
    public func fit(
        _ x: [Float], count n: Int, dimension d: Int, resuming previous: Result? = nil, firstRun: Int = 0,
        progress: (Int, Result) throws -> Void = { _, _ in }
    ) rethrows -> Result {
        precondition(n >= k && k >= 1, "needs at least k samples")
        let squaredNorms = (0..<n).map { i in x.withUnsafeBufferPointer { p in Double(dot(p.baseAddress! + i * d, p.baseAddress! + i * d, d)) } }
        let threshold = tolerance * meanVariance(x, n: n, d: d)
        var best = previous
        for run in firstRun..<max(firstRun, runs) {
            var rng = RandomStream(seed: seed, stream: run)
            let seeds = seedPlusPlus(x, n: n, d: d, norms: squaredNorms, rng: &rng)
            let (iterations, centroids) = lloydIterations(x, n: n, d: d, norms: squaredNorms, from: seeds, threshold: threshold)
            // The final assignment to the final centres, as scikit-learn reports it.
            var assignments = [Int](repeating: 0, count: n)
            let inertia = assign(x, n: n, d: d, norms: squaredNorms, centroids: centroids, into: &assignments).inertia
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
        // Row by row (contiguous), per-feature sums in Double.
        var sums = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
        x.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let row = p.baseAddress! + i * d
                for j in 0..<d { let v = Double(row[j]); sums[j] += v; squares[j] += v * v }
            }
        }
        var total = 0.0
        for j in 0..<d {
            let mean = sums[j] / Double(n)
            total += squares[j] / Double(n) - mean * mean
        }
        return total / Double(d)
    }

    /// Lloyd's iterations from `start` until the centres' squared shift is at most `threshold`, with Hamerly's bounds
    /// ("Making k-means even faster", 2010): each row keeps an upper bound on the distance to its centre and a lower bound on
    /// the distance to every other. A row whose upper bound is below both its lower bound and half the distance from its
    /// centre to the nearest other centre cannot change cluster, so none of its distances are computed — after the first
    /// few iterations, most rows. The assignments are Lloyd's up to rounding. Returns the iterations and the final centres.
    func lloydIterations(_ x: [Float], n: Int, d: Int, norms: [Double], from start: [Float], threshold: Double) -> (Int, [Float]) {
        var centroids = start
        var assignments = [Int](repeating: 0, count: n)
        var upper = [Double](repeating: 0, count: n), lower = [Double](repeating: 0, count: n)
        var iterations = 0
        x.withUnsafeBufferPointer { xp in
            // Every distance of row i: its nearest centre and the two bounds, from ‖x‖² (`norms`) + ‖c‖² − 2 x·c.
            func nearestTwo(_ i: Int, _ cp: UnsafePointer<Float>, _ centreNorms: [Float]) {
                let row = xp.baseAddress! + i * d
                var best = Float.infinity, second = Float.infinity, bestCentre = 0
                forEachDot(row, cp, count: k, d) { c, product in
                    let distance = centreNorms[c] - 2 * product
                    if distance < best {
                        second = best; best = distance; bestCentre = c
                    } else if distance < second {
                        second = distance
                    }
                }
                assignments[i] = bestCentre
                upper[i] = max(0, norms[i] + Double(best)).squareRoot()
                lower[i] = max(0, norms[i] + Double(second)).squareRoot()
            }
            func centreNorms() -> [Float] {
                centroids.withUnsafeBufferPointer { p in (0..<k).map { c in dot(p.baseAddress! + c * d, p.baseAddress! + c * d, d) } }
            }
            var centreSquares = centreNorms()
            centroids.withUnsafeBufferPointer { cp in for i in 0..<n { nearestTwo(i, cp.baseAddress!, centreSquares) } }
            for iteration in 1...max(1, maxIterations) {
                iterations = iteration
                if iteration > 1 {
                    var half = [Double](repeating: .infinity, count: k)
                    centroids.withUnsafeBufferPointer { cp in
                        for a in 0..<k {
                            for b in (a + 1)..<max(a + 1, k) {
                                let distance = Double(squaredEuclidean(cp.baseAddress! + a * d, cp.baseAddress! + b * d, d)).squareRoot() / 2
                                half[a] = min(half[a], distance); half[b] = min(half[b], distance)
                            }
                        }
                        for i in 0..<n {
                            let bound = max(half[assignments[i]], lower[i])
                            guard upper[i] > bound else { continue }
                            upper[i] = Double(squaredEuclidean(xp.baseAddress! + i * d, cp.baseAddress! + assignments[i] * d, d)).squareRoot()
                            guard upper[i] > bound else { continue }
                            nearestTwo(i, cp.baseAddress!, centreSquares)
                        }
                    }
                }
                // The new means; a centre that lost all its rows stays.
                var sums = [Float](repeating: 0, count: k * d)
                var counts = [Int](repeating: 0, count: k)
                sums.withUnsafeMutableBufferPointer { sp in
                    for i in 0..<n {
                        addRow(xp.baseAddress! + i * d, into: sp.baseAddress! + assignments[i] * d, d)
                        counts[assignments[i]] += 1
                    }
                }
                var updated = centroids
                for c in 0..<k where counts[c] > 0 {
                    let scale = 1 / Float(counts[c])
                    for j in 0..<d { updated[c * d + j] = sums[c * d + j] * scale }
                }
                var moves = [Double](repeating: 0, count: k)
                for c in 0..<k {
                    for j in 0..<d { let delta = Double(updated[c * d + j] - centroids[c * d + j]); moves[c] += delta * delta }
                }
                let shift = moves.reduce(0, +)
                centroids = updated
                if shift <= threshold { break }
                // Each bound moves with the centres: the upper by its own centre's move, the lower by the largest move of another.
                for c in 0..<k { moves[c] = moves[c].squareRoot() }
                var largest = 0
                for c in 1..<max(1, k) where moves[c] > moves[largest] { largest = c }
                let secondLargest = (0..<k).filter { $0 != largest }.map { moves[$0] }.max() ?? 0
                for i in 0..<n {
                    upper[i] += moves[assignments[i]]
                    lower[i] -= assignments[i] == largest ? secondLargest : moves[largest]
                }
                centreSquares = centreNorms()
            }
        }
        return (iterations, centroids)
    }

    /// Assigns each row to its nearest centre by ‖c‖² − 2x·c, up to eight dot products at a time (eight
    /// independent FMA chains in flight).
    /// Returns the inertia (sum of squared distances) and the cluster sizes.
    func assign(
        _ x: [Float], n: Int, d: Int, norms: [Double], centroids: [Float], into assignments: inout [Int]
    ) -> (inertia: Double, counts: [Int]) {
        let centreNorms = (0..<k).map { c in centroids.withUnsafeBufferPointer { p in dot(p.baseAddress! + c * d, p.baseAddress! + c * d, d) } }
        var counts = [Int](repeating: 0, count: k)
        var inertia = 0.0
        x.withUnsafeBufferPointer { xp in
            centroids.withUnsafeBufferPointer { cp in
                for i in 0..<n {
                    let row = xp.baseAddress! + i * d
                    var bestCentre = 0
                    var bestDistance = Float.infinity
                    forEachDot(row, cp.baseAddress!, count: k, d) { c, product in
                        let distance = centreNorms[c] - 2 * product
                        if distance < bestDistance { bestDistance = distance; bestCentre = c }
                    }
                    assignments[i] = bestCentre
                    counts[bestCentre] += 1
                    inertia += max(0, norms[i] + Double(bestDistance))
                }
            }
        }
        return (inertia, counts)
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
                // `bestCandidate < 0`: when every potential is infinite (features near ±1e20 overflow the
                // squared distances in Float), the first candidate is kept rather than index −1.
                if candidatePotential < bestPotential || bestCandidate < 0 {
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

/// x·c for each of `count` consecutive rows c of `rows` (d apart), eight at a time: `body(j, x·c_j)` for j in order.
@inline(__always)
func forEachDot(_ x: UnsafePointer<Float>, _ rows: UnsafePointer<Float>, count: Int, _ d: Int, _ body: (Int, Float) -> Void) {
    var c = 0
    while c < count {
        let group = min(8, count - c)
        let products =
            group > 4 ? dots8(x, rows + c * d, rows: group, d) : SIMD8(lowHalf: dots(x, rows + c * d, rows: group, d), highHalf: .zero)
        for g in 0..<group { body(c + g, products[g]) }
        c += group
    }
}

/// x·c for up to four rows c of `centres` (consecutive, d apart).
@inline(__always)
func dots(_ x: UnsafePointer<Float>, _ centres: UnsafePointer<Float>, rows: Int, _ d: Int) -> SIMD4<Float> {
    var a0 = SIMD8<Float>(repeating: 0), a1 = a0, a2 = a0, a3 = a0
    let c1 = centres + (rows > 1 ? d : 0), c2 = centres + (rows > 2 ? 2 * d : 0), c3 = centres + (rows > 3 ? 3 * d : 0)
    var j = 0
    while j &+ 8 <= d {
        let v = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
        a0.addProduct(v, UnsafeRawPointer(centres + j).loadUnaligned(as: SIMD8<Float>.self))
        a1.addProduct(v, UnsafeRawPointer(c1 + j).loadUnaligned(as: SIMD8<Float>.self))
        a2.addProduct(v, UnsafeRawPointer(c2 + j).loadUnaligned(as: SIMD8<Float>.self))
        a3.addProduct(v, UnsafeRawPointer(c3 + j).loadUnaligned(as: SIMD8<Float>.self))
        j &+= 8
    }
    var result = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    while j < d {
        result += SIMD4<Float>(x[j] * centres[j], x[j] * c1[j], x[j] * c2[j], x[j] * c3[j])
        j &+= 1
    }
    return result
}

/// x·c for up to eight consecutive rows c of `centres`.
@inline(__always)
func dots8(_ x: UnsafePointer<Float>, _ centres: UnsafePointer<Float>, rows: Int, _ d: Int) -> SIMD8<Float> {
    var a0 = SIMD8<Float>(repeating: 0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
    func row(_ r: Int) -> UnsafePointer<Float> { centres + (r < rows ? r * d : 0) }
    let (c0, c1, c2, c3, c4, c5, c6, c7) = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
    func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
    var j = 0
    while j &+ 8 <= d {
        let v = load(x + j)
        a0.addProduct(v, load(c0 + j)); a1.addProduct(v, load(c1 + j)); a2.addProduct(v, load(c2 + j)); a3.addProduct(v, load(c3 + j))
        a4.addProduct(v, load(c4 + j)); a5.addProduct(v, load(c5 + j)); a6.addProduct(v, load(c6 + j)); a7.addProduct(v, load(c7 + j))
        j &+= 8
    }
    var result = SIMD8<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum(), a4.sum(), a5.sum(), a6.sum(), a7.sum())
    while j < d {
        result += SIMD8<Float>(x[j] * c0[j], x[j] * c1[j], x[j] * c2[j], x[j] * c3[j], x[j] * c4[j], x[j] * c5[j], x[j] * c6[j], x[j] * c7[j])
        j &+= 1
    }
    return result
}

func addRow(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i &+ 8 <= n {
        let sum = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self) + UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: sum, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < n { y[i] += x[i]; i &+= 1 }
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
