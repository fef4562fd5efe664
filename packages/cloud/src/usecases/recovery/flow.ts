/**
 * The self-service recovery flow ("forgot password"), in the shape of ory/kratos's
 * `selfservice/flow/recovery`: one stored record per attempt (store/recovery-flows.ts), bound to
 * the browser by a token `<id>.<secret>` (only a hash of the secret is stored), with its own CSRF
 * token, an expiry, a guess counter and this state machine. Every step starts with
 * `assertValid(flow, now)`.
 *
 *   start (user name typed; known, unknown and out-of-scope users all get a flow)
 *     │
 *     ▼
 *   ┌───────────────┐ email/sms chosen: code sent  ┌───────────┐
 *   │ choose_method │ ────────────────────────────▶│ sent_code │──┐ resend / other method
 *   │               │ totp/questions chosen        ├───────────┤  │ (back through choose)
 *   │               │ ────────────────────────────▶│ verifying │◀─┘
 *   └───────────────┘                              └───────────┘
 *     ▲   method passed, verified < required            │ │ wrong answer: counted, stays
 *     └─────────────────────────────────────────────────┘ │
 *                      method passed, verified = required  ▼
 *   ┌──────┐  reset/unlock claimed (atomic)  ┌──────────┐
 *   │ done │ ◀───────────────────────────────│ verified │
 *   └──────┘ ───────────────────────────────▶└──────────┘
 *            directory refused, nothing written
 *
 *   sent_code/verifying ──FLOW_MAX_ATTEMPTS wrong answers──▶ failed   (flow_locked)
 *   any ──now ≥ expiresAt──▶ expired (read from expiresAt; `expired` is also what an unknown stored state reads as)
 *
 * Guesses are counted in the store before they are evaluated (RecoveryFlowPersister.reserveAttempt),
 * and given back when right, so FLOW_MAX_ATTEMPTS bounds the wrong answers evaluated even when
 * they arrive all at once, on any number of nodes. A flow for an unknown or out-of-scope user
 * (userKey null) can never pass a method, so it never leaves sent_code/verifying; it looks the same
 * from outside.
 */
import { randomBytes } from 'node:crypto';
import { hashSecret, secretMatches } from '../../auth/tokens.js';
import type { Services } from '../../services.js';
import {
  recoveryFlowPersister,
  type RecoveryFlowPersister,
  type RecoveryFlowRecord,
  type RecoveryFlowState,
} from '../../store/recovery-flows.js';

export type RecoveryFlow = RecoveryFlowRecord;
export type { RecoveryFlowState };

export const FLOW_TTL_MS = 15 * 60_000;
export const FLOW_MAX_ATTEMPTS = 5;

/** The states a method is being answered in (a guess may be made). */
export const ANSWERING: readonly RecoveryFlowState[] = ['sent_code', 'verifying'];
/** The states in which a method may be chosen. */
export const CHOOSING: readonly RecoveryFlowState[] = ['choose_method', 'sent_code', 'verifying'];

/** Every allowed transition (the diagram above); a use case moves a flow only along these. */
export const TRANSITIONS: Readonly<Record<RecoveryFlowState, readonly RecoveryFlowState[]>> = {
  choose_method: ['sent_code', 'verifying'],
  sent_code: ['sent_code', 'verifying', 'choose_method', 'verified', 'failed'],
  verifying: ['sent_code', 'verifying', 'choose_method', 'verified', 'failed'],
  verified: ['done'],
  done: ['verified'],
  failed: [],
  expired: [],
};

export type FlowProblem = 'flow_missing' | 'flow_expired' | 'flow_done' | 'flow_locked';

export class FlowError extends Error {
  override readonly name = 'FlowError';
  readonly code: FlowProblem;
  constructor(code: FlowProblem) {
    super(code);
    this.code = code;
  }
}

/** The one check every flow step starts with. */
export function assertValid(flow: RecoveryFlow | null, now: number): asserts flow is RecoveryFlow {
  if (!flow) throw new FlowError('flow_missing');
  if (flow.state === 'done') throw new FlowError('flow_done');
  if (flow.state === 'failed') throw new FlowError('flow_locked');
  if (flow.state === 'expired' || now >= flow.expiresAt) throw new FlowError('flow_expired');
}

export const flowPersister = (services: Services): RecoveryFlowPersister => recoveryFlowPersister(services.db);

/**
 * Move a flow along one allowed transition, compare-and-set on its current state: false when
 * another request moved it first (the flow object is then left as it was).
 */
