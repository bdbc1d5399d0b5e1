import Hummingbird
import Jobs

/// Liveness, readiness and Prometheus metrics.
struct HealthRoutes: Sendable {
    let state: ServiceState
    let policy: AccessPolicy

    struct Status: Encodable {
        var status: String
    }

    func register(_ routes: inout Routes) {
        let state = self.state
        routes.add(.get, "/healthz") { _, _ in try JSONResponse.make(Status(status: "ok")) }
        routes.add(.get, "/readyz") { _, _ in
            // An API node runs no pool: it is ready when it can reach the store.
            guard state.configuration.role == .api || state.pool.isRunning, !state.isStopping else {
                throw Problem(
                    .serviceUnavailable, code: .notReady, title: "Not ready",
                    detail: "the worker pool is not running", headers: [.retryAfter: "1"])
            }
            if state.storage.isLow {
                throw Problem(
                    .serviceUnavailable, code: .notReady, title: "Not ready",
                    detail: "the data directory has \(state.storage.freeBytes ?? 0) bytes free, "
                        + "below --min-free-bytes \(state.storage.minFreeBytes)",
                    headers: [.retryAfter: "5"])
            }
            do {
                let store = state.store
                // A store that cannot be reached fails fast (connections time out in 5 s; ping waits at most that).
                try await offload { try store.ping() }
            } catch {
                throw Problem(
                    .serviceUnavailable, code: .notReady, title: "Not ready",
                    detail: "the job store does not answer", headers: [.retryAfter: "1"])
            }
            return try JSONResponse.make(Status(status: "ready"))
        }
        let policy = self.policy
        routes.add(.get, "/metrics") { _, context in
            if policy.requireToken, !policy.publicMetrics, !context.caller.admin, !context.caller.scopes.contains("metrics") {
                throw Problem(
                    .forbidden, code: .forbidden, title: "Forbidden",
                    detail: "/metrics needs a token with the metrics scope "
                        + "(montecluster tokens create --scope metrics) or --public-metrics")
            }
            let store = state.store
            // A GROUP BY over every job: off the event loop.
            let counts = try await offload { try store.countsByStatus() }
            let text = state.metrics.render(
                countsByStatus: counts,
                workers: state.pool.configuration.workers,
                runningHere: state.pool.runningJobIDs.count)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
