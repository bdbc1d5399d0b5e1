import Synchronization

/// Latest known rows of recently read jobs, so status polling does not go to SQLite for every
/// request. Only correct while this process is the database's single writer (the server holds
/// the data directory's lock), which is why the store enables it only when asked.
///
/// A read may race a write: the reader notes its stripe's epoch before reading and stores the row
/// only if no write to that stripe committed meanwhile, so a stale row can never be cached after
/// the write that replaced it.
final class JobSnapshotCache: Sendable {
    private struct State {
        var jobs: [String: Job] = [:]
        var epochs = [UInt64](repeating: 0, count: JobSnapshotCache.stripes)
    }

    private static let stripes = 256
    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    private static func stripe(_ id: String) -> Int {
        var hasher = Hasher()
        hasher.combine(id)
        return Int(UInt(bitPattern: hasher.finalize()) % UInt(stripes))
    }

    /// The cached row, or the epoch to pass to `store` after reading the database.
    func lookup(_ id: String) -> (job: Job?, epoch: UInt64) {
        let stripe = Self.stripe(id)
        return state.withLock { ($0.jobs[id], $0.epochs[stripe]) }
    }

    func store(_ job: Job, readAtEpoch epoch: UInt64) {
        let stripe = Self.stripe(job.id)
        state.withLock { state in
            guard state.epochs[stripe] == epoch else { return }
            if state.jobs.count >= capacity, state.jobs[job.id] == nil {
                // Dropping everything is crude but O(1) amortized; the working set refills on the next reads.
                state.jobs.removeAll(keepingCapacity: true)
            }
            state.jobs[job.id] = job
        }
    }

    /// Forgets every row (a node that may have missed notifications of other nodes' writes).
    func invalidateAll() {
        state.withLock { state in
            for index in state.epochs.indices { state.epochs[index] &+= 1 }
            state.jobs.removeAll(keepingCapacity: true)
        }
    }

    /// Call after a write to the job's row has committed.
    func invalidate(_ id: String) {
        let stripe = Self.stripe(id)
        state.withLock { state in
            state.epochs[stripe] &+= 1
            state.jobs.removeValue(forKey: id)
        }
    }
}
