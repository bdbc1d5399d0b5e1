import Jobs
import XCTest
@testable import SamplerKinds

/// A non-finite diagnostic (R̂ of a chain that never moved, the sd of one that escaped to 1e300) never
/// fails a job: the summary carries null and a warning says why (issue 13's robustness item).
final class SummaryRobustnessTests: XCTestCase {
    func testNonFiniteDiagnosticsBecomeNullWithAWarning() throws {
        let stuck = [[Double]](repeating: [Double](repeating: 2.5, count: 100), count: 4)
        let (summary, warnings) = try ChainRuns.summarize(stuck, names: ["x"])
        XCTAssertEqual(summary["x"]?["mean"], 2.5)
        XCTAssertEqual(summary["x"]?["r_hat"], .null, "R̂ of constant chains is not a number: null, not a failed job")
        XCTAssertFalse(warnings.isEmpty)
        let escaped = (0..<4).map { chain in (0..<100).map { Double($0 % 7) * (chain == 3 ? 1e300 : 1) } }
        let (wild, wildWarnings) = try ChainRuns.summarize(escaped, names: ["y"])
        XCTAssertNotNil(try JSONValue.parse(Data(wild.canonicalText().utf8)), "the summary still encodes")
        XCTAssertTrue(wildWarnings.contains { $0.contains("r_hat") }, "\(wildWarnings)")
    }
}
