import XCTest
@testable import Jobs

final class JobStatusTests: XCTestCase {
    func testTerminalStates() {
        XCTAssertEqual(JobStatus.allCases.filter(\.isTerminal), [.succeeded, .failed, .cancelled])
    }

    func testTransitionTable() {
        let allowed: Set<String> = [
            "queued>running", "queued>cancelled",
            "running>queued", "running>cancelling", "running>succeeded", "running>failed", "running>cancelled",
            "cancelling>cancelled", "cancelling>succeeded", "cancelling>failed",
        ]
        for from in JobStatus.allCases {
            for to in JobStatus.allCases {
                XCTAssertEqual(from.canTransition(to: to), allowed.contains("\(from.rawValue)>\(to.rawValue)"), "\(from) → \(to)")
            }
        }
    }

    func testTerminalStatesHaveNoWayOut() {
        for from in JobStatus.allCases where from.isTerminal {
            XCTAssertTrue(JobStatus.allCases.allSatisfy { !from.canTransition(to: $0) })
        }
    }
}
