/**
 * API keys (`wbk_<id>.<secret>`): `operator` keys manage tenants; `tenant` keys act as an admin of
 * one tenant. Only the SHA-256 of the secret is stored.
 */
import type { Db } from '../store/index.js';
import {
  countLiveOperatorKeys,
  getApiKey,
  insertApiKey,
  listTenantApiKeys,
  revokeTenantApiKey,
  setApiKeyLastUsed,
  type ApiKey,
  type ApiKeyScope,
} from '../store/api-keys.js';
import { hashSecret, issueToken, parseToken, secretMatches } from './tokens.js';

export type { ApiKey, ApiKeyScope } from '../store/api-keys.js';

type NewApiKey = { scope: ApiKeyScope; tenantId: string | null; name: string };

/** A key as it is the moment it is stored: never used, not revoked. */
const newKey = (id: string, input: NewApiKey, now: number): ApiKey => ({
  id,
  scope: input.scope,
  tenantId: input.tenantId,
  name: input.name,
  createdAt: now,
  lastUsedAt: null,
  revokedAt: null,
});

/** Create a key; the returned `token` is the only copy of the secret. */
export async function createApiKey(db: Db, input: NewApiKey, now: number): Promise<{ key: ApiKey; token: string }> {
  const t = issueToken('wbk');
  const key = newKey(t.id, input, now);
  await insertApiKey(db, key, t.secretHash);
  return { key, token: t.token };
}

/** Only a presented key that exists, matches and is not revoked authenticates. */
export async function authenticateApiKey(db: Db, raw: string, now: number): Promise<ApiKey | null> {
  const parsed = parseToken('wbk', raw);
  if (!parsed) return null;
  const rec = await getApiKey(db, parsed.id);
  if (!secretMatches(parsed.secret, rec?.secretHash) || !rec || rec.key.revokedAt !== null) return null;
  // last_used_at is informational: a write per request would be waste, once a minute is enough.
  if (rec.key.lastUsedAt === null || now - rec.key.lastUsedAt > 60_000) {
    await setApiKeyLastUsed(db, rec.key.id, now);
  }
  return rec.key;
}

export async function listApiKeys(db: Db, tenantId: string): Promise<ApiKey[]> {
  return listTenantApiKeys(db, tenantId);
}

export async function countOperatorKeys(db: Db): Promise<number> {
  return countLiveOperatorKeys(db);
}

/** Revoke a tenant's key; false when no such live key belongs to that tenant. */
export async function revokeApiKey(db: Db, tenantId: string, keyId: string, now: number): Promise<boolean> {
  return revokeTenantApiKey(db, tenantId, keyId, now);
}

/**
 * Install a key whose full token the caller already holds (a preset operator key for demos and
 * tests). Idempotent: a key with the same id is left as it is.
 */
export async function importApiKey(db: Db, input: NewApiKey & { token: string }, now: number): Promise<ApiKey> {
  const parsed = parseToken('wbk', input.token);
  if (!parsed) throw new TypeError('importApiKey: token must look like wbk_<16 hex>.<43 base64url>');
  const existing = await getApiKey(db, parsed.id);
  if (existing) return existing.key;
  const key = newKey(parsed.id, input, now);
  await insertApiKey(db, key, hashSecret(parsed.secret));
  return key;
}
