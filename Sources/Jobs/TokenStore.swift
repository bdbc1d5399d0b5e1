import Foundation
import GRDB
import PostgresNIO

/// An API token as stored: its name (the owner of what it creates), role and scopes. The secret itself
/// is never stored, only its SHA-256 (`hash`), computed by the HTTP layer.
public struct APIToken: Sendable, Equatable {
    public var name: String
    public var admin: Bool
    public var scopes: Set<String>
    public var createdAt: Date

    public init(name: String, admin: Bool, scopes: Set<String>, createdAt: Date) {
        self.name = name
        self.admin = admin
        self.scopes = scopes
        self.createdAt = createdAt
    }
}

public enum TokenStoreError: Error, Sendable, Equatable {
    case nameTaken(String)
}

/// Where API tokens are kept (their hashes): the job store's database, SQLite or PostgreSQL.
public protocol TokenStore: Sendable {
    func insertToken(_ token: APIToken, hash: String) throws
    func token(hash: String) throws -> APIToken?
    func tokens() throws -> [APIToken]
    /// True when a token was removed.
    func revokeToken(name: String) throws -> Bool
}

extension PostgresJobStore: TokenStore {
    public func insertToken(_ token: APIToken, hash: String) throws {
        try pool.transaction { db in
            guard try db.query("SELECT 1 FROM tokens WHERE name = \(token.name) FOR UPDATE").isEmpty else {
                throw TokenStoreError.nameTaken(token.name)
            }
            try db.query(
                """
                INSERT INTO tokens (name, hash, admin, scopes, created_at)
                VALUES (\(token.name), \(hash), \(token.admin), \(token.scopes.sorted().joined(separator: ",")), \(token.createdAt.timeIntervalSince1970))
                """)
        }
    }

    public func token(hash: String) throws -> APIToken? {
        try pool.session { db in try db.query("SELECT name, admin, scopes, created_at FROM tokens WHERE hash = \(hash)").first.map(Self.tokenRecord) }
    }

    public func tokens() throws -> [APIToken] {
        try pool.session { db in try db.query("SELECT name, admin, scopes, created_at FROM tokens ORDER BY name COLLATE \"C\"").map(Self.tokenRecord)
        }
    }

    public func revokeToken(name: String) throws -> Bool {
        try pool.session { db in !(try db.query("DELETE FROM tokens WHERE name = \(name) RETURNING name").isEmpty) }
    }

    static func tokenRecord(_ row: PostgresRow) throws -> APIToken {
        let (name, admin, scopes, created) = try row.decode((String, Bool, String, Double).self)
        return APIToken(
            name: name, admin: admin, scopes: Set(scopes.split(separator: ",").map(String.init)), createdAt: Date(timeIntervalSince1970: created))
    }
}

extension SQLiteJobStore: TokenStore {
    public func insertToken(_ token: APIToken, hash: String) throws {
        try database.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM tokens WHERE name = ?", arguments: [token.name]) != true else {
                throw TokenStoreError.nameTaken(token.name)
            }
            try db.execute(
                sql: "INSERT INTO tokens (name, hash, admin, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    token.name, hash, token.admin, token.scopes.sorted().joined(separator: ","),
                    token.createdAt.timeIntervalSince1970,
                ])
        }
    }

    public func token(hash: String) throws -> APIToken? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tokens WHERE hash = ?", arguments: [hash]).map(Self.tokenRecord)
        }
    }

    public func tokens() throws -> [APIToken] {
        try database.read { db in try Row.fetchAll(db, sql: "SELECT * FROM tokens ORDER BY name").map(Self.tokenRecord) }
    }

    /// True when a token was removed.
    public func revokeToken(name: String) throws -> Bool {
        try database.write { db in
            try db.execute(sql: "DELETE FROM tokens WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    static func tokenRecord(_ row: Row) -> APIToken {
        let scopes = (row["scopes"] as String).split(separator: ",").map(String.init)
        return APIToken(name: row["name"], admin: row["admin"], scopes: Set(scopes), createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }
}
