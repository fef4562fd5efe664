/**
 * Self-service reset flows ("forgot password"): one stored record per attempt, bound to the
 * browser by a cookie `wb-flow` = `<id>.<secret>` (only SHA-256(secret) is stored), with its own
 * CSRF token, an expiry and a state machine. Every handler calls `assertValid(flow, now)` first.
 *
 *   (start: user name typed; known, unknown and out-of-scope users all get a flow)
 *        │
 *        ▼
 *   ┌─────────┐  method passed, verified < required   ┌─────────┐
 *   │ started │ ─────────────────────────────────────▶│ started │ (verified(n), n grows)
 *   └─────────┘                                       └─────────┘
 *        │ method passed, verified == required             │
 *        ▼                                                  │
 *   ┌──────────┐  reset/unlock claimed (atomic)  ┌──────┐   │
 *   │ verified │ ───────────────────────────────▶│ done │   │
 *   └──────────┘ ◀─────────────────────────────── └──────┘   │
 *        │        directory refused, nothing written          │
 *        │        (policy_violation ...): back to verified    │
 *        ▼                                                    ▼
 *   ┌─────────┐  expiresAt passed, or MAX_FAILURES wrong answers, from any state
 *   │ expired │ ◀──────────────────────────────────────────────
 *   └─────────┘
 * A flow for an unknown or out-of-scope user (userKey null) can never pass a method, so it never
 * leaves `started`; it looks the same from outside.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { hashSecret, secretMatches } from '../auth/tokens.js';
import type { Services } from '../services.js';
import { parseRow } from '../store/index.js';
import { clearCookie, getCookie, setCookie } from './cookies.js';
import { METHOD_KINDS, QuestionIdSchema, type MethodKind, type QuestionId } from './methods.js';
import { isSecureSite, newCsrfToken } from './session.js';

export const FLOW_TTL_MS = 15 * 60_000;
export const FLOW_MAX_FAILURES = 5;
export const FLOW_COOKIE = 'wb-flow';

export const FLOW_STATES = ['started', 'verified', 'done', 'expired'] as const;
export type FlowState = (typeof FLOW_STATES)[number];

const FlowDataSchema = z.object({
  /** The method the person chose and is answering now. */
  current: z.enum(METHOD_KINDS).optional(),
  /** The questions asked (fixed per flow so a reload does not show new ones). */
  questions: z.array(QuestionIdSchema).optional(),
  /** Why the flow ended early, for the message. */
  endedBy: z.enum(['failures', 'time']).optional(),
});
export type FlowData = z.infer<typeof FlowDataSchema>;

