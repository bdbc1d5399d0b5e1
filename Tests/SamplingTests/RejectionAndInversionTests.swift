import Foundation
import XCTest
@testable import Sampling

/// KS statistic of draws against a CDF.
func ksStatistic(_ draws: [Double], _ cdf: (Double) -> Double) -> Double {
    let sorted = draws.sorted()
    let n = Double(sorted.count)
    var statistic = 0.0
    for (index, x) in sorted.enumerated() {
        let f = cdf(x)
        statistic = max(statistic, f - Double(index) / n, Double(index + 1) / n - f)
    }
    return statistic
}

/// α = 0.001 asymptotic KS critical value.
func ksCritical(_ n: Int) -> Double { 1.9495 / Double(n).squareRoot() }

final class RejectionAndInversionTests: XCTestCase {
    let beta25 = try! Beta(a: 2, b: 5)

    func testRejectionWithFoundEnvelope() throws {
        let sampler = try RejectionSampler(
            logDensity: "log(x) + 4 * log1p(-x)", lower: 0, upper: 1, data: [:],
            proposal: try Uniform(lower: 0, upper: 1), logM: nil)
        let result = try sampler.run(draws: 20_000, seed: 1)
        XCTAssertEqual(result.envelopeViolations, 0)
        XCTAssertLessThan(ksStatistic(result.draws, beta25.cdf), ksCritical(20_000))
        // The unnormalized target integrates to B(2, 5); the acceptance rate is binomial.
        let rate = result.acceptanceRate
        let standardError = (rate * (1 - rate) / Double(result.proposals)).squareRoot() / rate
        XCTAssertEqual(result.logNormalizer, Special.logBeta(2, 5), accuracy: 5 * standardError)
    }

    func testEnvelopeViolationsAreReported() throws {
        let sampler = try RejectionSampler(
            logDensity: "normal_lpdf(x, 0, 1)", lower: nil, upper: nil, data: [:],
            proposal: try Cauchy(location: 0, scale: 1), logM: log(0.5))
        let result = try sampler.run(draws: 5000, seed: 2)
        XCTAssertGreaterThan(result.envelopeViolations, 0)
        XCTAssertGreaterThan(result.largestRatio, 1)
        XCTAssertTrue(result.warnings.contains { $0.hasPrefix("envelope violated") })
    }

    func testRejectionRefusesAProposalThatMissesTheSupport() {
        XCTAssertThrowsError(
            try RejectionSampler(
                logDensity: "normal_lpdf(x, 0, 1)", lower: nil, upper: nil, data: [:],
                proposal: try Exponential(rate: 1), logM: nil))
    }

    func testAdaptiveRejectionSampling() throws {
        let normal = try AdaptiveRejectionSampler(logDensity: "-0.5 * ((x - 2) / 3)^2", lower: nil, upper: nil, data: [:])
        let result = try normal.run(draws: 20_000, seed: 3)
        XCTAssertLessThan(ksStatistic(result.draws, try Normal(mu: 2, sigma: 3).cdf), ksCritical(20_000))
        XCTAssertGreaterThan(result.acceptanceRate, 0.9, "the hull tightens")
        let gamma = try AdaptiveRejectionSampler(logDensity: "2 * log(x) - x", lower: 0, upper: nil, data: [:])
        let gammaDraws = try gamma.run(draws: 20_000, seed: 4).draws
        XCTAssertLessThan(ksStatistic(gammaDraws, try Gamma(shape: 3).cdf), ksCritical(20_000))
    }

    func testAdaptiveRejectionRefusesNonLogConcaveTargets() {
        let bimodal = try! AdaptiveRejectionSampler(
            logDensity: "log_sum_exp(normal_lpdf(x, -3, 1), normal_lpdf(x, 3, 1))", lower: nil, upper: nil, data: [:])
        XCTAssertThrowsError(try bimodal.run(draws: 1000, seed: 5)) { error in
            XCTAssertTrue((error as? SamplerError)?.reason.contains("log-concave") == true, "\(error)")
        }
    }

    func testNumericInversionOfAUserDensity() throws {
        let inversion = try NumericInversion(logDensity: "log(x) + 4 * log1p(-x)", lower: 0, upper: 1)
        XCTAssertLessThanOrEqual(inversion.approximationError, 1e-10)
        XCTAssertEqual(inversion.logNormalizer, Special.logBeta(2, 5), accuracy: 1e-10)
        for p in [0.001, 0.01, 0.2, 0.5, 0.8, 0.99, 0.999] {
            // A u-error of 1e-10 moves x by at most 1e-10 / f(x).
            let exact = beta25.quantile(p)
            XCTAssertEqual(inversion.quantile(p), exact, accuracy: 2e-10 / beta25.density(exact) + 1e-14, "p = \(p)")
        }
        var rng = RandomStream(seed: 6)
        let draws = (0..<20_000).map { _ in inversion.sample(&rng) }
        XCTAssertLessThan(ksStatistic(draws, beta25.cdf), ksCritical(20_000))
    }

    func testNumericInversionOfATruncatedNormal() throws {
        let inversion = try NumericInversion(logDensity: "-0.5 * x^2", lower: -1, upper: 2)
        let normal = try Normal()
        let mass = normal.cdf(2) - normal.cdf(-1)
        for p in [0.05, 0.5, 0.95] {
            let exact = normal.quantile(normal.cdf(-1) + p * mass)
            XCTAssertEqual(inversion.quantile(p), exact, accuracy: 1e-9)
        }
    }

    func testTabulatedInversionIsExactForPiecewiseLinearDensities() throws {
        let tabulated = try TabulatedInversion(x: [0, 1, 4], pdf: [0, 2, 0])
        let triangular = try Triangular(lower: 0, mode: 1, upper: 4)
        for p in [0.01, 0.1, 0.25, 0.5, 0.9, 0.999] {
            XCTAssertEqual(tabulated.quantile(p), triangular.quantile(p), accuracy: 1e-12)
        }
        XCTAssertThrowsError(try TabulatedInversion(x: [0, 0, 1], pdf: [1, 1, 1]))
        XCTAssertThrowsError(try TabulatedInversion(x: [0, 1], pdf: [0, 0]))
    }
}
