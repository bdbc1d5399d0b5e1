import Foundation
import RandomStreams
import XCTest

@testable import Clustering

/// Scores against scikit-learn (NMI, ARI) and scipy's linear_sum_assignment (accuracy) on committed cases.
final class MetricsTests: XCTestCase {
    struct Case: Decodable {
        var labels: [Int]
        var clusters: [Int]
        var acc: Double
        var nmi: Double
        var ari: Double
    }

    func testAgreesWithScikitLearn() throws {
        let url = Bundle.module.url(forResource: "sklearn_metrics", withExtension: "json", subdirectory: "Fixtures")!
        let cases = try JSONDecoder().decode([String: [Case]].self, from: Data(contentsOf: url))["cases"]!
        XCTAssertEqual(cases.count, 8)
        for (index, c) in cases.enumerated() {
            let scores = ClusteringMetrics.scores(c.clusters, c.labels)
            XCTAssertEqual(scores.accuracy, c.acc, accuracy: 1e-12, "case \(index) accuracy")
            XCTAssertEqual(scores.nmi, c.nmi, accuracy: 1e-10, "case \(index) NMI")
            XCTAssertEqual(scores.ari, c.ari, accuracy: 1e-10, "case \(index) ARI")
        }
    }

    func testPermutedLabelsScorePerfectly() {
        let labels = [0, 0, 1, 1, 2, 2, 2]
        let clusters = [5, 5, 3, 3, 9, 9, 9]
        XCTAssertEqual(ClusteringMetrics.scores(clusters, labels), ClusteringScores(accuracy: 1, nmi: 1, ari: 1))
        XCTAssertEqual(ClusteringMetrics.bestMapping(clusters, labels), [5: 0, 3: 1, 9: 2])
    }

    func testHungarianFindsTheOptimumAGreedyChoiceMisses() {
        // Greedy takes 9 first (row 0 → column 0) and ends with 9 + 1 = 10; the optimum is 8 + 8 = 16.
        XCTAssertEqual(Hungarian.maximize([[9, 8], [8, 1]]), [1, 0])
        // Rectangular: three clusters, four labels.
        XCTAssertEqual(Hungarian.maximize([[1, 0, 5, 0], [0, 7, 0, 0], [3, 0, 4, 0]]), [2, 1, 0])
    }

    func testSizesAndContingency() {
        XCTAssertEqual(ClusteringMetrics.sizes([0, 2, 2, 1, 2], k: 4), [1, 1, 3, 0])
        let (counts, clusterIDs, labelIDs) = ClusteringMetrics.contingency([1, 1, 0], [7, 8, 8])
        XCTAssertEqual(counts, [[0, 1], [1, 1]])
        XCTAssertEqual(clusterIDs, [0, 1])
        XCTAssertEqual(labelIDs, [7, 8])
    }
}

final class KMeansTests: XCTestCase {
    func testRecoversWellSeparatedBlobsExactly() throws {
        let data = GeneratedDatasets.make("blobs", count: 600, classes: 4, seed: 11)!
        let result = try KMeans(k: 4, runs: 3, seed: 1).fit(data.values, count: data.count, dimension: 2)
        XCTAssertEqual(ClusteringMetrics.ari(result.assignments, data.labels!), 1)
        XCTAssertEqual(ClusteringMetrics.sizes(result.assignments, k: 4).sorted(), [150, 150, 150, 150])
        // Inertia is the sum of squared distances to the assigned centres.
        var inertia = 0.0
        for i in 0..<data.count {
            let c = result.assignments[i]
            for j in 0..<2 { let delta = Double(data.values[i * 2 + j] - result.centroids[c * 2 + j]); inertia += delta * delta }
        }
        XCTAssertEqual(result.inertia, inertia, accuracy: 1e-3 * inertia)
        XCTAssertEqual(KMeans.predict(data.values, count: data.count, dimension: 2, centroids: result.centroids, k: 4), result.assignments)
    }

    /// Hamerly's bounds skip rows, never change the answer: from the same start, the iterations reach the centres of plain
    /// Lloyd steps (every distance computed, in double precision) in as many steps, on overlapping clusters where rows
    /// change cluster late.
    func testBoundedIterationsEqualPlainLloydSteps() {
        let (n, d, k) = (2000, 12, 25)
        var rng = RandomStream(seed: 5, stream: 0)
        let centres = (0..<(40 * d)).map { _ in 3 * Float(Ziggurat.normal.normal(&rng)) }
        let x = (0..<(n * d)).map { e in centres[(e / d) % 40 * d + e % d] + 2 * Float(Ziggurat.normal.normal(&rng)) }
        let start = Array(x[0..<(k * d)])
        let threshold = 1e-6
        var reference = start.map(Double.init)
        var steps = 0
        for step in 1...300 {
            steps = step
            var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
            for i in 0..<n {
                var best = 0, bestDistance = Double.infinity
                for c in 0..<k {
                    var distance = 0.0
                    for j in 0..<d { let delta = Double(x[i * d + j]) - reference[c * d + j]; distance += delta * delta }
                    if distance < bestDistance { bestDistance = distance; best = c }
                }
                counts[best] += 1
                for j in 0..<d { sums[best * d + j] += Double(x[i * d + j]) }
            }
            var shift = 0.0
            for c in 0..<k where counts[c] > 0 {
                for j in 0..<d {
                    let mean = sums[c * d + j] / Double(counts[c])
                    shift += (mean - reference[c * d + j]) * (mean - reference[c * d + j])
                    reference[c * d + j] = mean
                }
            }
            if shift <= threshold { break }
        }
        XCTAssertGreaterThan(steps, 10, "rows keep moving for a while")
        var norms = [Double](repeating: 0, count: n)
        for i in 0..<n { for j in 0..<d { norms[i] += Double(x[i * d + j] * x[i * d + j]) } }
        let (iterations, centroids) = KMeans(k: k).lloydIterations(x, n: n, d: d, norms: norms, from: start, threshold: threshold)
        XCTAssertEqual(iterations, steps)
        for e in 0..<(k * d) { XCTAssertEqual(Double(centroids[e]), reference[e], accuracy: 1e-4) }
    }

    func testSameSeedSameResultAndResumeIsExact() throws {
        let data = GeneratedDatasets.make("blobs", count: 300, classes: 6, seed: 2)!
        let kmeans = KMeans(k: 6, runs: 4, seed: 9)
        let whole = try kmeans.fit(data.values, count: data.count, dimension: 2)
        XCTAssertEqual(try kmeans.fit(data.values, count: data.count, dimension: 2), whole)
        var afterTwo: KMeans.Result?
        _ = try kmeans.fit(data.values, count: data.count, dimension: 2) { run, best in if run == 1 { afterTwo = best } }
        let resumed = try kmeans.fit(data.values, count: data.count, dimension: 2, resuming: afterTwo, firstRun: 2)
        XCTAssertEqual(resumed, whole)
    }

    func testNoRunIsWorseThanTheBestReported() throws {
        let data = GeneratedDatasets.make("moons", count: 200, seed: 3)!
        let best = try KMeans(k: 5, runs: 5, seed: 4).fit(data.values, count: data.count, dimension: 2)
        for run in 0..<5 {
            let single = try KMeans(k: 5, runs: run + 1, seed: 4).fit(data.values, count: data.count, dimension: 2, resuming: nil, firstRun: run)
            XCTAssertGreaterThanOrEqual(single.inertia, best.inertia - 1e-9)
        }
    }
}
