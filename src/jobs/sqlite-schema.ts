// Schema of the embedded job database and its forward-only migrations.
// A migration is appended, never edited: the version table records what a database has seen.
import type { DatabaseSync } from 'node:sqlite';

const MIGRATIONS: readonly string[] = [
  // 1: jobs, their events and checkpoints, and the daily history that outlives them.
  `
  CREATE TABLE jobs (
    n INTEGER PRIMARY KEY AUTOINCREMENT,          -- insertion order: FIFO within a priority, and list cursors
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    input TEXT NOT NULL,
    owner TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    cache_key TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    progress TEXT NOT NULL,
    result TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    updated_at INTEGER NOT NULL,
    run_after INTEGER,
    estimated_seconds REAL,
    lease_token TEXT,
    lease_until INTEGER,
    worker_id TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX jobs_claimable ON jobs (state, priority DESC, n);
  CREATE INDEX jobs_owner ON jobs (owner, n);
  CREATE UNIQUE INDEX jobs_idempotency ON jobs (coalesce(owner, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX jobs_cache ON jobs (cache_key, state) WHERE cache_key IS NOT NULL;
  CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
  CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'running';

  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,         -- global, only grows: subscribers poll by it
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    progress TEXT NOT NULL,
    at INTEGER NOT NULL,
    error TEXT,
    result TEXT,
    UNIQUE (job_id, seq)
  );

  CREATE TABLE checkpoints (
    job_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (job_id, stage)
  );

  CREATE TABLE history_daily (
    day TEXT PRIMARY KEY,                         -- UTC date, YYYY-MM-DD
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    duration_ms_total INTEGER NOT NULL DEFAULT 0,
    duration_count INTEGER NOT NULL DEFAULT 0
  );
  `,
  // 2: interruptions (crashes, lost leases, shortages) counted apart from attempts; the owner's turn for fair claims.
  `
  ALTER TABLE jobs ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN turn INTEGER NOT NULL DEFAULT 0;
  DROP INDEX jobs_claimable;
  CREATE INDEX jobs_claimable ON jobs (state, priority DESC, turn, n);
  CREATE INDEX jobs_owner_state ON jobs (owner, state);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database up to SCHEMA_VERSION; refuses a database written by a newer release. */
export function migrate(db: DatabaseSync, now: number): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null };
  const current = row.v ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new Error(`job database has schema version ${current}, this release knows up to ${SCHEMA_VERSION}`);
  }
  for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      // Another process may have migrated between our read and our lock.
      const again = db.prepare('SELECT 1 FROM schema_version WHERE version = ?').get(version);
      if (!again) {
        db.exec(MIGRATIONS[version - 1]);
        db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(version, now);
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}
