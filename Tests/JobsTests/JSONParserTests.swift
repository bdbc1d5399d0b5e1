import Foundation
import XCTest
@testable import Jobs

final class JSONParserTests: XCTestCase {
    /// Found by FuzzJSON: `9e15` parsed as a double but its canonical text (`9000000000000000`) read back
    /// as an integer. Every integral value printed without an exponent is an integer on both sides.
    func testIntegralDoublesRoundTripThroughCanonicalText() throws {
        for text in ["9e15", "9.5e15", "9999999999999998", "1e16", "-9e15", "1.5e300", "123.0"] {
            let value = try JSONValue.parse(Data(text.utf8))
            XCTAssertEqual(try JSONValue.parse(Data(value.canonicalText().utf8)), value, text)
        }
    }

    func testValuesOfEveryType() throws {
        let value = try JSONValue.parse(#" {"a": [1, -2.5, 1e3, true, false, null], "b": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "c": {}} "#)
        XCTAssertEqual(value["a"], [1, -2.5, 1000, true, false, nil])
        XCTAssertEqual(value["b"], .string("x\"\\/\u{08}\u{0C}\n\r\té😀"))
        XCTAssertEqual(value["c"], .object([:]))
    }

    func testIntegersStayIntegers() throws {
        XCTAssertEqual(try JSONValue.parse("9223372036854775807"), .integer(Int64.max))
        XCTAssertEqual(try JSONValue.parse("-3.0"), .integer(-3), "an integral number reads as an integer, as Foundation's decoder did")
        XCTAssertEqual(try JSONValue.parse("9223372036854775808"), .number(9_223_372_036_854_775_808), "beyond Int64: a double")
        XCTAssertEqual(try JSONValue.parse("0.1"), .number(0.1))
    }

    func testDuplicateKeysAreRejectedWithTheirPath() {
        XCTAssertThrowsError(try JSONValue.parse(#"{"params": {"mu": 1, "mu": 2}}"#)) { error in
            let parseError = error as? JSONParseError
            XCTAssertEqual(parseError?.path, "params.mu")
            XCTAssertTrue(parseError?.reason.contains("duplicate key") == true)
        }
    }

    func testNestingIsBounded() throws {
        let allowed = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        XCTAssertNoThrow(try JSONValue.parse(allowed))
        // 10 KB of nesting once took Foundation's decoder 18 s; here it stops at level 65.
        let deep = String(repeating: #"{"a":["#, count: 5_000)
        XCTAssertThrowsError(try JSONValue.parse(deep)) { error in
            XCTAssertTrue((error as? JSONParseError)?.reason.contains("nesting deeper than 64") == true, "\(error)")
        }
    }

    func testMalformedInputIsAnErrorNotACrash() {
        let bad = [
            "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "1e", "-", "\"\\u12\"", "\"\\ud800\"", "\"a\u{01}\"", "tru", "nul", "[1] x",
            "\"\\q\"", "{1: 2}", "\"unterminated", "1e999",
        ]
        for text in bad {
            XCTAssertThrowsError(try JSONValue.parse(text), "accepted \(text.debugDescription)")
        }
        XCTAssertThrowsError(try JSONValue.parse(Data([0x22, 0xFF, 0xFE, 0x22])), "invalid UTF-8 in a string")
    }

    func testByteOrderMarkIsIgnored() throws {
        XCTAssertEqual(try JSONValue.parse(Data([0xEF, 0xBB, 0xBF]) + Data("[1]".utf8)), [1])
    }

    func testRoundTripThroughCanonicalText() throws {
        let value: JSONValue = ["x": [1, 2.5, "é\n"], "y": nil, "z": ["nested": true]]
        XCTAssertEqual(try JSONValue.parse(value.canonicalText()), value)
    }

    func testNonFiniteDoublesInResultsBecomeNull() throws {
        struct Summary: Encodable {
            var mean: Double
            var rhat: Double
            var low: Double
        }
        let encoded = try JSONValue.encoding(Summary(mean: 1.5, rhat: .nan, low: -.infinity))
        XCTAssertEqual(encoded, ["mean": 1.5, "rhat": nil, "low": nil])
    }

    func testCheckpointsKeepNonFiniteDoubles() throws {
        let values: [Double] = [1, .infinity, -.infinity]
        let decoded = try CheckpointJSON.decode([Double].self, from: CheckpointJSON.encode(values + [.nan]))
        XCTAssertEqual(Array(decoded.prefix(3)), values)
        XCTAssertTrue(decoded[3].isNaN)
    }
}
