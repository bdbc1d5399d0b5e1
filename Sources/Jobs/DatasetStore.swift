import Foundation
import GRDB

/// An uploaded dataset's row: its id, name, and what was learned when it was checked (shape,
/// element type, label counts, checksum, sizes) as JSON. The samples live in files the dataset
/// library owns; the row is written only after they are complete, so a listed dataset is whole.
public struct DatasetRecord: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var meta: JSONValue
    public var createdAt: Date

    public init(id: String, name: String?, meta: JSONValue, createdAt: Date) {
        self.id = id
        self.name = name
        self.meta = meta
        self.createdAt = createdAt
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
    func insertDataset(_ record: DatasetRecord) throws
    func dataset(id: String) throws -> DatasetRecord?
    /// Newest first.
    func datasets(limit: Int) throws -> [DatasetRecord]
    /// Deletes the row unless an active job uses it; returns the ids of jobs that block it otherwise.
    func deleteDataset(id: String) throws
}

extension SQLiteJobStore: DatasetStore {
    public func insertDataset(_ record: DatasetRecord) throws {
        try database.write { db in
            try db.execute(sql: "INSERT INTO datasets (id, name, meta, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [record.id, record.name, record.meta.canonicalText(), record.createdAt.timeIntervalSince1970])
        }
    }

    public func dataset(id: String) throws -> DatasetRecord? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM datasets WHERE id = ?", arguments: [id]).map(Self.datasetRecord)
        }
    }

    public func datasets(limit: Int) throws -> [DatasetRecord] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM datasets ORDER BY created_at DESC, id LIMIT ?", arguments: [limit]).map(Self.datasetRecord)
        }
    }

    public func deleteDataset(id: String) throws {
        try database.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM datasets WHERE id = ?", arguments: [id]) == true else {
                throw DatasetStoreError.notFound(id)
            }
            let users = try String.fetchAll(db, sql: """
                SELECT id FROM jobs WHERE status IN ('queued', 'running', 'cancelling') AND json_extract(params, '$.dataset') = ? ORDER BY seq LIMIT 20
                """, arguments: [id])
            guard users.isEmpty else { throw DatasetStoreError.inUse(datasetID: id, jobIDs: users) }
            try db.execute(sql: "DELETE FROM datasets WHERE id = ?", arguments: [id])
        }
    }

    static func datasetRecord(_ row: Row) -> DatasetRecord {
        DatasetRecord(id: row["id"], name: row["name"], meta: (try? JSONValue.parse(row["meta"] as String)) ?? .object([:]),
                      createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }
}
