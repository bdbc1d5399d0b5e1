import Foundation
import Tensor

/// HDBSCAN (Campello, Moulavi and Sander; the selection and labelling of scikit-learn's `HDBSCAN` and the
/// `hdbscan` package): core distances from the min_samples-th nearest neighbour (the point itself counted),
/// the minimum spanning tree of mutual reachability, its single-linkage hierarchy condensed at
/// `minClusterSize`, clusters chosen by excess of mass, points outside every chosen cluster labelled −1.
public struct HDBSCAN: Sendable {
    public var minClusterSize: Int
    public var minSamples: Int
    /// Up to this many samples the spanning tree is exact (Prim over the full distance matrix, N² floats); beyond
    /// it the tree is that of the kNN graph (K = max(min_samples, 15)), its components joined by their nearest pairs.
    public static let exactLimit = 8192
    /// Samples × neighbours per sample the kNN graph may hold (indices, distances and the tree's candidate edges:
    /// 20 bytes each, 500 MB): 250,000 samples with min_samples 100.
    public static let maxGraphEntries = 25_000_000

    /// Neighbours per sample the graph needs for `n` samples: min_samples − 1, and at least 15 beyond `exactLimit`.
    public static func graphNeighbours(samples n: Int, minSamples: Int) -> Int {
        let others = min(max(minSamples - 1, 0), n - 1)
        return max(1, n <= exactLimit ? others : max(others, 15))
    }

    public init(minClusterSize: Int = 5, minSamples: Int? = nil) {
        self.minClusterSize = minClusterSize
        self.minSamples = minSamples ?? minClusterSize
    }

    public struct Result: Sendable {
        public var labels: [Int]
        public var probabilities: [Double]
        public var clusterCount: Int
        /// Excess-of-mass stability of each chosen cluster, in label order.
        public var persistence: [Double]
        public var exactTree: Bool
    }

    struct Edge {
        var a: Int32
        var b: Int32
        var weight: Float
    }

    public func fit(_ x: [Float], count n: Int, dimension d: Int, shouldStop: () throws -> Void = {}) throws -> Result {
        precondition(n >= 2, "needs at least two samples")
        let others = min(max(minSamples - 1, 0), n - 1)
        let exact = n <= Self.exactLimit
        let graph = try NeighbourGraph.build(
            x, count: n, dimension: d, k: Self.graphNeighbours(samples: n, minSamples: minSamples), shouldStop: shouldStop)
        let core = (0..<n).map { i in others == 0 ? Float(0) : graph.squaredDistances[i * graph.k + others - 1].squareRoot() }
        let edges =
            exact
            ? try primTree(x, n: n, d: d, core: core, shouldStop: shouldStop)
            : try graphTree(x, n: n, d: d, graph: graph, core: core, shouldStop: shouldStop)
        return condense(edges, n: n, exact: exact)
    }

    /// Prim's algorithm on the dense mutual-reachability matrix (distances by SGEMM in blocks of rows).
    func primTree(_ x: [Float], n: Int, d: Int, core: [Float], shouldStop: () throws -> Void) throws -> [Edge] {
        let norms = NeighbourGraph.squaredNorms(x, count: n, dimension: d)
        var distances = [Float](repeating: 0, count: n * n)
        let blockRows = 512
        for start in stride(from: 0, to: n, by: blockRows) {
            try shouldStop()
            let rows = min(blockRows, n - start)
            x.withUnsafeBufferPointer { p in
                distances.withUnsafeMutableBufferPointer { s in
                    MatrixMultiply.gemm(p.baseAddress! + start * d, p.baseAddress!, s.baseAddress! + start * n, m: rows, n: n, k: d, transposeB: true)
                }
            }
            for i in start..<(start + rows) {
                for j in 0..<n {
                    let squared = max(norms[i] + norms[j] - 2 * distances[i * n + j], 0)
                    distances[i * n + j] = max(squared.squareRoot(), core[i], core[j])
                }
            }
        }
        var inTree = [Bool](repeating: false, count: n)
        var best = [Float](repeating: .infinity, count: n)
        var from = [Int32](repeating: 0, count: n)
        var edges: [Edge] = []
        edges.reserveCapacity(n - 1)
        var current = 0
        inTree[0] = true
        for _ in 1..<n {
            var next = -1
            var nextWeight = Float.infinity
            distances.withUnsafeBufferPointer { dist in
                let row = dist.baseAddress! + current * n
                for j in 0..<n where !inTree[j] {
                    if row[j] < best[j] {
                        best[j] = row[j]
                        from[j] = Int32(current)
                    }
                    if best[j] < nextWeight || next < 0 {
                        nextWeight = best[j]
                        next = j
                    }
                }
            }
            inTree[next] = true
            edges.append(Edge(a: from[next], b: Int32(next), weight: nextWeight))
            current = next
        }
        return edges
    }

