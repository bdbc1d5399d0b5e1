import Foundation
import RandomStreams
import Tensor

/// External clustering scores against ground-truth labels, defined as scikit-learn defines them:
/// Hungarian-matched accuracy, NMI with the arithmetic-mean normalization, and the adjusted Rand index.
public struct ClusteringScores: Sendable, Equatable, Codable {
    public var accuracy: Double
    public var nmi: Double
    public var ari: Double
}

public enum ClusteringMetrics {
    /// counts[cluster][label]; clusters and labels are renumbered densely by their sorted values.
    public static func contingency(_ clusters: [Int], _ labels: [Int]) -> (counts: [[Int]], clusterIDs: [Int], labelIDs: [Int]) {
        precondition(clusters.count == labels.count, "one cluster per label")
        let clusterIDs = Array(Set(clusters)).sorted(), labelIDs = Array(Set(labels)).sorted()
        let clusterIndex = Dictionary(uniqueKeysWithValues: clusterIDs.enumerated().map { ($1, $0) })
        let labelIndex = Dictionary(uniqueKeysWithValues: labelIDs.enumerated().map { ($1, $0) })
        var counts = [[Int]](repeating: [Int](repeating: 0, count: labelIDs.count), count: clusterIDs.count)
        for (c, l) in zip(clusters, labels) { counts[clusterIndex[c]!][labelIndex[l]!] += 1 }
        return (counts, clusterIDs, labelIDs)
    }

    /// The cluster → label map that maximizes matches. One-to-one (Hungarian) when there are no more
    /// clusters than labels; with more clusters (over-clustering) each cluster takes its majority label.
    public static func bestMapping(_ clusters: [Int], _ labels: [Int]) -> [Int: Int] {
        let (counts, clusterIDs, labelIDs) = contingency(clusters, labels)
        var mapping: [Int: Int] = [:]
        if clusterIDs.count > labelIDs.count {
            for (i, row) in counts.enumerated() {
                mapping[clusterIDs[i]] = labelIDs[row.indices.max { row[$0] < row[$1] }!]
            }
            return mapping
        }
        let assignment = Hungarian.maximize(counts)
        for (i, j) in assignment.enumerated() { mapping[clusterIDs[i]] = labelIDs[j] }
        return mapping
    }

    public static func accuracy(_ clusters: [Int], _ labels: [Int]) -> Double {
        guard !labels.isEmpty else { return 0 }
        let mapping = bestMapping(clusters, labels)
        let hits = zip(clusters, labels).filter { mapping[$0.0] == $0.1 }.count
        return Double(hits) / Double(labels.count)
    }

    /// Normalized mutual information, I(C; L) / mean(H(C), H(L)) (scikit-learn's default).
    public static func nmi(_ clusters: [Int], _ labels: [Int]) -> Double {
        let (counts, clusterIDs, labelIDs) = contingency(clusters, labels)
        // A single cluster and a single class carry no information, and agree perfectly.
        if clusterIDs.count == labelIDs.count && (clusterIDs.count == 1 || clusters.isEmpty) { return 1 }
        let n = Double(clusters.count)
        let rows = counts.map { Double($0.reduce(0, +)) }
        let columns = (0..<labelIDs.count).map { j in Double(counts.reduce(0) { $0 + $1[j] }) }
        var mutual = 0.0
        for i in counts.indices {
            for j in counts[i].indices where counts[i][j] > 0 {
                let nij = Double(counts[i][j])
                mutual += nij / n * log(n * nij / (rows[i] * columns[j]))
            }
        }
        func entropy(_ sizes: [Double]) -> Double { -sizes.filter { $0 > 0 }.reduce(0) { $0 + $1 / n * log($1 / n) } }
        let normalizer = (entropy(rows) + entropy(columns)) / 2
        return normalizer > 0 ? max(0, mutual) / normalizer : 0
    }

    /// Adjusted Rand index (Hubert & Arabie).
    public static func ari(_ clusters: [Int], _ labels: [Int]) -> Double {
        let (counts, _, _) = contingency(clusters, labels)
        func pairs(_ x: Double) -> Double { x * (x - 1) / 2 }
        let n = Double(clusters.count)
        let index = counts.joined().reduce(0.0) { $0 + pairs(Double($1)) }
        let rowPairs = counts.reduce(0.0) { $0 + pairs(Double($1.reduce(0, +))) }
        let columnPairs = (0..<(counts.first?.count ?? 0)).reduce(0.0) { total, j in total + pairs(Double(counts.reduce(0) { $0 + $1[j] })) }
        let expected = rowPairs * columnPairs / max(pairs(n), 1)
        let maximum = (rowPairs + columnPairs) / 2
        // Both partitions trivial (all one cluster, or all singletons): scikit-learn returns 1.
        if maximum == expected { return 1 }
        return (index - expected) / (maximum - expected)
    }

