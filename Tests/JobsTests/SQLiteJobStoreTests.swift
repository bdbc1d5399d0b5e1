import Foundation
import XCTest
@testable import Jobs

final class SQLiteJobStoreTests: XCTestCase {
    var store: SQLiteJobStore!
    var directory: URL!

    override func setUpWithError() throws {
        (store, directory) = try makeTemporaryStore()
    }

    override func tearDownWithError() throws {
        store = nil
        try? FileManager.default.removeItem(at: directory)
    }

    func testDurabilitySettings() throws {
        XCTAssertEqual(try store.synchronousSetting(), 2, "synchronous=FULL")
    }

    func testCachedReadsFollowEveryWrite() throws {
        let plain = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        func assertFresh(_ step: String) throws {
            XCTAssertEqual(try store.job(id: job.id), try plain.job(id: job.id), step)
        }
        try assertFresh("submitted")
        _ = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        try assertFresh("claimed")
        _ = try store.renewLease(jobID: job.id, workerID: "w", leaseDuration: 30, now: Date().addingTimeInterval(1))
        try assertFresh("renewed")
        try store.reportProgress(jobID: job.id, workerID: "w", progress: JobProgress(fraction: 0.5), now: Date())
        try assertFresh("progress")
        _ = try store.requestCancel(jobID: job.id, now: Date())
        try assertFresh("cancelling")
        try store.finish(jobID: job.id, workerID: "w", outcome: .cancelled("asked"), now: Date())
        try assertFresh("cancelled")
        try store.delete(jobID: job.id)
        XCTAssertNil(try store.job(id: job.id))
    }

    func testCachedReadsRacingWritesSettleOnTheStoredRow() throws {
        let plain = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        let store = self.store!
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            for step in 0..<200 {
                if index == 0 {
                    try? store.reportProgress(jobID: job.id, workerID: "w", progress: JobProgress(fraction: Double(step) / 200), now: Date())
                } else {
                    _ = try? store.job(id: job.id)
                }
            }
        }
        XCTAssertEqual(try store.job(id: job.id), try plain.job(id: job.id))
        XCTAssertEqual(try store.job(id: job.id)?.progress.fraction ?? 0, 199.0 / 200, accuracy: 1e-12)
    }

}

final class ClaimLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ id: String) { lock.withLock { storage.append(id) } }
    var ids: [String] { lock.withLock { storage } }
}
