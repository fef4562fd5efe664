/**
 * The agent_tokens repository: one-time agent registration tokens, of which only the secret's hash
 * is stored. A token is consumed by one conditional UPDATE, so exactly one of several concurrent
 * registrations wins it; an admin "revokes" an open token by expiring it now.
 */
import { z } from 'zod';
import { changedOne, rowOf, selectAll, selectOne, type Db } from './db.js';

export interface AgentTokenRecord {
  id: string;
  tenantId: string;
  secretHash: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  createdBy: string;
}

/** What the admin pages list of an open token (never its hash). */
export type OpenAgentToken = Pick<AgentTokenRecord, 'id' | 'createdAt' | 'expiresAt' | 'createdBy'>;

const Tokens = rowOf({
  id: z.string(),
  tenant_id: z.string(),
  secret_hash: z.string(),
  created_at: z.coerce.number(),
  expires_at: z.coerce.number(),
  used_at: z.coerce.number().nullable(),
  created_by: z.string(),
});

const OpenTokens = rowOf({
  id: z.string(),
  created_at: z.coerce.number(),
  expires_at: z.coerce.number(),
  created_by: z.string(),
});

export async function insertAgentToken(db: Db, t: Omit<AgentTokenRecord, 'usedAt'>): Promise<void> {
  await db.exec(
    'INSERT INTO agent_tokens (id, tenant_id, secret_hash, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?)',
    [t.id, t.tenantId, t.secretHash, t.createdAt, t.expiresAt, t.createdBy],
  );
}

/** A token by id, used or expired or not (the caller checks). */
export async function getAgentToken(db: Db, id: string): Promise<AgentTokenRecord | undefined> {
  return selectOne(db, Tokens.schema, `SELECT ${Tokens.columns} FROM agent_tokens WHERE id = ?`, [id]);
}

/** Mark an unused token used by `agentId`; false when it was used already (another caller won). */
export async function consumeAgentToken(db: Db, id: string, agentId: string, now: number): Promise<boolean> {
  return changedOne(db, 'UPDATE agent_tokens SET used_at = ?, used_by_agent = ? WHERE id = ? AND used_at IS NULL', [
    now,
    agentId,
    id,
  ]);
}

/** The tenant's tokens neither used nor expired at `now`, newest first. */
export async function listOpenAgentTokens(db: Db, tenantId: string, now: number): Promise<OpenAgentToken[]> {
  return selectAll(
    db,
    OpenTokens.schema,
    `SELECT ${OpenTokens.columns} FROM agent_tokens WHERE tenant_id = ? AND used_at IS NULL AND expires_at > ? ORDER BY created_at DESC`,
    [tenantId, now],
  );
}

/** Expire an open token of the tenant now; false when there is no such open token. */
export async function expireAgentToken(db: Db, tenantId: string, id: string, now: number): Promise<boolean> {
  return changedOne(
    db,
    'UPDATE agent_tokens SET expires_at = ? WHERE id = ? AND tenant_id = ? AND used_at IS NULL AND expires_at > ?',
    [now, id, tenantId, now],
  );
}