    /// Scores on the samples that have a label: a label of −1 means none (a semi-supervised dataset's unlabelled samples).
    public static func scores(_ clusters: [Int], _ labels: [Int]) -> ClusteringScores {
        if labels.contains(where: { $0 < 0 }) {
            let known = labels.indices.filter { labels[$0] >= 0 }
            return scores(known.map { clusters[$0] }, known.map { labels[$0] })
        }
        return ClusteringScores(accuracy: accuracy(clusters, labels), nmi: nmi(clusters, labels), ari: ari(clusters, labels))
    }

    /// The mean silhouette (b − a) / max(a, b) with Euclidean distances, as scikit-learn's `silhouette_score`:
    /// a is the mean distance to the rest of the sample's cluster, b the smallest mean distance to another
    /// cluster; a sample alone in its cluster scores 0. On at most `sampleSize` samples drawn with `seed`
    /// (scikit-learn's `sample_size`): the score is O(S²·d), so it is estimated on a subset of large data.
    public static func silhouette(_ x: [Float], count n: Int, dimension d: Int, clusters: [Int], k: Int, sampleSize: Int = 2000, seed: UInt64 = 0)
        -> Double
    {
        var indices = Array(0..<n)
        if n > sampleSize {
            var rng = RandomStream(seed: seed, stream: 3)
            for i in 0..<sampleSize { indices.swapAt(i, i + Int(rng.next() % UInt64(n - i))) }
            indices = Array(indices.prefix(sampleSize)).sorted()
        }
        let m = indices.count
        var rows = [Float](repeating: 0, count: m * d)
        for (r, i) in indices.enumerated() { for j in 0..<d { rows[r * d + j] = x[i * d + j] } }
        let norms = NeighbourGraph.squaredNorms(rows, count: m, dimension: d)
        var products = [Float](repeating: 0, count: m * m)
        rows.withUnsafeBufferPointer { a in
            products.withUnsafeMutableBufferPointer { c in
                MatrixMultiply.gemm(a.baseAddress!, a.baseAddress!, c.baseAddress!, m: m, n: m, k: d, transposeB: true)
            }
        }
        let labels = indices.map { clusters[$0] }
        var counts = [Int](repeating: 0, count: k)
        for label in labels where label >= 0 && label < k { counts[label] += 1 }
        var total = 0.0
        var sums = [Double](repeating: 0, count: k)
        for r in 0..<m {
            for c in 0..<k { sums[c] = 0 }
            for t in 0..<m where t != r {
                let squared = max(norms[r] + norms[t] - 2 * products[r * m + t], 0)
                sums[labels[t]] += Double(squared.squareRoot())
            }
            let own = labels[r]
            guard counts[own] > 1 else { continue }
            let a = sums[own] / Double(counts[own] - 1)
            var b = Double.infinity
            for c in 0..<k where c != own && counts[c] > 0 { b = min(b, sums[c] / Double(counts[c])) }
            guard b.isFinite else { continue }
            total += (b - a) / max(a, b)
        }
        return total / Double(max(m, 1))
    }

    /// Samples per cluster id in 0..<k.
    public static func sizes(_ clusters: [Int], k: Int) -> [Int] {
        var sizes = [Int](repeating: 0, count: k)
        for c in clusters where c >= 0 && c < k { sizes[c] += 1 }
        return sizes
    }
}

/// The assignment problem (Kuhn–Munkres, O(n³) with potentials), for rectangular weights with
/// rows ≤ columns: each row gets a distinct column and the total weight is maximal.
public enum Hungarian {
    /// For each row, its column.
    public static func maximize(_ weights: [[Int]]) -> [Int] {
        let rows = weights.count
        guard rows > 0 else { return [] }
        let columns = weights[0].count
        precondition(rows <= columns, "needs rows ≤ columns")
        let largest = weights.joined().max() ?? 0
        // Minimizing (largest − w) maximizes w; 1-based arrays as in the classic formulation.
        var u = [Double](repeating: 0, count: rows + 1), v = [Double](repeating: 0, count: columns + 1)
        var match = [Int](repeating: 0, count: columns + 1), way = [Int](repeating: 0, count: columns + 1)
        for i in 1...rows {
            match[0] = i
            var j0 = 0
            var minimum = [Double](repeating: .infinity, count: columns + 1)
            var used = [Bool](repeating: false, count: columns + 1)
            repeat {
                used[j0] = true
                let i0 = match[j0]
                var delta = Double.infinity, j1 = 0
                for j in 1...columns where !used[j] {
                    let cost = Double(largest - weights[i0 - 1][j - 1]) - u[i0] - v[j]
                    if cost < minimum[j] { minimum[j] = cost; way[j] = j0 }
                    if minimum[j] < delta { delta = minimum[j]; j1 = j }
                }
                for j in 0...columns {
                    if used[j] { u[match[j]] += delta; v[j] -= delta } else { minimum[j] -= delta }
                }
                j0 = j1
            } while match[j0] != 0
            repeat {
                let j1 = way[j0]
                match[j0] = match[j1]
                j0 = j1
            } while j0 != 0
        }
        var result = [Int](repeating: 0, count: rows)
        for j in 1...columns where match[j] != 0 { result[match[j] - 1] = j - 1 }
        return result
    }
}
