import CMemory
import Foundation
import Logging
import Synchronization

/// Runs claimed jobs on dedicated threads, never on the server's event loops. It renews the
/// leases of its running jobs, hands back jobs whose lease ran out elsewhere, and on start
/// requeues what a crashed predecessor left running.
public final class WorkerPool: Sendable {
    public struct Configuration: Sendable {
        public var workers: Int
        /// A job whose holder has not renewed within this time is taken back.
        public var leaseDuration: TimeInterval
        public var heartbeatInterval: TimeInterval
        public var rescueInterval: TimeInterval
        /// How long an idle worker sleeps before looking for work it was not told about.
        public var idlePoll: TimeInterval
        /// Other processes run jobs from the same store (PostgreSQL): a starting node takes back only jobs whose lease
        /// expired, never every active one (those may be running on another node).
        public var sharedStore = false

        public init(
            workers: Int = ProcessInfo.processInfo.activeProcessorCount, leaseDuration: TimeInterval = 30,
            heartbeatInterval: TimeInterval = 5, rescueInterval: TimeInterval = 10, idlePoll: TimeInterval = 1
        ) {
            self.workers = max(1, workers)
            self.leaseDuration = leaseDuration
            self.heartbeatInterval = heartbeatInterval
            self.rescueInterval = rescueInterval
            self.idlePoll = idlePoll
        }
    }

    /// Called when a run ends, with the job as stored and the seconds the run took.
    public typealias FinishObserver = @Sendable (Job, TimeInterval) -> Void

    public let configuration: Configuration
    private let store: any JobStore
    private let registry: JobKindRegistry
    private let logger: Logger
    private let onFinish: FinishObserver?
    private let trapRecord: TrapRecord?
    private let storage: StorageSpace?
    /// This process's part of every worker id (`<instance>-<index>`): a job's log names the node that ran it.
    public let instanceID = String(UUID().uuidString.prefix(8)).lowercased()

    private struct State {
        var started = false
        var stopping = false
        var wakeups = 0
        /// Job ID → the run's stop flag and the worker that holds it.
        var running: [String: (flag: CancellationFlag, workerID: String)] = [:]
        var liveThreads = 0
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        /// Workers are not claiming jobs because the disk is low.
        var pausedForSpace = false
    }

    private let state = Mutex(State())
    private let wakeCondition = NSCondition()
    private let timerQueue = DispatchQueue(label: "montecluster.worker-pool.timers")

