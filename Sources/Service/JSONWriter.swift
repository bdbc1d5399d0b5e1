import Foundation
import Jobs
#if canImport(Glibc)
    import Glibc
#endif

/// Appends JSON to a byte buffer by hand. The hot responses (a job, a page of jobs, a metric
/// history) go through it instead of `JSONEncoder`, which dominated the cost of a status poll;
/// stored JSON (params, results) is spliced in as the canonical text it already is.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 1024) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `"key":` — keys are code literals, never user text, so they need no escaping.
    mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func comma() { bytes.append(UInt8(ascii: ",")) }

    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                raw("\\u00")
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func string(_ value: String?) {
        if let value { string(value) } else { raw("null") }
    }

    mutating func integer<T: BinaryInteger>(_ value: T) { raw(String(value)) }

    /// Finite numbers in Swift's shortest round-trip form; JSON has no NaN or infinity, so those are null.
    mutating func number(_ value: Double) {
        if value.isFinite { raw(value.description) } else { raw("null") }
    }

    mutating func bool(_ value: Bool) { raw(value ? "true" : "false") }

    mutating func timestamp(_ date: Date?) {
        if let date { string(Timestamp.format(date)) } else { raw("null") }
    }
}
