import Foundation
import Tensor

/// Exact K nearest neighbours by Euclidean distance, in blocks of rows with SGEMM
/// (‖x‖² + ‖y‖² − 2 x·y), so memory stays at blockRows² distances, never N × N.
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
        // Per row, a sorted buffer of the best K so far, ranked by ‖y‖² − 2 x·y (‖x‖² is the same for the whole row) or by
        // −x·y. Columns reach each row in ascending order, so on a tie the lower index stays first.
        var best = [Float](repeating: 0, count: n * k)
        var indices = [Int32](repeating: 0, count: n * k)
        var filled = [Int](repeating: 0, count: n)
        try best.withUnsafeMutableBufferPointer { bestBuffer in
            try indices.withUnsafeMutableBufferPointer { indexBuffer in
                try norms.withUnsafeBufferPointer { normBuffer in
                    let bestValue = bestBuffer.baseAddress!, bestIndex = indexBuffer.baseAddress!, norm = normBuffer.baseAddress!
                    // Offers columns start..<start + count (their products with row i in `row`) to row i's buffer.
                    func offer(_ i: Int, _ row: UnsafePointer<Float>, columnsFrom start: Int, count: Int) {
                        let values = bestValue + i * k, ids = bestIndex + i * k
                        var have = filled[i]
                        func consider(_ value: Float, _ j: Int) {
                            if have == k && !(value < values[k - 1]) { return }
                            var position = have
                            while position > 0 && value < values[position - 1] {
                                if position < k {
                                    values[position] = values[position - 1]
                                    ids[position] = ids[position - 1]
                                }
                                position -= 1
                            }
                            if position < k {
                                values[position] = value
                                ids[position] = Int32(j)
                            }
                            if have < k { have += 1 }
                        }
                        var c = 0
                        while c < count {
                            // Once the buffer is full, sixteen candidates at a time are checked against its worst, and
                            // only a group holding a better one is looked at one by one.
                            if have == k && c + 16 <= count {
                                let products = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD16<Float>.self)
                                let candidates =
                                    byInnerProduct
                                    ? -products : UnsafeRawPointer(norm + start + c).loadUnaligned(as: SIMD16<Float>.self) - 2 * products
                                // A candidate is better when candidate − worst is negative: its sign bit (a comparison's
                                // mask is built lane by lane in Swift; the subtraction and shift stay in vector registers).
                                let signs = unsafeBitCast(candidates - SIMD16(repeating: values[k - 1]), to: SIMD16<UInt32>.self) &>> 31
                                if signs.wrappedSum() == 0 && !(start + c <= i && i < start + c + 16) {
                                    c += 16
                                    continue
                                }
                                for g in 0..<16 where start + c + g != i { consider(candidates[g], start + c + g) }
                                c += 16
                                continue
                            }
                            let j = start + c
                            if j != i { consider(byInnerProduct ? -row[c] : norm[j] - 2 * row[c], j) }
                            c += 1
                        }
                        filled[i] = have
                    }
                    try forEachSymmetricBlockPair(x, count: n, dimension: d, blockRows: blockRows, shouldStop: shouldStop) {
                        rowStart, rows, columnStart, columns, products in
                        for r in 0..<rows { offer(rowStart + r, products + r * columns, columnsFrom: columnStart, count: columns) }
                    }
                }
            }
        }
        let distances = (0..<(n * k)).map { e in max(byInnerProduct ? 2 + 2 * best[e] : best[e] + norms[e / k], 0) }
        return NeighbourGraph(indices: indices, squaredDistances: distances, count: n, k: k)
    }

    /// x·xᵀ by pairs of row blocks with SGEMM: x·xᵀ is symmetric, so each pair (I ≤ J) is multiplied once and serves both
    /// blocks' rows — half the products of full rows — and memory stays at two blockRows² blocks, never N × N.
    /// `body(rowStart, rows, columnStart, columns, products)` gets products[r · columns + c] = x_{rowStart + r} · x_{columnStart + c};
    /// every row meets every column once, and each row's columns arrive in ascending order (so a scan that keeps the first of
    /// equal values sees them as a scan of the whole row would). `shouldStop` runs before each pair.
    public static func forEachSymmetricBlockPair(
        _ x: [Float], count n: Int, dimension d: Int, blockRows: Int = 256, shouldStop: () throws -> Void,
        _ body: (_ rowStart: Int, _ rows: Int, _ columnStart: Int, _ columns: Int, _ products: UnsafePointer<Float>) throws -> Void
    ) rethrows {
        let side = max(1, min(blockRows, n))
        var products = [Float](repeating: 0, count: side * side), transposed = [Float](repeating: 0, count: side * side)
        for first in stride(from: 0, to: n, by: side) {
            let rowsFirst = min(side, n - first)
            for second in stride(from: first, to: n, by: side) {
                try shouldStop()
                let rowsSecond = min(side, n - second)
                x.withUnsafeBufferPointer { p in
                    products.withUnsafeMutableBufferPointer { s in
                        MatrixMultiply.gemm(
                            p.baseAddress! + first * d, p.baseAddress! + second * d, s.baseAddress!, m: rowsFirst, n: rowsSecond, k: d,
                            transposeB: true)
                    }
                }
                try products.withUnsafeBufferPointer { try body(first, rowsFirst, second, rowsSecond, $0.baseAddress!) }
                guard second != first else { continue }
                products.withUnsafeBufferPointer { source in
                    transposed.withUnsafeMutableBufferPointer { target in
                        // In 16 × 16 tiles: a plain loop writes every element to another cache line.
                        for tileRow in stride(from: 0, to: rowsFirst, by: 16) {
                            for tileColumn in stride(from: 0, to: rowsSecond, by: 16) {
                                for c in tileColumn..<min(tileColumn + 16, rowsSecond) {
                                    for r in tileRow..<min(tileRow + 16, rowsFirst) { target[c * rowsFirst + r] = source[r * rowsSecond + c] }
                                }
                            }
                        }
                    }
                }
                try transposed.withUnsafeBufferPointer { try body(second, rowsSecond, first, rowsFirst, $0.baseAddress!) }
            }
        }
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
