import Foundation
import XCTest

@testable import Jobs

/// The conformance cases on PostgreSQL: scripts/test.sh starts a throwaway cluster and sets
/// MONTECLUSTER_TEST_DATABASE_URL (`eval "$(scripts/postgres-test-cluster.sh start)"` does it by hand). Each case runs in
/// a schema of its own, dropped afterwards.
final class PostgresJobStoreTests: XCTestCase {
    var url: String!

    override func setUpWithError() throws {
        guard let url = ProcessInfo.processInfo.environment["MONTECLUSTER_TEST_DATABASE_URL"] else {
            throw XCTSkip("MONTECLUSTER_TEST_DATABASE_URL is not set (scripts/test.sh sets it)")
        }
        self.url = url
    }

    /// A store in a fresh schema, and a way to open more handles on it; the schema is dropped afterwards.
    func withSchema(_ body: (PostgresJobStore, () throws -> PostgresJobStore) throws -> Void) throws {
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let scoped = url + (url.contains("?") ? "&" : "?") + "search_path=\(schema)"
        var handles: [PostgresJobStore] = []
        defer {
            handles.removeAll()
            if let cleanup = try? PostgresJobStore(url: scoped, poolSize: 1) {
                try? cleanup.pool.session { try $0.execute("DROP SCHEMA \(schema) CASCADE") }
            }
        }
        let store = try PostgresJobStore(url: scoped, poolSize: 4)
        handles.append(store)
        try body(store) {
            let other = try PostgresJobStore(url: scoped, poolSize: 4)
            handles.append(other)
            return other
        }
    }

    func testEveryConformanceCase() throws {
        for (name, check) in JobStoreConformance.cases {
            try withSchema { store, second in
                do { try check(store, second) } catch { XCTFail("\(name): \(error)") }
            }
        }
    }

    func testMigrationsApplyOnceWhenNodesStartTogether() throws {
        try withSchema { _, _ in }  // warm the cluster
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let scoped = url + (url.contains("?") ? "&" : "?") + "search_path=\(schema)"
        let failures = ClaimLog()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do { _ = try PostgresJobStore(url: scoped, poolSize: 1) } catch { failures.append("\(error)") }
        }
        XCTAssertEqual(failures.ids, [], "four nodes migrating at once")
        let store = try PostgresJobStore(url: scoped, poolSize: 1)
        let applied = try store.pool.session { db in try db.query("SELECT COUNT(*) FROM schema_migrations").first?.decode(Int64.self) }
        XCTAssertEqual(applied, Int64(PostgresSchema.migrations.count))
        try store.pool.session { try $0.execute("DROP SCHEMA \(schema) CASCADE") }
    }

    /// Status reads are cached per node; another node's write (a cancel, a lease renewal) reaches the cache by NOTIFY.
    func testCachedReadsHearOtherNodesWrites() throws {
        try withSchema { store, second in
            let other = try second()
            let job = try store.submit(countSubmission(), maxQueued: 10, now: Date()).job
            XCTAssertTrue(
                eventually(timeout: 5) {
                    store.cachedJob(id: job.id) != nil || (try? store.job(id: job.id)) != nil && store.cachedJob(id: job.id) != nil
                })
            XCTAssertEqual(store.cachedJob(id: job.id)?.status, .queued, "the row is served from the cache")
            _ = try other.claim(workerID: "w", leaseDuration: 30, now: Date())
            XCTAssertTrue(eventually(timeout: 5) { (try? store.job(id: job.id))?.status == .running }, "another node's claim reached the cache")
            let version = try XCTUnwrap(try store.job(id: job.id)).version
            _ = try other.renewLease(jobID: job.id, workerID: "w", leaseDuration: 30, now: Date())
            XCTAssertTrue(eventually(timeout: 5) { ((try? store.job(id: job.id))?.version ?? 0) > version }, "and its lease renewal")
        }
    }

    func testLocationsParse() {
        let full = PostgresLocation(url: "postgres://me:s%40cret@db.example:6543/jobs?search_path=mc")
        XCTAssertEqual(full?.host, "db.example")
        XCTAssertEqual(full?.port, 6543)
        XCTAssertEqual(full?.user, "me")
        XCTAssertEqual(full?.password, "s@cret")
        XCTAssertEqual(full?.database, "jobs")
        XCTAssertEqual(full?.schema, "mc")
        XCTAssertEqual(full?.redacted, "postgres://me@db.example:6543/jobs?search_path=mc", "no password in logs")
        XCTAssertEqual(PostgresLocation(url: "postgresql://u@/d?host=/run/pg")?.socketPath, "/run/pg/.s.PGSQL.5432")
        XCTAssertNil(PostgresLocation(url: "mysql://u@h/d"))
        XCTAssertNil(PostgresLocation(url: "postgres://u@h/d?search_path=x;drop"), "a schema name is an identifier")
    }
}
