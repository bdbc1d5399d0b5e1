import GRDB

/// Versioned schema. Migrations are append-only: a released one is never edited.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-jobs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jobs (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        kind TEXT NOT NULL,
                        name TEXT,
                        priority INTEGER NOT NULL DEFAULT 0,
                        params TEXT NOT NULL,
                        status TEXT NOT NULL,
                        reason TEXT,
                        result TEXT,
                        progress REAL NOT NULL DEFAULT 0,
                        phase TEXT,
                        message TEXT,
                        attempt INTEGER NOT NULL DEFAULT 0,
                        max_attempts INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        started_at REAL,
                        finished_at REAL,
                        heartbeat_at REAL,
                        lease_expires_at REAL,
                        worker_id TEXT,
                        idempotency_key TEXT UNIQUE,
                        fingerprint TEXT NOT NULL,
                        version INTEGER NOT NULL DEFAULT 1
                    );
                    CREATE INDEX jobs_claim ON jobs (status, priority DESC, seq);
                    CREATE INDEX jobs_kind ON jobs (kind, seq);
                    CREATE TABLE metrics (
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        step INTEGER NOT NULL,
                        value REAL,
                        time REAL NOT NULL,
                        PRIMARY KEY (job_id, name, step)
                    ) WITHOUT ROWID;
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        type TEXT NOT NULL,
                        data TEXT NOT NULL,
                        time REAL NOT NULL
                    );
                    CREATE INDEX events_job ON events (job_id, seq);
                    CREATE TABLE checkpoints (
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        step INTEGER NOT NULL,
                        data BLOB NOT NULL,
                        time REAL NOT NULL,
                        PRIMARY KEY (job_id, step)
                    );
                    CREATE TABLE artifacts (
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        media_type TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        data BLOB NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (job_id, name)
                    );
                    -- Reserved for uploaded datasets (the clustering work); jobs refer to them by id.
                    CREATE TABLE datasets (
                        id TEXT PRIMARY KEY,
                        name TEXT,
                        meta TEXT NOT NULL DEFAULT '{}',
                        created_at REAL NOT NULL
                    );
                    """)
        }
        // Issue 11: every job and dataset belongs to the API token that created it (NULL: no token, on
        // loopback); tokens are stored as SHA-256 hashes only.
        migrator.registerMigration("v2-owners-and-tokens") { db in
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN owner TEXT;
                    ALTER TABLE datasets ADD COLUMN owner TEXT;
                    ALTER TABLE datasets ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX jobs_owner ON jobs (owner, status);
                    CREATE INDEX datasets_owner ON datasets (owner, created_at);
                    CREATE TABLE tokens (
                        name TEXT PRIMARY KEY,
                        hash TEXT NOT NULL UNIQUE,
                        admin INTEGER NOT NULL DEFAULT 0,
                        scopes TEXT NOT NULL DEFAULT '',
                        created_at REAL NOT NULL
                    );
                    """)
        }
        // Issue 12: jobs carry tags (a JSON array of strings) and free metadata (a JSON object) that
        // clients filter and annotate by; artifacts carry their SHA-256 (ETag, integrity checks).
        migrator.registerMigration("v3-tags-metadata-digests") { db in
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
                    ALTER TABLE jobs ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
                    ALTER TABLE artifacts ADD COLUMN sha256 TEXT;
                    CREATE INDEX jobs_created ON jobs (created_at);
                    """)
        }
        // Issue 16: the blob goes last. SQLite reaches a column stored after a large BLOB only by walking the blob's
        // overflow pages, so listing a job's artifacts (created_at and sha256 came after `data`) read through every
        // one of them: 57 ms for an MCMC job's 250 MB of draws, paid again by every plot. Rebuilt once, in order.
        migrator.registerMigration("v4-artifact-blob-last") { db in
            try db.execute(
                sql: """
                    CREATE TABLE artifacts_new (
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        media_type TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        sha256 TEXT,
                        data BLOB NOT NULL,
                        PRIMARY KEY (job_id, name)
                    );
                    INSERT INTO artifacts_new (job_id, name, media_type, size, created_at, sha256, data)
                        SELECT job_id, name, media_type, size, created_at, sha256, data FROM artifacts;
                    DROP TABLE artifacts;
                    ALTER TABLE artifacts_new RENAME TO artifacts;
                    """)
        }
        return migrator
    }
}
