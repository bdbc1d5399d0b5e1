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

    func testSubmitAndRead() throws {
        let (job, created) = try store.submit(countSubmission(), maxQueued: 10, now: Date())
        XCTAssertTrue(created)
        XCTAssertEqual(job.status, .queued)
        XCTAssertEqual(job.attempt, 0)
        XCTAssertEqual(try store.job(id: job.id), job)
        XCTAssertNil(try store.job(id: "missing"))
        XCTAssertEqual(try store.events(jobID: job.id, after: 0, limit: 10).map(\.type), [.status])
    }

    func testIdempotencyKey() throws {
        let first = try store.submit(countSubmission(key: "k1"), maxQueued: 10, now: Date())
        let again = try store.submit(countSubmission(key: "k1"), maxQueued: 10, now: Date())
        XCTAssertTrue(first.created)
        XCTAssertFalse(again.created)
        XCTAssertEqual(first.job.id, again.job.id)
        XCTAssertThrowsError(try store.submit(countSubmission(["steps": 4], key: "k1"), maxQueued: 10, now: Date())) { error in
            XCTAssertEqual(error as? JobStoreError, .idempotencyConflict(key: "k1", existingJobID: first.job.id))
        }
        XCTAssertEqual(try store.jobs(matching: JobQuery()).count, 1)
    }

    func testQueueLimit() throws {
        _ = try store.submit(countSubmission(), maxQueued: 2, now: Date())
        _ = try store.submit(countSubmission(), maxQueued: 2, now: Date())
        XCTAssertThrowsError(try store.submit(countSubmission(), maxQueued: 2, now: Date())) { error in
            XCTAssertEqual(error as? JobStoreError, .queueFull(limit: 2))
        }
        XCTAssertEqual(try store.jobs(matching: JobQuery()).count, 2, "a rejected submission leaves nothing behind")
    }

    func testClaimOrderIsPriorityThenAge() throws {
        let low = try store.submit(countSubmission(priority: 0), maxQueued: 10, now: Date()).job
        let high = try store.submit(countSubmission(priority: 5), maxQueued: 10, now: Date()).job
        let lowLater = try store.submit(countSubmission(priority: 0), maxQueued: 10, now: Date()).job
        XCTAssertEqual(try store.claim(workerID: "w", leaseDuration: 30, now: Date())?.id, high.id)
        XCTAssertEqual(try store.claim(workerID: "w", leaseDuration: 30, now: Date())?.id, low.id)
        let third = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        XCTAssertEqual(third?.id, lowLater.id)
        XCTAssertEqual(third?.status, .running)
        XCTAssertEqual(third?.attempt, 1)
        XCTAssertNil(try store.claim(workerID: "w", leaseDuration: 30, now: Date()))
    }

    func testConcurrentClaimersNeverShareAJob() throws {
        let count = 200
        for _ in 0..<count { _ = try store.submit(countSubmission(), maxQueued: 1000, now: Date()) }
        // A second store on the same file: claimers in two "processes" as well as many threads.
        let other = try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        let stores: [SQLiteJobStore] = [store, other]
        let claimed = ClaimLog()
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            let store = stores[index % 2]
            while let job = try? store.claim(workerID: "w\(index)", leaseDuration: 30, now: Date()) {
                claimed.append(job.id)
            }
        }
        XCTAssertEqual(claimed.ids.count, count)
        XCTAssertEqual(Set(claimed.ids).count, count, "a job was claimed twice")
        XCTAssertEqual(try store.countsByStatus()[.running], count)
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

    func testLeaseRenewalAndCancelRequest() throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w1", leaseDuration: 30, now: Date())
        XCTAssertEqual(try store.renewLease(jobID: job.id, workerID: "w1", leaseDuration: 30, now: Date()), .held)
        XCTAssertEqual(try store.renewLease(jobID: job.id, workerID: "w2", leaseDuration: 30, now: Date()), .lost)
        XCTAssertEqual(try store.requestCancel(jobID: job.id, now: Date()).status, .cancelling)
        XCTAssertEqual(try store.renewLease(jobID: job.id, workerID: "w1", leaseDuration: 30, now: Date()), .cancelRequested)
    }

    func testRescueOfExpiredLeases() throws {
        let now = Date()
        let expired = try store.submit(countSubmission(), maxQueued: 10, now: now).job
        let fresh = try store.submit(countSubmission(), maxQueued: 10, now: now).job
        _ = try store.claim(workerID: "dead", leaseDuration: 5, now: now)
        _ = try store.claim(workerID: "alive", leaseDuration: 5, now: now)
        _ = try store.renewLease(jobID: fresh.id, workerID: "alive", leaseDuration: 60, now: now)
        let report = try store.rescueAbandoned(allActive: false, now: now.addingTimeInterval(10))
        XCTAssertEqual(report.requeued, [expired.id])
        XCTAssertEqual(try store.job(id: expired.id)?.status, .queued)
        XCTAssertEqual(try store.job(id: fresh.id)?.status, .running)
        // The dead worker's late outcome is dropped: it no longer holds the job.
        XCTAssertNil(try store.finish(jobID: expired.id, workerID: "dead", outcome: .succeeded([:]), now: now))
        XCTAssertEqual(try store.job(id: expired.id)?.status, .queued)
    }

    func testAttemptBudget() throws {
        let job = try store.submit(countSubmission(maxAttempts: 2), maxQueued: 10, now: Date()).job
        for attempt in 1...2 {
            XCTAssertEqual(try store.claim(workerID: "w", leaseDuration: 30, now: Date())?.attempt, attempt)
            _ = try store.rescueAbandoned(allActive: true, now: Date())
        }
        let failed = try XCTUnwrap(try store.job(id: job.id))
        XCTAssertEqual(failed.status, .failed)
        XCTAssertTrue(failed.reason?.contains("2 attempts") == true, failed.reason ?? "")
    }

    func testCancelSemantics() throws {
        let queued = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        XCTAssertEqual(try store.requestCancel(jobID: queued.id, now: Date()).status, .cancelled)
        XCTAssertThrowsError(try store.requestCancel(jobID: queued.id, now: Date())) { error in
            XCTAssertEqual(error as? JobStoreError, .illegalTransition(jobID: queued.id, current: .cancelled, requested: "cancel"))
        }
        // A job that finishes before noticing the cancel request keeps its honest outcome.
        let running = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        XCTAssertEqual(try store.requestCancel(jobID: running.id, now: Date()).status, .cancelling)
        XCTAssertEqual(try store.finish(jobID: running.id, workerID: "w", outcome: .succeeded(["x": 1]), now: Date())?.status, .succeeded)
        XCTAssertThrowsError(try store.requestCancel(jobID: "nope", now: Date()))
    }

    func testDeleteRemovesEverything() throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        XCTAssertThrowsError(try store.delete(jobID: job.id), "running jobs cannot be deleted")
        try store.recordMetrics(jobID: job.id, [MetricPoint(name: "loss", step: 1, value: 0.5)])
        try store.saveCheckpoint(jobID: job.id, workerID: "w", step: 1, data: Data([1]), metrics: [], keep: 2, now: Date())
        try store.putArtifact(jobID: job.id, name: "a.txt", mediaType: "text/plain", data: Data("x".utf8), now: Date())
        try store.finish(jobID: job.id, workerID: "w", outcome: .failed("boom"), now: Date())
        XCTAssertEqual(try store.artifacts(jobID: job.id).count, 1, "artifacts of failed jobs stay")
        try store.delete(jobID: job.id)
        XCTAssertNil(try store.job(id: job.id))
        XCTAssertTrue(try store.metrics(jobID: job.id, name: nil, sinceStep: nil, limit: 10).isEmpty)
        XCTAssertTrue(try store.artifacts(jobID: job.id).isEmpty)
        XCTAssertTrue(try store.events(jobID: job.id, after: 0, limit: 10).isEmpty)
        XCTAssertNil(try store.latestCheckpoint(jobID: job.id))
        XCTAssertThrowsError(try store.delete(jobID: job.id))
    }

    func testCheckpointsKeepTheNewestAndCarryMetrics() throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        for step in 1...5 {
            try store.saveCheckpoint(
                jobID: job.id, workerID: "w", step: Int64(step), data: Data([UInt8(step)]),
                metrics: [MetricPoint(name: "m", step: Int64(step), value: Double(step))], keep: 2, now: Date())
        }
        XCTAssertEqual(try store.latestCheckpoint(jobID: job.id)?.data, Data([5]))
        XCTAssertEqual(try store.metrics(jobID: job.id, name: "m", sinceStep: 3, limit: 10).map(\.step), [4, 5])
        XCTAssertThrowsError(
            try store.saveCheckpoint(
                jobID: job.id, workerID: "intruder", step: 6, data: Data(), metrics: [],
                keep: 2, now: Date())
        ) { error in
            XCTAssertEqual(error as? JobRunError, .leaseLost)
        }
    }

    func testListingPagesNewestFirst() throws {
        var ids: [String] = []
        for index in 0..<5 {
            let kind = index.isMultiple(of: 2) ? "demo.count" : "other"
            ids.append(try store.submit(JobSubmission(kind: kind, params: [:]), maxQueued: 10, now: Date()).job.id)
        }
        let first = try store.jobs(matching: JobQuery(limit: 2))
        XCTAssertEqual(first.map(\.id), [ids[4], ids[3]])
        let second = try store.jobs(matching: JobQuery(limit: 2, beforeSequence: first.last?.sequence))
        XCTAssertEqual(second.map(\.id), [ids[2], ids[1]])
        XCTAssertEqual(try store.jobs(matching: JobQuery(kind: "other")).map(\.id), [ids[3], ids[1]])
        XCTAssertEqual(try store.jobs(matching: JobQuery(statuses: [.running])).count, 0)
    }
}

final class ClaimLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ id: String) { lock.withLock { storage.append(id) } }
    var ids: [String] { lock.withLock { storage } }
}