    public init(
        store: any JobStore, registry: JobKindRegistry, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "montecluster.workers"), onFinish: FinishObserver? = nil,
        trapRecord: TrapRecord? = nil, storage: StorageSpace? = nil
    ) {
        self.trapRecord = trapRecord
        self.storage = storage
        self.store = store
        self.registry = registry
        self.configuration = configuration
        self.logger = logger
        self.onFinish = onFinish
    }

    /// Requeues what a previous process left running, then starts the workers and timers.
    public func start() throws {
        let alreadyStarted = state.withLock { state -> Bool in
            defer { state.started = true }
            return state.started
        }
        guard !alreadyStarted else { return }
        try failCrashLoopingJobs()
        let report = try store.rescueAbandoned(allActive: !configuration.sharedStore, now: Date())
        if report != RescueReport() {
            logger.notice(
                "recovered jobs left by a previous process",
                metadata: [
                    "requeued": "\(report.requeued.count)", "failed": "\(report.failed.count)",
                    "cancelled": "\(report.cancelled.count)",
                ])
        }
        for index in 0..<configuration.workers {
            let workerID = "\(instanceID)-\(index)"
            state.withLock { $0.liveThreads += 1 }
            let thread = Thread { [self] in
                Self.yieldToEventLoops()
                self.workLoop(workerID: workerID, slot: index)
            }
            thread.name = "montecluster-worker-\(index)"
            thread.stackSize = 16 << 20
            thread.start()
        }
        scheduleHeartbeat()
        scheduleRescue()
    }

    /// Lowers this worker thread's scheduling priority (nice 10; on Linux the nice value is per thread,
    /// and threads a job starts inherit it), so that with every core busy computing, the HTTP event
    /// loops and the request tasks are still scheduled first when a request arrives.
    static func yieldToEventLoops() {
        #if os(Linux)
            errno = 0
            _ = nice(10)
        #endif
    }

    /// Wakes a sleeping worker; call after submitting a job.
    public func workAvailable() {
        wakeCondition.lock()
        state.withLock { $0.wakeups += 1 }
        wakeCondition.signal()
        wakeCondition.unlock()
    }

    /// Tells the run of `jobID` on this node to stop, if it runs here. The store's `cancelling`
    /// state reaches runs on other nodes through their heartbeat.
    public func cancel(jobID: String) {
        state.withLock { $0.running[jobID] }?.flag.request(.cancelled)
    }

    /// A job changed somewhere (another node's notification): if it runs here, its lease is checked at once, so a
    /// cancel request or a lost lease stops the run now rather than at the next heartbeat.
    public func jobChanged(_ jobID: String) {
        guard let run = state.withLock({ $0.running[jobID] }) else { return }
        timerQueue.async { [self] in
            switch try? store.renewLease(jobID: jobID, workerID: run.workerID, leaseDuration: configuration.leaseDuration, now: Date()) {
            case .cancelRequested: run.flag.request(.cancelled)
            case .lost: run.flag.request(.leaseLost)
            case .held, nil: break
            }
        }
    }

    public var runningJobIDs: [String] {
        state.withLock { Array($0.running.keys) }
    }

    public var isRunning: Bool {
        state.withLock { $0.started && !$0.stopping }
    }

    /// Stops claiming, asks running jobs to hand themselves back, and waits for the threads to end.
    /// Jobs that do not stop within `grace` are left to the next start's recovery.
    public func shutdown(grace: Duration = .seconds(10)) async {
        let flags = state.withLock { state -> [CancellationFlag] in
            state.stopping = true
            return state.running.values.map(\.flag)
        }
        for flag in flags { flag.request(.shuttingDown) }
        wakeAllWorkers()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let done = self.state.withLock { state -> Bool in
                        if state.liveThreads == 0 { return true }
                        state.stopWaiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: grace) }
            await group.next()
            group.cancelAll()
        }
        // Whoever is still waiting (the grace ran out) is released so no continuation leaks.
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            defer { state.stopWaiters = [] }
            return state.stopWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Workers

    private func wakeAllWorkers() {
        wakeCondition.lock()
        wakeCondition.broadcast()
        wakeCondition.unlock()
    }

    /// Fails, rather than requeues, the jobs whose runs killed earlier processes with a trap
    /// `TrapRecord.limit` times: retried, such a job would take the server down on every start.
    private func failCrashLoopingJobs() throws {
        guard let trapRecord else { return }
        for id in trapRecord.crashLooping {
            let traps = trapRecord.counts[id] ?? TrapRecord.limit
            let reason =
                "crashed the worker: its run killed the server with a runtime trap \(traps) times; "
                + "it is not retried (please report it with the job's parameters)"
            if try store.failActive(jobID: id, reason: reason, now: Date()) != nil {
                logger.error("failed a job that crashed the server repeatedly", metadata: ["job": "\(id)", "traps": "\(traps)"])
            }
        }
    }

    private func workLoop(workerID: String, slot: Int) {
        defer {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.liveThreads -= 1
                guard state.liveThreads == 0 else { return [] }
                defer { state.stopWaiters = [] }
                return state.stopWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
        while !state.withLock({ $0.stopping }) {
            // On a low disk a job would start only to fail, and its writes would take the space the reserve freed for
            // cancels and deletes: queued jobs wait until there is room again.
            if let storage, storage.isLow {
                noteSpacePause(true)
                sleepUntilWoken()
                continue
            }
            noteSpacePause(false)
            let job: Job?
            do {
                job = try store.claim(workerID: workerID, leaseDuration: configuration.leaseDuration, now: Date())
            } catch {
                logger.error("claiming a job failed", metadata: ["error": "\(error)"])
                job = nil
            }
            if let job {
                trapRecord?.running(job.id, slot: slot)
                let started = Date()
                run(job, workerID: workerID)
                trapRecord?.finished(slot: slot)
                // A long job (training, sampling) frees its working memory into malloc's arenas, where it stays
                // resident (an idle server kept 566 MB after one MNIST IIC epoch; 95 MB once trimmed).
                // Again a moment later: loader threads and caches release their buffers after the run returns.
                if Date().timeIntervalSince(started) >= 0.5 {
                    _ = montecluster_release_free_memory()
                    DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + 2) { _ = montecluster_release_free_memory() }
                }
            } else {
                sleepUntilWoken()
            }
        }
    }

    /// Logs once when workers stop starting jobs for want of disk space, and once when they start again.
    private func noteSpacePause(_ paused: Bool) {
        let changed = state.withLock { state -> Bool in
            defer { state.pausedForSpace = paused }
            return state.pausedForSpace != paused
        }
        guard changed else { return }
        if paused {
            logger.warning("the disk is low: no new job starts until space is freed", metadata: ["free_bytes": "\(storage?.freeBytes ?? -1)"])
        } else {
            logger.notice("disk space is back: jobs start again")
        }
    }

    private func sleepUntilWoken() {
        wakeCondition.lock()
        defer { wakeCondition.unlock() }
        let hasWakeup = state.withLock { state -> Bool in
            if state.wakeups > 0 || state.stopping {
                state.wakeups = max(0, state.wakeups - 1)
                return true
            }
            return false
        }
        if hasWakeup { return }
        _ = wakeCondition.wait(until: Date().addingTimeInterval(configuration.idlePoll))
        state.withLock { $0.wakeups = max(0, $0.wakeups - 1) }
    }

    private func run(_ job: Job, workerID: String) {
        let flag = CancellationFlag()
        let stopping = state.withLock { state -> Bool in
            state.running[job.id] = (flag, workerID)
            return state.stopping
        }
        if stopping { flag.request(.shuttingDown) }
        defer { state.withLock { _ = $0.running.removeValue(forKey: job.id) } }

        var jobLogger = logger
        jobLogger[metadataKey: "job"] = "\(job.id)"
        jobLogger[metadataKey: "kind"] = "\(job.kind)"
        let started = Date()
        let outcome: JobOutcome?
        if let kind = registry[job.kind] {
            let context = JobContext(job: job, store: store, workerID: workerID, flag: flag, logger: jobLogger)
            context.log("attempt \(job.attempt) of \(job.maxAttempts) started on \(workerID)")
            outcome = Self.execute(kind, context: context)
            if outcome != nil { try? context.flushMetrics() }
            switch outcome {
            case .succeeded(let result):
                for warning in result["warnings"]?.arrayValue ?? [] {
                    if let text = warning.stringValue { context.log(text, level: .warning) }
                }
                context.log("succeeded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            case .requeued(let reason): context.log(reason, level: .warning)
            // A failure or cancellation is the status line that follows, with its reason.
            case .failed, .cancelled, nil: break
            }
        } else {
            outcome = .failed("this server has no job kind named \"\(job.kind)\"")
        }
        guard var outcome else {
            jobLogger.warning("lease lost; the run's outcome was dropped")
            return
        }
        if case .failed(let reason) = outcome, reason.contains("disk is full") || reason.contains("SQLITE_FULL") || reason.contains("No space left") {
            outcome = .failed("the server's disk filled up during the run (\(reason)); free space and resubmit")
        }
        do {
            // On a full disk recording the outcome itself may fail: the reserve is given up for it, so the
            // job ends cleanly instead of staying `running` with no worker.
            let finishing = outcome
            let finish = { try self.store.finish(jobID: job.id, workerID: workerID, outcome: finishing, now: Date()) }
            if let finished = try storage.map({ try $0.withReserve(finish) }) ?? finish() {
                onFinish?(finished, Date().timeIntervalSince(started))
                if finished.status == .failed {
                    // The reason is in the server's log line too: an operator reading it need not query the job.
                    jobLogger.error("job failed", metadata: ["reason": "\(finished.reason ?? "")"])
                } else {
                    jobLogger.info("job ended", metadata: ["status": "\(finished.status.rawValue)"])
                }
            }
        } catch {
            // The job stays active in the store; the rescuer hands it back once its lease runs out.
            jobLogger.error("recording the outcome failed", metadata: ["error": "\(error)"])
        }
    }

    /// Maps what the run function did onto an outcome; nil when the lease was lost.
    static func execute(_ kind: any JobKind, context: JobContext) -> JobOutcome? {
        do {
            let result = try kind.run(context)
            return .succeeded(result)
        } catch let stop as JobRunError {
            switch stop {
            case .cancelled: return .cancelled("cancelled on request")
            case .shuttingDown: return .requeued("requeued: the server shut down during the run")
            case .leaseLost: return nil
            }
        } catch let failure as JobFailure {
            return .failed(failure.message)
        } catch {
            return .failed("\(error)")
        }
    }

    // MARK: Timers

    private func scheduleHeartbeat() {
        timerQueue.asyncAfter(deadline: .now() + configuration.heartbeatInterval) { [weak self] in
            guard let self, !self.state.withLock({ $0.stopping }) else { return }
            self.renewLeases()
            self.scheduleHeartbeat()
        }
    }

    private func renewLeases() {
        let running = state.withLock { $0.running }
        for (jobID, run) in running {
            do {
                switch try store.renewLease(
                    jobID: jobID, workerID: run.workerID,
                    leaseDuration: configuration.leaseDuration, now: Date())
                {
                case .held: break
                case .cancelRequested: run.flag.request(.cancelled)
                case .lost: run.flag.request(.leaseLost)
                }
            } catch {
                logger.warning("lease renewal failed", metadata: ["job": "\(jobID)", "error": "\(error)"])
            }
        }
    }

    private func scheduleRescue() {
        timerQueue.asyncAfter(deadline: .now() + configuration.rescueInterval) { [weak self] in
            guard let self, !self.state.withLock({ $0.stopping }) else { return }
            do {
                let report = try self.store.rescueAbandoned(allActive: false, now: Date())
                if !report.requeued.isEmpty {
                    self.logger.notice("requeued jobs whose lease expired", metadata: ["count": "\(report.requeued.count)"])
                    for _ in report.requeued { self.workAvailable() }
                }
            } catch {
                self.logger.error("rescue pass failed", metadata: ["error": "\(error)"])
            }
            self.scheduleRescue()
        }
    }
}