    /// Kruskal on the kNN graph's mutual-reachability edges; components left apart are joined by the
    /// nearest pair between them (Borůvka rounds over all points, by SGEMM in blocks).
    func graphTree(_ x: [Float], n: Int, d: Int, graph: NeighbourGraph, core: [Float], shouldStop: () throws -> Void) throws -> [Edge] {
        var candidates: [Edge] = []
        candidates.reserveCapacity(n * graph.k)
        for i in 0..<n {
            for m in 0..<graph.k {
                let j = Int(graph.indices[i * graph.k + m])
                candidates.append(Edge(a: Int32(i), b: Int32(j), weight: max(graph.squaredDistances[i * graph.k + m].squareRoot(), core[i], core[j])))
            }
        }
        candidates.sort { $0.weight < $1.weight }
        var sets = UnionFind(n)
        var edges: [Edge] = []
        for edge in candidates where sets.union(Int(edge.a), Int(edge.b)) { edges.append(edge) }
        let norms = NeighbourGraph.squaredNorms(x, count: n, dimension: d)
        var nearestWeight = [Float](repeating: .infinity, count: n), nearest = [Int](repeating: -1, count: n)
        while edges.count < n - 1 {
            try shouldStop()
            let component = (0..<n).map { Int32(sets.find($0)) }
            // Each point's nearest other-component point by max(distance, core_j), in one pass over all pairs (each pair of
            // row blocks once: x·xᵀ is symmetric). Squared distances first (no root per pair); the point's own core
            // distance is applied once at the end.
            for i in 0..<n { nearestWeight[i] = .infinity; nearest[i] = -1 }
            try NeighbourGraph.forEachSymmetricBlockPair(x, count: n, dimension: d, shouldStop: shouldStop) {
                rowStart, rows, columnStart, columns, products in
                component.withUnsafeBufferPointer { owner in
                    norms.withUnsafeBufferPointer { norm in
                        core.withUnsafeBufferPointer { coreDistance in
                            for r in 0..<rows {
                                let i = rowStart + r
                                let own = owner[i]
                                let row = products + r * columns
                                var bestWeight = nearestWeight[i], bestJ = nearest[i]
                                for c in 0..<columns where owner[columnStart + c] != own {
                                    let j = columnStart + c
                                    let squared = max(norm[i] + norm[j] - 2 * row[c], 0)
                                    let coreJ = coreDistance[j]
                                    let weight = max(squared, coreJ * coreJ)
                                    if weight < bestWeight {
                                        bestWeight = weight
                                        bestJ = j
                                    }
                                }
                                nearestWeight[i] = bestWeight
                                nearest[i] = bestJ
                            }
                        }
                    }
                }
            }
            // Each component's cheapest edge to another component (indexed by its root).
            var cheapest = [Edge](repeating: Edge(a: -1, b: -1, weight: .infinity), count: n)
            for i in 0..<n where nearest[i] >= 0 {
                let own = Int(component[i])
                let weight = max(nearestWeight[i].squareRoot(), core[i])
                if weight < cheapest[own].weight { cheapest[own] = Edge(a: Int32(i), b: Int32(nearest[i]), weight: weight) }
            }
            for edge in cheapest.filter({ $0.a >= 0 }).sorted(by: { $0.weight < $1.weight }) where sets.union(Int(edge.a), Int(edge.b)) {
                edges.append(edge)
            }
        }
        return edges
    }

