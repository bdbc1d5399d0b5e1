import Jobs
import XCTest
@testable import SamplerKinds

/// draws.json names every coordinate of draws.npy and groups them into variables, as arviz.from_dict wants.
final class DrawLayoutTests: XCTestCase {
    func testVariablesAreGroupedFromCoordinateNames() {
        let names = ["mu", "tau"] + (0..<8).map { "theta[\($0)]" } + ["z[0]", "z[1]"]
        let layout = DrawArtifacts.layout(names: names, chains: 4, perChain: 1000, file: "draws.npy")
        XCTAssertEqual(layout["shape"], [4, 1000, 12])
        XCTAssertEqual(layout["dims"], ["chain", "draw", "coordinate"])
        XCTAssertEqual(layout["coordinates"]?.arrayValue?.count, 12)
        let variables = layout["variables"]?.arrayValue ?? []
        XCTAssertEqual(variables.compactMap { $0["name"]?.stringValue }, ["mu", "tau", "theta", "z"])
        XCTAssertEqual(variables[0]["shape"], [])
        XCTAssertEqual(variables[2]["shape"], [8])
        XCTAssertEqual(variables[2]["start"], 2)
        XCTAssertEqual(variables[2]["end"], 10)
        XCTAssertEqual(variables[3]["start"], 10)
        XCTAssertEqual(variables[3]["end"], 12)
    }
}
