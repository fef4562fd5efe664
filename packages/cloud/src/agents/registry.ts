/**
 * Registered agents: registration (token → agent + certificate), lookups for the writeback
 * service, the relay's gate, listing with live presence, and revocation.
 *
 * Registration is one transaction: the token is consumed with a conditional UPDATE (exactly one
 * concurrent caller can win it) and the agent row inserted; if the insert fails the token is
 * still unused.
 */
import { z } from 'zod';
import { issueAgentCertificate, PublicKeySchema, type AgentCertificate } from '@writeback/protocol';
import type { AgentGate } from '@writeback/relay';
import { parseToken, secretMatches } from '../auth/tokens.js';
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import type { CloudSigningKey } from '../keys/cloud-key.js';
import { parseRow, parseRows, type Db } from '../store/index.js';

/** What an agent sends to register (the token is its only credential). */
export const RegisterAgentSchema = z.object({
  token: z.string().min(1).max(200),
  name: z.string().trim().min(1).max(128),
  signingKey: PublicKeySchema,
  encryptionKey: PublicKeySchema,
  agentVersion: z.string().min(1).max(64),
  directory: z.string().regex(/^[a-z0-9_-]{1,32}$/),
});
export type RegisterAgentInput = z.infer<typeof RegisterAgentSchema>;

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
    registered_at: z.number(),
    revoked_at: z.number().nullable(),
    last_seen_at: z.number().nullable(),
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

const TokenRow = z.object({
  id: z.string(),
  tenant_id: z.string(),
  secret_hash: z.string(),
  expires_at: z.number(),
  used_at: z.number().nullable(),
});

export interface Registration {
  agentId: string;
  tenantId: string;
  certificate: AgentCertificate;
  cloudSigningKey: string;
}

const invalidToken = (): CloudError => new CloudError('invalid_token', 'the registration token is not valid');

/**
 * Register an agent with a one-time token. Unknown, wrong, used and expired tokens all fail the
 * same way (`invalid_token`), after the same constant-time comparison.
 */
export async function registerAgent(
  db: Db,
  input: RegisterAgentInput,
  cloudKey: CloudSigningKey,
  now: number,
): Promise<Registration> {
  const parsed = parseToken('wbt', input.token);
  // Hash anyway: a malformed token takes the same path as a wrong one.
  const secret = parsed?.secret ?? 'x'.repeat(43);
  return db.tx(async (t) => {
    const row = parsed
      ? await t.one('SELECT id, tenant_id, secret_hash, expires_at, used_at FROM agent_tokens WHERE id = ?', [
          parsed.id,
        ])
      : undefined;
    const tok = row ? parseRow(TokenRow, row) : undefined;
    const matches = secretMatches(secret, tok?.secret_hash);
    if (!matches || !tok || tok.used_at !== null || tok.expires_at <= now) throw invalidToken();
    const agentId = newId('a');
    const won = await t.exec(
      'UPDATE agent_tokens SET used_at = ?, used_by_agent = ? WHERE id = ? AND used_at IS NULL',
      [now, agentId, tok.id],
    );
    if (won.changes !== 1) throw invalidToken();
    try {
      await t.exec(`INSERT INTO agents (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`, [
        agentId,
        tok.tenant_id,
        input.name,
        input.signingKey,
        input.encryptionKey,
        input.directory,
        input.agentVersion,
        now,
      ]);
    } catch (err) {
      if (err instanceof CloudError && err.code === 'conflict')
        throw new CloudError('conflict', 'an agent with this signing key is registered already', { cause: err });
      throw err;
    }
    const certificate = issueAgentCertificate(
      {
        agentId,
        tenantId: tok.tenant_id,
        name: input.name,
        signingKey: input.signingKey,
        encryptionKey: input.encryptionKey,
        issuedAt: now,
      },
      cloudKey.privateKey,
    );
    return { agentId, tenantId: tok.tenant_id, certificate, cloudSigningKey: cloudKey.publicKey };
  });
}

export async function getAgent(db: Db, agentId: string): Promise<RegisteredAgent | undefined> {
  const row = await db.one(`SELECT ${COLUMNS} FROM agents WHERE id = ?`, [agentId]);
  return row ? parseRow(AgentRow, row) : undefined;
}

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

/** Revoke an agent of a tenant; false when there is no such live agent. */
export async function revokeAgent(db: Db, tenantId: string, agentId: string, now: number): Promise<boolean> {
  const r = await db.exec('UPDATE agents SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL', [
    now,
    agentId,
    tenantId,
  ]);
  return r.changes === 1;
}

/** Record what the relay saw of connected agents (last seen, version). */
export async function touchAgents(
  db: Db,
  seen: readonly { agentId: string; lastSeenAt: number; agentVersion: string }[],
): Promise<void> {
  for (const s of seen) {
    await db.exec(
      'UPDATE agents SET last_seen_at = ?, version = ? WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)',
      [s.lastSeenAt, s.agentVersion.slice(0, 64), s.agentId, s.lastSeenAt],
    );
  }
}

/** The relay's admission check: a certificate is honoured only while its agent is registered and not revoked. */
export function agentGate(db: Db): AgentGate {
  return async (agentId, tenantId) => {
    const row = await db.one('SELECT 1 AS ok FROM agents WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL', [
      agentId,
      tenantId,
    ]);
    return row !== undefined;
  };
}
