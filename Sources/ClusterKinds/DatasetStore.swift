import Foundation
import GRDB
import Clustering
import Jobs
import PostgresNIO

// Datasets belong to the clustering side: their rows, their store and the "in use" check live here. The
// rows share the jobs' SQLite database (so a delete and a submission that reads the dataset are ordered
// by one transaction), and its table was created by the job store's first migrations, which are
// append-only and so stay where they were released.

/// An uploaded dataset's row: its id, name, and what was learned when it was checked (shape,
/// element type, label counts, checksum, sizes) as JSON. The samples live in files the dataset
/// library owns; the row is written only after they are complete, so a listed dataset is whole.
public struct DatasetRecord: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var meta: JSONValue
    public var createdAt: Date
    /// The token that uploaded it (nil without a token) and the bytes it keeps on disk.
    public var owner: String?
    public var bytes: Int64

    public init(id: String, name: String?, meta: JSONValue, createdAt: Date, owner: String? = nil, bytes: Int64 = 0) {
        self.id = id
        self.name = name
        self.meta = meta
        self.createdAt = createdAt
        self.owner = owner
        self.bytes = bytes
    }
}

public enum DatasetStoreError: Error, Sendable, Equatable {
    case notFound(String)
    /// Queued or running jobs read the dataset.
    case inUse(datasetID: String, jobIDs: [String])
}

/// Storage of dataset rows, next to the jobs that use them (a job names its dataset in
/// `params.dataset`), so "in use" is checked in the same transaction as the delete.
public protocol DatasetStore: Sendable {
    /// Inserts the row unless its owner would exceed the stored-bytes quota.
    func insertDataset(_ record: DatasetRecord) throws
    func dataset(id: String) throws -> DatasetRecord?
    /// Newest first, of the owners `owner` allows.
    func datasets(limit: Int, owner: OwnerFilter) throws -> [DatasetRecord]
    /// Deletes the row unless an active job uses it (`DatasetStoreError.inUse`); a dataset `owner`
    /// does not allow is `notFound`.
    func deleteDataset(id: String, owner: OwnerFilter) throws
    /// Inserts the row and keeps the files of `folder` where every node can read them (a no-op for a store whose
    /// node has the files on its own disk).
    func insertDataset(_ record: DatasetRecord, files folder: URL) throws
    /// Writes a dataset's files into `folder` (absent) from the store; false when the store keeps none.
    func materializeDataset(id: String, into folder: URL) throws -> Bool
}

extension DatasetStore {
    public func insertDataset(_ record: DatasetRecord, files folder: URL) throws { try insertDataset(record) }
    public func materializeDataset(id: String, into folder: URL) throws -> Bool { false }
}

/// The table of dataset rows; jobs refer to it through their `ResourceReference`s, and its `bytes` count
/// toward the owner's stored-bytes quota.
public let datasetTable = "datasets"

