import Hummingbird
import Jobs
import ServiceLifecycle

/// Ties the worker pool to the application's lifecycle: started with the server, and on
/// SIGTERM/SIGINT it stops claiming and hands running jobs back before the process exits.
struct WorkerPoolService: Service {
    let state: ServiceState

    func run() async throws {
        try state.pool.start()
        try? await gracefulShutdown()
        state.beginStopping()
        await state.pool.shutdown(grace: .seconds(10))
    }
}
