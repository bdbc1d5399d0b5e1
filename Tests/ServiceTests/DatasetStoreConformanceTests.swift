import ClusterKinds
import Foundation
import Jobs
import XCTest

/// The dataset side of the stores, on SQLite and on PostgreSQL (the cluster scripts/test.sh starts): rows with owners
/// and quotas, listing, deletion refused while a queued job reads the dataset, a reference checked at submission, and
/// the files a PostgreSQL deployment keeps for every node.
final class DatasetStoreConformanceTests: XCTestCase {
    typealias Store = any JobStore & DatasetStore

    func check(_ store: Store, postgres: Bool) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bytes = Data((0..<20_000).map { UInt8($0 % 256) })
        try bytes.write(to: folder.appendingPathComponent("data.npy"))
        try Data("labels".utf8).write(to: folder.appendingPathComponent("labels.npy"))
        let record = DatasetRecord(
            id: "d-\(UUID().uuidString)", name: "points", meta: ["samples": 3], createdAt: Date(), owner: "alice", bytes: 20_006)
        try store.insertDataset(record, files: folder)
        XCTAssertEqual(try store.dataset(id: record.id)?.name, "points")
        XCTAssertEqual(try store.datasets(limit: 10, owner: .only("alice")).map(\.id), [record.id])
        XCTAssertEqual(try store.datasets(limit: 10, owner: .only("bob")).count, 0)
        // Another owner neither sees nor deletes it.
        XCTAssertThrowsError(try store.deleteDataset(id: record.id, owner: .only("bob"))) {
            XCTAssertEqual($0 as? DatasetStoreError, .notFound(record.id))
        }
        // A queued job that reads it (its kind's reference, checked at submission) keeps it.
        var submission = JobSubmission(kind: "cluster.kmeans", params: ["dataset": .string(record.id), "k": 2])
        submission.owner = "alice"
        submission.references = [ResourceReference(table: datasetTable, id: record.id, field: "params.dataset", missing: "dataset")]
        let job = try store.submit(submission, maxQueued: 10, now: Date()).job
        XCTAssertThrowsError(try store.deleteDataset(id: record.id, owner: .only("alice"))) {
            XCTAssertEqual($0 as? DatasetStoreError, .inUse(datasetID: record.id, jobIDs: [job.id]))
        }
        // Bob cannot submit a job that reads Alice's dataset.
        var foreign = submission
        foreign.owner = "bob"
        XCTAssertThrowsError(try store.submit(foreign, maxQueued: 10, now: Date())) {
            guard case .referenceMissing = $0 as? JobStoreError else { return XCTFail("\($0)") }
        }
        // Files: a PostgreSQL store gives them to any node; SQLite's node has them on its own disk.
        let fetched = FileManager.default.temporaryDirectory.appendingPathComponent("fetched-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: fetched) }
        XCTAssertEqual(try store.materializeDataset(id: record.id, into: fetched), postgres)
        if postgres {
            XCTAssertEqual(try Data(contentsOf: fetched.appendingPathComponent("data.npy")), bytes)
            XCTAssertEqual(try Data(contentsOf: fetched.appendingPathComponent("labels.npy")), Data("labels".utf8))
        }
        _ = try store.requestCancel(jobID: job.id, now: Date())
        try store.deleteDataset(id: record.id, owner: .only("alice"))
        XCTAssertNil(try store.dataset(id: record.id))
        XCTAssertFalse(try store.materializeDataset(id: record.id, into: fetched.appendingPathComponent("again")), "its files went with it")
        // The stored-bytes quota counts datasets.
        let over = DatasetRecord(id: "d-\(UUID().uuidString)", name: nil, meta: [:], createdAt: Date(), owner: "carol", bytes: 11 << 30)
        XCTAssertThrowsError(try store.insertDataset(over, files: folder)) {
            guard case .quotaExceeded = $0 as? JobStoreError else { return XCTFail("\($0)") }
        }
    }

    func testSQLite() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dsc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try DatasetLibrary(
            directory: directory.appendingPathComponent("datasets"), store: SQLiteJobStore(path: directory.appendingPathComponent("x.sqlite").path))
        try check(try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path), postgres: false)
    }

    func testPostgreSQL() throws {
        guard let url = ProcessInfo.processInfo.environment["MONTECLUSTER_TEST_DATABASE_URL"] else {
            throw XCTSkip("MONTECLUSTER_TEST_DATABASE_URL is not set (scripts/test.sh sets it)")
        }
        let schema = "d_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let store = try PostgresJobStore(url: url + "?search_path=\(schema)", poolSize: 2)
        defer { try? store.pool.session { try $0.execute("DROP SCHEMA \(schema) CASCADE") } }
        try check(store, postgres: true)
    }
}
