/**
 * The agents repository: registered agents (their public keys, directory kind, version, when last
 * seen, revocation). Registration's rules (the one-time token, the certificate) are
 * agents/registry.ts's, which runs insertAgent in the transaction that consumes the token.
 */
import { z } from 'zod';
import { changedOne, rowOf, selectAll, selectOne, type Db } from './db.js';

export interface RegisteredAgent {
  id: string;
  tenantId: string;
  name: string;
  signingKey: string;
  encryptionKey: string;
  directory: string;
  version: string;
  registeredAt: number;
  revokedAt: number | null;
  lastSeenAt: number | null;
}

const Agents = rowOf({
  id: z.string(),
  tenant_id: z.string(),
  name: z.string(),
  signing_key: z.string(),
  encryption_key: z.string(),
  directory: z.string(),
  version: z.string(),
  registered_at: z.coerce.number(),
  revoked_at: z.coerce.number().nullable(),
  last_seen_at: z.coerce.number().nullable(),
});

/** Insert a new live agent; a signing key registered already is a `conflict`. */
export async function insertAgent(db: Db, a: Omit<RegisteredAgent, 'revokedAt' | 'lastSeenAt'>): Promise<void> {
  await db.exec(`INSERT INTO agents (${Agents.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`, [
    a.id,
    a.tenantId,
    a.name,
    a.signingKey,
    a.encryptionKey,
    a.directory,
    a.version,
    a.registeredAt,
  ]);
}

export async function getAgent(db: Db, agentId: string): Promise<RegisteredAgent | undefined> {
  return selectOne(db, Agents.schema, `SELECT ${Agents.columns} FROM agents WHERE id = ?`, [agentId]);
}

/** A tenant's agents in registration order, live ones only unless `includeRevoked`. */
export async function listTenantAgents(
  db: Db,
  tenantId: string,
  o: { includeRevoked?: boolean } = {},
): Promise<RegisteredAgent[]> {
  const where = o.includeRevoked ? 'tenant_id = ?' : 'tenant_id = ? AND revoked_at IS NULL';
  return selectAll(
    db,
    Agents.schema,
    `SELECT ${Agents.columns} FROM agents WHERE ${where} ORDER BY registered_at, id`,
    [tenantId],
  );
}

/** Revoke a live agent of a tenant; false when there is no such live agent. */
export async function revokeAgent(db: Db, tenantId: string, agentId: string, now: number): Promise<boolean> {
  return changedOne(db, 'UPDATE agents SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL', [
    now,
    agentId,
    tenantId,
  ]);
}

/** Record when an agent was seen and its version; an older sighting never overwrites a newer one. */
export async function touchAgent(db: Db, agentId: string, lastSeenAt: number, version: string): Promise<void> {
  await db.exec(
    'UPDATE agents SET last_seen_at = ?, version = ? WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)',
    [lastSeenAt, version, agentId, lastSeenAt],
  );
}

/** Whether the agent is registered to the tenant and not revoked. */
export async function isLiveAgent(db: Db, agentId: string, tenantId: string): Promise<boolean> {
  const row = await db.one('SELECT 1 AS ok FROM agents WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL', [
    agentId,
    tenantId,
  ]);
  return row !== undefined;
}