export interface Flow {
  id: string;
  tenantId: string;
  kind: 'reset';
  /** The user's key in the pages' tables; null for an unknown or out-of-scope user name. */
  userKey: string | null;
  /** The user name as the directory is asked about it. */
  login: string;
  state: FlowState;
  verified: MethodKind[];
  required: number;
  csrfToken: string;
  failures: number;
  data: FlowData;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

const FlowRow = z
  .object({
    id: z.string(),
    secret_hash: z.string(),
    tenant_id: z.string(),
    kind: z.literal('reset'),
    user_key: z.string().nullable(),
    login: z.string(),
    state: z.enum(FLOW_STATES),
    verified: z.string(),
    required: z.coerce.number(),
    csrf_token: z.string(),
    failures: z.coerce.number(),
    data: z.string(),
    created_at: z.coerce.number(),
    updated_at: z.coerce.number(),
    expires_at: z.coerce.number(),
  })
  .transform((r) => {
    const json = (s: string): unknown => {
      try {
        return JSON.parse(s);
      } catch {
        return null;
      }
    };
    const verified = z.array(z.enum(METHOD_KINDS)).safeParse(json(r.verified));
    const data = FlowDataSchema.safeParse(json(r.data));
    const flow: Flow = {
      id: r.id,
      tenantId: r.tenant_id,
      kind: r.kind,
      userKey: r.user_key,
      login: r.login,
      state: r.state,
      verified: verified.success ? verified.data : [],
      required: r.required,
      csrfToken: r.csrf_token,
      failures: r.failures,
      data: data.success ? data.data : {},
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      expiresAt: r.expires_at,
    };
    return { flow, secretHash: r.secret_hash };
  });

export type FlowProblem = 'flow_missing' | 'flow_expired' | 'flow_done' | 'flow_locked';

export class FlowError extends Error {
  override readonly name = 'FlowError';
  readonly code: FlowProblem;
  constructor(code: FlowProblem) {
    super(code);
    this.code = code;
  }
}

/** The one check every flow handler starts with. */
export function assertValid(flow: Flow | null, now: number): asserts flow is Flow {
  if (!flow) throw new FlowError('flow_missing');
  if (flow.state === 'done') throw new FlowError('flow_done');
  if (flow.state === 'expired') throw new FlowError(flow.data.endedBy === 'failures' ? 'flow_locked' : 'flow_expired');
  if (now >= flow.expiresAt) throw new FlowError('flow_expired');
}

const COOKIE_VALUE = /^([0-9a-f]{24})\.([A-Za-z0-9_-]{43})$/;

export async function createFlow(
  services: Services,
  reply: FastifyReply,
  input: { tenantId: string; userKey: string | null; login: string; required: number; data?: FlowData },
): Promise<Flow> {
  const now = services.now();
  const id = randomBytes(12).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const flow: Flow = {
    id,
    tenantId: input.tenantId,
    kind: 'reset',
    userKey: input.userKey,
    login: input.login,
    state: 'started',
    verified: [],
    required: input.required,
    csrfToken: newCsrfToken(),
    failures: 0,
    data: input.data ?? {},
    createdAt: now,
    updatedAt: now,
    expiresAt: now + FLOW_TTL_MS,
  };
  await services.db.exec(
    `INSERT INTO web_flows (id, secret_hash, tenant_id, kind, user_key, login, state, verified, required, csrf_token, failures, data, created_at, updated_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      id,
      hashSecret(secret),
      flow.tenantId,
      flow.kind,
      flow.userKey,
      flow.login,
      flow.state,
      '[]',
      flow.required,
      flow.csrfToken,
      0,
      JSON.stringify(flow.data),
      now,
      now,
      flow.expiresAt,
    ],
  );
  setCookie(reply, FLOW_COOKIE, `${id}.${secret}`, {
    secure: isSecureSite(services),
    sameSite: 'Strict',
    maxAge: FLOW_TTL_MS / 1000,
  });
  return flow;
}

/** The flow the browser's cookie names, for this tenant, in whatever state (or null). */
export async function loadFlow(services: Services, req: FastifyRequest, tenantId: string): Promise<Flow | null> {
  const cookie = getCookie(req, FLOW_COOKIE, isSecureSite(services));
  const m = cookie ? COOKIE_VALUE.exec(cookie) : null;
  if (!m?.[1] || !m[2]) return null;
  const row = await services.db.one('SELECT * FROM web_flows WHERE id = ?', [m[1]]);
  const parsed = row ? parseRow(FlowRow, row) : undefined;
  if (!secretMatches(m[2], parsed?.secretHash) || !parsed) return null;
  return parsed.flow.tenantId === tenantId ? parsed.flow : null;
}

export function forgetFlow(services: Services, reply: FastifyReply): void {
  clearCookie(reply, FLOW_COOKIE, isSecureSite(services));
}

/** The token flow forms carry (route config `csrfExpected`). */
export async function flowCsrf(services: Services, req: FastifyRequest, tenantId: string): Promise<string | null> {
  return (await loadFlow(services, req, tenantId))?.csrfToken ?? null;
}

async function save(services: Services, flow: Flow, fromState: FlowState): Promise<boolean> {
  flow.updatedAt = services.now();
  const { changes } = await services.db.exec(
    'UPDATE web_flows SET state = ?, verified = ?, failures = ?, data = ?, updated_at = ? WHERE id = ? AND state = ?',
    [
      flow.state,
      JSON.stringify(flow.verified),
      flow.failures,
      JSON.stringify(flow.data),
      flow.updatedAt,
      flow.id,
      fromState,
    ],
  );
  return changes === 1;
}

export async function setCurrentMethod(
  services: Services,
  flow: Flow,
  kind: MethodKind,
  questions?: QuestionId[],
): Promise<void> {
  flow.data = { ...flow.data, current: kind, ...(questions ? { questions } : {}) };
  await save(services, flow, flow.state);
}

/** A method was passed: verified(n+1), and `verified` once enough methods passed. */
export async function recordPassed(services: Services, flow: Flow, kind: MethodKind): Promise<FlowState> {
  const from = flow.state;
  if (!flow.verified.includes(kind)) flow.verified = [...flow.verified, kind];
  const { current: _done, ...rest } = flow.data;
  flow.data = rest;
  if (flow.verified.length >= flow.required) flow.state = 'verified';
  await save(services, flow, from);
  return flow.state;
}

/** A wrong answer: counted; the flow ends after FLOW_MAX_FAILURES. Returns the tries left. */
export async function recordFailure(services: Services, flow: Flow): Promise<number> {
  const from = flow.state;
  flow.failures += 1;
  if (flow.failures >= FLOW_MAX_FAILURES) {
    flow.state = 'expired';
    flow.data = { ...flow.data, endedBy: 'failures' };
  }
  await save(services, flow, from);
  return Math.max(0, FLOW_MAX_FAILURES - flow.failures);
}

/**
 * Take the verified flow for one directory write (verified → done, atomically): a second
 * concurrent submission gets false and writes nothing.
 */
export async function claimForWrite(services: Services, flow: Flow): Promise<boolean> {
  if (flow.state !== 'verified') return false;
  flow.state = 'done';
  return save(services, flow, 'verified');
}

/** The directory refused and wrote nothing: the person may try again (done → verified). */
export async function releaseAfterRefusal(services: Services, flow: Flow): Promise<void> {
  flow.state = 'verified';
  await save(services, flow, 'done');
}

export async function sweepFlows(services: Services): Promise<number> {
  const now = services.now();
  return (await services.db.exec('DELETE FROM web_flows WHERE expires_at <= ?', [now - FLOW_TTL_MS])).changes;
}
