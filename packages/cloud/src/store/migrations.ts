/**
 * Numbered schema migrations, applied at start-up in one transaction and recorded in
 * `schema_migrations`. The SQL is the common subset of SQLite and PostgreSQL (TEXT, BIGINT,
 * INTEGER), so both engines hold the same logical schema. Times are BIGINT milliseconds since the
 * epoch. Never edit an applied migration: add the next number.
 */
import type { Db } from './db.js';

export interface Migration {
  id: number;
  name: string;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'initial',
    statements: [
      `CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE admins (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        login TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'helpdesk')),
        created_at BIGINT NOT NULL,
        disabled_at BIGINT,
        UNIQUE (tenant_id, login)
      )`,
      `CREATE TABLE admin_sessions (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        admin_id TEXT NOT NULL REFERENCES admins(id),
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
      `CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        scope TEXT NOT NULL CHECK (scope IN ('operator', 'tenant')),
        tenant_id TEXT REFERENCES tenants(id),
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at BIGINT,
        CHECK ((scope = 'operator' AND tenant_id IS NULL) OR (scope = 'tenant' AND tenant_id IS NOT NULL))
      )`,
      `CREATE INDEX api_keys_tenant ON api_keys (tenant_id)`,
      `CREATE TABLE agent_tokens (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        used_by_agent TEXT,
        created_by TEXT NOT NULL
      )`,
      `CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        signing_key TEXT NOT NULL UNIQUE,
        encryption_key TEXT NOT NULL,
        directory TEXT NOT NULL,
        version TEXT NOT NULL,
        registered_at BIGINT NOT NULL,
        revoked_at BIGINT,
        last_seen_at BIGINT
      )`,
      `CREATE INDEX agents_tenant ON agents (tenant_id)`,
      `CREATE TABLE cloud_keys (
        id TEXT PRIMARY KEY,
        public_key TEXT NOT NULL,
        private_key_enc TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        retired_at BIGINT
      )`,
      `CREATE TABLE audit (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        request_id TEXT NOT NULL UNIQUE,
        actor_kind TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        target_user TEXT,
        agent_id TEXT,
        outcome TEXT,
        reasons TEXT,
        detail TEXT,
        latency_ms INTEGER,
        started_at BIGINT NOT NULL,
        deadline_at BIGINT NOT NULL,
        finished_at BIGINT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
        client_ip TEXT
      )`,
      `CREATE INDEX audit_tenant_time ON audit (tenant_id, started_at, id)`,
      `CREATE INDEX audit_pending ON audit (state, deadline_at)`,
    ],
  },
];

/** An arbitrary constant naming this application's migration lock on PostgreSQL. */
const PG_MIGRATION_LOCK = 7_245_301;

/**
 * Apply every migration not yet recorded, in order, in one transaction. Safe to run at every
 * start-up and from several processes at once. Returns the ids it applied.
 */
export async function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS, now: () => number = Date.now): Promise<number[]> {
  return db.tx(async (t) => {
    // Concurrent starters queue here instead of racing on CREATE TABLE (SQLite's BEGIN IMMEDIATE already serialises).
    if (t.engine === 'postgres') await t.query('SELECT pg_advisory_xact_lock(?)', [PG_MIGRATION_LOCK]);
    await t.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const rows = await t.query('SELECT id FROM schema_migrations');
    const applied = new Set(rows.map((r) => Number(r.id)));
    const done: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
      if (applied.has(m.id)) continue;
      for (const sql of m.statements) await t.exec(sql);
      await t.exec('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [m.id, m.name, now()]);
      done.push(m.id);
    }
    return done;
  });
}
