import Foundation
import Jobs

// Claims per second on a job store: submits JOBS queued jobs, then CLAIMERS threads (each with its own store handle, as
// separate processes would have) claim until the queue is empty. Prints one JSON line.
// Usage: store-bench postgres://… | sqlite:PATH [JOBS] [CLAIMERS]

let arguments = CommandLine.arguments
guard arguments.count > 1 else {
    FileHandle.standardError.write(Data("usage: store-bench postgres://…|sqlite:PATH [jobs] [claimers]\n".utf8))
    exit(2)
}
let target = arguments[1]
let jobs = arguments.count > 2 ? Int(arguments[2]) ?? 5_000 : 5_000
let claimers = arguments.count > 3 ? Int(arguments[3]) ?? 8 : 8

func open() throws -> any JobStore {
    if target.hasPrefix("sqlite:") { return try SQLiteJobStore(path: String(target.dropFirst("sqlite:".count))) }
    return try PostgresJobStore(url: target, poolSize: 2)
}

do {
    let submitter = try open()
    let submitStart = Date()
    for index in 0..<jobs {
        _ = try submitter.submit(
            JobSubmission(kind: "demo.count", priority: index % 3, params: ["steps": 1], maxAttempts: 3), maxQueued: 10_000_000, now: Date())
    }
    let submitSeconds = Date().timeIntervalSince(submitStart)
    let stores = try (0..<claimers).map { _ in try open() }
    let counts = Counter()
    let start = Date()
    DispatchQueue.concurrentPerform(iterations: claimers) { index in
        while let _ = try? stores[index].claim(workerID: "bench-\(index)", leaseDuration: 60, now: Date()) { counts.add() }
    }
    let seconds = Date().timeIntervalSince(start)
    let claimed = counts.value
    let line: [String: Any] = [
        "store": target.hasPrefix("sqlite:") ? "sqlite" : "postgres", "jobs": jobs, "claimers": claimers, "claimed": claimed,
        "claim_seconds": seconds, "claims_per_second": Double(claimed) / seconds, "submits_per_second": Double(jobs) / submitSeconds,
        "cores": ProcessInfo.processInfo.activeProcessorCount,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
} catch {
    FileHandle.standardError.write(Data("store-bench: \(error)\n".utf8))
    exit(1)
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
