import Foundation
import Logging
import XCTest
@testable import Jobs

/// A kind whose run blocks until the test lets it go, so tests can act while a job is running.
struct GateKind: JobKind {
    let name = "test.gate"
    let summary = "waits for a gate"
    let parameters = ParameterSchema([])
    let example: JSONValue = [:]
    let gate: Gate

    func run(_ context: JobContext) throws -> JSONValue {
        gate.entered()
        while !gate.isOpen {
            try context.checkCancellation()
            Thread.sleep(forTimeInterval: 0.005)
        }
        return ["done": true]
    }
}

final class Gate: @unchecked Sendable {
    private let lock = NSLock()
    private var open = false
    private var entries = 0
    var isOpen: Bool { lock.withLock { open } }
    var entryCount: Int { lock.withLock { entries } }
    func entered() { lock.withLock { entries += 1 } }
    func release() { lock.withLock { open = true } }
}

struct ThrowingKind: JobKind {
    let name = "test.throws"
    let summary = "fails"
    let parameters = ParameterSchema([])
    let example: JSONValue = [:]

    func run(_ context: JobContext) throws -> JSONValue {
        struct Opaque: Error {}
        throw Opaque()
    }
}

final class WorkerPoolTests: XCTestCase {
    var store: SQLiteJobStore!
    var directory: URL!

