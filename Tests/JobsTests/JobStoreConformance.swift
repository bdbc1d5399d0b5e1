import Foundation
import XCTest
@testable import Jobs

/// What every `JobStore` must do, run against SQLite here and against PostgreSQL in `PostgresJobStoreTests`: each case
/// gets a fresh, empty store and a way to open a second handle on the same database (another process, in effect).
enum JobStoreConformance {
    typealias Case = (any JobStore, () throws -> any JobStore) throws -> Void

    nonisolated(unsafe) static let cases: [(String, Case)] = [
        ("testSubmitAndRead", testSubmitAndRead),
        ("testIdempotencyKey", testIdempotencyKey),
        ("testQueueLimit", testQueueLimit),
        ("testClaimOrderIsPriorityThenAge", testClaimOrderIsPriorityThenAge),
        ("testLeaseRenewalAndCancelRequest", testLeaseRenewalAndCancelRequest),
        ("testRescueOfExpiredLeases", testRescueOfExpiredLeases),
        ("testAttemptBudget", testAttemptBudget),
        ("testCancelSemantics", testCancelSemantics),
        ("testDeleteRemovesEverything", testDeleteRemovesEverything),
        ("testCheckpointsKeepTheNewestAndCarryMetrics", testCheckpointsKeepTheNewestAndCarryMetrics),
        ("testListingPagesNewestFirst", testListingPagesNewestFirst),
        ("testConcurrentClaimersNeverShareAJob", testConcurrentClaimersNeverShareAJob),
        ("testArtifactsReadInRanges", testArtifactsReadInRanges),
        ("testMetricPagesAndSeries", testMetricPagesAndSeries),
        ("testLogsAndProgressAreFencedByTheLease", testLogsAndProgressAreFencedByTheLease),
        ("testOtherHandlesHearOfChanges", testOtherHandlesHearOfChanges),
        ("testReferencesAreVisibleToTheirOwnerOnly", testReferencesAreVisibleToTheirOwnerOnly),
    ]

    static func testSubmitAndRead(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let (job, created) = try store.submit(countSubmission(), maxQueued: 10, now: Date())
        XCTAssertTrue(created)
        XCTAssertEqual(job.status, .queued)
        XCTAssertEqual(job.attempt, 0)
        XCTAssertEqual(try store.job(id: job.id), job)
        XCTAssertNil(try store.job(id: "missing"))
        XCTAssertEqual(try store.events(jobID: job.id, after: 0, limit: 10).map(\.type), [.status])
    }

    /// What submission asks before a kind validates parameters: a row is visible to its owner and to admins, and a
    /// missing row, another owner's row or a table name that is not a plain word is not.
    static func testReferencesAreVisibleToTheirOwnerOnly(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        var submission = countSubmission()
        submission.owner = "alice"
        let (job, _) = try store.submit(submission, maxQueued: 10, now: Date())
        let reference = ResourceReference(table: "jobs", id: job.id, field: "params.source_job", missing: "job")
        XCTAssertTrue(try store.referenceVisible(reference, owner: "alice", admin: false))
        XCTAssertFalse(try store.referenceVisible(reference, owner: "bob", admin: false))
        XCTAssertFalse(try store.referenceVisible(reference, owner: nil, admin: false))
        XCTAssertTrue(try store.referenceVisible(reference, owner: "bob", admin: true))
        var missing = reference
        missing.id = "no-such-job"
        XCTAssertFalse(try store.referenceVisible(missing, owner: "alice", admin: true))
        var injected = reference
        injected.table = "jobs WHERE 1 = 1 OR id"
        XCTAssertFalse(try secondStore().referenceVisible(injected, owner: "alice", admin: true))
    }

