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
import {
  getAgent as getStoredAgent,
  insertAgent,
  isLiveAgent,
  listTenantAgents as listStoredAgents,
  revokeAgent as revokeStoredAgent,
  touchAgent,
  type RegisteredAgent,
} from '../store/agents.js';
import { consumeAgentToken, getAgentToken } from '../store/agent-tokens.js';
import type { Db } from '../store/index.js';

export type { RegisteredAgent } from '../store/agents.js';

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
    const tok = parsed ? await getAgentToken(t, parsed.id) : undefined;
    const matches = secretMatches(secret, tok?.secretHash);
    if (!matches || !tok || tok.usedAt !== null || tok.expiresAt <= now) throw invalidToken();
    const agentId = newId('a');
    if (!(await consumeAgentToken(t, tok.id, agentId, now))) throw invalidToken();
    try {
      await insertAgent(t, {
        id: agentId,
        tenantId: tok.tenantId,
        name: input.name,
        signingKey: input.signingKey,
        encryptionKey: input.encryptionKey,
        directory: input.directory,
        version: input.agentVersion,
        registeredAt: now,
      });
    } catch (err) {
      if (err instanceof CloudError && err.code === 'conflict')
        throw new CloudError('conflict', 'an agent with this signing key is registered already', { cause: err });
      throw err;
    }
    const certificate = issueAgentCertificate(
      {
        agentId,
        tenantId: tok.tenantId,
        name: input.name,
        signingKey: input.signingKey,
        encryptionKey: input.encryptionKey,
        issuedAt: now,
      },
      cloudKey.privateKey,
    );
    return { agentId, tenantId: tok.tenantId, certificate, cloudSigningKey: cloudKey.publicKey };
  });
}

export async function getAgent(db: Db, agentId: string): Promise<RegisteredAgent | undefined> {
  return getStoredAgent(db, agentId);
}

export async function listTenantAgents(
  db: Db,
  tenantId: string,
  o: { includeRevoked?: boolean } = {},
): Promise<RegisteredAgent[]> {
  return listStoredAgents(db, tenantId, o);
}

/** Revoke an agent of a tenant; false when there is no such live agent. */
export async function revokeAgent(db: Db, tenantId: string, agentId: string, now: number): Promise<boolean> {
  return revokeStoredAgent(db, tenantId, agentId, now);
}

/** Record what the relay saw of connected agents (last seen, version). */
export async function touchAgents(
  db: Db,
  seen: readonly { agentId: string; lastSeenAt: number; agentVersion: string }[],
): Promise<void> {
  for (const s of seen) await touchAgent(db, s.agentId, s.lastSeenAt, s.agentVersion.slice(0, 64));
}

/** The relay's admission check: a certificate is honoured only while its agent is registered and not revoked. */
export function agentGate(db: Db): AgentGate {
  return (agentId, tenantId) => isLiveAgent(db, agentId, tenantId);
}
