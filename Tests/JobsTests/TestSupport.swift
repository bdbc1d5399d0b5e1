import Foundation
@testable import Jobs

/// A fresh SQLite store in its own temporary directory.
/// Caching is on, as in the server, so every read-after-write assertion also checks the cache.
func makeTemporaryStore(cachingReads: Bool = true) throws -> (SQLiteJobStore, URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("montecluster-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let store = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path, cachingReads: cachingReads)
    return (store, directory)
}

func countSubmission(
    _ params: JSONValue = ["steps": 3, "step_ms": 0], key: String? = nil, priority: Int = 0,
    maxAttempts: Int = 3
) -> JobSubmission {
    // Parameters go through the kind's validation, as the HTTP layer does before submitting.
    JobSubmission(
        kind: "demo.count", priority: priority, params: try! CountingJobKind().normalize(params),
        maxAttempts: maxAttempts, idempotencyKey: key)
}

/// Waits (polling) until `condition` holds or `timeout` passes; returns whether it held.
func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try condition()
}
