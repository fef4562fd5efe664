/**
 * An agent's identity as a registration leaves it: its signing and encryption key pairs and the
 * certificate the cloud issued for them, made here with the test's cloud keys (or any other
 * issuer, to forge one). The relay's scripted agents and the agent's own states are built on it.
 */
import type { KeyObject } from 'node:crypto';
import {
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  issueAgentCertificate,
  privateKeyObject,
  type AgentCertificate,
  type KeyPair,
} from '@writeback/protocol';

export interface AgentIdentity {
  agentId: string;
  tenantId: string;
  certificate: AgentCertificate;
  signing: KeyPair;
  encryption: KeyPair;
  /** The private half of `signing`, as responses and auth proofs are signed with. */
  signingKey: KeyObject;
}

/** New keys for agent `agentId` of `tenantId` (named `agent <agentId>`), certified by `issuer`. */
export function makeAgentIdentity(
  cloud: { signingKey: KeyObject },
  tenantId: string,
  agentId: string,
  issuer: KeyObject = cloud.signingKey,
): AgentIdentity {
  const signing = generateSigningKeyPair();
  const encryption = generateEncryptionKeyPair();
  const certificate = issueAgentCertificate(
    {
      agentId,
      tenantId,
      name: `agent ${agentId}`,
      signingKey: signing.publicKey,
      encryptionKey: encryption.publicKey,
      issuedAt: Date.now(),
    },
    issuer,
  );
  return { agentId, tenantId, certificate, signing, encryption, signingKey: privateKeyObject(signing.privateJwk) };
}
