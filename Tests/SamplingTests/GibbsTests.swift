import Foundation
import XCTest
@testable import Sampling

final class GibbsTests: XCTestCase {
    /// coordinates × chains × draws
    func run(_ model: any GibbsModel, draws: Int = 4000, seed: UInt64 = 3) -> (draws: [[[Double]]], states: [GibbsChainState]) {
        let sampler = GibbsSampler(model: model, chains: 4, warmup: 500, draws: draws, seed: seed)
        var states = sampler.initialStates()
        sampler.advance(&states, to: sampler.totalIterations)
        let d = model.coordinateNames.count
        let draws = (0..<d).map { c in states.map { s in stride(from: c, to: s.draws.count, by: d).map { s.draws[$0] } } }
        return (draws, states)
    }

    func assertMean(_ chains: [[Double]], _ expected: Double, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let summary = Diagnostics.summary(chains)
        XCTAssertLessThan(summary.rHat, 1.01, label, file: file, line: line)
        XCTAssertEqual(summary.mean, expected, accuracy: 5 * summary.mcseMean, "\(label) (mcse \(summary.mcseMean))", file: file, line: line)
    }

    func testMultivariateNormal() throws {
        let model = try GibbsMultivariateNormal(mean: [1, -1, 3], covariance: [[1, 0.9, 0.2], [0.9, 2, 0.3], [0.2, 0.3, 0.5]])
        let (draws, _) = run(model)
        for (i, expected) in [1.0, -1, 3].enumerated() {
            assertMean(draws[i], expected, "x[\(i)]")
        }
        let summary = Diagnostics.summary(draws[1])
        XCTAssertEqual(summary.sd, 2.0.squareRoot(), accuracy: 5 * summary.mcseSD)
    }

    func testNormalInverseGammaAgainstItsAnalyticPosterior() throws {
        var rng = RandomStream(seed: 1)
        let data = (0..<40).map { _ in 3 + 2 * Ziggurat.normal.normal(&rng) }
        let (m0, kappa0, a0, b0) = (0.0, 0.5, 2.0, 3.0)
        let model = try GibbsNormalInverseGamma(data: data, m0: m0, kappa0: kappa0, a0: a0, b0: b0)
        let (draws, _) = run(model)
        let n = Double(data.count)
        let mean = data.reduce(0, +) / n
        let squares = data.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        let kappaN = kappa0 + n
        let muN = (kappa0 * m0 + n * mean) / kappaN
        let aN = a0 + n / 2
        let bN = b0 + squares / 2 + kappa0 * n * (mean - m0) * (mean - m0) / (2 * kappaN)
        assertMean(draws[0], muN, "mu")
        assertMean(draws[1], bN / (aN - 1), "sigma2")
    }

    func testLinearRegressionAgainstItsAnalyticPosterior() throws {
        var rng = RandomStream(seed: 2)
        let x = (0..<60).map { _ in [1.0, rng.uniform() * 4 - 2, rng.uniform()] }
        let y = x.map { 0.5 + 2 * $0[1] - 1 * $0[2] + 0.3 * Ziggurat.normal.normal(&rng) }
        let model = try GibbsLinearRegression(x: x, y: y, lambda: 0.1, a0: 2, b0: 1)
        let (draws, _) = run(model)
        for i in 0..<3 { assertMean(draws[i], model.posteriorMean[i], "beta[\(i)]") }
        // σ² | y ~ InvGamma(a0 + n/2, b0 + (yᵀy − yᵀX(XᵀX + λI)⁻¹Xᵀy)/2)
        let yty = y.reduce(0) { $0 + $1 * $1 }
        let explained = zip(model.posteriorMean, model.xty).reduce(0) { $0 + $1.0 * $1.1 }
        assertMean(draws[3], (1 + (yty - explained) / 2) / (2 + 30 - 1), "sigma2")
    }

    func testGaussianMixtureRecoversComponentsAndAssignments() throws {
        var rng = RandomStream(seed: 4)
        var data: [Double] = []
        var labels: [Int] = []
        for _ in 0..<300 {
            let first = rng.uniform() < 0.3
            data.append(first ? -3 + 0.5 * Ziggurat.normal.normal(&rng) : 2 + Ziggurat.normal.normal(&rng))
            labels.append(first ? 0 : 1)
        }
        let model = try GibbsGaussianMixture(data: data, components: 2, alpha: 1, m0: 0, s0: 10, a0: 2, b0: 1)
        let (draws, states) = run(model, draws: 2000)
        let names = model.coordinateNames
        let truth: [String: Double] = ["weight[0]": 0.3, "mu[0]": -3, "mu[1]": 2, "sigma[0]": 0.5, "sigma[1]": 1]
        for (name, value) in truth {
            let summary = Diagnostics.summary(draws[names.firstIndex(of: name)!])
            // The posterior concentrates around the truth within a few posterior standard deviations.
            XCTAssertEqual(summary.mean, value, accuracy: 4 * summary.sd + 5 * summary.mcseMean, name)
        }
        var correct = 0
        for i in 0..<data.count {
            let counts = (0..<2).map { j in states.reduce(0) { $0 + $1.accumulator[i * 2 + j] } }
            if (counts[0] > counts[1] ? 0 : 1) == labels[i] { correct += 1 }
        }
        XCTAssertGreaterThan(Double(correct) / Double(data.count), 0.97)
    }

    func testResumeIsExact() throws {
        let model = try GibbsMultivariateNormal(mean: [0, 0], covariance: [[1, 0.5], [0.5, 1]])
        let sampler = GibbsSampler(model: model, chains: 2, warmup: 10, draws: 100, seed: 8)
        var straight = sampler.initialStates()
        sampler.advance(&straight, to: 110)
        var resumed = sampler.initialStates()
        sampler.advance(&resumed, to: 37)
        resumed = try JSONDecoder().decode([GibbsChainState].self, from: JSONEncoder().encode(resumed))
        sampler.advance(&resumed, to: 110)
        XCTAssertEqual(resumed, straight)
    }
}
