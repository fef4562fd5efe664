/**
 * The api_keys repository: operator and tenant API keys, of which only the SHA-256 of the secret
 * is stored. Issuing and checking tokens is auth/api-keys.ts's.
 */
import { z } from 'zod';
import { changedOne, rowOf, selectAll, selectOne, type Db } from './db.js';

/** The scopes the table accepts (its CHECK constraint). */
export const API_KEY_SCOPES = ['operator', 'tenant'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface ApiKey {
  id: string;
  scope: ApiKeyScope;
  tenantId: string | null;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

const Keys = rowOf({
  id: z.string(),
  scope: z.enum(API_KEY_SCOPES),
  tenant_id: z.string().nullable(),
  name: z.string(),
  secret_hash: z.string(),
  created_at: z.coerce.number(),
  last_used_at: z.coerce.number().nullable(),
  revoked_at: z.coerce.number().nullable(),
});

const Row = Keys.schema.transform(({ secretHash, ...key }): { key: ApiKey; secretHash: string } => ({
  key,
  secretHash,
}));

/** Insert a new key (never used, not revoked); an id taken already is a `conflict`. */
export async function insertApiKey(
  db: Db,
  key: Pick<ApiKey, 'id' | 'scope' | 'tenantId' | 'name' | 'createdAt'>,
  secretHash: string,
): Promise<void> {
  await db.exec(
    'INSERT INTO api_keys (id, scope, tenant_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [key.id, key.scope, key.tenantId, key.name, secretHash, key.createdAt],
  );
}

/** A key and its secret's hash, revoked or not. */
export async function getApiKey(db: Db, id: string): Promise<{ key: ApiKey; secretHash: string } | undefined> {
  return selectOne(db, Row, `SELECT ${Keys.columns} FROM api_keys WHERE id = ?`, [id]);
}

export async function setApiKeyLastUsed(db: Db, id: string, at: number): Promise<void> {
  await db.exec('UPDATE api_keys SET last_used_at = ? WHERE id = ?', [at, id]);
}

/** A tenant's keys, revoked ones included, oldest first. */
export async function listTenantApiKeys(db: Db, tenantId: string): Promise<ApiKey[]> {
  const rows = await selectAll(
    db,
    Row,
    `SELECT ${Keys.columns} FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id`,
    [tenantId],
  );
  return rows.map((r) => r.key);
}

const PG_OPERATOR_KEY_LOCK = 7_245_303;

/** Serialise creating the first operator key across nodes; call first inside the transaction. */
export async function lockOperatorKeys(db: Db): Promise<void> {
  if (db.engine === 'postgres') await db.query('SELECT pg_advisory_xact_lock(?)', [PG_OPERATOR_KEY_LOCK]);
}

/** Operator keys not revoked. */
export async function countLiveOperatorKeys(db: Db): Promise<number> {
  const row = await db.one("SELECT COUNT(*) AS n FROM api_keys WHERE scope = 'operator' AND revoked_at IS NULL");
  return Number(row?.n ?? 0);
}

/** Revoke every live operator key (a lost key is replaced with `bootstrap-operator-key --rotate`); how many. */
export async function revokeLiveOperatorKeys(db: Db, now: number): Promise<number> {
  const r = await db.exec("UPDATE api_keys SET revoked_at = ? WHERE scope = 'operator' AND revoked_at IS NULL", [now]);
  return r.changes;
}

/** Revoke a tenant's key; false when no such live key belongs to that tenant. */
export async function revokeTenantApiKey(db: Db, tenantId: string, keyId: string, now: number): Promise<boolean> {
  return changedOne(db, 'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL', [
    now,
    keyId,
    tenantId,
  ]);
}
