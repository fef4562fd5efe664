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
  {
    // Directory sync (owner: cloud sync). directory_users holds synced (onprem) and cloud-only users;
    // *_lc columns are the lower-cased lookup keys; groups is a JSON array; deleted users keep their row
    // (deleted_at) so a re-appearing anchor is the same user. sync_state is one row per tenant.
    id: 2,
    name: 'sync_users',
    statements: [
      `CREATE TABLE directory_users (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        source TEXT NOT NULL CHECK (source IN ('onprem', 'cloud')),
        anchor TEXT,
        login TEXT NOT NULL,
        login_lc TEXT NOT NULL,
        upn TEXT,
        upn_lc TEXT,
        mail TEXT,
        mail_lc TEXT,
        display_name TEXT,
        mobile TEXT,
        dn TEXT,
        enabled INTEGER NOT NULL,
        locked INTEGER NOT NULL,
        must_change INTEGER NOT NULL,
        protected INTEGER NOT NULL,
        password_last_set_at TEXT,
        groups_json TEXT NOT NULL,
        password_hash TEXT,
        password_hash_set_at TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        deleted_at BIGINT,
        UNIQUE (tenant_id, anchor)
      )`,
      `CREATE INDEX directory_users_login ON directory_users (tenant_id, login_lc)`,
      `CREATE INDEX directory_users_upn ON directory_users (tenant_id, upn_lc)`,
      `CREATE INDEX directory_users_mail ON directory_users (tenant_id, mail_lc)`,
      `CREATE TABLE sync_state (
        tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
        phase TEXT NOT NULL,
        cursor TEXT,
        full_cursor TEXT,
        in_full INTEGER NOT NULL,
        first_full_at BIGINT,
        last_run_at BIGINT,
        last_success_at BIGINT,
        last_full_at BIGINT,
        last_anchors_at BIGINT,
        last_error TEXT,
        agent_id TEXT,
        created_count INTEGER NOT NULL,
        updated_count INTEGER NOT NULL,
        deleted_count INTEGER NOT NULL,
        total INTEGER NOT NULL,
        pending_deletes TEXT,
        pending_since BIGINT,
        lease_owner TEXT,
        lease_until BIGINT
      )`,
      `CREATE TABLE tenant_settings (
        tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
        settings TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
    ],
  },
  {
    // Owner: web pages (web-sspr). Sessions of the pages, self-service flows, users' verification
    // methods and the one-time codes sent to them. Secrets are stored only hashed (sessions, flows,
    // codes, answers) or sealed (TOTP keys, see web/sealing.ts).
    id: 3,
    name: 'web',
    statements: [
      `CREATE TABLE web_sessions (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('user', 'admin')),
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        subject_id TEXT NOT NULL,
        subject_login TEXT NOT NULL,
        csrf_token TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      `CREATE INDEX web_sessions_subject ON web_sessions (tenant_id, kind, subject_id)`,
      `CREATE INDEX web_sessions_expiry ON web_sessions (expires_at)`,
      `CREATE TABLE web_flows (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        kind TEXT NOT NULL,
        user_key TEXT,
        login TEXT NOT NULL,
        state TEXT NOT NULL,
        verified TEXT NOT NULL,
        required INTEGER NOT NULL,
        csrf_token TEXT NOT NULL,
        failures INTEGER NOT NULL,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      `CREATE INDEX web_flows_expiry ON web_flows (expires_at)`,
      `CREATE TABLE user_methods (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        user_key TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('email', 'totp', 'questions', 'sms')),
        value TEXT NOT NULL,
        last_step BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, user_key, kind)
      )`,
      `CREATE TABLE sent_codes (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        purpose TEXT NOT NULL,
        owner TEXT NOT NULL,
        channel TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
      )`,
      `CREATE INDEX sent_codes_owner ON sent_codes (tenant_id, owner, purpose)`,
    ],
  },
  {
    // Owner: admin pages (web-admin). Each admin's TOTP second factor: the key sealed with a key
    // derived from the cloud's signing key (web/admin/totp-store.ts), confirmed once the admin
    // proved a code, and the last step accepted (a code is never accepted twice).
    id: 4,
    name: 'admin_web',
    statements: [
      `CREATE TABLE admin_totp (
        admin_id TEXT PRIMARY KEY REFERENCES admins(id),
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        secret_sealed TEXT NOT NULL,
        confirmed_at BIGINT,
        last_step BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
    ],
  },
  {
    // Owner: usecases/attempts.ts through rate-limit/limiter.ts. The attempt budgets, shared by
    // every cloud node: one row per budget key (taken first, so reservations of one key are decided
    // one after the other) and one per counted attempt (store/attempts.ts).
    id: 5,
    name: 'attempt_budgets',
    statements: [
      'CREATE TABLE attempt_keys (key TEXT PRIMARY KEY, touched_at BIGINT NOT NULL)',
      'CREATE TABLE attempt_hits (id TEXT PRIMARY KEY, key TEXT NOT NULL, at BIGINT NOT NULL)',
      'CREATE INDEX attempt_hits_key_at ON attempt_hits (key, at)',
      'CREATE INDEX attempt_hits_at ON attempt_hits (at)',
    ],
  },
  {
    // Owner: usecases/admins.ts (issue 10, admin lifecycle). A removed admin keeps its row (the
    // audit log names actors by id, and admin_sessions/admin_totp reference it): removed_at marks
    // it, and removal disables it too, so every sign-in and session check already refuses it.
    id: 6,
    name: 'admin_removed',
    statements: ['ALTER TABLE admins ADD COLUMN removed_at BIGINT'],
  },
  {
    // Owner: usecases/methods/sends.ts through store/send-budgets.ts (issue 10, unlimited code
    // sends). Codes sent per key (user, destination, tenant, tenant's texts) and UTC day.
    id: 7,
    name: 'send_budgets',
    statements: [
      'CREATE TABLE send_budgets (key TEXT NOT NULL, day BIGINT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (key, day))',
    ],
  },
  {
    // Owner: http/steps/check-idempotency.ts through idempotency/ and store/idempotency-keys.ts
    // (issue 11, Idempotency-Key on write routes). One row per key, tenant and caller: the
    // request's keyed fingerprint (never the body), the claim running it and its lease, the audit
    // request id of its directory write, and the sealed answer. Dropped 24 h after creation.
    id: 8,
    name: 'idempotency_keys',
    statements: [
      `CREATE TABLE idempotency_keys (
        tenant_id TEXT NOT NULL,
        caller TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        route TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done')),
        claim TEXT NOT NULL,
        lease_until BIGINT NOT NULL,
        request_id TEXT,
        status INTEGER,
        answer_sealed TEXT,
        created_at BIGINT NOT NULL,
        finished_at BIGINT,
        PRIMARY KEY (tenant_id, caller, idem_key)
      )`,
      'CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)',
    ],
  },
  {
    // Owner: usecases/expiry-reminders.ts through store/password-expiry.ts (issue 12, password
    // expiry reminders). The maximum password age the directory reported per user (0: never
    // expires; the sync carries no policy), and one row per reminder sent: user and expiry date,
    // claimed atomically so several cloud nodes send it once.
    id: 9,
    name: 'password_expiry',
    statements: [
      `CREATE TABLE password_max_ages (
        tenant_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        max_age_seconds BIGINT NOT NULL,
        learned_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, user_id)
      )`,
      `CREATE TABLE expiry_reminders (
        tenant_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        expires_on TEXT NOT NULL,
        sent_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, user_id, expires_on)
      )`,
      'CREATE INDEX expiry_reminders_expires_on ON expiry_reminders (expires_on)',
    ],
  },
  {
    // Owner: usecases/expiry-reminders.ts through store/password-expiry.ts (issue 12). One row per
    // tenant and hour whose directory reads (the users' maximum password age) a node took, claimed
    // atomically, so several cloud nodes do not read the same policies at once.
    id: 10,
    name: 'expiry_learning_runs',
    statements: [
      `CREATE TABLE expiry_learning_runs (
        tenant_id TEXT NOT NULL,
        slot BIGINT NOT NULL,
        claimed_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, slot)
      )`,
    ],
  },
];

/** An arbitrary constant naming this application's migration lock on PostgreSQL. */
const PG_MIGRATION_LOCK = 7_245_301;

/**
 * Apply every migration not yet recorded, in order, in one transaction. Safe to run at every
 * start-up and from several processes at once. Returns the ids it applied.
 */
export async function migrate(
  db: Db,
  migrations: readonly Migration[] = MIGRATIONS,
  now: () => number = Date.now,
): Promise<number[]> {
  return db.tx(async (t) => {
    // Concurrent starters queue here instead of racing on CREATE TABLE (SQLite's BEGIN IMMEDIATE already serialises).
    if (t.engine === 'postgres') await t.query('SELECT pg_advisory_xact_lock(?)', [PG_MIGRATION_LOCK]);
    await t.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
    );
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
