import Foundation
import RandomStreams

/// The leading eigenpairs of a symmetric sparse matrix by restarted block Krylov iteration with
/// Rayleigh–Ritz: a block of b vectors, its images under A, A², … orthonormalised into a basis, the small
/// projected matrix diagonalised by LAPACK, and the best b Ritz vectors the next start. A block (rather than
/// one Lanczos vector) finds repeated eigenvalues — a graph with c components has eigenvalue 1 c times.
/// On a kNN graph a product with A costs far less than dense work on the basis, so the projected matrix comes from
/// the orthogonalisation's own coefficients (Qᵢᵀ A Qⱼ for i ≤ j) rather than from a second full Qᵀ (A Q), and the Ritz
/// vectors' images from one more sparse product rather than from stored images of the whole basis.
public struct BlockKrylovEigensolver: Sendable {
    public var wanted: Int
    public var blockSize: Int
    /// Blocks in the basis (the start and its images A X … A^(depth−1) X).
    public var depth = 6
    public var maxRestarts = 300
    /// A Ritz pair (θ, u) has converged when ‖A u − θ u‖ ≤ tolerance.
    public var tolerance = 1e-4
    public var seed: UInt64

    public init(wanted: Int, seed: UInt64) {
        self.wanted = wanted
        self.blockSize = wanted + max(8, wanted / 2)
        self.seed = seed
    }

    public struct Result: Sendable {
        /// Largest first.
        public var values: [Double]
        /// n × wanted, row-major: column j is the eigenvector of values[j].
        public var vectors: [Double]
        public var restarts: Int
        public var converged: Bool
        public var largestResidual: Double
    }

