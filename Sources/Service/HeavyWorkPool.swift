import Foundation
import Synchronization

/// A few threads, below the HTTP threads' scheduling priority, for request work that is heavy and
/// CPU-bound: parsing and storing an upload, predicting with a model. At most `threads` such requests
/// compute at once (the rest wait their turn), and while they do, the event loops still get the CPU,
/// so `/healthz` and status polls stay fast however many large uploads arrive.
final class HeavyWorkPool: Sendable {
    /// One pool per process (servers built in tests share it): two threads, or a quarter of the cores.
    static let shared = HeavyWorkPool(threads: max(2, ProcessInfo.processInfo.activeProcessorCount / 4))

    private let state = Mutex<[@Sendable () -> Void]>([])
    private let available = DispatchSemaphore(value: 0)

    init(threads: Int, nice niceness: Int32 = 10) {
        for index in 0..<max(1, threads) {
            let thread = Thread { [self] in
                // On Linux the nice value is per thread: only these threads are lowered.
                _ = nice(niceness)
                while true {
                    available.wait()
                    let work = state.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    work?()
                }
            }
            thread.name = "montecluster-heavy-\(index)"
            thread.start()
        }
    }

    /// Runs `work` on one of the pool's threads and returns its result.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            state.withLock { $0.append { continuation.resume(with: Result { try work() }) } }
            available.signal()
        }
    }
}
