import Foundation
import PostgresNIO

/// Versioned schema of the PostgreSQL store, the same tables as SQLite's. Migrations are append-only; each runs once,
/// recorded in `schema_migrations`, under an advisory lock so that nodes starting together apply it once between them.
enum PostgresSchema {
    /// The advisory lock key every node takes while migrating ("montecluster" in ASCII, folded into 63 bits).
    static let migrationLock: Int64 = 0x6D6F_6E74_6563_6C75

    static let migrations: [(name: String, sql: String)] = [
        (
            "v1-jobs",
            """
            CREATE TABLE jobs (
                seq BIGSERIAL UNIQUE,
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                name TEXT,
                priority BIGINT NOT NULL DEFAULT 0,
                params TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT,
                result TEXT,
                progress DOUBLE PRECISION NOT NULL DEFAULT 0,
                phase TEXT,
                message TEXT,
                attempt BIGINT NOT NULL DEFAULT 0,
                max_attempts BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                heartbeat_at DOUBLE PRECISION,
                lease_expires_at DOUBLE PRECISION,
                worker_id TEXT,
                idempotency_key TEXT UNIQUE,
                fingerprint TEXT NOT NULL,
                version BIGINT NOT NULL DEFAULT 1,
                owner TEXT,
                tags TEXT NOT NULL DEFAULT '[]',
                metadata TEXT NOT NULL DEFAULT '{}'
            );
            CREATE INDEX jobs_claim ON jobs (status, priority DESC, seq);
            CREATE INDEX jobs_kind ON jobs (kind, seq);
            CREATE INDEX jobs_owner ON jobs (owner, status);
            CREATE INDEX jobs_created ON jobs (created_at);
            CREATE TABLE metrics (
                job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                step BIGINT NOT NULL,
                value DOUBLE PRECISION,
                time DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (job_id, name, step)
            );
            CREATE TABLE events (
                seq BIGSERIAL PRIMARY KEY,
                job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                type TEXT NOT NULL,
                data TEXT NOT NULL,
                time DOUBLE PRECISION NOT NULL
            );
            CREATE INDEX events_job ON events (job_id, seq);
            CREATE TABLE checkpoints (
                job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                step BIGINT NOT NULL,
                time DOUBLE PRECISION NOT NULL,
                data BYTEA NOT NULL,
                PRIMARY KEY (job_id, step)
            );
            CREATE TABLE artifacts (
                location BIGSERIAL UNIQUE,
                job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                media_type TEXT NOT NULL,
                size BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                sha256 TEXT,
                data BYTEA NOT NULL,
                PRIMARY KEY (job_id, name)
            );
            -- Stored uncompressed out of line: a ranged read (substring) fetches only the chunks it needs.
            ALTER TABLE artifacts ALTER COLUMN data SET STORAGE EXTERNAL;
            CREATE TABLE datasets (
                id TEXT PRIMARY KEY,
                name TEXT,
                meta TEXT NOT NULL DEFAULT '{}',
                created_at DOUBLE PRECISION NOT NULL,
                owner TEXT,
                bytes BIGINT NOT NULL DEFAULT 0
            );
            CREATE INDEX datasets_owner ON datasets (owner, created_at);
            CREATE TABLE tokens (
                name TEXT PRIMARY KEY,
                hash TEXT NOT NULL UNIQUE,
                admin BOOLEAN NOT NULL DEFAULT FALSE,
                scopes TEXT NOT NULL DEFAULT '',
                created_at DOUBLE PRECISION NOT NULL
            );
            """
        ),
        (
            // Uploaded datasets' files, in chunks, so that every node can fetch them: a deployment needs nothing but the database.
            "v2-dataset-files",
            """
            CREATE TABLE dataset_chunks (
                dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
                file TEXT NOT NULL,
                seq BIGINT NOT NULL,
                data BYTEA NOT NULL,
                PRIMARY KEY (dataset_id, file, seq)
            );
            ALTER TABLE dataset_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
            """
        ),
    ]

    /// Applies the migrations not yet recorded, each in its own transaction, holding the advisory lock throughout.
    static func migrate(_ pool: PostgresPool) throws {
        try pool.session { session in
            // The lock first: CREATE SCHEMA IF NOT EXISTS itself races between nodes starting together.
            try session.query("SELECT pg_advisory_lock(\(migrationLock))")
            if let schema = pool.location.schema { try session.execute("CREATE SCHEMA IF NOT EXISTS \(schema)") }
            defer { _ = try? session.query("SELECT pg_advisory_unlock(\(migrationLock))") }
            try session.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            let applied = Set(try session.query("SELECT name FROM schema_migrations").map { try $0.decode(String.self) })
            for (name, sql) in migrations where !applied.contains(name) {
                try session.execute("BEGIN")
                do {
                    try session.execute(sql)
                    try session.query("INSERT INTO schema_migrations (name, applied_at) VALUES (\(name), \(Date().timeIntervalSince1970))")
                    try session.execute("COMMIT")
                } catch {
                    try? session.execute("ROLLBACK")
                    throw error
                }
            }
        }
    }
}
