/**
 * WebSocket frames between an agent and the relay (JSON text frames, versioned by `v`).
 *
 *   relay → agent: challenge, welcome, request, ping, error
 *   agent → relay: auth, response, reject, pong (carrying the directory's health)
 *
 * Handshake: the relay sends `challenge` at once; the agent answers `auth` with its certificate
 * (issued by the cloud at registration) and a signature over the challenge; the relay answers
 * `welcome` or `error` + close. Heartbeats: the relay pings every `heartbeatMs`; a peer silent for
 * two intervals is dead (both sides apply the rule).
 */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ProtocolError, PROTOCOL_ERROR_CODES } from './errors.js';
import { PublicKeySchema, publicKeyObject } from './keys.js';
import {
  PROTOCOL_VERSION,
  RequestEnvelopeSchema,
  ResponseEnvelopeSchema,
  signStatement,
  verifyStatement,
} from './envelope.js';

/** Frames larger than this are refused before parsing. */
export const MAX_FRAME_BYTES = 64 * 1024;

const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/);
const Sig = z.string().regex(/^[A-Za-z0-9_-]{86}$/);

/** The cloud's statement that an agent with these keys belongs to this tenant. */
export const AgentCertificateSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  agentId: Id,
  tenantId: Id,
  name: z.string().min(1).max(128),
  signingKey: PublicKeySchema,
  encryptionKey: PublicKeySchema,
  issuedAt: z.number().int().nonnegative(),
  sig: Sig,
});
export type AgentCertificate = z.infer<typeof AgentCertificateSchema>;

export function issueAgentCertificate(
  body: Omit<AgentCertificate, 'sig' | 'v'>,
  cloudSigningKey: KeyObject,
): AgentCertificate {
  const unsigned = { v: PROTOCOL_VERSION, ...body };
  return { ...unsigned, sig: signStatement('agent-cert', unsigned, cloudSigningKey) };
}

export function verifyAgentCertificate(cert: AgentCertificate, cloudVerifyKey: KeyObject): boolean {
  const { sig, ...unsigned } = cert;
  return verifyStatement('agent-cert', unsigned, sig, cloudVerifyKey);
}

/** What the agent signs to prove it holds the certificate's key. */
export function authProofBody(nonce: string, relayId: string, cert: AgentCertificate) {
  return { nonce, relayId, agentId: cert.agentId, tenantId: cert.tenantId };
}
export function signAuthProof(
  nonce: string,
  relayId: string,
  cert: AgentCertificate,
  agentSigningKey: KeyObject,
): string {
  return signStatement('agent-auth', authProofBody(nonce, relayId, cert), agentSigningKey);
}
export function verifyAuthProof(nonce: string, relayId: string, cert: AgentCertificate, sig: string): boolean {
  return verifyStatement(
    'agent-auth',
    authProofBody(nonce, relayId, cert),
    sig,
    publicKeyObject('Ed25519', cert.signingKey),
  );
}

export const RELAY_ERROR_CODES = [
  ...PROTOCOL_ERROR_CODES,
  'auth_failed',
  'auth_timeout',
  /** The relay could not check the agent right now (the cloud's store, NATS, a timeout): retry soon. */
  'auth_unavailable',
  'agent_revoked',
  'unexpected_frame',
  'unknown_request',
  'overloaded',
] as const;
export type RelayErrorCode = (typeof RELAY_ERROR_CODES)[number];

const V = z.literal(PROTOCOL_VERSION);

export const RelayToAgentFrameSchema = z.discriminatedUnion('t', [
  z.object({
    v: V,
    t: z.literal('challenge'),
    nonce: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
    relayId: Id,
    serverTime: z.number().int(),
  }),
  z.object({ v: V, t: z.literal('welcome'), connectionId: Id, heartbeatMs: z.number().int().positive() }),
  z.object({ v: V, t: z.literal('request'), envelope: RequestEnvelopeSchema }),
  z.object({ v: V, t: z.literal('ping'), ts: z.number().int() }),
  z.object({
    v: V,
    t: z.literal('error'),
    code: z.enum(RELAY_ERROR_CODES),
    message: z.string().max(1024),
    requestId: Id.optional(),
  }),
]);
export type RelayToAgentFrame = z.infer<typeof RelayToAgentFrameSchema>;

/**
 * Whether the agent can reach its directory, as it last checked (`directory.health()` every few
 * seconds): `ok`, since when in that state (the agent's clock, epoch ms) and, when down, a short
 * safe detail (never a password; e.g. "connect ECONNREFUSED 10.0.0.5:636"). Routing skips an
 * agent whose directory is down (issue 12).
 */
export const DirectoryHealthReportSchema = z.object({
  ok: z.boolean(),
  since: z.number().int().nonnegative().max(8_640_000_000_000_000),
  detail: z.string().max(256).optional(),
});
export type DirectoryHealthReport = z.infer<typeof DirectoryHealthReportSchema>;

/** The `ts` of a pong sent on the agent's own initiative (it echoes no ping, so no round trip is measured from it). */
export const UNSOLICITED_PONG_TS = -1;

export const AgentToRelayFrameSchema = z.discriminatedUnion('t', [
  z.object({
    v: V,
    t: z.literal('auth'),
    certificate: AgentCertificateSchema,
    sig: Sig,
    agentVersion: z.string().max(64),
    directory: z.string().max(32),
    capabilities: z.record(z.string(), z.boolean()).optional(),
    /**
     * A check of the handshake only (`writeback-agent doctor`): the relay answers `welcome` or
     * `error` as for the agent itself, then closes at once; the connection never takes a request,
     * never counts as the agent being present and never takes one of the agent's slots.
     */
    probe: z.boolean().optional(),
  }),
  z.object({ v: V, t: z.literal('response'), envelope: ResponseEnvelopeSchema }),
  /** The agent refused a request before acting on it (bad signature, expired, replayed...). Nothing was written. */
  z.object({
    v: V,
    t: z.literal('reject'),
    requestId: Id,
    code: z.enum(PROTOCOL_ERROR_CODES),
    message: z.string().max(1024),
  }),
  /**
   * The heartbeat's answer. `directoryHealth` (optional, additive: an older relay ignores it) is
   * the agent's own directory as it last checked it; the agent also sends an unsolicited pong
   * (`ts` -1, which echoes no ping) when that state changes and right after `welcome`.
   */
  z.object({
    v: V,
    t: z.literal('pong'),
    ts: z.number().int(),
    directoryHealth: DirectoryHealthReportSchema.optional(),
  }),
]);
export type AgentToRelayFrame = z.infer<typeof AgentToRelayFrameSchema>;

/** Parse one text frame with a size limit and a schema. Throws ProtocolError. */
export function parseFrame<T>(data: string | Buffer, schema: z.ZodType<T>): T {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > MAX_FRAME_BYTES)
    throw new ProtocolError('frame_too_large', `frame of ${size} bytes exceeds ${MAX_FRAME_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (cause) {
    throw new ProtocolError('malformed_frame', 'frame is not JSON', { cause });
  }
  if (json !== null && typeof json === 'object' && 'v' in json && json.v !== PROTOCOL_VERSION) {
    throw new ProtocolError('unsupported_version', `protocol version ${String(json.v)} is not supported`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ProtocolError('malformed_frame', 'frame does not match the schema');
  return parsed.data;
}

export const encodeFrame = (frame: RelayToAgentFrame | AgentToRelayFrame): string => JSON.stringify(frame);
