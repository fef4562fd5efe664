/**
 * API keys (`wbk_<id>.<secret>`): `operator` keys manage tenants; `tenant` keys act as an admin of
 * one tenant. Only the SHA-256 of the secret is stored.
 */
import { z } from 'zod';
import { parseRow, parseRows, type Db } from '../store/index.js';
import { hashSecret, issueToken, parseToken, secretMatches } from './tokens.js';

export type ApiKeyScope = 'operator' | 'tenant';

export interface ApiKey {
  id: string;
  scope: ApiKeyScope;
  tenantId: string | null;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

const Row = z
  .object({
    id: z.string(),
    scope: z.enum(['operator', 'tenant']),
    tenant_id: z.string().nullable(),
    name: z.string(),
    secret_hash: z.string(),
    created_at: z.number(),
    last_used_at: z.number().nullable(),
    revoked_at: z.number().nullable(),
  })
  .transform((r) => ({
    secretHash: r.secret_hash,
    key: {
      id: r.id,
      scope: r.scope,
      tenantId: r.tenant_id,
      name: r.name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      revokedAt: r.revoked_at,
    } satisfies ApiKey,
  }));

const COLUMNS = 'id, scope, tenant_id, name, secret_hash, created_at, last_used_at, revoked_at';

/** Create a key; the returned `token` is the only copy of the secret. */
export async function createApiKey(
  db: Db,
  input: { scope: ApiKeyScope; tenantId: string | null; name: string },
  now: number,
): Promise<{ key: ApiKey; token: string }> {
  const t = issueToken('wbk');
  await db.exec(
    'INSERT INTO api_keys (id, scope, tenant_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [t.id, input.scope, input.tenantId, input.name, t.secretHash, now],
  );
  return {
    key: {
      id: t.id,
      scope: input.scope,
      tenantId: input.tenantId,
      name: input.name,
      createdAt: now,
      lastUsedAt: null,
      revokedAt: null,
    },
    token: t.token,
  };
}

/** Only a presented key that exists, matches and is not revoked authenticates. */
export async function authenticateApiKey(db: Db, raw: string, now: number): Promise<ApiKey | null> {
  const parsed = parseToken('wbk', raw);
  if (!parsed) return null;
  const row = await db.one(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`, [parsed.id]);
  const rec = row ? parseRow(Row, row) : undefined;
  if (!secretMatches(parsed.secret, rec?.secretHash) || !rec || rec.key.revokedAt !== null) return null;
  // last_used_at is informational: a write per request would be waste, once a minute is enough.
  if (rec.key.lastUsedAt === null || now - rec.key.lastUsedAt > 60_000) {
    await db.exec('UPDATE api_keys SET last_used_at = ? WHERE id = ?', [now, rec.key.id]);
  }
  return rec.key;
}

export async function listApiKeys(db: Db, tenantId: string): Promise<ApiKey[]> {
  return parseRows(
    Row,
    await db.query(`SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id`, [tenantId]),
  ).map((r) => r.key);
}

export async function countOperatorKeys(db: Db): Promise<number> {
  const row = await db.one("SELECT COUNT(*) AS n FROM api_keys WHERE scope = 'operator' AND revoked_at IS NULL");
  return Number(row?.n ?? 0);
}

/** Revoke a tenant's key; false when no such live key belongs to that tenant. */
export async function revokeApiKey(db: Db, tenantId: string, keyId: string, now: number): Promise<boolean> {
  const r = await db.exec('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL', [
    now,
    keyId,
    tenantId,
  ]);
  return r.changes === 1;
}

/**
 * Install a key whose full token the caller already holds (a preset operator key for demos and
 * tests). Idempotent: a key with the same id is left as it is.
 */
export async function importApiKey(
  db: Db,
  input: { scope: ApiKeyScope; tenantId: string | null; name: string; token: string },
  now: number,
): Promise<ApiKey> {
  const parsed = parseToken('wbk', input.token);
  if (!parsed) throw new TypeError('importApiKey: token must look like wbk_<16 hex>.<43 base64url>');
  const existing = await db.one(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`, [parsed.id]);
  if (existing) return parseRow(Row, existing).key;
  await db.exec(
    'INSERT INTO api_keys (id, scope, tenant_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [parsed.id, input.scope, input.tenantId, input.name, hashSecret(parsed.secret), now],
  );
  return {
    id: parsed.id,
    scope: input.scope,
    tenantId: input.tenantId,
    name: input.name,
    createdAt: now,
    lastUsedAt: null,
    revokedAt: null,
  };
}