export async function moveFlowIn(
  flows: RecoveryFlowPersister,
  flow: RecoveryFlow,
  change: Partial<Pick<RecoveryFlow, 'method' | 'questions' | 'verified'>> & { state: RecoveryFlowState },
  now: number,
): Promise<boolean> {
  if (!TRANSITIONS[flow.state].includes(change.state))
    throw new TypeError(`recovery flow: no transition ${flow.state} → ${change.state}`);
  const next = {
    state: change.state,
    method: change.method === undefined ? flow.method : change.method,
    questions: change.questions ?? flow.questions,
    verified: change.verified ?? flow.verified,
  };
  if (!(await flows.transition(flow.id, flow.state, next, now))) return false;
  Object.assign(flow, next, { updatedAt: now });
  return true;
}

export const moveFlow = (
  services: Services,
  flow: RecoveryFlow,
  change: Parameters<typeof moveFlowIn>[2],
): Promise<boolean> => moveFlowIn(flowPersister(services), flow, change, services.now());

export type Guess =
  | { kind: 'right' }
  | { kind: 'wrong'; attemptsLeft: number }
  /** No try left: the flow has ended (flow_locked). */
  | { kind: 'locked' }
  /** The flow is not being answered (any more): nothing evaluated. */
  | { kind: 'not_answering' };

/**
 * One guess on a flow being answered: counted in the store first (atomic increment-and-check
 * against FLOW_MAX_ATTEMPTS), and only a counted guess is evaluated (`evaluate`: the strategy's
 * scrypt, TOTP or code check). A right guess gives its count back; the wrong guess that used the
 * last try ends the flow (`failed`). So however many guesses arrive at once, on however many
 * nodes, at most FLOW_MAX_ATTEMPTS wrong ones are ever evaluated.
 */
export async function countedGuess(
  flows: RecoveryFlowPersister,
  flow: RecoveryFlow,
  now: () => number,
  evaluate: () => Promise<boolean>,
): Promise<Guess> {
  if (!ANSWERING.includes(flow.state)) return { kind: 'not_answering' };
  const counted = await flows.reserveAttempt(flow.id, flow.state, FLOW_MAX_ATTEMPTS, now());
  if (counted === null) {
    // No try left, or another request moved the flow meanwhile. (The guess that used the last
    // try ends the flow itself, once it is known to be wrong.)
    const current = (await flows.get(flow.id))?.flow;
    return !current || current.attempts >= FLOW_MAX_ATTEMPTS || current.state === 'failed'
      ? { kind: 'locked' }
      : { kind: 'not_answering' };
  }
  flow.attempts = counted;
  if (await evaluate()) {
    await flows.releaseAttempt(flow.id, now());
    flow.attempts -= 1;
    return { kind: 'right' };
  }
  if (counted >= FLOW_MAX_ATTEMPTS) {
    await moveFlowIn(flows, flow, { state: 'failed' }, now());
    return { kind: 'locked' };
  }
  return { kind: 'wrong', attemptsLeft: FLOW_MAX_ATTEMPTS - counted };
}

const TOKEN = /^([0-9a-f]{24})\.([A-Za-z0-9_-]{43})$/;

/** A new flow's id and the secret of its token (`<id>.<secret>`). */
export function newFlowToken(): { id: string; secret: string; token: string } {
  const id = randomBytes(12).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, token: `${id}.${secret}` };
}

/** A flow's own CSRF token (its forms carry it; the pages' CSRF step compares it). */
export const newFlowCsrfToken = (): string => randomBytes(32).toString('base64url');

export const flowSecretHash = (secret: string): string => hashSecret(secret);

/** The flow a token names, for this tenant, in whatever state (or null: no such flow, wrong secret, other tenant). */
export async function loadFlow(
  services: Services,
  tenantId: string,
  token: string | null | undefined,
): Promise<RecoveryFlow | null> {
  const m = token ? TOKEN.exec(token) : null;
  if (!m?.[1] || !m[2]) return null;
  const stored = await flowPersister(services).get(m[1]);
  if (!secretMatches(m[2], stored?.secretHash) || !stored) return null;
  return stored.flow.tenantId === tenantId ? stored.flow : null;
}

/** Delete flows ended for longer than their lifetime (every check refuses them anyway). */
export async function sweepFlows(services: Services): Promise<number> {
  return flowPersister(services).deleteExpired(services.now() - FLOW_TTL_MS);
}
