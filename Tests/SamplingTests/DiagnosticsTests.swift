import Foundation
import XCTest
@testable import Sampling

struct ArvizCase: Decodable {
    var name: String
    var draws: [[Double]]
    var rhat: Double
    var ess_bulk: Double
    var ess_tail: Double
    var ess_mean: Double
    var mcse_mean: Double
    var mcse_sd: Double
    var mcse_q05: Double
    var mcse_median: Double
}

struct ArvizFile: Decodable {
    var arviz: String
    var cases: [ArvizCase]
}

final class DiagnosticsTests: XCTestCase {
    /// Every diagnostic equals ArviZ's on the committed draws within 1e-6 (relative).
    func testMatchesArviz() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "arviz_reference", withExtension: "json", subdirectory: "Fixtures"))
        let file = try JSONDecoder().decode(ArvizFile.self, from: Data(contentsOf: url))
        for reference in file.cases {
            let chains = reference.draws
            func check(_ ours: Double, _ theirs: Double, _ what: String) {
                XCTAssertEqual(ours, theirs, accuracy: 1e-6 * max(1, abs(theirs)), "\(reference.name) \(what)")
            }
            check(Diagnostics.rHat(chains), reference.rhat, "rhat")
            check(Diagnostics.essBulk(chains), reference.ess_bulk, "ess_bulk")
            check(Diagnostics.essTail(chains), reference.ess_tail, "ess_tail")
            check(Diagnostics.essMean(chains), reference.ess_mean, "ess_mean")
            check(Diagnostics.mcseMean(chains), reference.mcse_mean, "mcse_mean")
            check(Diagnostics.mcseSD(chains), reference.mcse_sd, "mcse_sd")
            check(Diagnostics.mcseQuantile(chains, 0.05), reference.mcse_q05, "mcse_q05")
            check(Diagnostics.mcseQuantile(chains, 0.5), reference.mcse_median, "mcse_median")
        }
    }

    func testSummaryFlagsPoorMixing() throws {
        var rng = RandomStream(seed: 5)
        let good = (0..<4).map { _ in (0..<1000).map { _ in Ziggurat.normal.normal(&rng) } }
        let summary = Diagnostics.summary(good)
        XCTAssertTrue(summary.warnings.isEmpty, "\(summary.warnings)")
        XCTAssertEqual(summary.mean, 0, accuracy: 4.5 * summary.mcseMean)
        let stuck = (0..<4).map { chain in (0..<1000).map { _ in Double(chain) + 0.1 * Ziggurat.normal.normal(&rng) } }
        let bad = Diagnostics.summary(stuck)
        XCTAssertGreaterThan(bad.rHat, 1.01)
        XCTAssertTrue(bad.warnings.contains { $0.hasPrefix("r_hat") })
    }

    func testAverageRanksAndQuantiles() {
        XCTAssertEqual(Diagnostics.averageRanks([3, 1, 3, 2]), [3.5, 1, 3.5, 2])
        XCTAssertEqual(Diagnostics.quantile(sorted: [1, 2, 3, 4], 0.5), 2.5)
        XCTAssertEqual(Diagnostics.quantile(sorted: [1, 2, 3, 4], 0.05), 1.15, accuracy: 1e-12)
    }
}
