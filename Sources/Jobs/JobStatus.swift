/// The life of a job. `cancelling` is a running job that has been asked to stop and has not yet noticed.
public enum JobStatus: String, Sendable, Codable, CaseIterable {
    case queued
    case running
    case cancelling
    case succeeded
    case failed
    case cancelled

    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled: return true
        case .queued, .running, .cancelling: return false
        }
    }

    /// The legal transitions. The store enforces them in its SQL as well, so that two processes
    /// racing on one job cannot take it anywhere this table does not allow.
    public func canTransition(to next: JobStatus) -> Bool {
        switch (self, next) {
        case (.queued, .running), (.queued, .cancelled):
            return true
        // Back to queued: a crashed or shut-down worker hands the job back for another attempt.
        case (.running, .queued), (.running, .cancelling), (.running, .succeeded), (.running, .failed), (.running, .cancelled):
            return true
        // A job that finishes before it sees the cancel request keeps its honest outcome.
        case (.cancelling, .cancelled), (.cancelling, .succeeded), (.cancelling, .failed):
            return true
        default:
            return false
        }
    }

    /// States in which a worker holds the job.
    public static let active: [JobStatus] = [.running, .cancelling]
    /// The same, named for the SQL guards that check a worker still holds the job.
    public static let holdingWorker = active
    /// Not yet terminal: what still needs its dataset.
    public static let unfinished: [JobStatus] = allCases.filter { !$0.isTerminal }

    /// The status as an SQL literal. The store's status guards are written with these, from this enum,
    /// never by hand: a renamed or added status cannot leave a stale string in a WHERE clause.
    public var sql: String { "'\(rawValue)'" }

    /// `('running', 'cancelling')`, the parenthesized list an `IN` clause takes.
    public static func sqlList(_ statuses: [JobStatus]) -> String { "(" + statuses.map(\.sql).joined(separator: ", ") + ")" }
}
