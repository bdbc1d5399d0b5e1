import CTrapMarker
import Foundation

/// Which jobs' runs killed an earlier process with a trap, and how often each has.
///
/// A Swift runtime trap (overflow, a bad index, `Int(.nan)`) kills the whole server, and a job whose
/// run traps would kill it again on every restart until its attempts ran out. A signal handler (C,
/// async-signal-safe) writes the ID of the job whose worker thread trapped to `trap-marker` as the
/// process dies (jobs running beside it are not blamed; a trap outside a job blames none); the next
/// start adds it to `trap-counts`, and the worker pool fails a job that trapped `limit` times instead
/// of retrying it. `kill -9` runs no handler, so a killed server's jobs are requeued as before.
public final class TrapRecord: Sendable {
    /// Traps a job's run may cause before it is failed instead of retried.
    public static let limit = 2

    public let directory: URL
    /// Job ID → traps it was running at, as of this start (previous processes included).
    public let counts: [String: Int]

    /// Reads what earlier processes left and arms the handler for this one. Call once per process.
    public init(directory: URL) throws {
        self.directory = directory
        let marker = directory.appendingPathComponent("trap-marker")
        let countsFile = directory.appendingPathComponent("trap-counts.json")
        var counts: [String: Int] = [:]
        if let data = try? Data(contentsOf: countsFile), case .object(let members)? = try? JSONValue.parse(data) {
            for (id, value) in members { counts[id] = value.integerValue.map { Int(clamping: $0) } }
        }
        if let data = try? Data(contentsOf: marker) {
            let ids = Set(String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.isEmpty })
            for id in ids { counts[id, default: 0] += 1 }
        }
        self.counts = counts
        let encoded = JSONValue.object(counts.mapValues { .integer(Int64($0)) }).canonicalText()
        try Data(encoded.utf8).write(to: countsFile, options: .atomic)
        guard trap_marker_install(marker.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: marker.path])
        }
    }

    /// Jobs whose runs trapped `limit` or more times.
    public var crashLooping: [String] { counts.filter { $0.value >= Self.limit }.map(\.key).sorted() }

    public func running(_ jobID: String, slot: Int) { trap_marker_set(Int32(clamping: slot), jobID) }
    public func finished(slot: Int) { trap_marker_clear(Int32(clamping: slot)) }
}
