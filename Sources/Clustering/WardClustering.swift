import Foundation
import Tensor

/// Agglomerative clustering with Ward's linkage under kNN connectivity (scikit-learn's
/// `AgglomerativeClustering(linkage="ward", connectivity=kneighbors_graph(...))`): only clusters joined by
/// a graph edge may merge, so the candidate merges are O(N·K), never the N² pairs of unconstrained Ward.
/// The merge cost is the rise in within-cluster variance, nₐn_b/(nₐ+n_b)·‖μₐ − μ_b‖²; the reported height is
/// scipy's Ward distance √(2·cost). Components the graph leaves apart are joined last, by the same cost
/// over kNN edges between their centroids.
public struct WardClustering: Sendable {
    public var neighbours: Int

    public init(neighbours: Int = 10) { self.neighbours = neighbours }

    /// The full hierarchy in scipy's linkage format: row m merges clusters a and b (ids < N are samples,
    /// N + i the cluster of row i) at `height`, giving `size` samples.
    public struct Linkage: Sendable {
        public var a: [Int]
        public var b: [Int]
        public var height: [Double]
        public var size: [Int]
        public var count: Int
        /// Merges made across components of the connectivity graph.
        public var bridgingMerges: Int

        /// The flat clustering of the first N − k merges, numbered by first sample (0 … k−1).
        public func cut(_ k: Int) -> [Int] {
            var sets = UnionFind(2 * count - 1)
            for m in 0..<max(0, count - k) {
                _ = sets.union(count + m, a[m])
                _ = sets.union(count + m, b[m])
            }
            var numbers: [Int: Int] = [:]
            return (0..<count).map { i in
                let root = sets.find(i)
                if let number = numbers[root] { return number }
                numbers[root] = numbers.count
                return numbers.count - 1
            }
        }

        /// The k among `candidates` whose cut sits below the largest relative jump in merge height: cutting into k
        /// clusters undoes merge N − k, and k's score is its height over that of the merge before it. A ratio, not a
        /// difference: Ward heights grow with cluster size, so differences always favour the last merges. Under
        /// connectivity, merges that join graph components come last and may dominate.
        public func largestJump(candidates: ClosedRange<Int>) -> (k: Int, jumps: [Int: Double]) {
            var jumps: [Int: Double] = [:]
            for k in candidates where k >= 2 && k <= count && count - k - 1 >= 0 {
                jumps[k] = height[count - k] / max(height[count - k - 1], 1e-12)
            }
            let best = jumps.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? candidates.lowerBound
            return (best, jumps)
        }

        /// (N − 1) × 4 float64, scipy.cluster.hierarchy's layout.
        public var matrix: [Double] {
            (0..<(count - 1)).flatMap { [Double(a[$0]), Double(b[$0]), height[$0], Double(size[$0])] }
        }
    }

    struct Candidate: Comparable {
        var cost: Double
        var a: Int32
        var b: Int32
        static func < (x: Candidate, y: Candidate) -> Bool { x.cost < y.cost || (x.cost == y.cost && (x.a, x.b) < (y.a, y.b)) }
    }

    /// The largest N `fitExact` accepts: its condensed distance matrix holds N(N − 1)/2 float32 values (800 MB at 20,000).
    public static let exactLimit = 20_000
    /// The largest N for which `connectivity: "auto"` chooses exact Ward (288 MB of distances at 12,000).
    public static let exactAutoLimit = 12_000

