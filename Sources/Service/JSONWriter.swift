import Foundation
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

enum Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T04:28:37.268Z`.
    static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = time_t(seconds.rounded(.down))
        let milliseconds = min(999, Int(((seconds - Double(whole)) * 1000).rounded(.down)))
        var parts = tm()
        gmtime_r(&whole, &parts)
        var text = ""
        text.reserveCapacity(24)
        func pad(_ value: Int32, _ width: Int) {
            let digits = String(value)
            if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
            text += digits
        }
        pad(parts.tm_year + 1900, 4); text += "-"
        pad(parts.tm_mon + 1, 2); text += "-"
        pad(parts.tm_mday, 2); text += "T"
        pad(parts.tm_hour, 2); text += ":"
        pad(parts.tm_min, 2); text += ":"
        pad(parts.tm_sec, 2); text += "."
        pad(Int32(milliseconds), 3); text += "Z"
        return text
    }
}