extension SQLiteJobStore: DatasetStore {
    public func insertDataset(_ record: DatasetRecord) throws {
        let quotas = self.quotas
        try storeDatabase.write { db in
            if let owner = record.owner {
                let stored = try SQLiteJobStore.storedBytes(db, owner: owner)
                if stored + record.bytes > quotas.maxStoredBytes {
                    throw JobStoreError.quotaExceeded(what: "stored bytes", limit: quotas.maxStoredBytes, current: stored)
                }
            }
            try db.execute(
                sql: "INSERT INTO datasets (id, name, meta, created_at, owner, bytes) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    record.id, record.name, record.meta.canonicalText(), record.createdAt.timeIntervalSince1970,
                    record.owner, record.bytes,
                ])
        }
    }

    public func dataset(id: String) throws -> DatasetRecord? {
        try storeDatabase.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM datasets WHERE id = ?", arguments: [id]).map(SQLiteJobStore.datasetRecord)
        }
    }

    public func datasets(limit: Int, owner: OwnerFilter) throws -> [DatasetRecord] {
        try storeDatabase.read { db in
            switch owner {
            case .any:
                return try Row.fetchAll(db, sql: "SELECT * FROM datasets ORDER BY created_at DESC, id LIMIT ?", arguments: [limit])
                    .map(SQLiteJobStore.datasetRecord)
            case .only(let name):
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM datasets WHERE owner IS ? ORDER BY created_at DESC, id LIMIT ?",
                    arguments: [name, limit]
                ).map(SQLiteJobStore.datasetRecord)
            }
        }
    }

    public func deleteDataset(id: String, owner: OwnerFilter) throws {
        try storeDatabase.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT owner FROM datasets WHERE id = ?", arguments: [id]),
                owner.allows(row["owner"])
            else { throw DatasetStoreError.notFound(id) }
            let users = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM jobs WHERE status IN \(JobStatus.sqlList(JobStatus.unfinished)) AND json_extract(params, '$.dataset') = ? ORDER BY seq LIMIT 20
                    """, arguments: [id])
            guard users.isEmpty else { throw DatasetStoreError.inUse(datasetID: id, jobIDs: users) }
            try db.execute(sql: "DELETE FROM datasets WHERE id = ?", arguments: [id])
        }
    }

    static func datasetRecord(_ row: Row) -> DatasetRecord {
        DatasetRecord(
            id: row["id"], name: row["name"], meta: (try? JSONValue.parse(row["meta"] as String)) ?? .object([:]),
            createdAt: Date(timeIntervalSince1970: row["created_at"]), owner: row["owner"], bytes: row["bytes"])
    }
}

extension PostgresJobStore: DatasetStore {
    public func insertDataset(_ record: DatasetRecord) throws {
        try pool.transaction { db in try insertRow(record, db) }
    }

    /// The row, unless its owner would exceed the stored-bytes quota; one owner's uploads serialize on an advisory lock,
    /// so two at once cannot both slip under it.
    private func insertRow(_ record: DatasetRecord, _ db: PostgresPool.Session) throws {
        if let owner = record.owner {
            try db.query("SELECT pg_advisory_xact_lock(hashtext(\("quota:" + owner)))")
            let stored = try PostgresJobStore.storedBytes(db, owner: owner)
            if stored + record.bytes > quotas.maxStoredBytes {
                throw JobStoreError.quotaExceeded(what: "stored bytes", limit: quotas.maxStoredBytes, current: stored)
            }
        }
        try db.query(
            """
            INSERT INTO datasets (id, name, meta, created_at, owner, bytes)
            VALUES (\(record.id), \(record.name), \(record.meta.canonicalText()), \(record.createdAt.timeIntervalSince1970), \(record.owner), \(record.bytes))
            """)
    }

    /// The row, and the files in 8 MiB chunks (no file is ever whole in memory), in one transaction: a listed dataset
    /// is whole on every node. Skipped when the nodes share a --blob-dir instead.
    public func insertDataset(_ record: DatasetRecord, files folder: URL) throws {
        guard storesDatasetFiles else { return try insertDataset(record) }
        try pool.transaction { db in
            try insertRow(record, db)
            for file in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() {
                let handle = try FileHandle(forReadingFrom: folder.appendingPathComponent(file))
                defer { try? handle.close() }
                var sequence: Int64 = 0
                while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
                    try db.query("INSERT INTO dataset_chunks (dataset_id, file, seq, data) VALUES (\(record.id), \(file), \(sequence), \(chunk))")
                    sequence += 1
                }
            }
        }
    }

    public func materializeDataset(id: String, into folder: URL) throws -> Bool {
        guard storesDatasetFiles else { return false }
        let files = try pool.session { db in
            try db.query("SELECT file, COUNT(*) FROM dataset_chunks WHERE dataset_id = \(id) GROUP BY file ORDER BY file").map {
                try $0.decode((String, Int64).self)
            }
        }
        guard !files.isEmpty else { return false }
        let partial = folder.deletingLastPathComponent().appendingPathComponent("fetch-\(UUID().uuidString).partial")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: partial) }
        for (file, chunks) in files {
            guard file.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" }) else { continue }
            let url = partial.appendingPathComponent(file)
            FileManager.default.createFile(atPath: url.path, contents: nil)
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            // One chunk at a time: a 500 MB dataset never sits whole in memory.
            for sequence in 0..<chunks {
                let data = try pool.session { db in
                    try db.query("SELECT data FROM dataset_chunks WHERE dataset_id = \(id) AND file = \(file) AND seq = \(sequence)").first?.decode(
                        Data.self)
                }
                guard let data else { throw DatasetError(field: "params.dataset", "dataset \(id) is missing part of \(file) in the database") }
                try handle.write(contentsOf: data)
            }
        }
        // Another thread or node may have fetched it meanwhile: the first rename wins, the rest are dropped.
        do { try FileManager.default.moveItem(at: partial, to: folder) } catch {
            guard FileManager.default.fileExists(atPath: folder.path) else { throw error }
        }
        return true
    }

    public func dataset(id: String) throws -> DatasetRecord? {
        try pool.session { db in
            try db.query("SELECT id, name, meta, created_at, owner, bytes FROM datasets WHERE id = \(id)").first.map(Self.datasetRecord)
        }
    }

    public func datasets(limit: Int, owner: OwnerFilter) throws -> [DatasetRecord] {
        try pool.session { db in
            switch owner {
            case .any:
                return try db.query(
                    "SELECT id, name, meta, created_at, owner, bytes FROM datasets ORDER BY created_at DESC, id LIMIT \(Int64(limit))"
                )
                .map(Self.datasetRecord)
            case .only(let name):
                return try db.query(
                    """
                    SELECT id, name, meta, created_at, owner, bytes FROM datasets WHERE owner IS NOT DISTINCT FROM \(name)
                    ORDER BY created_at DESC, id LIMIT \(Int64(limit))
                    """
                ).map(Self.datasetRecord)
            }
        }
    }

    public func deleteDataset(id: String, owner: OwnerFilter) throws {
        try pool.transaction { db in
            guard let row = try db.query("SELECT owner FROM datasets WHERE id = \(id) FOR UPDATE").first, owner.allows(try row.decode(String?.self))
            else { throw DatasetStoreError.notFound(id) }
            let users = try db.query(
                """
                SELECT id FROM jobs WHERE status IN \(unescaped: JobStatus.sqlList(JobStatus.unfinished)) AND params::jsonb ->> 'dataset' = \(id)
                ORDER BY seq LIMIT 20
                """
            ).map { try $0.decode(String.self) }
            guard users.isEmpty else { throw DatasetStoreError.inUse(datasetID: id, jobIDs: users) }
            try db.query("DELETE FROM datasets WHERE id = \(id)")
        }
    }

    static func datasetRecord(_ row: PostgresRow) throws -> DatasetRecord {
        let (id, name, meta, created, owner, bytes) = try row.decode((String, String?, String, Double, String?, Int64).self)
        return DatasetRecord(
            id: id, name: name, meta: (try? JSONValue.parse(meta)) ?? .object([:]), createdAt: Date(timeIntervalSince1970: created), owner: owner,
            bytes: bytes)
    }
}