    static func testIdempotencyKey(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
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

    static func testQueueLimit(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        _ = try store.submit(countSubmission(), maxQueued: 2, now: Date())
        _ = try store.submit(countSubmission(), maxQueued: 2, now: Date())
        XCTAssertThrowsError(try store.submit(countSubmission(), maxQueued: 2, now: Date())) { error in
            XCTAssertEqual(error as? JobStoreError, .queueFull(limit: 2))
        }
        XCTAssertEqual(try store.jobs(matching: JobQuery()).count, 2, "a rejected submission leaves nothing behind")
    }

    static func testClaimOrderIsPriorityThenAge(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let low = try store.submit(countSubmission(priority: 0), maxQueued: 10, now: Date()).job
        let high = try store.submit(countSubmission(priority: 5), maxQueued: 10, now: Date()).job
        let lowLater = try store.submit(countSubmission(priority: 0), maxQueued: 10, now: Date()).job
        XCTAssertEqual(try store.claim(workerID: "w", leaseDuration: 30, now: Date())?.id, high.id)
        XCTAssertEqual(try store.claim(workerID: "w", leaseDuration: 30, now: Date())?.id, low.id)
        let third = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        XCTAssertEqual(third?.id, lowLater.id)
        XCTAssertEqual(third?.status, .running)
        XCTAssertEqual(third?.attempt, 1)
        // Both stores write the same status event text (PostgreSQL builds the claim's in SQL).
        XCTAssertEqual(try store.events(jobID: lowLater.id, after: 0, limit: 10).last?.dataJSON, #"{"attempt":1,"status":"running"}"#)
        XCTAssertNil(try store.claim(workerID: "w", leaseDuration: 30, now: Date()))
    }

    static func testLeaseRenewalAndCancelRequest(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w1", leaseDuration: 30, now: Date())
        XCTAssertEqual(try store.renewLease(jobID: job.id, workerID: "w1", leaseDuration: 30, now: Date()), .held)
        XCTAssertEqual(try store.renewLease(jobID: job.id, workerID: "w2", leaseDuration: 30, now: Date()), .lost)
        XCTAssertEqual(try store.requestCancel(jobID: job.id, now: Date()).status, .cancelling)
        XCTAssertEqual(try store.renewLease(jobID: job.id, workerID: "w1", leaseDuration: 30, now: Date()), .cancelRequested)
    }

    static func testRescueOfExpiredLeases(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
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

    static func testAttemptBudget(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let job = try store.submit(countSubmission(maxAttempts: 2), maxQueued: 10, now: Date()).job
        for attempt in 1...2 {
            XCTAssertEqual(try store.claim(workerID: "w", leaseDuration: 30, now: Date())?.attempt, attempt)
            _ = try store.rescueAbandoned(allActive: true, now: Date())
        }
        let failed = try XCTUnwrap(try store.job(id: job.id))
        XCTAssertEqual(failed.status, .failed)
        XCTAssertTrue(failed.reason?.contains("2 attempts") == true, failed.reason ?? "")
    }

    static func testCancelSemantics(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
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

    static func testDeleteRemovesEverything(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        XCTAssertThrowsError(try store.delete(jobID: job.id), "running jobs cannot be deleted")
        try store.recordMetrics(jobID: job.id, workerID: "w", [MetricPoint(name: "loss", step: 1, value: 0.5)])
        try store.saveCheckpoint(jobID: job.id, workerID: "w", step: 1, data: Data([1]), metrics: [], keep: 2, now: Date())
        try store.putArtifact(jobID: job.id, workerID: "w", name: "a.txt", mediaType: "text/plain", data: Data("x".utf8), now: Date())
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

    static func testCheckpointsKeepTheNewestAndCarryMetrics(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
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

    static func testListingPagesNewestFirst(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
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
    static func testConcurrentClaimersNeverShareAJob(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let count = 200
        for _ in 0..<count { _ = try store.submit(countSubmission(), maxQueued: 1000, now: Date()) }
        // A second store on the same database: claimers in two "processes" as well as many threads.
        let stores: [any JobStore] = [store, try secondStore()]
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

    static func testArtifactsReadInRanges(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        let bytes = Data((0..<100_000).map { UInt8($0 % 251) })
        try store.putArtifact(jobID: job.id, workerID: "w", name: "big.bin", mediaType: "application/octet-stream", data: bytes, now: Date())
        try store.putArtifact(jobID: job.id, workerID: "w", name: "a.txt", mediaType: "text/plain", data: Data("x".utf8), now: Date())
        XCTAssertEqual(try store.artifacts(jobID: job.id).map(\.name), ["a.txt", "big.bin"])
        let (info, location) = try XCTUnwrap(try store.artifactLocation(jobID: job.id, name: "big.bin"))
        XCTAssertEqual(info.size, 100_000)
        XCTAssertEqual(info.sha256?.count, 64)
        XCTAssertEqual(try store.readArtifact(at: location, offset: 99_990, length: 100), bytes.suffix(10))
        XCTAssertEqual(try store.readArtifact(at: location, offset: 1_000, length: 5), bytes[1_000..<1_005])
        XCTAssertEqual(try store.artifact(jobID: job.id, name: "big.bin")?.data, bytes)
        // Replaced in place: the newest bytes under the name.
        try store.putArtifact(jobID: job.id, workerID: "w", name: "a.txt", mediaType: "text/plain", data: Data("yz".utf8), now: Date())
        XCTAssertEqual(try store.artifact(jobID: job.id, name: "a.txt")?.data, Data("yz".utf8))
        XCTAssertNil(try store.artifact(jobID: job.id, name: "missing"))
    }

    static func testMetricPagesAndSeries(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w", leaseDuration: 30, now: Date())
        var points: [MetricPoint] = []
        for step in 1...5 {
            points.append(MetricPoint(name: "b", step: Int64(step), value: Double(step)))
            points.append(MetricPoint(name: "a", step: Int64(step), value: step == 3 ? .nan : -Double(step)))
        }
        try store.recordMetrics(jobID: job.id, workerID: "w", points)
        // A replayed step replaces its value (a resumed run), never duplicates it.
        try store.recordMetrics(jobID: job.id, workerID: "w", [MetricPoint(name: "b", step: 5, value: 50)])
        let page = try store.metrics(jobID: job.id, matching: MetricQuery(limit: 4))
        XCTAssertEqual(page.map { "\($0.name)\($0.step)" }, ["a1", "a2", "a3", "a4"])
        XCTAssertTrue(page[2].value.isNaN, "a missing value reads as NaN")
        let next = try store.metrics(jobID: job.id, matching: MetricQuery(after: MetricPosition(name: "a", step: 4), limit: 3))
        XCTAssertEqual(next.map { "\($0.name)\($0.step)" }, ["a5", "b1", "b2"])
        let series = try store.metricSeries(jobID: job.id)
        XCTAssertEqual(series.map(\.name), ["a", "b"])
        XCTAssertEqual(series[1].count, 5)
        XCTAssertEqual(series[1].lastValue, 50)
        XCTAssertEqual(try store.metrics(jobID: job.id, matching: MetricQuery(names: ["b"], sinceStep: 3, limit: 10)).map(\.value), [4, 50])
        let events = try store.events(jobID: job.id, after: 0, limit: 100)
        XCTAssertEqual(events.filter { $0.type == .metric }.count, 11)
        XCTAssertEqual(events.map(\.sequence), events.map(\.sequence).sorted())
    }

    static func testLogsAndProgressAreFencedByTheLease(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "w1", leaseDuration: 30, now: Date())
        try store.appendLog(jobID: job.id, workerID: "w1", level: .info, message: "mine", now: Date())
        try store.appendLog(jobID: job.id, workerID: "w2", level: .info, message: "not mine", now: Date())
        try store.reportProgress(jobID: job.id, workerID: "w2", progress: JobProgress(fraction: 0.9), now: Date())
        let logs = try store.events(jobID: job.id, after: 0, limit: 100).filter { $0.type == .log }.map { $0.data["message"]?.stringValue }
        XCTAssertEqual(logs, ["mine"])
        XCTAssertEqual(try store.job(id: job.id)?.progress.fraction, 0, "another worker's progress is dropped")
        // Metrics and artifacts of a worker that does not hold the job are refused (a paused worker revived late).
        XCTAssertThrowsError(try store.recordMetrics(jobID: job.id, workerID: "w2", [MetricPoint(name: "m", step: 1, value: 1)])) {
            XCTAssertEqual($0 as? JobRunError, .leaseLost)
        }
        XCTAssertThrowsError(try store.putArtifact(jobID: job.id, workerID: "w2", name: "x", mediaType: "text/plain", data: Data(), now: Date())) {
            XCTAssertEqual($0 as? JobRunError, .leaseLost)
        }
        XCTAssertTrue(try store.metrics(jobID: job.id, name: nil, sinceStep: nil, limit: 10).isEmpty)
        XCTAssertTrue(try store.artifacts(jobID: job.id).isEmpty)
        // A job's log: its status changes and log lines only, in order.
        try store.recordMetrics(jobID: job.id, workerID: "w1", [MetricPoint(name: "m", step: 1, value: 1)])
        XCTAssertEqual(try store.logEvents(jobID: job.id, after: 0, limit: 100).map(\.type), [.status, .status, .log])
    }

    static func testOtherHandlesHearOfChanges(_ store: any JobStore, _ secondStore: () throws -> any JobStore) throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        let other = try secondStore()
        // The other handle's waiter is woken by this one's write (for PostgreSQL through LISTEN/NOTIFY); SQLite's
        // handles in one process share no feed, so there the same handle is used.
        let listening = other is SQLiteJobStore ? store : other
        let subscription = listening.changes.subscribe(jobID: job.id)
        let woke = Flag()
        let waiter = Thread {
            let semaphore = DispatchSemaphore(value: 0)
            Task {
                await subscription.wait(timeout: .seconds(5))
                woke.set()
                semaphore.signal()
            }
            semaphore.wait()
        }
        waiter.start()
        Thread.sleep(forTimeInterval: 0.2)
        _ = try store.requestCancel(jobID: job.id, now: Date())
        XCTAssertTrue(eventually(timeout: 4) { woke.isSet }, "the change reached the other handle's waiter")
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// The conformance cases on SQLite.
final class SQLiteJobStoreConformanceTests: XCTestCase {
    func testEveryConformanceCase() throws {
        for (name, check) in JobStoreConformance.cases {
            let (store, directory) = try makeTemporaryStore()
            defer { try? FileManager.default.removeItem(at: directory) }
            do {
                try check(store) { try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path) }
            } catch {
                XCTFail("\(name): \(error)")
            }
        }
    }
}
