import Foundation
import RandomStreams
import XCTest

@testable import Clustering

/// The classical methods against what scikit-learn computes on the same data (Fixtures/classical.json,
/// written by scripts/make-classical-fixtures.py).
final class ClassicalMethodsTests: XCTestCase {
    struct Fixture: Decodable {
        struct Mixture: Decodable {
            var weights: [Double]
            var means: [Double]
            var covariances: [Double]
            var score: Double
            var bic: Double
            var labels: [Int]
        }
        struct Density: Decodable {
            var labels: [Int]
            var probabilities: [Double]
        }
        struct Hierarchy: Decodable {
            var labels: [Int]
            var linkage: [Double]
        }
        struct Components: Decodable {
            var components: [[Double]]
            var explained_variance: [Double]
        }
        var blobs: [[Double]]
        var truth: [Int]
        var dense: [[Double]]
        var spectral: [Int]
        var ward: [Int]
        var ward_exact: Hierarchy
        var hdbscan: Density
        var pca: Components
        var gmm: [String: Mixture]
        var silhouette: Double
    }

    lazy var fixture: Fixture = {
        let url = Bundle.module.url(forResource: "classical", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    var blobs: [Float] { fixture.blobs.flatMap { $0.map(Float.init) } }

    /// The blocked kNN against brute force. Small integer coordinates make every product exact in single precision, so
    /// ties are exact: the lower index must come first, whichever block pair a column arrives through (blocks of 1, 7 and
    /// 64 rows, and one block for all).
    func testNearestNeighboursEqualBruteForceWithTiesAcrossBlocks() throws {
        let (n, d, k) = (150, 4, 6)
        var rng = RandomStream(seed: 11, stream: 0)
        let x = (0..<(n * d)).map { _ in Float(Int(rng.next() % 7) - 3) }
        func dot(_ i: Int, _ j: Int) -> Float { (0..<d).reduce(0) { $0 + x[i * d + $1] * x[j * d + $1] } }
        for byInnerProduct in [false, true] {
            for blockRows in [1, 7, 64, 256] {
                let graph = try NeighbourGraph.build(x, count: n, dimension: d, k: k, byInnerProduct: byInnerProduct, blockRows: blockRows)
                for i in 0..<n {
                    func rank(_ j: Int) -> Float { byInnerProduct ? -dot(i, j) : dot(j, j) - 2 * dot(i, j) }
                    let expected = (0..<n).filter { $0 != i }.sorted { (rank($0), $0) < (rank($1), $1) }.prefix(k)
                    XCTAssertEqual(
                        graph.neighbours(of: i).map(Int.init), Array(expected), "row \(i), inner product \(byInnerProduct), blocks of \(blockRows)")
                    let distances = expected.map { max(byInnerProduct ? 2 - 2 * dot(i, $0) : dot(i, i) + dot($0, $0) - 2 * dot(i, $0), 0) }
                    XCTAssertEqual(Array(graph.squaredDistances[(i * k)..<((i + 1) * k)]), distances)
                }
            }
        }
    }

    func testSpectralClusteringFindsScikitLearnsPartition() throws {
        let x = blobs
        let graph = try NeighbourGraph.build(x, count: 200, dimension: 3, k: 10)
        let spectral = SpectralClustering(neighbours: 10, seed: 1)
        let spectrum = try spectral.spectrum(SparseSymmetric.connectivity(graph), wanted: 4)
        // Three components: eigenvalue 0 three times, and "auto" reads k = 3 off the gap after them.
        XCTAssertEqual(spectrum.components, 3)
        for value in spectrum.laplacianEigenvalues.prefix(3) { XCTAssertEqual(value, 0, accuracy: 1e-9) }
        XCTAssertEqual(SpectralClustering.eigengapChoice(spectrum.laplacianEigenvalues, candidates: 2...3).k, 3)
        let labels = try KMeans(k: 3, seed: 1).fit(SpectralClustering.embedding(spectrum, k: 3), count: 200, dimension: 3).assignments
        XCTAssertEqual(ClusteringMetrics.ari(labels, fixture.spectral), 1, accuracy: 1e-12)
        // The default assignment: 6 k-means groups merged along the graph back to 3 gives the same partition.
        let groups = try KMeans(k: 6, seed: 1).fit(SpectralClustering.embedding(spectrum, k: 3), count: 200, dimension: 3).assignments
        let merged = SpectralClustering.mergeGroups(groups, groups: 6, graph: SparseSymmetric.connectivity(graph), into: 3)
        XCTAssertEqual(Set(merged), [0, 1, 2])
        XCTAssertEqual(ClusteringMetrics.ari(merged, fixture.spectral), 1, accuracy: 1e-12)
    }

    /// Merging over-segmented groups, by hand: groups g0 = {0, 1}, g1 = {2, 3}, g2 = {4}, g3 = {5} on the edges 0–1 (1),
    /// 2–3 (1), 1–2 (1), 3–4 (0.8), 4–5 (1), 0–5 (0.5). Volumes 3.5, 3.8, 1.8, 1.5; W(a, b) / (vol a · vol b): g2–g3 1 / 2.7
    /// = 0.370 first; then g0–g1 1 / 13.3 = 0.075 beats g1–{g2, g3} 0.8 / 12.54 = 0.064 and g0–{g2, g3} 0.5 / 11.55.
    func testMergingGroupsJoinsTheMostConnectedPairFirst() {
        let edges: [(Int, Int, Double)] = [(0, 1, 1), (2, 3, 1), (1, 2, 1), (3, 4, 0.8), (4, 5, 1), (0, 5, 0.5)]
        var rows = [[(Int32, Double)]](repeating: [], count: 6)
        for (a, b, w) in edges {
            rows[a].append((Int32(b), w))
            rows[b].append((Int32(a), w))
        }
        var rowStarts = [0], columns: [Int32] = [], values: [Double] = []
        for row in rows {
            for (column, value) in row.sorted(by: { $0.0 < $1.0 }) {
                columns.append(column)
                values.append(value)
            }
            rowStarts.append(columns.count)
        }
        let graph = SparseSymmetric(count: 6, rowStarts: rowStarts, columns: columns, values: values)
        let groups = [0, 0, 1, 1, 2, 3]
        XCTAssertEqual(SpectralClustering.mergeGroups(groups, groups: 4, graph: graph, into: 3), [0, 0, 1, 1, 2, 2])
        XCTAssertEqual(SpectralClustering.mergeGroups(groups, groups: 4, graph: graph, into: 2), [0, 0, 0, 0, 1, 1])
        // An empty group (4 here) takes no part; labels already at or below k, or out of range, come back as they are.
        XCTAssertEqual(SpectralClustering.mergeGroups(groups, groups: 5, graph: graph, into: 2), [0, 0, 0, 0, 1, 1])
        XCTAssertEqual(SpectralClustering.mergeGroups(groups, groups: 4, graph: graph, into: 4), groups)
        XCTAssertEqual(SpectralClustering.mergeGroups([0, 0, 1, 1, 2, 9], groups: 4, graph: graph, into: 2), [0, 0, 1, 1, 2, 9])
    }

    /// The block Krylov solver (used above 600 nodes) against LAPACK on the dense matrix of the same graph.
    func testBlockKrylovEigenvaluesMatchTheDenseSolver() throws {
        var rng = RandomStream(seed: 3)
        let n = 900, d = 5
        let x = (0..<(n * d)).map { i in Float(Ziggurat.normal.normal(&rng)) + Float((i / d) % 4) * 3 }
        let graph = SparseSymmetric.connectivity(try NeighbourGraph.build(x, count: n, dimension: d, k: 8))
        let inverseRoot = graph.degrees.map { 1 / $0.squareRoot() }
        var normalized = graph
        var dense = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for e in graph.rowStarts[i]..<graph.rowStarts[i + 1] {
                normalized.values[e] = graph.values[e] * inverseRoot[i] * inverseRoot[Int(graph.columns[e])]
                dense[i * n + Int(graph.columns[e])] = normalized.values[e]
            }
        }
        var solver = BlockKrylovEigensolver(wanted: 6, seed: 2)
        solver.tolerance = 1e-8
        let krylov = try solver.largest(normalized)
        XCTAssertTrue(krylov.converged)
        let exact = try XCTUnwrap(LinearAlgebra.symmetricEigen(dense, n: n)).values.reversed().prefix(6)
        for (a, b) in zip(krylov.values, exact) { XCTAssertEqual(a, b, accuracy: 1e-7) }
        // Each returned vector satisfies A v = λ v.
        for c in 0..<6 {
            var residual = 0.0
            for i in 0..<n {
                var product = 0.0
                for j in 0..<n { product += dense[i * n + j] * krylov.vectors[j * 6 + c] }
                residual += pow(product - krylov.values[c] * krylov.vectors[i * 6 + c], 2)
            }
            XCTAssertLessThan(residual.squareRoot(), 1e-7)
        }
    }

    func testGaussianMixtureDensityAndFitMatchScikitLearn() throws {
        let x = fixture.blobs.flatMap { $0 }
        for covariance in GaussianMixture.Covariance.allCases {
            let reference = try XCTUnwrap(fixture.gmm[covariance.rawValue])
            // scikit-learn's parameters in our density: the same mean log-likelihood (score) and BIC.
            let model = GaussianMixture.Model(
                covariance: covariance, dimension: 3, weights: reference.weights, means: reference.means, covariances: reference.covariances)
            let (probabilities, meanLogLikelihood) = try XCTUnwrap(model.responsibilities(x, count: 200))
            // diag and spherical form the quadratic terms by single-precision products (as scikit-learn does for
            // float32 input): a relative error of a few float32 ulps × d on terms of order 10 allows 1e-5 here.
            let tolerance = covariance == .full ? 1e-9 : 1e-5
            XCTAssertEqual(meanLogLikelihood, reference.score, accuracy: tolerance, covariance.rawValue)
            let bic = -2 * meanLogLikelihood * 200 + Double(model.parameterCount) * log(200)
            XCTAssertEqual(bic, reference.bic, accuracy: 400 * tolerance + 1e-6, covariance.rawValue)
            for i in 0..<200 { XCTAssertEqual((0..<3).reduce(0) { $0 + probabilities[i * 3 + $1] }, 1, accuracy: 1e-12) }
            // Our EM from its own k-means start reaches the same optimum on well-separated data.
            let fit = try GaussianMixture(k: 3, covariance: covariance, tolerance: 1e-6, seed: 1).fit(x, count: 200, dimension: 3)
            XCTAssertEqual(fit.meanLogLikelihood, reference.score, accuracy: 1e-4, covariance.rawValue)
            XCTAssertEqual(ClusteringMetrics.ari(fit.assignments, reference.labels), 1, accuracy: 1e-12)
        }
    }

    /// k "auto" by BIC and by the eigengap recover k on blobs of different sizes and spreads.
    func testAutomaticKRecoversTheNumberOfBlobs() throws {
        var rng = RandomStream(seed: 11)
        let centres: [[Double]] = [[0, 0], [10, 0], [0, 10], [10, 10]]
        let sizes = [30, 60, 120, 90], spreads = [0.5, 1.0, 1.5, 0.8]
        var x: [Double] = []
        for (c, (size, spread)) in zip(centres, zip(sizes, spreads)) {
            for _ in 0..<size { x += [c[0] + spread * Ziggurat.normal.normal(&rng), c[1] + spread * Ziggurat.normal.normal(&rng)] }
        }
        let n = sizes.reduce(0, +)
        let bics = try (1...7).map { k in try GaussianMixture(k: k, covariance: .full, seed: 1).fit(x, count: n, dimension: 2).bic }
        XCTAssertEqual(bics.indices.min { bics[$0] < bics[$1] }! + 1, 4, "BIC \(bics)")
        let graph = SparseSymmetric.connectivity(try NeighbourGraph.build(x.map(Float.init), count: n, dimension: 2, k: 10))
        let spectrum = try SpectralClustering(seed: 1).spectrum(graph, wanted: 9)
        XCTAssertEqual(SpectralClustering.eigengapChoice(spectrum.laplacianEigenvalues, candidates: 2...8).k, 4, "\(spectrum.laplacianEigenvalues)")
        let linkage = try WardClustering(neighbours: 10).fit(x.map(Float.init), count: n, dimension: 2)
        XCTAssertEqual(linkage.largestJump(candidates: 2...8).k, 4, "\(linkage.largestJump(candidates: 2...8).jumps)")
    }

    func testWardUnderConnectivityMatchesScikitLearn() throws {
        let linkage = try WardClustering(neighbours: 10).fit(blobs, count: 200, dimension: 3)
        XCTAssertEqual(ClusteringMetrics.ari(linkage.cut(3), fixture.ward), 1, accuracy: 1e-12)
        // Three graph components, joined by two bridging merges at the top of the tree.
        XCTAssertEqual(linkage.bridgingMerges, 2)
        XCTAssertEqual(linkage.size.last, 200)
        XCTAssertEqual(linkage.matrix.count, 199 * 4)
        // A merge's height is √(2·Δ) with Δ the rise in within-cluster variance: check the first against the two samples.
        let (a, b) = (linkage.a[0], linkage.b[0])
        let squared = (0..<3).reduce(0.0) { $0 + pow(Double(blobs[a * 3 + $1] - blobs[b * 3 + $1]), 2) }
        XCTAssertEqual(linkage.height[0], (2 * 0.5 * squared).squareRoot(), accuracy: 1e-5)
    }

    /// Exact Ward (the nearest-neighbour chain) builds scipy's hierarchy: the same merges in the same order, numbered alike,
    /// at the same heights (float32 distances: 1e-4 relative), and scikit-learn's cut into 3.
    func testExactWardBuildsScipysHierarchy() throws {
        let linkage = try WardClustering.fitExact(blobs, count: 200, dimension: 3)
        let scipy = fixture.ward_exact.linkage
        XCTAssertEqual(linkage.matrix.count, scipy.count)
        for m in 0..<199 {
            XCTAssertEqual(Double(linkage.a[m]), scipy[m * 4], "merge \(m): first cluster")
            XCTAssertEqual(Double(linkage.b[m]), scipy[m * 4 + 1], "merge \(m): second cluster")
            XCTAssertEqual(linkage.height[m], scipy[m * 4 + 2], accuracy: 1e-4 * scipy[m * 4 + 2] + 1e-6, "merge \(m): height")
            XCTAssertEqual(Double(linkage.size[m]), scipy[m * 4 + 3], "merge \(m): size")
        }
        XCTAssertEqual(ClusteringMetrics.ari(linkage.cut(3), fixture.ward_exact.labels), 1, accuracy: 1e-12)
        // Duplicated points (zero costs, ties everywhere) still give a complete, monotone tree.
        let repeated = [Float](repeating: 1, count: 40 * 2) + [Float](repeating: 5, count: 10 * 2)
        let ties = try WardClustering.fitExact(repeated, count: 50, dimension: 2)
        XCTAssertEqual(ties.size.last, 50)
        XCTAssertEqual(Set(ties.a + ties.b).count, 98, "every cluster but the root merged once")
        XCTAssertEqual(ties.height, ties.height.sorted())
        XCTAssertEqual(ClusteringMetrics.ari(ties.cut(2), [Int](repeating: 0, count: 40) + [Int](repeating: 1, count: 10)), 1, accuracy: 1e-12)
        // Coordinates whose squares overflow float32 give infinite and NaN costs: still a complete tree, no trap.
        let huge: [Float] = [1e30, 0, -1e30, 0, 0, 1e30, 3, 4, 3, 5]
        XCTAssertEqual(try WardClustering.fitExact(huge, count: 5, dimension: 2).size.last, 5)
    }

    func testHDBSCANLabelsNoiseAsScikitLearnDoes() throws {
        let x = fixture.dense.flatMap { $0.map(Float.init) }
        let result = try HDBSCAN(minClusterSize: 10).fit(x, count: 160, dimension: 2)
        XCTAssertEqual(result.labels.map { $0 < 0 }, fixture.hdbscan.labels.map { $0 < 0 }, "the same points are noise")
        XCTAssertEqual(ClusteringMetrics.ari(result.labels, fixture.hdbscan.labels), 1, accuracy: 1e-12)
        XCTAssertEqual(result.clusterCount, 2)
        // Distances come from float32 products (‖x‖² + ‖y‖² − 2x·y): for points 0.1 apart with ‖x‖² ≈ 30 the
        // cancellation leaves a relative error near 4e-4 in a distance, and a strength is a ratio of two of them.
        for (ours, theirs) in zip(result.probabilities, fixture.hdbscan.probabilities) { XCTAssertEqual(ours, theirs, accuracy: 1e-3) }
        // The approximate tree used beyond HDBSCAN.exactLimit (the kNN graph's spanning forest, joined by nearest pairs)
        // finds the same two clusters with the same members among the 140 blob points; scattered points may differ
        // (their exact tree edges need not be kNN edges).
        let approximate = HDBSCAN(minClusterSize: 10)
        var rows: [Float] = []
        for row in fixture.dense { rows += row.map(Float.init) }
        let edges = try approximate.graphTree(
            rows, n: 160, d: 2, graph: try NeighbourGraph.build(rows, count: 160, dimension: 2, k: 15),
            core: try (0..<160).map { i in try NeighbourGraph.build(rows, count: 160, dimension: 2, k: 9).squaredDistances[i * 9 + 8].squareRoot() },
            shouldStop: {})
        let approximateLabels = approximate.condense(edges, n: 160, exact: false).labels
        XCTAssertEqual(Array(approximateLabels.prefix(140)), Array(result.labels.prefix(140)))
    }

    /// The approximate tree's Borůvka rounds (components of the kNN graph joined by their cheapest mutual-reachability
    /// edges, over pairs of row blocks) against the same rounds by brute force, row by row over all columns. Integer
    /// coordinates make every product exact, so ties are exact too: the first of equal weights must win, across blocks.
    func testBoruvkaJoinsEqualBruteForceWithTiesAcrossBlocks() throws {
        let (n, d) = (600, 2)
        var rng = RandomStream(seed: 3, stream: 0)
        // Six groups far apart (their kNN graphs cannot touch), small integer offsets within each.
        let x = (0..<n).flatMap { i -> [Float] in
            let group = i % 6
            return [Float(group * 40) + Float(Int(rng.next() % 5)), Float((group % 2) * 40) + Float(Int(rng.next() % 5))]
        }
        let graph = try NeighbourGraph.build(x, count: n, dimension: d, k: 3)
        let core = (0..<n).map { graph.squaredDistances[$0 * 3 + 1].squareRoot() }
        let hdbscan = HDBSCAN(minClusterSize: 5)
        let edges = try hdbscan.graphTree(x, n: n, d: d, graph: graph, core: core, shouldStop: {})
        // The reference: Kruskal on the same kNN edges, then Borůvka rounds scanning every pair.
        var candidates: [HDBSCAN.Edge] = []
        for i in 0..<n {
            for m in 0..<3 {
                let j = Int(graph.indices[i * 3 + m])
                candidates.append(
                    HDBSCAN.Edge(a: Int32(i), b: Int32(j), weight: max(graph.squaredDistances[i * 3 + m].squareRoot(), core[i], core[j])))
            }
        }
        candidates.sort { $0.weight < $1.weight }
        var sets = UnionFind(n)
        var expected: [HDBSCAN.Edge] = []
        for edge in candidates where sets.union(Int(edge.a), Int(edge.b)) { expected.append(edge) }
        XCTAssertGreaterThan(n - 1 - expected.count, 4, "the kNN graph leaves several components for the rounds to join")
        func norm(_ i: Int) -> Float { x[i * d] * x[i * d] + x[i * d + 1] * x[i * d + 1] }
        while expected.count < n - 1 {
            let component = (0..<n).map { sets.find($0) }
            var cheapest = [Int: HDBSCAN.Edge]()
            for i in 0..<n {
                var bestWeight = Float.infinity, bestJ = -1
                for j in 0..<n where component[j] != component[i] {
                    let product = x[i * d] * x[j * d] + x[i * d + 1] * x[j * d + 1]
                    let weight = max(max(norm(i) + norm(j) - 2 * product, 0), core[j] * core[j])
                    if weight < bestWeight { bestWeight = weight; bestJ = j }
                }
                let weight = max(bestWeight.squareRoot(), core[i])
                if bestJ >= 0 && weight < (cheapest[component[i]]?.weight ?? .infinity) {
                    cheapest[component[i]] = HDBSCAN.Edge(a: Int32(i), b: Int32(bestJ), weight: weight)
                }
            }
            let round = cheapest.sorted { $0.key < $1.key }.map(\.value).sorted { $0.weight < $1.weight }
            for edge in round where sets.union(Int(edge.a), Int(edge.b)) { expected.append(edge) }
        }
        XCTAssertEqual(edges.map { [Int($0.a), Int($0.b)] }, expected.map { [Int($0.a), Int($0.b)] })
        XCTAssertEqual(edges.map(\.weight), expected.map(\.weight))
    }

    func testSilhouetteMatchesScikitLearn() throws {
        XCTAssertEqual(
            ClusteringMetrics.silhouette(blobs, count: 200, dimension: 3, clusters: fixture.truth, k: 3), fixture.silhouette, accuracy: 1e-5)
        // On a subset it estimates the same quantity (200 of 200 is the whole set; 100 is a sample).
        XCTAssertEqual(
            ClusteringMetrics.silhouette(blobs, count: 200, dimension: 3, clusters: fixture.truth, k: 3, sampleSize: 100, seed: 1),
            fixture.silhouette,
            accuracy: 0.05)
    }

    func testPreprocessingIsWhatItSays() throws {
        let x = blobs
        let (pca, projected) = FeaturePreprocessing.fit(x, count: 200, dimension: 3, scaling: .none, pcaComponents: 2)
        XCTAssertEqual(pca.outputDimension, 2)
        for c in 0..<2 {
            XCTAssertEqual(pca.explainedVariance![c], fixture.pca.explained_variance[c], accuracy: 1e-4 * fixture.pca.explained_variance[c])
            for j in 0..<3 { XCTAssertEqual(Double(pca.components![c * 3 + j]), fixture.pca.components[c][j], accuracy: 1e-5) }
        }
        XCTAssertEqual(pca.apply(x, count: 200), projected)
        let (l2, unit) = FeaturePreprocessing.fit(x, count: 200, dimension: 3, scaling: .l2, pcaComponents: 0)
        for i in 0..<200 { XCTAssertEqual((0..<3).reduce(Float(0)) { $0 + unit[i * 3 + $1] * unit[i * 3 + $1] }, 1, accuracy: 1e-5) }
        XCTAssertNil(l2.components)
        let (standard, standardized) = FeaturePreprocessing.fit(x, count: 200, dimension: 3, scaling: .standardize, pcaComponents: 0)
        for j in 0..<3 {
            let column = (0..<200).map { Double(standardized[$0 * 3 + j]) }
            let mean = column.reduce(0, +) / 200
            XCTAssertEqual(mean, 0, accuracy: 1e-5)
            XCTAssertEqual(column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 200, 1, accuracy: 1e-4)
        }
        XCTAssertEqual(standard.apply(x, count: 200), standardized)
    }

    /// Rows and features at the ends of float's range: the squares overflow (above 1.8e19) or vanish (below
    /// 1e-19) in single precision, so the sums are taken in double.
    func testPreprocessingHoldsAtTheEndsOfFloatRange() throws {
        let rows: [Float] = [1e30, 2e30, 2e30, 3e-30, 4e-30, 0, -3e38, 0, 3e38]
        let (_, unit) = FeaturePreprocessing.fit(rows, count: 3, dimension: 3, scaling: .l2, pcaComponents: 0)
        let half = Float(0.5).squareRoot()
        let expected: [Float] = [1.0 / 3, 2.0 / 3, 2.0 / 3, 0.6, 0.8, 0, -half, 0, half]
        for (value, wanted) in zip(unit, expected) { XCTAssertEqual(value, wanted, accuracy: 1e-6) }
        let column: [Float] = [3e38, -3e38, 3e38, -3e38]
        let (standard, standardized) = FeaturePreprocessing.fit(column, count: 4, dimension: 1, scaling: .standardize, pcaComponents: 0)
        XCTAssertEqual(standardized, [1, -1, 1, -1])
        XCTAssertEqual(standard.apply([0, 1.5e38], count: 2), [0, 0.5])
    }
}
