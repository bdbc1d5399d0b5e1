import Foundation

/// The one timestamp format of the API, its results and its artifacts.
public enum Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T04:28:37.268Z`.
    public static func format(_ date: Date) -> String {
        // Truncated to the millisecond from the nearest microsecond: truncating t × 1000 directly turns
        // …0.123 (stored as 0.12299999…) into .122. Dates beyond ±10^15 µs are clamped, never a trap.
        let micro = Int64(max(-1e18, min(1e18, (date.timeIntervalSince1970 * 1_000_000).rounded())))
        let total = micro >= 0 ? micro / 1000 : -((-micro + 999) / 1000)
        let (quotient, remainder) = total.quotientAndRemainder(dividingBy: 1000)
        var whole = time_t(remainder < 0 ? quotient - 1 : quotient)
        let milliseconds = Int(remainder < 0 ? remainder + 1000 : remainder)
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

    /// Parses RFC 3339 (`2026-11-29T04:28:37Z`, fractional seconds and `±hh:mm` offsets allowed, `t`/`z`
    /// in either case) or a bare date (`2026-11-29`, midnight UTC). Nil for anything else, including
    /// out-of-range fields; never traps, whatever the text.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 10, bytes.count <= 64 else { return nil }
        var index = 0
        func number(_ width: Int) -> Int? {
            guard index + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + width] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += width
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        var offsetSeconds = 0
        if index < bytes.count {
            guard expect("Tt "), let h = number(2), expect(":"), let m = number(2), expect(":"), let s = number(2),
                h <= 23, m <= 59, s <= 60
            else { return nil }
            (hour, minute, second) = (h, m, s)
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                var scale = 0.1
                let start = index
                while index < bytes.count, (48...57).contains(bytes[index]) {
                    fraction += Double(bytes[index] - 48) * scale
                    scale /= 10
                    index += 1
                }
                guard index > start else { return nil }
            }
            if expect("Zz") {
            } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                index += 1
                guard let oh = number(2), expect(":"), let om = number(2), oh <= 23, om <= 59 else { return nil }
                offsetSeconds = sign * (oh * 3600 + om * 60)
            } else {
                return nil
            }
            guard index == bytes.count else { return nil }
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        // timegm normalizes 31 February into March: a date that does not round-trip is refused.
        guard parts.tm_mday == Int32(day), parts.tm_mon == Int32(month - 1) else { return nil }
        return Date(timeIntervalSince1970: Double(seconds - offsetSeconds) + fraction)
    }
}