    override func setUpWithError() throws {
        (store, directory) = try makeTemporaryStore()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func makePool(_ kinds: [any JobKind], workers: Int = 2, storage: StorageSpace? = nil) -> WorkerPool {
        WorkerPool(
            store: store, registry: JobKindRegistry(kinds),
            configuration: .init(workers: workers, leaseDuration: 5, heartbeatInterval: 0.1, rescueInterval: 0.2, idlePoll: 0.05),
            storage: storage)
    }

    func testRunsJobsToSuccessWithMetricsCheckpointsAndArtifacts() async throws {
        let pool = makePool([CountingJobKind()])
        try pool.start()
        let job = try store.submit(countSubmission(["steps": 7, "step_ms": 0, "checkpoint_every": 3, "seed": 1]), maxQueued: 10, now: Date()).job
        pool.workAvailable()
        XCTAssertTrue(try eventually { try store.job(id: job.id)?.isTerminal == true })
        let done = try XCTUnwrap(try store.job(id: job.id))
        XCTAssertEqual(done.status, .succeeded)
        let expectedSum = (1...7).map { CountingJobKind.value(seed: 1, step: Int64($0)) }.reduce(0, +)
        XCTAssertEqual(done.result?["sum"]?.doubleValue ?? 0, expectedSum, accuracy: 1e-12)
        XCTAssertEqual(try store.metrics(jobID: job.id, name: "value", sinceStep: nil, limit: 100).map(\.step), Array(1...7))
        XCTAssertEqual(try store.artifacts(jobID: job.id).map(\.name), ["values.csv"])
        XCTAssertNil(try store.latestCheckpoint(jobID: job.id), "a finished job's checkpoints are dropped")
        await pool.shutdown()
    }

    func testResumesFromCheckpointAfterItsWorkerIsLost() async throws {
        // Attempt 1 runs by hand to step 4 with a checkpoint at 3, then "crashes".
        let job = try store.submit(countSubmission(["steps": 6, "step_ms": 0, "checkpoint_every": 3]), maxQueued: 10, now: Date()).job
        _ = try store.claim(workerID: "crashed", leaseDuration: 5, now: Date())
        let state = try JSONEncoder().encode(["step": 3.0, "sum": (1...3).map { CountingJobKind.value(seed: 0, step: Int64($0)) }.reduce(0, +)])
        try store.saveCheckpoint(jobID: job.id, workerID: "crashed", step: 3, data: state, metrics: [], keep: 2, now: Date())
        // Start-up recovery requeues it and a fresh pool finishes it from step 4.
        let pool = makePool([CountingJobKind()])
        try pool.start()
        XCTAssertTrue(try eventually { try store.job(id: job.id)?.isTerminal == true })
        let done = try XCTUnwrap(try store.job(id: job.id))
        XCTAssertEqual(done.status, .succeeded)
        XCTAssertEqual(done.attempt, 2)
        XCTAssertEqual(done.result?["resumed_from_step"], 3)
        XCTAssertEqual(done.result?["first_step_this_attempt"], 4)
        let expectedSum = (1...6).map { CountingJobKind.value(seed: 0, step: Int64($0)) }.reduce(0, +)
        XCTAssertEqual(done.result?["sum"]?.doubleValue ?? 0, expectedSum, accuracy: 1e-12)
        await pool.shutdown()
    }

    /// `checkpointIfDue` writes once `interval` has passed since the run began or since the last checkpoint, and builds
    /// the data only then.
    func testCheckpointsByTimeSkipTheWritesInBetween() throws {
        let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
        let claimed = try XCTUnwrap(try store.claim(workerID: "w", leaseDuration: 30, now: Date()))
        XCTAssertEqual(claimed.id, job.id)
        let context = JobContext(job: claimed, store: store, workerID: "w", flag: CancellationFlag(), logger: Logger(label: "test"))
        var built = 0
        func offer(_ step: Int64) throws {
            try context.checkpointIfDue(step: step, interval: 0.2) {
                built += 1; return Data("\(step)".utf8)
            }
        }
        try offer(1)
        XCTAssertNil(try store.latestCheckpoint(jobID: job.id), "not due right after the start")
        Thread.sleep(forTimeInterval: 0.25)
        try offer(2)
        try offer(3)
        XCTAssertEqual(try store.latestCheckpoint(jobID: job.id)?.step, 2, "due once, then not again at once")
        Thread.sleep(forTimeInterval: 0.25)
        try offer(4)
        XCTAssertEqual(try store.latestCheckpoint(jobID: job.id)?.step, 4)
        XCTAssertEqual(built, 2, "the data is built only for the checkpoints written")
    }

    func testCancellationIsPromptAndFinal() async throws {
        let gate = Gate()
        let pool = makePool([GateKind(gate: gate)])
        try pool.start()
        let job = try store.submit(JobSubmission(kind: "test.gate", params: [:]), maxQueued: 10, now: Date()).job
        pool.workAvailable()
        XCTAssertTrue(eventually { gate.entryCount == 1 })
        XCTAssertEqual(try store.requestCancel(jobID: job.id, now: Date()).status, .cancelling)
        let asked = Date()
        pool.cancel(jobID: job.id)
        XCTAssertTrue(try eventually { try store.job(id: job.id)?.status == .cancelled })
        XCTAssertLessThan(Date().timeIntervalSince(asked), 2)
        await pool.shutdown()
    }

    func testCancelReachesTheRunThroughTheHeartbeat() async throws {
        // As on another node: the store says cancelling, nobody calls pool.cancel.
        let gate = Gate()
        let pool = makePool([GateKind(gate: gate)])
        try pool.start()
        let job = try store.submit(JobSubmission(kind: "test.gate", params: [:]), maxQueued: 10, now: Date()).job
        pool.workAvailable()
        XCTAssertTrue(eventually { gate.entryCount == 1 })
        _ = try store.requestCancel(jobID: job.id, now: Date())
        XCTAssertTrue(try eventually { try store.job(id: job.id)?.status == .cancelled })
        await pool.shutdown()
    }

    func testNoJobStartsWhileTheDiskIsLow() async throws {
        // A started job would fail on the full disk and spend the space the reserve freed for cancels (CI saw a queued
        // job start the moment the running one failed, and its cancel get a 507).
        let gate = Gate()
        let full = StorageSpace(directory: directory.path, minFreeBytes: .max, reserveBytes: 0)
        XCTAssertTrue(full.isLow)
        let paused = makePool([GateKind(gate: gate)], storage: full)
        try paused.start()
        let job = try store.submit(JobSubmission(kind: "test.gate", params: [:]), maxQueued: 10, now: Date()).job
        for _ in 0..<10 {
            paused.workAvailable()
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertEqual(gate.entryCount, 0)
        XCTAssertEqual(try store.job(id: job.id)?.status, .queued)
        XCTAssertEqual(try store.requestCancel(jobID: job.id, now: Date()).status, .cancelled, "a queued job is still cancellable")
        await paused.shutdown()

        // With room on the disk the same pool configuration runs jobs.
        let roomy = StorageSpace(directory: directory.path, minFreeBytes: 0, reserveBytes: 0)
        XCTAssertFalse(roomy.isLow)
        let running = makePool([GateKind(gate: gate)], storage: roomy)
        try running.start()
        let second = try store.submit(JobSubmission(kind: "test.gate", params: [:]), maxQueued: 10, now: Date()).job
        running.workAvailable()
        XCTAssertTrue(eventually { gate.entryCount == 1 })
        gate.release()
        XCTAssertTrue(try eventually { try store.job(id: second.id)?.status == .succeeded })
        await running.shutdown()
    }

    func testShutdownRequeuesRunningJobsWithoutSpendingAnAttempt() async throws {
        let gate = Gate()
        let pool = makePool([GateKind(gate: gate)])
        try pool.start()
        let job = try store.submit(JobSubmission(kind: "test.gate", params: [:]), maxQueued: 10, now: Date()).job
        pool.workAvailable()
        XCTAssertTrue(eventually { gate.entryCount == 1 })
        await pool.shutdown(grace: .seconds(5))
        let requeued = try XCTUnwrap(try store.job(id: job.id))
        XCTAssertEqual(requeued.status, .queued)
        XCTAssertEqual(requeued.attempt, 0)
    }

    func testFailuresAndUnknownKindsFailWithAReason() async throws {
        let pool = makePool([ThrowingKind(), CountingJobKind()])
        try pool.start()
        let thrown = try store.submit(JobSubmission(kind: "test.throws", params: [:]), maxQueued: 10, now: Date()).job
        let requested = try store.submit(countSubmission(["steps": 3, "step_ms": 0, "fail_at_step": 2]), maxQueued: 10, now: Date()).job
        let unknown = try store.submit(JobSubmission(kind: "no.such.kind", params: [:]), maxQueued: 10, now: Date()).job
        pool.workAvailable()
        for id in [thrown.id, requested.id, unknown.id] {
            XCTAssertTrue(try eventually { try store.job(id: id)?.isTerminal == true })
            XCTAssertEqual(try store.job(id: id)?.status, .failed)
        }
        XCTAssertEqual(try store.job(id: requested.id)?.reason, "failed at step 2 as requested by fail_at_step")
        XCTAssertTrue(try store.job(id: unknown.id)?.reason?.contains("no.such.kind") == true)
        // Metrics recorded before the failure are kept.
        XCTAssertEqual(try store.metrics(jobID: requested.id, name: "value", sinceStep: nil, limit: 10).map(\.step), [1])
        await pool.shutdown()
    }
}

final class JobChangeFeedTests: XCTestCase {
    func testChangeBetweenSubscribeAndWaitIsNotMissed() async {
        let feed = JobChangeFeed()
        let subscription = feed.subscribe(jobID: "a")
        feed.publish(jobID: "a")
        let start = ContinuousClock.now
        await subscription.wait(timeout: .seconds(5))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1))
        XCTAssertEqual(feed.subscriberCount, 0)
    }

    func testOtherJobsDoNotWakeAndTimeoutReturns() async {
        let feed = JobChangeFeed()
        let subscription = feed.subscribe(jobID: "a")
        feed.publish(jobID: "b")
        let start = ContinuousClock.now
        await subscription.wait(timeout: .milliseconds(200))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(190))
        XCTAssertEqual(feed.subscriberCount, 0)
    }

    func testPublishWakesAWaiter() async {
        let feed = JobChangeFeed()
        let subscription = feed.subscribe(jobID: "a")
        Task {
            try? await Task.sleep(for: .milliseconds(50))
            feed.publish(jobID: "a")
        }
        let start = ContinuousClock.now
        await subscription.wait(timeout: .seconds(5))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
    }
}
