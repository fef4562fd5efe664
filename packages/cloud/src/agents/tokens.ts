/**
 * Agent registration tokens (`wbt_<id>.<secret>`): issued by a tenant admin, shown once, single
 * use, with an explicit expiry. Only the hash of the secret is stored.
 */
import { issueToken } from '../auth/tokens.js';
import { insertAgentToken } from '../store/agent-tokens.js';
import type { Db } from '../store/index.js';

export interface IssuedAgentToken {
  id: string;
  token: string;
  expiresAt: number;
}

export async function issueAgentToken(
  db: Db,
  input: { tenantId: string; createdBy: string; ttlMs: number },
  now: number,
): Promise<IssuedAgentToken> {
  const t = issueToken('wbt');
  const expiresAt = now + input.ttlMs;
  await insertAgentToken(db, {
    id: t.id,
    tenantId: input.tenantId,
    secretHash: t.secretHash,
    createdAt: now,
    expiresAt,
    createdBy: input.createdBy,
  });
  return { id: t.id, token: t.token, expiresAt };
}
