import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// Where the database is: parsed from `postgres://user:password@host:port/database?search_path=schema` (or a unix socket
/// folder as `host=/path` in the query, as libpq spells it).
public struct PostgresLocation: Sendable, Equatable {
    public var host: String?
    public var port: Int
    public var socketPath: String?
    public var user: String
    public var password: String?
    public var database: String?
    /// Tables live in this schema (created if missing); tests give each store its own.
    public var schema: String?

    public init?(url: String) {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "") else { return nil }
        host = components.host.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        port = components.port ?? 5432
        user = components.user?.removingPercentEncoding ?? "postgres"
        password = components.password?.removingPercentEncoding
        let path = components.path.dropFirst()
        database = path.isEmpty ? nil : String(path).removingPercentEncoding
        for item in components.queryItems ?? [] {
            switch item.name {
            case "host": if let value = item.value, value.hasPrefix("/") { socketPath = value + "/.s.PGSQL.\(port)" }
            case "search_path", "schema": schema = item.value
            default: break
            }
        }
        if host == nil, socketPath == nil { host = "127.0.0.1" }
        if let schema, schema.isEmpty || !schema.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { return nil }
    }

    /// The URL without its password, for logs.
    public var redacted: String {
        "postgres://\(user)@\(socketPath ?? "\(host ?? ""):\(port)")/\(database ?? "")" + (schema.map { "?search_path=\($0)" } ?? "")
    }
}

/// A small pool of PostgreSQL connections for synchronous callers (worker threads and the HTTP layer's blocking
/// offload threads, as the `JobStore` protocol is called). Queries run on SwiftNIO's event loops and the caller waits
/// on their futures, so no Swift concurrency thread is ever blocked. A connection that fails is replaced on next use.
public final class PostgresPool: Sendable {
    public let location: PostgresLocation
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let size: Int
    private let idle = Mutex<[(connection: PostgresConnection, since: Date)]>([])
    /// A connection idle longer than this is checked with a 2 s round trip before use: PostgreSQL going away (a
    /// restart, a failover) is not noticed on an idle connection until a query waits for an answer that never comes.
    static let staleAfter: TimeInterval = 5
    private let open = Mutex<Int>(0)
    private let available: DispatchSemaphore
    private let nextID = Atomic<Int>(0)

    public init(_ location: PostgresLocation, size: Int = 8, logger: Logger = Logger(label: "montecluster.postgres")) {
        self.location = location
        self.size = max(1, size)
        self.logger = logger
        self.available = DispatchSemaphore(value: max(1, size))
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    deinit {
        for entry in idle.withLock({ $0 }) { try? entry.connection.close().wait() }
        try? group.syncShutdownGracefully()
    }

    var configuration: PostgresConnection.Configuration {
        var configuration =
            if let socketPath = location.socketPath {
                PostgresConnection.Configuration(
                    unixSocketPath: socketPath, username: location.user, password: location.password, database: location.database)
            } else {
                PostgresConnection.Configuration(
                    host: location.host ?? "127.0.0.1", port: location.port, username: location.user, password: location.password,
                    database: location.database, tls: .disable)
            }
        configuration.options.connectTimeout = .seconds(5)
        if let schema = location.schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        return configuration
    }

    /// A new connection of its own (LISTEN needs one that is never handed to another caller).
    public func connect() throws -> PostgresConnection {
        try PostgresConnection.connect(
            on: group.next(), configuration: configuration, id: nextID.add(1, ordering: .relaxed).newValue, logger: logger
        ).wait()
    }

    /// Runs `body` with a connection of the pool; at most `size` callers hold one at a time.
    public func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        available.wait()
        defer { available.signal() }
        var connection: PostgresConnection?
        while connection == nil, let entry = idle.withLock({ $0.popLast() }) {
            guard !entry.connection.isClosed else { continue }
            if Date().timeIntervalSince(entry.since) > Self.staleAfter {
                let probe = Session(connection: entry.connection, logger: logger, timeout: 2)
                guard (try? probe.query("SELECT 1")) != nil else {
                    _ = entry.connection.close() as EventLoopFuture<Void>
                    continue
                }
            }
            connection = entry.connection
        }
        let chosen = try connection ?? connect()
        defer {
            // A broken connection is dropped; a query error leaves it usable (the transaction was rolled back).
            if !chosen.isClosed { idle.withLock { $0.append((chosen, Date())) } }
        }
        return try body(chosen)
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: (Session) throws -> T) throws -> T {
        try withConnection { connection in
            let session = Session(connection: connection, logger: logger)
            try session.execute("BEGIN")
            do {
                let value = try body(session)
                try session.execute("COMMIT")
                return value
            } catch {
                try? session.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// One statement outside an explicit transaction (it commits on its own); `timeout` bounds each statement.
    public func session<T>(timeout: TimeInterval = 60, _ body: (Session) throws -> T) throws -> T {
        try withConnection { try body(Session(connection: $0, logger: logger, timeout: timeout)) }
    }

    /// Queries on one connection, waited for synchronously, each for at most `timeout` seconds: a connection whose
    /// server went away without a word is closed then (and dropped by the pool), instead of holding its caller forever.
    public struct Session {
        public let connection: PostgresConnection
        let logger: Logger
        var timeout: TimeInterval = 60

        func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
            let done = DispatchSemaphore(value: 0)
            let box = ResultBox<T>()
            future.whenComplete { result in
                box.set(result)
                done.signal()
            }
            guard done.wait(timeout: .now() + timeout) == .success, let result = box.get() else {
                _ = connection.close() as EventLoopFuture<Void>
                throw PostgresStoreError("PostgreSQL did not answer in \(Int(timeout)) s")
            }
            do { return try result.get() } catch { throw PostgresStoreError(error) }
        }

        @discardableResult
        public func query(_ query: PostgresQuery) throws -> [PostgresRow] {
            try wait(connection.query(query, logger: logger)).rows
        }

        /// Statements without binds, one after another: a script's statements end with ";" at the end of a line
        /// (the extended protocol PostgresNIO speaks takes one statement at a time).
        public func execute(_ sql: String) throws {
            for statement in sql.components(separatedBy: ";\n") + [] {
                let text = statement.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }.joined(
                    separator: "\n"
                )
                .trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";")))
                guard !text.isEmpty else { continue }
                _ = try wait(connection.query(PostgresQuery(unsafeSQL: text), logger: logger))
            }
        }

        /// Rows of a statement built at run time (IN lists), with its binds.
        public func query(_ sql: String, _ binds: PostgresBindings) throws -> [PostgresRow] {
            try wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)).rows
        }
    }
}

/// The result of a future, handed from an event loop to the thread waiting for it.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    func set(_ value: Result<T, any Error>) { lock.withLock { result = value } }
    func get() -> Result<T, any Error>? { lock.withLock { result } }
}
