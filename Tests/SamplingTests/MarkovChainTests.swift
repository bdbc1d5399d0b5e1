import Foundation
import XCTest
@testable import Sampling

/// Each sampler must recover known answers within tolerances set by its own Monte Carlo standard
/// errors: |estimate − truth| ≤ 5 · MCSE (a false alarm about once in 1.7 million per check).
final class MarkovChainTests: XCTestCase {
    func run(_ model: Model, _ method: MCMCSettings.Method, warmup: Int = 1000, draws: Int = 1000, seed: UInt64 = 1) throws -> [[[Double]]] {
        let sampler = MarkovChainSampler(model: model, settings: MCMCSettings(method: method, chains: 4, warmup: warmup, draws: draws, seed: seed))
        var states = try sampler.initialStates()
        sampler.advance(&states, to: sampler.settings.totalIterations)
        let d = model.dimension
        // coordinates × chains × draws
        return (0..<d).map { coordinate in
            states.map { state in stride(from: coordinate, to: state.draws.count, by: d).map { state.draws[$0] } }
        }
    }

    func assertRecovers(_ chains: [[Double]], mean: Double, sd: Double? = nil, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let summary = Diagnostics.summary(chains)
        XCTAssertLessThan(summary.rHat, 1.01, "\(label) r_hat", file: file, line: line)
        XCTAssertEqual(summary.mean, mean, accuracy: 5 * summary.mcseMean, "\(label) mean (mcse \(summary.mcseMean))", file: file, line: line)
        if let sd { XCTAssertEqual(summary.sd, sd, accuracy: 5 * summary.mcseSD, "\(label) sd (mcse \(summary.mcseSD))", file: file, line: line) }
    }

    func testCorrelatedGaussian() throws {
        let model = try Model(
            logDensity: "-0.5 * (x^2 - 2 * 0.99 * x * y + y^2) / (1 - 0.99^2)",
            parameters: [ParameterSpec(name: "x"), ParameterSpec(name: "y")])
        for method in MCMCSettings.Method.allCases {
            let draws = try run(model, method, warmup: 2000, draws: 2000)
            assertRecovers(draws[0], mean: 0, sd: 1, "\(method) x")
            assertRecovers(draws[1], mean: 0, sd: 1, "\(method) y")
        }
    }

    func testTenDimensionalGaussianWithDifferentScales() throws {
        let scales = (1...10).map(Double.init)
        let model = try Model(
            logDensity: "sum(normal_lpdf(x, m, s))", parameters: [ParameterSpec(name: "x", size: 10)],
            data: ["m": .vector((0..<10).map { Double($0) - 5 }), "s": .vector(scales)])
        for method in MCMCSettings.Method.allCases {
            // Random-walk Metropolis mixes about d times slower than HMC here, so it gets longer chains.
            let length = method == .randomWalk ? 10_000 : 2000
            let draws = try run(model, method, warmup: length, draws: length)
            for i in 0..<10 { assertRecovers(draws[i], mean: Double(i) - 5, sd: scales[i], "\(method) x[\(i)]") }
        }
    }

    func testBanana() throws {
        // x1 ~ N(0, 10²), x2 | x1 ~ N(0.03 (x1² − 100), 1): E[x1] = E[x2] = 0.
        let model = try Model(
            logDensity: "normal_lpdf(x1, 0, 10) + normal_lpdf(x2, 0.03 * (x1^2 - 100), 1)",
            parameters: [ParameterSpec(name: "x1"), ParameterSpec(name: "x2")])
        let walk = try run(model, .randomWalk, warmup: 5000, draws: 10_000)
        assertRecovers(walk[0], mean: 0, "rwm banana x1")
        assertRecovers(walk[1], mean: 0, "rwm banana x2")
        // Static-path HMC with a diagonal metric meets curvature it cannot follow in the banana's
        // arms; it must then say so rather than report a wrong answer with confidence.
        let hmc = try run(model, .hamiltonian, warmup: 5000, draws: 10_000)
        for (index, chains) in hmc.enumerated() {
            let summary = Diagnostics.summary(chains)
            if summary.warnings.isEmpty {
                XCTAssertEqual(summary.mean, 0, accuracy: 5 * summary.mcseMean, "hmc banana x\(index + 1)")
            }
        }
    }

    func testBimodalMixtureIsEitherRightOrFlagged() throws {
        let model = try Model(
            logDensity: "log_sum_exp(normal_lpdf(x, -4, 1), normal_lpdf(x, 4, 1)) - log(2)",
            parameters: [ParameterSpec(name: "x")])
        for method in MCMCSettings.Method.allCases {
            let draws = try run(model, method)
            let summary = Diagnostics.summary(draws[0])
            if summary.warnings.isEmpty {
                XCTAssertEqual(summary.mean, 0, accuracy: 5 * summary.mcseMean, "\(method) claims convergence, so it must be right")
            } else {
                // The honest outcome for a local sampler on well-separated modes: it says so.
                XCTAssertTrue(summary.rHat >= 1.01 || summary.essBulk < 400, "\(method)")
            }
        }
    }

