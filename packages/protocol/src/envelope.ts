/**
 * The end-to-end envelope between the cloud and one agent.
 *
 * - The secret part of a request (passwords) is sealed to the agent's X25519 key: an ephemeral
 *   X25519 agreement, HKDF-SHA256 (salt = request id), AES-256-GCM, with the request metadata as
 *   associated data, so the relay can neither read it nor move it onto another request.
 * - The whole request is signed by the cloud (Ed25519), so the relay cannot forge or alter one.
 * - The agent's answer is sealed (AES-256-GCM) under a key derived with its own label from the
 *   same ephemeral agreement (`answer: 'sealed'` in the signed request): only the agent holding the
 *   X25519 private key can produce it, and the relay can neither read nor forge the outcome. Agents
 *   that do not announce the `sealedAnswers` capability (older releases) sign their answer with
 *   Ed25519 instead; the cloud accepts that form only from them.
 * - A request id, issue time and deadline let the agent refuse stale and replayed requests.
 * - One file (over 400 lines) on purpose: sealing, opening, signing and verifying share the
 *   context strings, the key derivation and the associated-data encoding, which stay private here
 *   so nothing outside this module can seal or sign under them.
 */
import {
  createCipheriv,
  createDecipheriv,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { ProtocolError } from './errors.js';
import { PublicKeySchema, publicKeyObject } from './keys.js';
import {
  OPERATION_SCHEMAS,
  OperationNameSchema,
  resultData,
  type OperationData,
  type OperationName,
  type OperationRequest,
} from './operations.js';
import { OperationResultSchema, type OperationResult } from './outcomes.js';

export const PROTOCOL_VERSION = 1 as const;

/**
 * The capability an agent announces (in its `auth` frame) when it can seal its answers: the cloud
 * then asks it for sealed answers and accepts nothing else from it.
 */
export const SEALED_ANSWERS_CAPABILITY = 'sealedAnswers';

/** Longest a request may live: the agent refuses deadlines further away than this. */
export const MAX_REQUEST_LIFETIME_MS = 5 * 60_000;
/** Clock skew tolerated between cloud and agent. */
export const MAX_CLOCK_SKEW_MS = 2 * 60_000;

const B64 = z
  .string()
  .regex(/^[A-Za-z0-9_-]*$/)
  .max(16_384);
/** Base64url of a sealed answer: up to a whole frame's size (64 KiB), checked by the frame schema too. */
const SEALED_ANSWER_B64 = z
  .string()
  .regex(/^[A-Za-z0-9_-]*$/)
  .max(64 * 1024);
const IdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/);

export const SealedSchema = z.object({
  epk: PublicKeySchema,
  iv: B64.length(16),
  ct: B64,
});
export type Sealed = z.infer<typeof SealedSchema>;

export const RequestEnvelopeSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  requestId: IdSchema,
  tenantId: IdSchema,
  agentId: IdSchema,
  op: OperationNameSchema,
  issuedAt: z.number().int().nonnegative(),
  deadline: z.number().int().nonnegative(),
  params: z.record(z.string(), z.unknown()),
  sealed: SealedSchema.optional(),
  /**
   * The cloud asks for a sealed answer (see the module header); `sealed` is then always present,
   * carrying `null` for an operation without a secret, so the agreement exists for every request.
   */
  answer: z.literal('sealed').optional(),
  sig: B64.length(86),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelopeSchema>;

const ResponseHeaderSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  requestId: IdSchema,
  tenantId: IdSchema,
  agentId: IdSchema,
  op: OperationNameSchema,
});

/** An answer signed with the agent's Ed25519 key (agents without the `sealedAnswers` capability). */
export const SignedResponseEnvelopeSchema = ResponseHeaderSchema.extend({
  completedAt: z.number().int().nonnegative(),
  result: OperationResultSchema,
  sig: B64.length(86),
});
export type SignedResponseEnvelope = z.infer<typeof SignedResponseEnvelopeSchema>;

