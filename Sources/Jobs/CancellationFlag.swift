import Synchronization

/// Set from the HTTP side or the heartbeat, read by the run function between steps.
/// The first reason wins: a job told to cancel stays cancelled even if shutdown follows.
public final class CancellationFlag: Sendable {
    private let state = Atomic<UInt8>(0)

    public init() {}

    public func request(_ reason: JobRunError) {
        let code: UInt8 =
            switch reason {
            case .cancelled: 1
            case .shuttingDown: 2
            case .leaseLost: 3
            }
        _ = state.compareExchange(expected: 0, desired: code, ordering: .acquiringAndReleasing)
    }

    public var reason: JobRunError? {
        switch state.load(ordering: .acquiring) {
        case 1: return .cancelled
        case 2: return .shuttingDown
        case 3: return .leaseLost
        default: return nil
        }
    }
}