    /// The `wanted` largest (algebraic) eigenpairs of `matrix`; `shouldStop` is called once per restart.
    public func largest(_ matrix: SparseSymmetric, shouldStop: () throws -> Void = {}) rethrows -> Result {
        let n = matrix.count
        let b = min(blockSize, n)
        let wanted = min(self.wanted, b)
        let depth = max(2, min(self.depth, n / max(b, 1)))
        let m = depth * b
        func product(_ x: [Double]) -> [Double] {
            var y = [Double](repeating: 0, count: n * b)
            x.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { y in matrix.multiply(x.baseAddress!, into: y.baseAddress!, width: b) }
            }
            return y
        }
        var rng = RandomStream(seed: seed, stream: 7)
        var start = (0..<(n * b)).map { _ in Ziggurat.normal.normal(&rng) }
        // The basis Q, n × m row-major: block j is columns j·b ..< (j + 1)·b.
        var basis = [Double](repeating: 0, count: n * m)
        _ = orthonormalize(&start, against: basis, columns: 0, stride: m, n: n, b: b, rng: &rng)
        var startImage = product(start)
        var result = Result(values: [], vectors: [], restarts: 0, converged: false, largestResidual: .infinity)
        var tile = [Double](repeating: 0, count: m * b)
        for restart in 0..<maxRestarts {
            try shouldStop()
            for i in 0..<n { for c in 0..<b { basis[i * m + c] = start[i * b + c] } }
            // T = Qᵀ A Q by block columns. Orthogonalising A Qⱼ against Q₀…Qⱼ yields Qᵢᵀ A Qⱼ (i ≤ j) as its coefficients;
            // Qⱼ₊₁ᵀ A Qⱼ is one b × b product; the blocks below are zero, as A Qⱼ lies in the span of Q₀…Qⱼ₊₁.
            var projected = [Double](repeating: 0, count: m * m)
            var image = startImage
            for j in 0..<depth {
                if j + 1 < depth {
                    var next = image
                    let coefficients = orthonormalize(&next, against: basis, columns: (j + 1) * b, stride: m, n: n, b: b, rng: &rng)
                    for r in 0..<((j + 1) * b) { for c in 0..<b { projected[r * m + j * b + c] = coefficients[r * b + c] } }
                    next.withUnsafeBufferPointer { q in
                        image.withUnsafeBufferPointer { w in
                            tile.withUnsafeMutableBufferPointer { t in
                                LinearAlgebra.gemm(q.baseAddress!, w.baseAddress!, t.baseAddress!, m: b, n: b, k: n, transposeA: true)
                            }
                        }
                    }
                    for r in 0..<b { for c in 0..<b { projected[((j + 1) * b + r) * m + j * b + c] = tile[r * b + c] } }
                    for i in 0..<n { for c in 0..<b { basis[i * m + (j + 1) * b + c] = next[i * b + c] } }
                    image = product(next)
                } else {
                    // The last block column in full: Qᵀ (A Qⱼ).
                    basis.withUnsafeBufferPointer { q in
                        image.withUnsafeBufferPointer { w in
                            tile.withUnsafeMutableBufferPointer { t in
                                LinearAlgebra.gemm(
                                    q.baseAddress!, lda: m, w.baseAddress!, ldb: b, t.baseAddress!, ldc: b, m: m, n: b, k: n, transposeA: true)
                            }
                        }
                    }
                    for r in 0..<m { for c in 0..<b { projected[r * m + j * b + c] = tile[r * b + c] } }
                }
            }
            // Symmetric against rounding: an entry known on both sides of the diagonal is averaged, one known on one side mirrored.
            for r in 0..<m {
                for c in (r + 1)..<max(r + 1, m) {
                    let lowerKnown = c / b <= r / b + 1 || r / b == depth - 1
                    let value = lowerKnown ? (projected[r * m + c] + projected[c * m + r]) / 2 : projected[r * m + c]
                    projected[r * m + c] = value; projected[c * m + r] = value
                }
            }
            guard let (values, vectors) = LinearAlgebra.symmetricEigen(projected, n: m) else { break }
            // The b largest Ritz pairs: U = Q Y and A U by one sparse product.
            var selection = [Double](repeating: 0, count: m * b)
            for r in 0..<m { for c in 0..<b { selection[r * b + c] = vectors[r * m + (m - 1 - c)] } }
            var ritz = [Double](repeating: 0, count: n * b)
            selection.withUnsafeBufferPointer { y in
                basis.withUnsafeBufferPointer { q in
                    ritz.withUnsafeMutableBufferPointer { u in
                        LinearAlgebra.gemm(q.baseAddress!, lda: m, y.baseAddress!, ldb: b, u.baseAddress!, ldc: b, m: n, n: b, k: m)
                    }
                }
            }
            let ritzImage = product(ritz)
            let ritzValues = (0..<b).map { values[m - 1 - $0] }
            var residuals = [Double](repeating: 0, count: wanted)
            for i in 0..<n {
                for c in 0..<wanted {
                    let r = ritzImage[i * b + c] - ritzValues[c] * ritz[i * b + c]
                    residuals[c] += r * r
                }
            }
            let largestResidual = residuals.map { $0.squareRoot() }.max() ?? 0
            var vectorsOut = [Double](repeating: 0, count: n * wanted)
            for i in 0..<n { for c in 0..<wanted { vectorsOut[i * wanted + c] = ritz[i * b + c] } }
            result = Result(
                values: Array(ritzValues.prefix(wanted)), vectors: vectorsOut, restarts: restart + 1,
                converged: largestResidual <= tolerance, largestResidual: largestResidual)
            if result.converged || m >= n { break }
            start = ritz
            startImage = ritzImage
        }
        return result
    }

    /// Orthonormalises the columns of `block` (n × b) against the first `columns` columns of `basis` (n × `stride`,
    /// row-major) — twice: classical Gram–Schmidt twice is enough in floating point — and among themselves; a column
    /// that vanishes (the space is invariant) is replaced by a random one. Returns the coefficients removed,
    /// basisᵀ · block as given (`columns` × b).
    func orthonormalize(_ block: inout [Double], against basis: [Double], columns: Int, stride: Int, n: Int, b: Int, rng: inout RandomStream)
        -> [Double]
    {
        var total = [Double](repeating: 0, count: columns * b)
        if columns > 0 {
            var coefficients = [Double](repeating: 0, count: columns * b)
            for _ in 0..<2 {
                basis.withUnsafeBufferPointer { qp in
                    block.withUnsafeMutableBufferPointer { z in
                        coefficients.withUnsafeMutableBufferPointer { c in
                            LinearAlgebra.gemm(
                                qp.baseAddress!, lda: stride, z.baseAddress!, ldb: b, c.baseAddress!, ldc: b, m: columns, n: b, k: n, transposeA: true
                            )
                            LinearAlgebra.gemm(
                                qp.baseAddress!, lda: stride, c.baseAddress!, ldb: b, z.baseAddress!, ldc: b, m: n, n: b, k: columns, alpha: -1,
                                beta: 1)
                        }
                    }
                }
                for e in 0..<total.count { total[e] += coefficients[e] }
            }
        }
        // Among themselves: Cholesky QR twice (two BLAS-3 passes; the second repairs the first's loss of
        // orthogonality), or column by column when the block is too close to rank-deficient for it.
        if LinearAlgebra.choleskyOrthonormalize(&block, rows: n, columns: b) && LinearAlgebra.choleskyOrthonormalize(&block, rows: n, columns: b) {
            return total
        }
        for column in 0..<b {
            var attempts = 0
            while true {
                var before = 0.0
                for i in 0..<n { before += block[i * b + column] * block[i * b + column] }
                for _ in 0..<2 {
                    for previous in 0..<column {
                        var projection = 0.0
                        for i in 0..<n { projection += block[i * b + previous] * block[i * b + column] }
                        for i in 0..<n { block[i * b + column] -= projection * block[i * b + previous] }
                    }
                }
                var norm = 0.0
                for i in 0..<n { norm += block[i * b + column] * block[i * b + column] }
                if norm > 1e-20 * max(before, 1e-300) && norm > 0 || attempts >= 3 {
                    let inverse = norm > 0 ? 1 / norm.squareRoot() : 0
                    for i in 0..<n { block[i * b + column] *= inverse }
                    break
                }
                // A vanished column: a fresh random direction, made orthogonal to the basis and the earlier columns.
                attempts += 1
                var fresh = [Double](repeating: 0, count: n)
                for i in 0..<n { fresh[i] = Ziggurat.normal.normal(&rng) }
                for _ in 0..<2 {
                    for c in 0..<columns {
                        var projection = 0.0
                        for i in 0..<n { projection += basis[i * stride + c] * fresh[i] }
                        for i in 0..<n { fresh[i] -= projection * basis[i * stride + c] }
                    }
                }
                for i in 0..<n { block[i * b + column] = fresh[i] }
            }
        }
        return total
    }
}

