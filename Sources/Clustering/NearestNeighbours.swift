import Foundation
import Tensor

/// Exact K nearest neighbours by Euclidean distance, in blocks of rows with SGEMM
/// (‖x‖² + ‖y‖² − 2 x·y), so memory stays at blockRows × N distances, never N × N.
public struct NeighbourGraph: Sendable {
    /// n × k, nearest first, never the sample itself.
    public var indices: [Int32]
    /// n × k squared distances, ascending per row.
    public var squaredDistances: [Float]
    public var count: Int
    public var k: Int

    public func neighbours(of i: Int) -> ArraySlice<Int32> { indices[(i * k)..<((i + 1) * k)] }

    /// ‖x_i‖² of each row of x (n × d).
    public static func squaredNorms(_ x: [Float], count n: Int, dimension d: Int) -> [Float] {
        (0..<n).map { i in
            var total: Float = 0
            for j in 0..<d { total += x[i * d + j] * x[i * d + j] }
            return total
        }
    }

    /// - Parameters:
    ///   - byInnerProduct: rank by the largest x·y instead (cosine similarity when the rows have unit length,
    ///     as SCAN's mining gives them); `squaredDistances` are then 2 − 2 x·y, the squared distance of unit vectors.
    ///   - shouldStop: called between blocks (a cancel must not wait for the whole graph).
    public static func build(
        _ x: [Float], count n: Int, dimension d: Int, k: Int, byInnerProduct: Bool = false, blockRows: Int = 256,
        shouldStop: () throws -> Void = {}
    ) rethrows -> NeighbourGraph {
        precondition(k >= 1 && k < n, "K must be between 1 and N − 1")
        let norms = byInnerProduct ? [Float](repeating: 0, count: n) : squaredNorms(x, count: n, dimension: d)
        var indices = [Int32](repeating: 0, count: n * k)
        var distances = [Float](repeating: 0, count: n * k)
        var bestDistance = [Float](repeating: 0, count: k + 1), bestIndex = [Int32](repeating: 0, count: k + 1)
        try forEachInnerProductBlock(x, count: n, dimension: d, blockRows: blockRows, shouldStop: shouldStop) { start, rows, products in
            norms.withUnsafeBufferPointer { norm in
                for r in 0..<rows {
                    let i = start + r
                    let row = products + r * n
                    var filled = 0
                    // Ranked by ‖y‖² − 2 x·y (‖x‖² is the same for the whole row), or by −x·y; a sorted buffer of
                    // the best K (ties: the lower index first).
                    for j in 0..<n where j != i {
                        let value = byInnerProduct ? -row[j] : norm[j] - 2 * row[j]
                        if filled == k && !(value < bestDistance[k - 1]) { continue }
                        var position = filled
                        while position > 0 && value < bestDistance[position - 1] {
                            if position < k {
                                bestDistance[position] = bestDistance[position - 1]
                                bestIndex[position] = bestIndex[position - 1]
                            }
                            position -= 1
                        }
                        if position < k {
                            bestDistance[position] = value
                            bestIndex[position] = Int32(j)
                        }
                        if filled < k { filled += 1 }
                    }
                    for m in 0..<k {
                        indices[i * k + m] = bestIndex[m]
                        distances[i * k + m] = max(byInnerProduct ? 2 + 2 * bestDistance[m] : bestDistance[m] + norm[i], 0)
                    }
                }
            }
        }
        return NeighbourGraph(indices: indices, squaredDistances: distances, count: n, k: k)
    }

    /// x·xᵀ a block of rows at a time with SGEMM, so memory stays at blockRows × N products, never N × N:
    /// `body(start, rows, products)` gets products[r · N + j] = x_{start + r} · x_j. `shouldStop` runs before each block.
    public static func forEachInnerProductBlock(
        _ x: [Float], count n: Int, dimension d: Int, blockRows: Int = 256, shouldStop: () throws -> Void,
        _ body: (_ start: Int, _ rows: Int, _ products: UnsafePointer<Float>) throws -> Void
    ) rethrows {
        var block = [Float](repeating: 0, count: min(blockRows, n) * n)
        for start in stride(from: 0, to: n, by: blockRows) {
            try shouldStop()
            let rows = min(blockRows, n - start)
            x.withUnsafeBufferPointer { p in
                block.withUnsafeMutableBufferPointer { s in
                    MatrixMultiply.gemm(p.baseAddress! + start * d, p.baseAddress!, s.baseAddress!, m: rows, n: n, k: d, transposeB: true)
                }
            }
            try block.withUnsafeBufferPointer { try body(start, rows, $0.baseAddress!) }
        }
    }
}

/// A symmetric sparse matrix in compressed rows (the affinity graphs of spectral clustering).
public struct SparseSymmetric: Sendable {
    public var count: Int
    public var rowStarts: [Int]
    public var columns: [Int32]
    public var values: [Double]

    /// The kNN connectivity graph made symmetric as scikit-learn's SpectralClustering does: ½ (C + Cᵀ) where
    /// C[i][j] = 1 when j is among i's K nearest (an edge both ways weighs 1, one way ½); no self-loops.
    public static func connectivity(_ graph: NeighbourGraph) -> SparseSymmetric {
        let n = graph.count
        var edges = [[(Int32, Double)]](repeating: [], count: n)
        for i in 0..<n {
            for j in graph.neighbours(of: i) {
                edges[i].append((j, 0.5))
                edges[Int(j)].append((Int32(i), 0.5))
            }
        }
        var rowStarts = [0], columns: [Int32] = [], values: [Double] = []
        columns.reserveCapacity(n * graph.k * 2)
        values.reserveCapacity(n * graph.k * 2)
        for i in 0..<n {
            let sorted = edges[i].sorted { $0.0 < $1.0 }
            var m = 0
            while m < sorted.count {
                var weight = 0.0
                let column = sorted[m].0
                while m < sorted.count && sorted[m].0 == column {
                    weight += sorted[m].1
                    m += 1
                }
                columns.append(column)
                values.append(weight)
            }
            rowStarts.append(columns.count)
        }
        return SparseSymmetric(count: n, rowStarts: rowStarts, columns: columns, values: values)
    }

    public var degrees: [Double] {
        (0..<count).map { i in values[rowStarts[i]..<rowStarts[i + 1]].reduce(0, +) }
    }

    /// Y = A X for X with `width` columns (row-major n × width).
    func multiply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>, width: Int) {
        for i in 0..<count {
            let out = y + i * width
            for c in 0..<width { out[c] = 0 }
            for e in rowStarts[i]..<rowStarts[i + 1] {
                let w = values[e]
                let row = x + Int(columns[e]) * width
                for c in 0..<width { out[c] += w * row[c] }
            }
        }
    }

    /// Connected components: a label per node and the number of components.
    public func components() -> (labels: [Int], count: Int) {
        var labels = [Int](repeating: -1, count: count)
        var next = 0
        var stack: [Int] = []
        for start in 0..<count where labels[start] < 0 {
            labels[start] = next
            stack.append(start)
            while let i = stack.popLast() {
                for e in rowStarts[i]..<rowStarts[i + 1] where labels[Int(columns[e])] < 0 {
                    labels[Int(columns[e])] = next
                    stack.append(Int(columns[e]))
                }
            }
            next += 1
        }
        return (labels, next)
    }
}