/** An answer sealed under the request's answer key: `{completedAt, result}` inside, the header as AAD. */
export const SealedResponseEnvelopeSchema = ResponseHeaderSchema.extend({
  // A sealed answer is as large as the answer it carries, base64 (4/3): a full sync batch
  // (MAX_SYNC_BATCH_BYTES of JSON) must fit; the frame limit (MAX_FRAME_BYTES) bounds it anyway.
  sealed: z.object({ iv: B64.length(16), ct: SEALED_ANSWER_B64 }),
});
export type SealedResponseEnvelope = z.infer<typeof SealedResponseEnvelopeSchema>;

export const ResponseEnvelopeSchema = z.union([SealedResponseEnvelopeSchema, SignedResponseEnvelopeSchema]);
export type ResponseEnvelope = z.infer<typeof ResponseEnvelopeSchema>;

/** An agent's answer once its seal or signature is checked. */
export interface VerifiedResponse {
  requestId: string;
  tenantId: string;
  agentId: string;
  op: OperationName;
  completedAt: number;
  result: OperationResult;
}

const REQUEST_CONTEXT = 'writeback/v1/request\n';
const RESPONSE_CONTEXT = 'writeback/v1/response\n';
const SEAL_INFO = 'writeback/v1/seal';
const ANSWER_INFO = 'writeback/v1/answer';

function signBytes(context: string, body: unknown, key: KeyObject): string {
  return sign(null, Buffer.from(context + canonicalJson(body)), key).toString('base64url');
}

function verifyBytes(context: string, body: unknown, sig: string, key: KeyObject): boolean {
  const sigBuf = Buffer.from(sig, 'base64url');
  if (sigBuf.length !== 64) return false;
  try {
    return verify(null, Buffer.from(context + canonicalJson(body)), key, sigBuf);
  } catch {
    return false;
  }
}

/** The associated data bound into the AEAD: everything about the request except the ciphertext. */
function associatedData(h: Omit<RequestEnvelope, 'sealed' | 'sig'>): Buffer {
  return Buffer.from(
    canonicalJson({
      v: h.v,
      requestId: h.requestId,
      tenantId: h.tenantId,
      agentId: h.agentId,
      op: h.op,
      issuedAt: h.issuedAt,
      deadline: h.deadline,
      params: h.params,
      ...(h.answer ? { answer: h.answer } : {}),
    }),
  );
}

function deriveKey(
  shared: Buffer,
  requestId: string,
  epk: string,
  recipient: string,
  label: typeof SEAL_INFO | typeof ANSWER_INFO = SEAL_INFO,
): Buffer {
  return Buffer.from(
    hkdfSync('sha256', shared, Buffer.from(requestId), Buffer.from(`${label}|${epk}|${recipient}`), 32),
  );
}

/** The associated data of a sealed answer: who answers what (the ciphertext carries the rest). */
function answerAssociatedData(h: { v: number; requestId: string; tenantId: string; agentId: string; op: string }) {
  return Buffer.from(
    canonicalJson({ v: h.v, requestId: h.requestId, tenantId: h.tenantId, agentId: h.agentId, op: h.op }),
  );
}

function gcmSeal(key: Buffer, aad: Buffer, plain: Buffer): { iv: string; ct: string } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return { iv: iv.toString('base64url'), ct: ct.toString('base64url') };
}

/** Throws when the tag does not verify; the caller maps that to its own code. */
function gcmOpen(key: Buffer, aad: Buffer, sealed: { iv: string; ct: string }): Buffer {
  const ct = Buffer.from(sealed.ct, 'base64url');
  if (ct.length < 16) throw new Error('short ciphertext');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
  decipher.setAAD(aad);
  decipher.setAuthTag(ct.subarray(ct.length - 16));
  return Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()]);
}

/**
 * The key an agent seals its answer to one request under, known only to the cloud (which kept it
 * from sealing) and the agent (which derived it when opening). Zero it with `fill(0)` once used.
 */
export type AnswerKey = Buffer;

/**
 * One ephemeral X25519 agreement with a recipient: the ephemeral public key that travels and the
 * shared secret; the ephemeral private key is dropped as soon as the secret is computed.
 */
export interface EphemeralAgreement {
  epk: string;
  shared: Buffer;
}