    /// Unconstrained Ward, the same hierarchy as scipy's `ward` and scikit-learn's `AgglomerativeClustering(linkage="ward")`
    /// without a connectivity: the nearest-neighbour chain algorithm (Müllner 2011) over the condensed matrix of merge costs,
    /// updated by Lance–Williams. O(N²) memory (float32, limited by `exactLimit`) and O(N²) time after the O(N²·d) distances.
    public static func fitExact(_ x: [Float], count n: Int, dimension d: Int, shouldStop: () throws -> Void = {}) throws -> Linkage {
        precondition(n >= 2 && n <= exactLimit, "exact Ward needs 2 … exactLimit samples")
        // Centred first: ‖x‖² + ‖y‖² − 2x·y in float32 loses less to cancellation when the norms are small.
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += Double(x[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        var centred = x
        for i in 0..<n { for j in 0..<d { centred[i * d + j] = Float(Double(x[i * d + j]) - mean[j]) } }
        let norms = NeighbourGraph.squaredNorms(centred, count: n, dimension: d)
        // cost[(i, j)], i < j, at i·(2n − i − 1)/2 + (j − i − 1): the Ward cost Δ = nᵢnⱼ/(nᵢ+nⱼ)·‖μᵢ − μⱼ‖², ½‖xᵢ − xⱼ‖² for samples.
        var cost = [Float](repeating: 0, count: n * (n - 1) / 2)
        func index(_ i: Int, _ j: Int) -> Int { i < j ? i * (2 * n - i - 1) / 2 + (j - i - 1) : j * (2 * n - j - 1) / 2 + (i - j - 1) }
        try NeighbourGraph.forEachInnerProductBlock(centred, count: n, dimension: d, shouldStop: shouldStop) { start, rows, products in
            for r in 0..<rows {
                let i = start + r
                let offset = index(i, i + 1) - (i + 1)
                for j in (i + 1)..<n { cost[offset + j] = max(0, 0.5 * (norms[i] + norms[j] - 2 * products[r * n + j])) }
            }
        }
        // Each live cluster sits in the slot of one of its samples; `live` lists the slots, `position` finds one in it.
        var live = Array(0..<n)
        var position = Array(0..<n)
        var sizes = [Int](repeating: 1, count: n)
        var merges: [(a: Int, b: Int, cost: Double)] = []
        merges.reserveCapacity(n - 1)
        var chain: [Int] = []
        while live.count > 1 {
            if chain.isEmpty { chain.append(live[0]) }
            // Grow the chain of nearest neighbours until its last two are each other's nearest (a reciprocal pair).
            while true {
                let top = chain[chain.count - 1]
                // Ties go to the previous element, so that the chain always ends.
                var best = chain.count >= 2 ? chain[chain.count - 2] : -1
                var bestCost = best >= 0 ? cost[index(top, best)] : Float.infinity
                for c in live where c != top {
                    let value = cost[index(top, c)]
                    if value < bestCost {
                        bestCost = value
                        best = c
                    }
                }
                // Non-finite costs (overflowing coordinates) compare false with everything: take any other cluster then.
                if best < 0 { best = live.first { $0 != top } ?? top }
                if chain.count >= 2 && best == chain[chain.count - 2] { break }
                chain.append(best)
            }
            let b = chain.removeLast()
            let a = chain.removeLast()
            let joined = Double(cost[index(a, b)])
            merges.append((a, b, joined.isNaN ? .infinity : joined))  // NaN would break the sort below
            // The merged cluster takes b's slot; a's slot leaves the live list.
            let (na, nb) = (Double(sizes[a]), Double(sizes[b]))
            for k in live where k != a && k != b {
                let nk = Double(sizes[k])
                let updated = ((nk + na) * Double(cost[index(k, a)]) + (nk + nb) * Double(cost[index(k, b)]) - nk * joined) / (na + nb + nk)
                cost[index(k, b)] = Float(updated)
            }
            sizes[b] += sizes[a]
            let last = live.removeLast()
            if last != a {
                live[position[a]] = last
                position[last] = position[a]
            }
            if merges.count % 256 == 0 { try shouldStop() }
        }
        // Ward is reducible, so the merges sorted by cost are a valid order; number the clusters as scipy does.
        let order = merges.indices.sorted { (merges[$0].cost, $0) < (merges[$1].cost, $1) }
        var sets = UnionFind(n)
        var clusterID = Array(0..<n)
        var linkage = Linkage(a: [], b: [], height: [], size: [], count: n, bridgingMerges: 0)
        for (m, step) in order.enumerated() {
            let (ra, rb) = (sets.find(merges[step].a), sets.find(merges[step].b))
            let (ida, idb) = (clusterID[ra], clusterID[rb])
            _ = sets.union(ra, rb)
            clusterID[sets.find(ra)] = n + m
            linkage.a.append(min(ida, idb))
            linkage.b.append(max(ida, idb))
            linkage.height.append((2 * max(merges[step].cost, 0)).squareRoot())
            linkage.size.append(sets.size[sets.find(ra)])
        }
        return linkage
    }

    public func fit(_ x: [Float], count n: Int, dimension d: Int, shouldStop: () throws -> Void = {}) throws -> Linkage {
        precondition(n >= 2, "needs at least two samples")
        let graph = try NeighbourGraph.build(x, count: n, dimension: d, k: min(neighbours, n - 1), shouldStop: shouldStop)
        let total = 2 * n - 1
        var sums = [Double](repeating: 0, count: total * d)
        for i in 0..<(n * d) { sums[i] = Double(x[i]) }
        var sizes = [Int](repeating: 1, count: n) + [Int](repeating: 0, count: n - 1)
        var alive = [Bool](repeating: true, count: n) + [Bool](repeating: false, count: n - 1)
        var adjacency = [Set<Int32>](repeating: [], count: total)
        for i in 0..<n {
            for j in graph.neighbours(of: i) {
                adjacency[i].insert(j)
                adjacency[Int(j)].insert(Int32(i))
            }
        }
        func cost(_ p: Int, _ q: Int) -> Double {
            let (np, nq) = (Double(sizes[p]), Double(sizes[q]))
            var squared = 0.0
            for j in 0..<d {
                let delta = sums[p * d + j] / np - sums[q * d + j] / nq
                squared += delta * delta
            }
            return np * nq / (np + nq) * squared
        }
        var heap = MinHeap<Candidate>()
        for i in 0..<n { for j in adjacency[i] where Int(j) > i { heap.push(Candidate(cost: cost(i, Int(j)), a: Int32(i), b: j)) } }
        var linkage = Linkage(a: [], b: [], height: [], size: [], count: n, bridgingMerges: 0)
        var next = n
        func merge(_ p: Int, _ q: Int, _ mergeCost: Double) {
            let m = next
            next += 1
            for j in 0..<d { sums[m * d + j] = sums[p * d + j] + sums[q * d + j] }
            sizes[m] = sizes[p] + sizes[q]
            alive[p] = false
            alive[q] = false
            alive[m] = true
            var joined = adjacency[p].union(adjacency[q])
            joined.remove(Int32(p))
            joined.remove(Int32(q))
            adjacency[p] = []
            adjacency[q] = []
            for c in joined {
                adjacency[Int(c)].remove(Int32(p))
                adjacency[Int(c)].remove(Int32(q))
                adjacency[Int(c)].insert(Int32(m))
                heap.push(Candidate(cost: cost(Int(c), m), a: c, b: Int32(m)))
            }
            adjacency[m] = joined
            linkage.a.append(min(p, q))
            linkage.b.append(max(p, q))
            linkage.height.append((2 * max(mergeCost, 0)).squareRoot())
            linkage.size.append(sizes[m])
        }
        var steps = 0
        while next < total {
            while let top = heap.pop() {
                guard alive[Int(top.a)] && alive[Int(top.b)] else { continue }
                merge(Int(top.a), Int(top.b), top.cost)
                steps += 1
                if steps % 4096 == 0 { try shouldStop() }
            }
            guard next < total else { break }
            // Components the graph left apart: connect each remaining cluster to its nearest centroids.
            let remaining = (0..<next).filter { alive[$0] }
            let centroids = remaining.flatMap { c in (0..<d).map { Float(sums[c * d + $0] / Double(sizes[c])) } }
            let links = try NeighbourGraph.build(
                centroids, count: remaining.count, dimension: d, k: min(5, remaining.count - 1), shouldStop: shouldStop)
            for (r, c) in remaining.enumerated() {
                for other in links.neighbours(of: r) {
                    let o = remaining[Int(other)]
                    heap.push(Candidate(cost: cost(c, o), a: Int32(c), b: Int32(o)))
                    adjacency[c].insert(Int32(o))
                    adjacency[o].insert(Int32(c))
                }
            }
            linkage.bridgingMerges += remaining.count - 1
        }
        return linkage
    }
}

/// A binary min-heap.
struct MinHeap<Element: Comparable> {
    private var items: [Element] = []

    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ item: Element) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let (left, right) = (2 * parent + 1, 2 * parent + 2)
            var smallest = parent
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
