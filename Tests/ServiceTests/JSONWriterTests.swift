import Foundation
import Jobs
import XCTest
@testable import Service

final class JSONWriterTests: XCTestCase {
    func testStringsRoundTripThroughAJSONParser() throws {
        let samples = ["plain", "quote \" and backslash \\", "new\nline\ttab\r", "\u{0}\u{1}\u{1F}", "ünïcødé 🎲", ""]
        for sample in samples {
            var json = JSONWriter()
            json.string(sample)
            XCTAssertEqual(try JSONValue.parse(Data(json.bytes)), .string(sample))
        }
    }

    func testNumbersAndNulls() throws {
        var json = JSONWriter()
        json.raw("[")
        for value in [0.5, 1e-300, -3, .infinity, .nan] as [Double] {
            json.number(value)
            json.comma()
        }
        json.string(nil as String?)
        json.raw("]")
        XCTAssertEqual(try JSONValue.parse(Data(json.bytes)), [0.5, 1e-300, -3, nil, nil, nil], "-3.0 reads back as the integer -3")
    }

    func testTimestamps() {
        XCTAssertEqual(Timestamp.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Timestamp.format(Date(timeIntervalSince1970: 1_795_926_517.2689)), "2026-11-29T04:28:37.268Z")
    }
}