export function agreeEphemeral(recipient: string): EphemeralAgreement {
  const eph = generateKeyPairSync('x25519');
  const epk = String(eph.publicKey.export({ format: 'jwk' }).x);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicKeyObject('X25519', recipient) });
  return { epk, shared };
}

/**
 * Computes the next request's ephemeral agreement for a recipient ahead of time, while the sender
 * waits for the current answer, so the key generation and the agreement (about half the cost of
 * sealing) are off the request's path. Each agreement is still used once: `take` hands the ready
 * one over and schedules the next. At most one is kept per recipient, for `maxRecipients`.
 */
export class EphemeralPool {
  readonly #ready = new Map<string, EphemeralAgreement>();
  readonly #scheduled = new Set<string>();
  readonly #max: number;
  constructor(maxRecipients = 1_000) {
    this.#max = maxRecipients;
  }
  take(recipient: string): EphemeralAgreement {
    const ready = this.#ready.get(recipient);
    if (ready) this.#ready.delete(recipient);
    this.#refill(recipient);
    return ready ?? agreeEphemeral(recipient);
  }
  #refill(recipient: string): void {
    if (this.#scheduled.has(recipient)) return;
    this.#scheduled.add(recipient);
    setImmediate(() => {
      this.#scheduled.delete(recipient);
      if (this.#ready.has(recipient)) return;
      if (this.#ready.size >= this.#max) {
        const oldest = this.#ready.keys().next().value;
        if (oldest !== undefined) this.#drop(oldest);
      }
      try {
        this.#ready.set(recipient, agreeEphemeral(recipient));
      } catch {
        // Not a valid key: take() computes inline and reports it there.
      }
    }).unref();
  }
  #drop(recipient: string): void {
    this.#ready.get(recipient)?.shared.fill(0);
    this.#ready.delete(recipient);
  }
  /** Forget every precomputed agreement (the secrets are zeroed). */
  clear(): void {
    for (const r of [...this.#ready.keys()]) this.#drop(r);
  }
  get size(): number {
    return this.#ready.size;
  }
}

export interface SealOptions {
  request: OperationRequest;
  tenantId: string;
  agentId: string;
  /** The agent's X25519 public key (base64url). */
  agentEncryptionKey: string;
  /** The cloud's Ed25519 private key. */
  cloudSigningKey: KeyObject;
  deadline: number;
  now?: number;
  requestId?: string;
  /** Precomputed ephemeral agreements (see EphemeralPool); default: computed here. */
  ephemeral?: EphemeralPool;
}

/** Seal and sign a request for one agent, whose answer is to be signed (older agents). */
export function sealRequest(o: SealOptions): RequestEnvelope {
  return seal(o, false).envelope;
}

/**
 * Seal and sign a request for one agent and ask for a sealed answer: returns the envelope and the
 * answer key to open the answer with ({@link openParsedResponse}). For agents announcing the
 * `sealedAnswers` capability.
 */
export function sealRequestForSealedAnswer(o: SealOptions): { envelope: RequestEnvelope; answerKey: AnswerKey } {
  const { envelope, answerKey } = seal(o, true);
  if (!answerKey) throw new ProtocolError('invalid_params', 'no answer key was derived');
  return { envelope, answerKey };
}

function seal(o: SealOptions, sealAnswer: boolean): { envelope: RequestEnvelope; answerKey?: AnswerKey } {
  const now = o.now ?? Date.now();
  const header = {
    v: PROTOCOL_VERSION,
    requestId: o.requestId ?? randomUUID(),
    tenantId: o.tenantId,
    agentId: o.agentId,
    op: o.request.op,
    issuedAt: now,
    deadline: o.deadline,
    params: o.request.params as Record<string, unknown>,
    ...(sealAnswer ? { answer: 'sealed' as const } : {}),
  };
  let sealed: Sealed | undefined;
  let answerKey: AnswerKey | undefined;
  if (o.request.secret !== undefined || sealAnswer) {
    const { epk, shared } = o.ephemeral ? o.ephemeral.take(o.agentEncryptionKey) : agreeEphemeral(o.agentEncryptionKey);
    const key = deriveKey(shared, header.requestId, epk, o.agentEncryptionKey);
    if (sealAnswer) answerKey = deriveKey(shared, header.requestId, epk, o.agentEncryptionKey, ANSWER_INFO);
    shared.fill(0);
    const plain = Buffer.from(JSON.stringify(o.request.secret ?? null));
    sealed = { epk, ...gcmSeal(key, associatedData(header), plain) };
    plain.fill(0);
    key.fill(0);
  }
  const unsigned = sealed ? { ...header, sealed } : header;
  return { envelope: { ...unsigned, sig: signBytes(REQUEST_CONTEXT, unsigned, o.cloudSigningKey) }, answerKey };
}

/** Remembers request ids until their deadline, so a replay inside the window is refused. */
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;
  constructor(maxEntries = 100_000) {
    this.#max = maxEntries;
  }
  /** Returns false when the id was seen already (a replay); records it otherwise. */
  remember(requestId: string, expiresAt: number, now: number): boolean {
    const prior = this.#seen.get(requestId);
    if (prior !== undefined && prior >= now) return false;
    if (this.#seen.size >= this.#max) this.sweep(now);
    // Still full of live entries: refuse rather than forget one that could be replayed.
    if (this.#seen.size >= this.#max) return false;
    this.#seen.set(requestId, expiresAt + MAX_CLOCK_SKEW_MS);
    return true;
  }
  sweep(now: number): void {
    for (const [id, exp] of this.#seen) if (exp < now) this.#seen.delete(id);
  }
  get size(): number {
    return this.#seen.size;
  }
}

export interface OpenOptions {
  cloudVerifyKey: KeyObject;
  agentDecryptionKey: KeyObject;
  agentEncryptionPublicKey: string;
  agentId: string;
  tenantId: string;
  replay: ReplayCache;
  now?: number;
  /** Requests issued before this time are refused (e.g. before the agent started: its replay cache is empty). */
  notIssuedBefore?: number;
}

export type OpenedRequest = OperationRequest & {
  requestId: string;
  deadline: number;
  issuedAt: number;
  /** Present when the cloud asked for a sealed answer: seal it with {@link sealResponse}. */
  answerKey?: AnswerKey;
};

/**
 * Verify, check freshness, decrypt and parse a request. Throws ProtocolError with a stable code;
 * nothing may be acted on unless this returns.
 */
export function openRequest(raw: unknown, o: OpenOptions): OpenedRequest {
  const parsed = RequestEnvelopeSchema.safeParse(raw);
  if (!parsed.success) throw new ProtocolError('malformed_frame', 'request envelope does not match the schema');
  return openParsedRequest(parsed.data, o);
}

/**
 * As {@link openRequest}, for an envelope already parsed with RequestEnvelopeSchema (e.g. inside a
 * frame parsed with the frame schemas): the hot path parses each frame once.
 */
export function openParsedRequest(env: RequestEnvelope, o: OpenOptions): OpenedRequest {
  const { sig, ...unsigned } = env;
  if (!verifyBytes(REQUEST_CONTEXT, unsigned, sig, o.cloudVerifyKey))
    throw new ProtocolError('bad_signature', 'request signature does not verify');
  if (env.tenantId !== o.tenantId) throw new ProtocolError('wrong_tenant', 'request is for another tenant');
  if (env.agentId !== o.agentId) throw new ProtocolError('wrong_agent', 'request is for another agent');
  const now = o.now ?? Date.now();
  if (env.deadline <= now) throw new ProtocolError('expired', 'request deadline has passed');
  if (env.issuedAt > now + MAX_CLOCK_SKEW_MS) throw new ProtocolError('not_yet_valid', 'request issued in the future');
  if (o.notIssuedBefore !== undefined && env.issuedAt < o.notIssuedBefore)
    throw new ProtocolError('expired', 'request issued before this agent started');
  if (env.deadline - env.issuedAt > MAX_REQUEST_LIFETIME_MS)
    throw new ProtocolError('deadline_too_far', 'request lifetime exceeds the maximum');
  const schemas = OPERATION_SCHEMAS[env.op as OperationName];
  const params = schemas.params.safeParse(env.params);
  if (!params.success) throw new ProtocolError('invalid_params', `invalid params for ${env.op}`);
  let secret: unknown;
  let answerKey: AnswerKey | undefined;
  if (env.answer === 'sealed' && !env.sealed)
    throw new ProtocolError('invalid_params', 'a sealed answer needs the request sealed');
  if (!schemas.secret && env.sealed && env.answer !== 'sealed')
    throw new ProtocolError('invalid_params', `${env.op} carries no secret`);
  if (schemas.secret && !env.sealed) throw new ProtocolError('invalid_params', `${env.op} needs a sealed secret`);
  if (env.sealed) {
    let plain: Buffer;
    try {
      // One ephemeral key per request: not worth a place in publicKeyObject's cache.
      const shared = diffieHellman({
        privateKey: o.agentDecryptionKey,
        publicKey: publicKeyObject('X25519', env.sealed.epk, { cache: false }),
      });
      const key = deriveKey(shared, env.requestId, env.sealed.epk, o.agentEncryptionPublicKey);
      if (env.answer === 'sealed')
        answerKey = deriveKey(shared, env.requestId, env.sealed.epk, o.agentEncryptionPublicKey, ANSWER_INFO);
      shared.fill(0);
      plain = gcmOpen(key, associatedData(env), env.sealed);
      key.fill(0);
    } catch (cause) {
      answerKey?.fill(0);
      throw new ProtocolError('bad_ciphertext', 'sealed secret does not decrypt', { cause });
    }
    let json: unknown;
    try {
      json = JSON.parse(plain.toString('utf8'));
    } catch (cause) {
      answerKey?.fill(0);
      throw new ProtocolError('bad_ciphertext', 'sealed secret is not JSON', { cause });
    } finally {
      plain.fill(0);
    }
    if (schemas.secret) {
      const s = schemas.secret.safeParse(json);
      if (!s.success) {
        answerKey?.fill(0);
        throw new ProtocolError('invalid_params', `invalid secret for ${env.op}`);
      }
      secret = s.data;
    } else if (json !== null) {
      answerKey?.fill(0);
      throw new ProtocolError('invalid_params', `${env.op} carries no secret`);
    }
  }
  // Replay is recorded last: a request refused for another reason does not burn its id.
  if (!o.replay.remember(env.requestId, env.deadline, now)) {
    answerKey?.fill(0);
    throw new ProtocolError('replayed', 'request id was seen before');
  }
  return {
    op: env.op,
    params: params.data,
    secret,
    requestId: env.requestId,
    deadline: env.deadline,
    issuedAt: env.issuedAt,
    ...(answerKey ? { answerKey } : {}),
  } as OpenedRequest;
}

export interface SignResponseOptions {
  request: { requestId: string; tenantId: string; agentId: string; op: OperationName };
  result: OperationResult;
  agentSigningKey: KeyObject;
  now?: number;
}

/** An answer signed with the agent's Ed25519 key: for requests that did not ask for a sealed one. */
export function signResponse(o: SignResponseOptions): SignedResponseEnvelope {
  const unsigned = {
    v: PROTOCOL_VERSION,
    requestId: o.request.requestId,
    tenantId: o.request.tenantId,
    agentId: o.request.agentId,
    op: o.request.op,
    completedAt: o.now ?? Date.now(),
    result: o.result,
  };
  return { ...unsigned, sig: signBytes(RESPONSE_CONTEXT, unsigned, o.agentSigningKey) };
}

export interface SealResponseOptions {
  request: { requestId: string; tenantId: string; agentId: string; op: OperationName };
  result: OperationResult;
  /** The request's answer key ({@link OpenedRequest.answerKey}); the caller zeroes it afterwards. */
  answerKey: AnswerKey;
  now?: number;
}

/** An answer sealed under the request's answer key (the cloud asked with `answer: 'sealed'`). */
export function sealResponse(o: SealResponseOptions): SealedResponseEnvelope {
  const header = {
    v: PROTOCOL_VERSION,
    requestId: o.request.requestId,
    tenantId: o.request.tenantId,
    agentId: o.request.agentId,
    op: o.request.op,
  };
  const plain = Buffer.from(JSON.stringify({ completedAt: o.now ?? Date.now(), result: o.result }));
  return { ...header, sealed: gcmSeal(o.answerKey, answerAssociatedData(header), plain) };
}

/** Verify an agent's answer to a request the cloud sent. Throws ProtocolError. */
export interface ResponseExpectation {
  requestId: string;
  tenantId: string;
  agentId: string;
  op: OperationName;
  /** The agent's Ed25519 key: checks a signed answer. */
  agentVerifyKey?: KeyObject;
  /**
   * The request's answer key, when the cloud asked for a sealed answer: only a sealed answer that
   * opens under it is accepted (a signed one is refused, so nobody can downgrade the answer).
   */
  answerKey?: AnswerKey;
}

export function verifyResponse(raw: unknown, expect: ResponseExpectation): VerifiedResponse {
  const parsed = ResponseEnvelopeSchema.safeParse(raw);
  if (!parsed.success) throw new ProtocolError('malformed_frame', 'response envelope does not match the schema');
  return verifyParsedResponse(parsed.data, expect);
}

const SealedAnswerBodySchema = z.object({
  completedAt: z.number().int().nonnegative(),
  result: OperationResultSchema,
});

/** As {@link verifyResponse}, for an envelope already parsed with ResponseEnvelopeSchema. */
export function verifyParsedResponse(env: ResponseEnvelope, expect: ResponseExpectation): VerifiedResponse {
  let body: { completedAt: number; result: OperationResult };
  if (expect.answerKey) {
    if (!('sealed' in env)) throw new ProtocolError('bad_signature', 'a sealed answer was expected');
    let plain: Buffer;
    try {
      plain = gcmOpen(expect.answerKey, answerAssociatedData(env), env.sealed);
    } catch (cause) {
      throw new ProtocolError('bad_ciphertext', 'the sealed answer does not open', { cause });
    }
    let json: unknown;
    try {
      json = JSON.parse(plain.toString('utf8'));
    } catch (cause) {
      throw new ProtocolError('malformed_frame', 'the sealed answer is not JSON', { cause });
    }
    const parsed = SealedAnswerBodySchema.safeParse(json);
    if (!parsed.success) throw new ProtocolError('malformed_frame', 'the sealed answer does not match the schema');
    body = parsed.data;
  } else {
    if (!('sig' in env) || !expect.agentVerifyKey)
      throw new ProtocolError('bad_signature', 'a signed answer was expected');
    const { sig, ...unsigned } = env;
    if (!verifyBytes(RESPONSE_CONTEXT, unsigned, sig, expect.agentVerifyKey))
      throw new ProtocolError('bad_signature', 'response signature does not verify');
    body = env;
  }
  if (env.requestId !== expect.requestId || env.op !== expect.op)
    throw new ProtocolError('malformed_frame', 'response is for another request');
  if (env.tenantId !== expect.tenantId) throw new ProtocolError('wrong_tenant', 'response from another tenant');
  if (env.agentId !== expect.agentId) throw new ProtocolError('wrong_agent', 'response from another agent');
  return {
    requestId: env.requestId,
    tenantId: env.tenantId,
    agentId: env.agentId,
    op: env.op,
    completedAt: body.completedAt,
    result: body.result,
  };
}

/**
 * The typed success data of a verified answer to an `op` request (see {@link resultData}): null
 * when the answer is for another operation, did not succeed, or its data does not match.
 */
export function responseData<Op extends OperationName>(env: VerifiedResponse, op: Op): OperationData<Op> | null {
  return env.op === op ? resultData(op, env.result) : null;
}

/** Generic signed statement helpers (agent certificates, auth proofs). */
export function signStatement(context: string, body: unknown, key: KeyObject): string {
  return signBytes(`writeback/v1/${context}\n`, body, key);
}
export function verifyStatement(context: string, body: unknown, sig: string, key: KeyObject): boolean {
  return verifyBytes(`writeback/v1/${context}\n`, body, sig, key);
}
