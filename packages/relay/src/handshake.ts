/**
 * The relay's trust decision on an `auth` frame: does it prove an agent the cloud issued, for this
 * relay's challenge, and does the cloud still honour that agent? Kept apart from the socket so the
 * decision reads top to bottom in one place and every refusal carries its wire code. It imports
 * nothing of the hub; the connection acts on its verdict.
 */
import type { KeyObject } from 'node:crypto';
import { verifyAgentCertificate, verifyAuthProof, type AgentToRelayFrame, type Logger } from '@writeback/protocol';
import type { AgentGate } from './client.js';
import { RelayError } from './errors.js';

/** An authenticated agent, as its certificate and its `auth` frame describe it. */
export interface AgentIdentity {
  agentId: string;
  tenantId: string;
  name: string;
  agentVersion: string;
  directory: string;
  capabilities: Record<string, boolean>;
}

export type AuthFrame = Extract<AgentToRelayFrame, { t: 'auth' }>;

export type AuthVerdict =
  | { ok: true; identity: AgentIdentity }
  | { ok: false; code: 'auth_failed' | 'agent_revoked' | 'auth_unavailable'; message: string };

export interface HandshakeOptions {
  relayId: string;
  cloudVerifyKey: KeyObject;
  gate: AgentGate;
  /** Revocations this hub remembers (a stale gate may still say yes). */
  isRevoked: (agentId: string) => boolean;
  log: Logger;
}

const revoked: AuthVerdict = { ok: false, code: 'agent_revoked', message: 'agent has been revoked' };

/**
 * Check an `auth` frame answering `nonce`. Never throws. A gate that cannot tell right now (it
 * threw: store, NATS, timeout) refuses with `auth_unavailable`, which the agent retries soon;
 * only a gate that says no is `agent_revoked` (issue 11 item 6).
 */
export async function checkAuth(nonce: string, frame: AuthFrame, options: HandshakeOptions): Promise<AuthVerdict> {
  const cert = frame.certificate;
  let proofOk = false;
  try {
    proofOk =
      verifyAgentCertificate(cert, options.cloudVerifyKey) && verifyAuthProof(nonce, options.relayId, cert, frame.sig);
  } catch {
    proofOk = false; // a certificate key that is not a point on the curve
  }
  if (!proofOk) return { ok: false, code: 'auth_failed', message: 'certificate or proof does not verify' };
  if (options.isRevoked(cert.agentId)) return revoked;
  let allowed: boolean;
  try {
    allowed = await options.gate(cert.agentId, cert.tenantId);
  } catch (err) {
    options.log.error('agent gate failed; the agent is told to retry', {
      agentId: cert.agentId,
      err: RelayError.is(err) ? err : new RelayError('gate_failed', 'gate threw', { cause: err }),
    });
    return { ok: false, code: 'auth_unavailable', message: 'the agent could not be checked right now; retry' };
  }
  if (!allowed) return revoked;
  return {
    ok: true,
    identity: {
      agentId: cert.agentId,
      tenantId: cert.tenantId,
      name: cert.name,
      agentVersion: frame.agentVersion,
      directory: frame.directory,
      capabilities: frame.capabilities ?? {},
    },
  };
}