    func testEightSchoolsNonCentered() throws {
        let y = [28.0, 8, -3, 7, -1, 1, 18, 12]
        let sigma = [15.0, 10, 16, 11, 9, 11, 10, 18]
        let model = try Model(
            logDensity: """
                normal_lpdf(mu, 0, 5) + cauchy_lpdf(tau, 0, 5) + sum(normal_lpdf(theta_tilde, 0, 1))
                  + sum(normal_lpdf(y, mu + tau * theta_tilde, sigma))
                """,
            parameters: [ParameterSpec(name: "mu"), ParameterSpec(name: "tau", lower: 0), ParameterSpec(name: "theta_tilde", size: 8)],
            data: ["y": .vector(y), "sigma": .vector(sigma)])
        let exact = eightSchoolsPosteriorMeans(y: y, sigma: sigma)
        let draws = try run(model, .hamiltonian, warmup: 1500, draws: 3000)
        assertRecovers(draws[0], mean: exact.mu, "mu")
        assertRecovers(draws[1], mean: exact.tau, "tau")
    }

    /// E[mu | y] and E[tau | y] by quadrature of the marginal p(mu, tau | y), theta integrated out
    /// analytically (y_j | mu, tau ~ N(mu, σ_j² + τ²)); tau = 5 tan(φ) maps the Cauchy tail to [0, π/2).
    func eightSchoolsPosteriorMeans(y: [Double], sigma: [Double]) -> (mu: Double, tau: Double) {
        var mass = 0.0, muMoment = 0.0, tauMoment = 0.0
        let muPanels = 200, phiPanels = 400
        let muLow = -40.0, muHigh = 50.0
        for i in 0..<muPanels {
            let a = muLow + (muHigh - muLow) * Double(i) / Double(muPanels)
            let b = muLow + (muHigh - muLow) * Double(i + 1) / Double(muPanels)
            for j in 0..<phiPanels {
                let c = (Double.pi / 2) * Double(j) / Double(phiPanels)
                let d = (Double.pi / 2) * Double(j + 1) / Double(phiPanels)
                for (u, wu) in zip(GaussLegendre.nodes, GaussLegendre.weights) {
                    let mu = (a + b) / 2 + (b - a) / 2 * u
                    for (v, wv) in zip(GaussLegendre.nodes, GaussLegendre.weights) {
                        let phi = (c + d) / 2 + (d - c) / 2 * v
                        let tau = 5 * tan(phi)
                        // Half-Cauchy(0, 5) density times dτ/dφ is constant in φ.
                        var logp = -0.5 * mu * mu / 25
                        for k in 0..<y.count {
                            let variance = sigma[k] * sigma[k] + tau * tau
                            logp += -0.5 * (y[k] - mu) * (y[k] - mu) / variance - 0.5 * log(variance)
                        }
                        let weight = wu * wv * (b - a) / 2 * (d - c) / 2 * exp(logp)
                        mass += weight
                        muMoment += weight * mu
                        tauMoment += weight * tau
                    }
                }
            }
        }
        return (muMoment / mass, tauMoment / mass)
    }

    func testSameSeedSameDrawsAndResumeIsExact() throws {
        let model = try Model(
            logDensity: "normal_lpdf(x, 1, 2) + gamma_lpdf(s, 2, 1)",
            parameters: [ParameterSpec(name: "x"), ParameterSpec(name: "s", lower: 0)])
        for method in MCMCSettings.Method.allCases {
            let sampler = MarkovChainSampler(model: model, settings: MCMCSettings(method: method, chains: 3, warmup: 200, draws: 300, seed: 9))
            var straight = try sampler.initialStates()
            sampler.advance(&straight, to: 500)
            // Stop at 230, round-trip the states through JSON (as a checkpoint does), then finish.
            var interrupted = try sampler.initialStates()
            sampler.advance(&interrupted, to: 230)
            let saved = try JSONEncoder().encode(interrupted)
            var resumed = try JSONDecoder().decode([ChainState].self, from: saved)
            sampler.advance(&resumed, to: 500)
            XCTAssertEqual(resumed.map(\.draws), straight.map(\.draws), "\(method)")
            XCTAssertTrue(straight.allSatisfy { $0.draws.count == 600 })
            XCTAssertTrue(
                straight.allSatisfy { state in stride(from: 1, to: state.draws.count, by: 2).allSatisfy { state.draws[$0] > 0 } },
                "bounded parameter stays in bounds")
        }
    }
}