    /// The single-linkage hierarchy of the tree, condensed, with excess-of-mass selection.
    func condense(_ tree: [Edge], n: Int, exact: Bool) -> Result {
        let edges = tree.sorted { $0.weight < $1.weight }
        // Single linkage: node n + m is the m-th merge.
        var left = [Int](repeating: 0, count: n - 1), right = [Int](repeating: 0, count: n - 1)
        var height = [Double](repeating: 0, count: n - 1), size = [Int](repeating: 1, count: 2 * n - 1)
        var sets = UnionFind(2 * n - 1)
        var representative = Array(0..<(2 * n - 1))
        for (m, edge) in edges.enumerated() {
            let a = representative[sets.find(Int(edge.a))], b = representative[sets.find(Int(edge.b))]
            left[m] = a
            right[m] = b
            height[m] = Double(edge.weight)
            size[n + m] = size[a] + size[b]
            _ = sets.union(Int(edge.a), Int(edge.b))
            representative[sets.find(Int(edge.a))] = n + m
        }
        // Condensed tree rows (parent cluster, child: a point < n or a cluster ≥ n, λ, child size).
        var parents: [Int] = [], children: [Int] = [], lambdas: [Double] = [], sizes: [Int] = []
        func add(_ parent: Int, _ child: Int, _ lambda: Double, _ count: Int) {
            parents.append(parent)
            children.append(child)
            lambdas.append(lambda)
            sizes.append(count)
        }
        func leaves(_ node: Int) -> [Int] {
            var result: [Int] = [], stack = [node]
            while let top = stack.popLast() {
                if top < n { result.append(top) } else { stack.append(left[top - n]); stack.append(right[top - n]) }
            }
            return result
        }
        let root = 2 * n - 2
        var label = [Int](repeating: -1, count: 2 * n - 1)
        label[root] = n
        var nextLabel = n + 1
        // Internal nodes from the root down (a parent's id is larger than its children's).
        for node in stride(from: root, through: n, by: -1) where label[node] >= 0 {
            let m = node - n
            let lambda = height[m] > 0 ? 1 / height[m] : .infinity
            let (l, r) = (left[m], right[m])
            let (lc, rc) = (size[l], size[r])
            if lc >= minClusterSize && rc >= minClusterSize {
                label[l] = nextLabel
                nextLabel += 1
                add(label[node], label[l], lambda, lc)
                label[r] = nextLabel
                nextLabel += 1
                add(label[node], label[r], lambda, rc)
            } else {
                for (child, count) in [(l, lc), (r, rc)] {
                    if count >= minClusterSize {
                        label[child] = label[node]
                    } else {
                        for point in leaves(child) { add(label[node], point, lambda, 1) }
                    }
                }
            }
            // A surviving child that is a leaf (min_cluster_size 1) still falls out here.
            for child in [l, r] where child < n && label[child] >= 0 { add(label[node], child, lambda, 1) }
        }
        let clusterCount = nextLabel - n
        // Stability: Σ (λ_child − λ_birth) × size over each cluster's rows.
        var birth = [Double](repeating: 0, count: clusterCount)
        for row in 0..<parents.count where children[row] >= n { birth[children[row] - n] = lambdas[row] }
        var stability = [Double](repeating: 0, count: clusterCount)
        var deaths = [Double](repeating: 0, count: clusterCount)
        var clusterChildren = [[Int]](repeating: [], count: clusterCount)
        for row in 0..<parents.count {
            let parent = parents[row] - n
            let lambda = lambdas[row].isFinite ? lambdas[row] : 0
            stability[parent] += (lambda - birth[parent]) * Double(sizes[row])
            deaths[parent] = max(deaths[parent], lambdas[row])
            if children[row] >= n { clusterChildren[parent].append(children[row] - n) }
        }
        // Excess of mass, leaves first; the root is never a cluster (scikit-learn's allow_single_cluster=False).
        var selected = [Bool](repeating: true, count: clusterCount)
        selected[0] = false
        for cluster in stride(from: clusterCount - 1, through: 1, by: -1) {
            let childStability = clusterChildren[cluster].reduce(0) { $0 + stability[$1] }
            if childStability > stability[cluster] {
                selected[cluster] = false
                stability[cluster] = childStability
            } else {
                var stack = clusterChildren[cluster]
                while let child = stack.popLast() {
                    selected[child] = false
                    stack += clusterChildren[child]
                }
            }
        }
        let chosen = (0..<clusterCount).filter { selected[$0] }
        let number = Dictionary(uniqueKeysWithValues: chosen.enumerated().map { ($1, $0) })
        var parentOf = [Int](repeating: -1, count: clusterCount)
        for row in 0..<parents.count where children[row] >= n { parentOf[children[row] - n] = parents[row] - n }
        var labels = [Int](repeating: -1, count: n), probabilities = [Double](repeating: 0, count: n)
        for row in 0..<parents.count where children[row] < n {
            var cluster = parents[row] - n
            while cluster >= 0 && !selected[cluster] { cluster = parentOf[cluster] }
            guard cluster >= 0, let value = number[cluster] else { continue }
            labels[children[row]] = value
            let death = deaths[cluster]
            probabilities[children[row]] = death.isFinite && death > 0 ? min(lambdas[row], death) / death : 1
        }
        return Result(
            labels: labels, probabilities: probabilities, clusterCount: chosen.count, persistence: chosen.map { stability[$0] }, exactTree: exact)
    }
}

/// Disjoint sets with path halving and union by size.
struct UnionFind {
    var parent: [Int]
    var size: [Int]

    init(_ count: Int) {
        parent = Array(0..<count)
        size = [Int](repeating: 1, count: count)
    }

    mutating func find(_ x: Int) -> Int {
        var x = x
        while parent[x] != x {
            parent[x] = parent[parent[x]]
            x = parent[x]
        }
        return x
    }

    /// Joins the sets of a and b; false when they were already one.
    mutating func union(_ a: Int, _ b: Int) -> Bool {
        var (ra, rb) = (find(a), find(b))
        guard ra != rb else { return false }
        if size[ra] < size[rb] { swap(&ra, &rb) }
        parent[rb] = ra
        size[ra] += size[rb]
        return true
    }
}
