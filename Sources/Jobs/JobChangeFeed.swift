import Foundation
import Synchronization

/// Tells waiters (long polls, SSE streams) that a job changed, so they re-read the store instead of polling it.
///
/// Subscribe before reading the store and wait after: a change that lands in between still fires the
/// subscription, so no update is missed.
public final class JobChangeFeed: Sendable {
    private let subscribers = Mutex<[String: [ObjectIdentifier: Subscription]]>([:])

    public init() {}

    public func subscribe(jobID: String) -> Subscription {
        let subscription = Subscription(jobID: jobID, feed: self)
        subscribers.withLock { $0[jobID, default: [:]][ObjectIdentifier(subscription)] = subscription }
        return subscription
    }

    public func publish(jobID: String) {
        let fired = subscribers.withLock { $0.removeValue(forKey: jobID) } ?? [:]
        for subscription in fired.values { subscription.fire() }
    }

    /// Wakes every waiter (shutdown: streams and long polls re-check and end).
    public func publishAll() {
        let fired = subscribers.withLock { all in
            defer { all.removeAll() }
            return all.values.flatMap(\.values)
        }
        for subscription in fired { subscription.fire() }
    }

    fileprivate func remove(_ subscription: Subscription) {
        subscribers.withLock { all in
            all[subscription.jobID]?.removeValue(forKey: ObjectIdentifier(subscription))
            if all[subscription.jobID]?.isEmpty == true { all.removeValue(forKey: subscription.jobID) }
        }
    }

    var subscriberCount: Int { subscribers.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// One-shot: fires on the first change after it was taken.
    public final class Subscription: Sendable {
        fileprivate let jobID: String
        private weak let feed: JobChangeFeed?
        private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        fileprivate init(jobID: String, feed: JobChangeFeed) {
            self.jobID = jobID
            self.feed = feed
        }

        fileprivate func fire() {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.fired = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }

        /// Returns on the first change since `subscribe`, on time-out, or when the task is cancelled;
        /// callers re-read the store either way.
        public func wait(timeout: Duration) async {
            let timer = Task { [weak self] in
                try? await Task.sleep(for: timeout)
                self?.fire()
            }
            defer {
                timer.cancel()
                feed?.remove(self)
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if state.fired { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                self.fire()
            }
        }

        public func cancel() { feed?.remove(self) }
    }
}
