/**
 * The agents repository: registered agents (their public keys, directory kind, version, when last
 * seen, revocation). Registration's rules (the one-time token, the certificate) are
 * agents/registry.ts's, which runs insertAgent in the transaction that consumes the token.
 */
import { z } from 'zod';
import { parseRow, parseRows, type Db } from './db.js';

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

const AgentRow = z
  .object({
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
  })
  .transform(
    (r): RegisteredAgent => ({
      id: r.id,
      tenantId: r.tenant_id,
      name: r.name,
      signingKey: r.signing_key,
      encryptionKey: r.encryption_key,
      directory: r.directory,
      version: r.version,
      registeredAt: r.registered_at,
      revokedAt: r.revoked_at,
      lastSeenAt: r.last_seen_at,
    }),
  );

const COLUMNS =
  'id, tenant_id, name, signing_key, encryption_key, directory, version, registered_at, revoked_at, last_seen_at';

/** Insert a new live agent; a signing key registered already is a `conflict`. */
export async function insertAgent(db: Db, a: Omit<RegisteredAgent, 'revokedAt' | 'lastSeenAt'>): Promise<void> {
  await db.exec(`INSERT INTO agents (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`, [
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
  const row = await db.one(`SELECT ${COLUMNS} FROM agents WHERE id = ?`, [agentId]);
  return row ? parseRow(AgentRow, row) : undefined;
}

/** A tenant's agents in registration order, live ones only unless `includeRevoked`. */
export async function listTenantAgents(
  db: Db,
  tenantId: string,
  o: { includeRevoked?: boolean } = {},
): Promise<RegisteredAgent[]> {
  const where = o.includeRevoked ? 'tenant_id = ?' : 'tenant_id = ? AND revoked_at IS NULL';
  return parseRows(
    AgentRow,
    await db.query(`SELECT ${COLUMNS} FROM agents WHERE ${where} ORDER BY registered_at, id`, [tenantId]),
  );
}

/** Revoke a live agent of a tenant; false when there is no such live agent. */
export async function revokeAgent(db: Db, tenantId: string, agentId: string, now: number): Promise<boolean> {
  const r = await db.exec('UPDATE agents SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL', [
    now,
    agentId,
    tenantId,
  ]);
  return r.changes === 1;
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
