import Hummingbird
import Jobs

/// Liveness, readiness and Prometheus metrics.
struct HealthRoutes: Sendable {
    let state: ServiceState

    struct Status: Encodable {
        var status: String
    }

    func register(on router: Router<BasicRequestContext>, table: inout RouteTable) {
        let state = self.state
        router.get("/healthz") { _, _ in try JSONResponse.make(Status(status: "ok")) }
        table.add("/healthz", [.get])
        router.get("/readyz") { _, _ in
            guard state.pool.isRunning, !state.isStopping else {
                throw Problem(.serviceUnavailable, code: "not_ready", title: "Not ready",
                              detail: "the worker pool is not running", headers: [.retryAfter: "1"])
            }
            do {
                try state.store.ping()
            } catch {
                throw Problem(.serviceUnavailable, code: "not_ready", title: "Not ready",
                              detail: "the job store does not answer", headers: [.retryAfter: "1"])
            }
            return try JSONResponse.make(Status(status: "ready"))
        }
        table.add("/readyz", [.get])
        router.get("/metrics") { _, _ in
            let text = state.metrics.render(countsByStatus: try state.store.countsByStatus(),
                                            workers: state.pool.configuration.workers,
                                            runningHere: state.pool.runningJobIDs.count)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        table.add("/metrics", [.get])
    }
}
