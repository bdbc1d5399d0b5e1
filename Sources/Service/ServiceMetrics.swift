import Foundation
import Jobs
import Synchronization

/// Counters and histograms for `GET /metrics`, rendered in the Prometheus text format (0.0.4).
/// Queue length and jobs by state are read from the store at scrape time, so they are right
/// even for jobs other processes changed.
final class ServiceMetrics: Sendable {
    static let durationBuckets: [Double] = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400]

    private struct Histogram {
        var counts = [Int](repeating: 0, count: ServiceMetrics.durationBuckets.count)
        var sum = 0.0
        var count = 0

        mutating func observe(_ value: Double) {
            for (index, bound) in ServiceMetrics.durationBuckets.enumerated() where value <= bound { counts[index] += 1 }
            sum += value
            count += 1
        }
    }

    private struct RequestKey: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    private struct JobKey: Hashable {
        var kind: String
        var status: String
    }

    private let requests = Mutex<[RequestKey: Int]>([:])
    private let jobDurations = Mutex<[JobKey: Histogram]>([:])

    func recordRequest(method: String, route: String, status: Int) {
        requests.withLock { $0[RequestKey(method: method, route: route, status: status), default: 0] += 1 }
    }

    func recordJob(_ job: Job, seconds: TimeInterval) {
        jobDurations.withLock { $0[JobKey(kind: job.kind, status: job.status.rawValue), default: Histogram()].observe(seconds) }
    }

    func render(countsByStatus: [JobStatus: Int], workers: Int, runningHere: Int) -> String {
        var lines: [String] = []
        lines.append("# HELP montecluster_queue_length Jobs waiting for a worker.")
        lines.append("# TYPE montecluster_queue_length gauge")
        lines.append("montecluster_queue_length \(countsByStatus[.queued] ?? 0)")
        lines.append("# HELP montecluster_jobs Jobs in the store by status.")
        lines.append("# TYPE montecluster_jobs gauge")
        for status in JobStatus.allCases {
            lines.append("montecluster_jobs{status=\"\(status.rawValue)\"} \(countsByStatus[status] ?? 0)")
        }
        lines.append("# HELP montecluster_workers Worker threads of this process.")
        lines.append("# TYPE montecluster_workers gauge")
        lines.append("montecluster_workers \(workers)")
        lines.append("# HELP montecluster_workers_busy Worker threads of this process running a job.")
        lines.append("# TYPE montecluster_workers_busy gauge")
        lines.append("montecluster_workers_busy \(runningHere)")
        lines.append("# HELP montecluster_job_duration_seconds Run time of job runs that ended in this process.")
        lines.append("# TYPE montecluster_job_duration_seconds histogram")
        for (key, histogram) in jobDurations.withLock({ $0 }).sorted(by: { ($0.key.kind, $0.key.status) < ($1.key.kind, $1.key.status) }) {
            let labels = "kind=\"\(escape(key.kind))\",status=\"\(key.status)\""
            for (index, bound) in Self.durationBuckets.enumerated() {
                lines.append("montecluster_job_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(histogram.counts[index])")
            }
            lines.append("montecluster_job_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(histogram.count)")
            lines.append("montecluster_job_duration_seconds_sum{\(labels)} \(histogram.sum)")
            lines.append("montecluster_job_duration_seconds_count{\(labels)} \(histogram.count)")
        }
        lines.append("# HELP montecluster_http_requests_total HTTP requests answered, by route template and status.")
        lines.append("# TYPE montecluster_http_requests_total counter")
        for (key, count) in requests.withLock({ $0 }).sorted(by: {
            ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status)
        }) {
            lines.append(
                "montecluster_http_requests_total{method=\"\(key.method)\",route=\"\(escape(key.route))\",status=\"\(key.status)\"} \(count)")
        }
        lines.append("# HELP montecluster_build_info The running build (the value is always 1).")
        lines.append("# TYPE montecluster_build_info gauge")
        lines.append("montecluster_build_info{version=\"\(MonteClusterVersion.current)\"} 1")
        if let process = ProcessStatistics.read() {
            lines.append("# HELP process_resident_memory_bytes Resident memory of this process.")
            lines.append("# TYPE process_resident_memory_bytes gauge")
            lines.append("process_resident_memory_bytes \(process.residentBytes)")
            lines.append("# HELP process_cpu_seconds_total CPU time (user and system) this process has used.")
            lines.append("# TYPE process_cpu_seconds_total counter")
            lines.append("process_cpu_seconds_total \(process.cpuSeconds)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// The Prometheus process collector's two most used series, from /proc (Linux); nil elsewhere.
enum ProcessStatistics {
    static func read() -> (residentBytes: Int, cpuSeconds: Double)? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        // Fields after the command name: state is field 3, utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return (pages * Int(max(1, sysconf(Int32(_SC_PAGESIZE)))), (user + system) / ticks)
    }
}
