import Foundation
import Jobs
import ServiceLifecycle
import Synchronization

/// What the route handlers share: the store, the pool, the kinds and the limits.
final class ServiceState: Sendable {
    let configuration: ServiceConfiguration
    let store: any JobStore
    let pool: WorkerPool
    let registry: JobKindRegistry
    let metrics: ServiceMetrics
    let storage: StorageSpace
    private let stopping = Atomic<Bool>(false)

    init(
        configuration: ServiceConfiguration, store: any JobStore, pool: WorkerPool, registry: JobKindRegistry,
        metrics: ServiceMetrics, storage: StorageSpace
    ) {
        self.storage = storage
        self.configuration = configuration
        self.store = store
        self.pool = pool
        self.registry = registry
        self.metrics = metrics
    }

    /// The job, if `caller` may see it; another owner's job is "not found", exactly as a missing one.
    /// The job as `caller` may see it: a cached row on the spot, otherwise read off the event loop.
    func job(_ id: String, for caller: Caller) async throws -> Job {
        let store = self.store
        var found = store.cachedJob(id: id)
        if found == nil { found = try await offload { try store.job(id: id) } }
        guard let job = found, caller.visible.allows(job.owner) else { throw Problem.jobNotFound(id) }
        return job
    }

    /// 507 before work that writes (uploads, submissions) when the disk is nearly full.
    func requireSpace() throws {
        guard storage.isLow else { return }
        throw Problem.diskFull(free: storage.freeBytes, minimum: storage.minFreeBytes)
    }

    /// Long-lived responses (SSE, long polls) end early once the server is shutting down.
    var isStopping: Bool { stopping.load(ordering: .relaxed) }
    /// Marks the server as stopping and wakes every stream and long poll, which then end.
    func beginStopping() {
        stopping.store(true, ordering: .relaxed)
        store.changes.publishAll()
    }

    /// Runs a long-lived response (SSE, long poll) so that SIGTERM ends it at once. The HTTP server is
    /// the first service told to stop and waits for open responses before the worker pool hands its jobs
    /// back; a stream left to its job's end would hold the process (and the job) until then.
    func untilShutdown<T: Sendable>(_ operation: () async throws -> T) async rethrows -> T {
        try await withGracefulShutdownHandler(operation: operation, onGracefulShutdown: { self.beginStopping() })
    }
}

/// Runs blocking store writes (each waits for an fsync) on Dispatch's pool instead of a NIO event loop.
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try work() })
        }
    }
}
