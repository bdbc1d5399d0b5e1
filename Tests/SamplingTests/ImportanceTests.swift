import Foundation
import XCTest
@testable import Sampling

struct PSISCase: Decodable {
    var name: String
    var log_weights: [Double]
    var smoothed: [Double]
    var k: Double
}

struct PSISFile: Decodable {
    var psis: [PSISCase]
}

final class ImportanceTests: XCTestCase {
    func testParetoSmoothingMatchesArviz() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "arviz_reference", withExtension: "json", subdirectory: "Fixtures"))
        for reference in try JSONDecoder().decode(PSISFile.self, from: Data(contentsOf: url)).psis {
            let (smoothed, k) = ParetoSmoothing.smooth(reference.log_weights)
            XCTAssertEqual(k, reference.k, accuracy: 1e-6 * max(1, abs(reference.k)), reference.name)
            for (ours, theirs) in zip(smoothed, reference.smoothed) {
                XCTAssertEqual(ours, theirs, accuracy: 1e-6 * max(1, abs(theirs)), reference.name)
            }
        }
    }

    func testEstimatesWithAGoodProposal() throws {
        // Target N(1, 1) (unnormalized), proposal N(0, 3): E[x] = 1, E[x²] = 2.
        let sampler = try ImportanceSampler(
            target: "-0.5 * (x - 1)^2", parameters: [ParameterSpec(name: "x")], data: [:],
            proposal: .independent([try Normal(mu: 0, sigma: 3)]),
            functions: [("mean", "x"), ("second_moment", "x^2")])
        let result = try sampler.run(draws: 20_000, seed: 5)
        XCTAssertLessThan(result.paretoK, 0.5)
        XCTAssertTrue(result.warnings.isEmpty, "\(result.warnings)")
        XCTAssertEqual(result.estimates[0].estimate, 1, accuracy: 5 * result.estimates[0].mcse)
        XCTAssertEqual(result.estimates[1].estimate, 2, accuracy: 5 * result.estimates[1].mcse)
        XCTAssertEqual(result.logNormalizer, 0.5 * log(2 * Double.pi), accuracy: 0.02, "log ∫ exp(−(x−1)²/2) dx")
        XCTAssertGreaterThan(result.kishESS, 5000)
    }

    func testHeavyTailedWeightsAreFlagged() throws {
        // A proposal much narrower than the target: the weights' tail is heavy and k̂ says so.
        let sampler = try ImportanceSampler(
            target: "cauchy_lpdf(x, 0, 1)", parameters: [ParameterSpec(name: "x")], data: [:],
            proposal: .independent([try Normal(mu: 0, sigma: 0.5)]), functions: [("mean", "x")])
        let result = try sampler.run(draws: 5000, seed: 6)
        XCTAssertGreaterThan(result.paretoK, 0.7)
        XCTAssertTrue(result.warnings.contains { $0.contains("0.7") })
    }

    func testProposalMustCoverTheTarget() {
        XCTAssertThrowsError(
            try ImportanceSampler(
                target: "normal_lpdf(x, 0, 1)", parameters: [ParameterSpec(name: "x")], data: [:],
                proposal: .independent([try Exponential(rate: 1)]), functions: [])
        ) { error in
            XCTAssertEqual((error as? SamplerError)?.field, "proposal")
        }
        // Declaring the target's domain makes the same proposal acceptable.
        XCTAssertNoThrow(
            try ImportanceSampler(
                target: "gamma_lpdf(x, 2, 1)", parameters: [ParameterSpec(name: "x", lower: 0)], data: [:],
                proposal: .independent([try Exponential(rate: 0.5)]), functions: [("mean", "x")]))
    }
}