/// Spectral clustering: the symmetric kNN connectivity graph A, its normalized adjacency D^-½ A D^-½ (whose
/// largest eigenvalues are 1 − the smallest of the normalized Laplacian), the leading k eigenvectors as an
/// n × k embedding — times D^-½ as scikit-learn's `spectral_embedding` (the random-walk Laplacian's vectors), or
/// each row scaled to unit length (Ng, Jordan and Weiss) — and k-means on the rows, into k clusters or into 2k groups
/// merged along the graph (`mergeGroups`).
public struct SpectralClustering: Sendable {
    public var neighbours: Int
    public var seed: UInt64
    public var kMeansRuns: Int
    /// The eigensolver's residual tolerance ‖A u − θ u‖. The k-means on the embedding is what decides the partition: from 1e-5
    /// to 1e-3 the NMI moves by the same few tenths of a point either way, as the k-means lands elsewhere from nearly the
    /// same rows (eight data sets × three seeds, README "Embeddings"), while 1e-3 takes a third fewer restarts than 1e-4.
    public var tolerance = 1e-3

    public init(neighbours: Int = 10, kMeansRuns: Int = 10, seed: UInt64 = 0) {
        self.neighbours = neighbours
        self.kMeansRuns = kMeansRuns
        self.seed = seed
    }

    public struct Spectrum: Sendable {
        /// The normalized Laplacian's smallest eigenvalues, ascending (λ₁ = 0 for a connected graph).
        public var laplacianEigenvalues: [Double]
        /// n × count eigenvectors of D^-½ A D^-½ for those eigenvalues, row-major.
        public var vectors: [Double]
        public var count: Int
        public var components: Int
        public var converged: Bool
        public var restarts: Int
        /// D^-½ per node, to map eigenvectors of the normalized adjacency back to the random-walk ones.
        public var inverseRootDegrees: [Double] = []
    }

