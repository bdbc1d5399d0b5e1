import Foundation

/// The one timestamp format of the API, its results and its artifacts.
public enum Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T04:28:37.268Z`.
    public static func format(_ date: Date) -> String {
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
