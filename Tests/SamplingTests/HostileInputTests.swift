import Foundation
import XCTest
@testable import Sampling

/// Inputs that used to trap (killing the server) or run unboundedly, each with the behaviour it gets now.
final class HostileInputTests: XCTestCase {
    func testSaturatingConversions() {
        XCTAssertNil(Int(checking: .nan))
        XCTAssertNil(Int(checking: .infinity))
        XCTAssertNil(Int(checking: 1e19))
        XCTAssertEqual(Int(checking: -2.7), -2)
        XCTAssertEqual(Int(saturating: .nan, nan: 7), 7)
        XCTAssertEqual(Int(saturating: .infinity, in: 1...10, nan: 0), 10)
        XCTAssertEqual(Int(saturating: -1e300, in: 1...10, nan: 0), 1)
        XCTAssertEqual(Int(saturating: 4.9, in: 1...10, nan: 0), 4)
    }

    /// Extreme parameters: the normal-approximation guess is ±∞ or 1e300, and the old linear walk from a
    /// poor guess ran for minutes. Each quantile must be the smallest k with cdf(k) ≥ q.
    func testDiscreteQuantilesWithExtremeParameters() throws {
        let distributions: [any DiscreteDistribution] = [
            try Geometric(p: 1e-300), try Geometric(p: 1e-12), try Geometric(p: 0.3),
            try NegativeBinomial(r: 1e-3, p: 1e-9), try NegativeBinomial(r: 50, p: 1e-6), try NegativeBinomial(r: 2, p: 0.4),
            try Poisson(lambda: 1e12), try Poisson(lambda: 3), try Binomial(n: 1_000_000_000, p: 1e-9),
        ]
        for distribution in distributions {
            for q in [0.0, 1e-12, 0.01, 0.5, 0.99, 1 - 1e-12, 1.0] {
                let k = distribution.quantile(q)
                let (lower, upper) = distribution.support
                XCTAssertTrue((lower...upper).contains(k), "\(distribution) q=\(q): \(k)")
                if k < upper { XCTAssertGreaterThanOrEqual(distribution.cdf(k), q, "\(distribution) q=\(q)") }
                if k > lower { XCTAssertLessThan(distribution.cdf(k - 1), q, "\(distribution) q=\(q): not the smallest") }
            }
            var rng = RandomStream(seed: 3)
            for _ in 0..<100 { _ = distribution.sample(&rng) }
        }
    }

    /// The limit is 64 levels of brackets, as the README says; it used to stop at 7 parentheses.
    func testNestingCountsBrackets() throws {
        func nested(_ depth: Int) -> String { String(repeating: "(", count: depth) + "x" + String(repeating: ")", count: depth) }
        let symbols = ExpressionSymbols(parameters: [(name: "x", size: nil)])
        XCTAssertNoThrow(try ExpressionCompiler.compile(nested(60), symbols: symbols))
        XCTAssertNoThrow(
            try ExpressionCompiler.compile(String(repeating: "exp(", count: 60) + "x" + String(repeating: ")", count: 60), symbols: symbols))
        XCTAssertThrowsError(try ExpressionCompiler.compile(nested(65), symbols: symbols)) { error in
            XCTAssertTrue("\(error)".contains("deeper than 64 levels"), "\(error)")
        }
        XCTAssertThrowsError(try ExpressionCompiler.compile(String(repeating: "-", count: 5_000) + "x", symbols: symbols))
    }

    /// A long expression over a long data vector is refused at compile time instead of taking gigabytes.
    func testWorkingMemoryIsBounded() throws {
        let data = (0..<50_000).map(Double.init)
        let symbols = ExpressionSymbols(parameters: [(name: "x", size: nil)], data: ["y": .vector(data)])
        XCTAssertNoThrow(try ExpressionCompiler.compile("sum((y - x)^2)", symbols: symbols))
        let long = "sum(" + Array(repeating: "(y - x)^2", count: 100).joined(separator: " + ") + ")"
        XCTAssertThrowsError(try ExpressionCompiler.compile(long, symbols: symbols)) { error in
            XCTAssertTrue("\(error)".contains("working values"), "\(error)")
        }
    }

    /// The envelope search and numeric inversion stop when asked instead of running to the end.
    func testPreparationStopsWhenAsked() {
        XCTAssertThrowsError(try NumericInversion(logDensity: "-x^2", lower: -5, upper: 5, shouldStop: { true })) { error in
            XCTAssertEqual(error as? JobInterruption, .stopped)
        }
        XCTAssertThrowsError(
            try RejectionSampler(
                logDensity: "-x^2", lower: nil, upper: nil, data: [:], proposal: try Normal(), logM: nil,
                shouldStop: { true })
        ) { error in
            XCTAssertEqual(error as? JobInterruption, .stopped)
        }
    }
}