    /// The graph's spectrum: the `wanted` smallest normalized-Laplacian eigenvalues and their vectors.
    public func spectrum(_ graph: SparseSymmetric, wanted: Int, shouldStop: () throws -> Void = {}) rethrows -> Spectrum {
        let n = graph.count
        let inverseRoot = graph.degrees.map { $0 > 0 ? 1 / $0.squareRoot() : 0 }
        var normalized = graph
        for i in 0..<n {
            for e in graph.rowStarts[i]..<graph.rowStarts[i + 1] {
                normalized.values[e] = graph.values[e] * inverseRoot[i] * inverseRoot[Int(graph.columns[e])]
            }
        }
        let wanted = min(wanted, n)
        let eigen: (values: [Double], vectors: [Double], converged: Bool, restarts: Int)
        if n <= 600 {
            // Small graphs: the dense matrix and LAPACK directly.
            var dense = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for e in normalized.rowStarts[i]..<normalized.rowStarts[i + 1] { dense[i * n + Int(normalized.columns[e])] = normalized.values[e] }
            }
            let (values, vectors) =
                LinearAlgebra.symmetricEigen(dense, n: n) ?? ([Double](repeating: 0, count: n), [Double](repeating: 0, count: n * n))
            var selected = [Double](repeating: 0, count: n * wanted)
            for i in 0..<n { for c in 0..<wanted { selected[i * wanted + c] = vectors[i * n + (n - 1 - c)] } }
            eigen = ((0..<wanted).map { values[n - 1 - $0] }, selected, true, 0)
        } else {
            var solver = BlockKrylovEigensolver(wanted: wanted, seed: seed)
            solver.tolerance = tolerance
            let solved = try solver.largest(normalized, shouldStop: shouldStop)
            eigen = (solved.values, solved.vectors, solved.converged, solved.restarts)
        }
        return Spectrum(
            laplacianEigenvalues: eigen.values.map { max(0, 1 - $0) }, vectors: eigen.vectors, count: wanted,
            components: graph.components().count, converged: eigen.converged, restarts: eigen.restarts, inverseRootDegrees: inverseRoot)
    }

    /// The number of clusters the eigengap suggests among `candidates`: the k with the largest λ(k+1) − λ(k).
    public static func eigengapChoice(_ eigenvalues: [Double], candidates: ClosedRange<Int>) -> (k: Int, gaps: [Int: Double]) {
        var gaps: [Int: Double] = [:]
        for k in candidates where k < eigenvalues.count { gaps[k] = eigenvalues[k] - eigenvalues[k - 1] }
        let best = gaps.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? candidates.lowerBound
        return (best, gaps)
    }

    /// Joins over-segmented groups of a graph's nodes until `k` remain: each step merges the two groups with the most
    /// edge weight between them relative to the product of their volumes, W(a, b) / (vol a · vol b) (the ratio form of
    /// modularity's gain). k-means on a spectral embedding splits a large cluster in two before it cuts off a small one;
    /// clustering the embedding into more groups than wanted and merging them along the graph joins the halves back and
    /// keeps the small cluster (README, Embeddings: 2k groups raised NMI on all seven data sets measured).
    /// `labels` are group ids in 0..<groups; the result's clusters are numbered by their lowest group id, 0..<k (fewer
    /// when fewer groups are non-empty).
    public static func mergeGroups(_ labels: [Int], groups: Int, graph: SparseSymmetric, into k: Int) -> [Int] {
        guard groups > k, labels.count == graph.count, labels.allSatisfy({ (0..<groups).contains($0) }) else { return labels }
        var between = [Double](repeating: 0, count: groups * groups)
        var volume = [Double](repeating: 0, count: groups)
        var members = [Int](repeating: 0, count: groups)
        for i in 0..<graph.count {
            let a = labels[i]
            members[a] += 1
            for e in graph.rowStarts[i]..<graph.rowStarts[i + 1] {
                between[a * groups + labels[Int(graph.columns[e])]] += graph.values[e]
                volume[a] += graph.values[e]
            }
        }
        // An empty group takes no part; a group stands for itself until it is merged into a lower-numbered one.
        var alive = (0..<groups).filter { members[$0] > 0 }
        var root = Array(0..<groups)
        while alive.count > k {
            var best = (score: -1.0, a: 0, b: 0)
            for (position, a) in alive.enumerated() {
                for b in alive[(position + 1)...] {
                    let denominator = volume[a] * volume[b]
                    let score = denominator > 0 ? between[a * groups + b] / denominator : 0
                    if score > best.score { best = (score, a, b) }
                }
            }
            let (a, b) = (best.a, best.b)
            for c in 0..<groups {
                between[a * groups + c] += between[b * groups + c]
                between[c * groups + a] += between[c * groups + b]
            }
            volume[a] += volume[b]
            root[b] = a
            alive.removeAll { $0 == b }
        }
        func find(_ group: Int) -> Int {
            var group = group
            while root[group] != group { group = root[group] }
            return group
        }
        let cluster = Dictionary(uniqueKeysWithValues: alive.enumerated().map { ($0.element, $0.offset) })
        return labels.map { cluster[find($0)] ?? 0 }
    }

    /// The NJW embedding of the first k eigenvectors (rows scaled to unit length) as floats, n × k; with
    /// `rowNormalized: false`, scikit-learn's: the vectors times D^-½ (eigenvectors of the random-walk Laplacian).
    public static func embedding(_ spectrum: Spectrum, k: Int, rowNormalized: Bool = true) -> [Float] {
        let n = spectrum.vectors.count / max(spectrum.count, 1)
        var rows = [Float](repeating: 0, count: n * k)
        if !rowNormalized {
            for i in 0..<n {
                let scale = spectrum.inverseRootDegrees.isEmpty ? 1 : spectrum.inverseRootDegrees[i]
                for c in 0..<k { rows[i * k + c] = Float(spectrum.vectors[i * spectrum.count + c] * scale) }
            }
            return rows
        }
        for i in 0..<n {
            var norm = 0.0
            for c in 0..<k { norm += spectrum.vectors[i * spectrum.count + c] * spectrum.vectors[i * spectrum.count + c] }
            let inverse = norm > 0 ? 1 / norm.squareRoot() : 0
            for c in 0..<k { rows[i * k + c] = Float(spectrum.vectors[i * spectrum.count + c] * inverse) }
        }
        return rows
    }
}
