/**
 * The executor: turns one sealed request from the cloud into at most one directory call and one
 * answer, sealed under the request's answer key (or signed, for a cloud that did not ask for that). Nothing is done unless `openRequest` accepts the request (cloud signature, this
 * tenant and agent, deadline, replay cache, decryption); a refusal becomes a `reject` (nothing
 * written). A directory call that throws becomes `outcome_unknown` for a write (it may have landed)
 * and `directory_unavailable` for a read. An answer is sent even after the deadline: the relay will
 * already have said `timeout`, but the cloud's log is better for it.
 *
 * Freshness after a restart. The replay cache lives in memory, so a request issued before this
 * process started might have been executed by the previous process and must be refused. The agent
 * therefore refuses requests issued before its own start time expressed in the cloud's clock:
 * `startedAt + offset`, where `offset = serverTime - localReceiveTime` is learned from the relay's
 * challenge (the relay runs beside the cloud). Process start minus the allowed skew would not do:
 * it would accept, after a quick restart, requests the old process may already have executed.
 * Because the relay is not trusted, the offset is only allowed to make the rule stricter: it is
 * clamped to [0, MAX_CLOCK_SKEW_MS] (a lying relay can delay service, never widen the window), and
 * a later challenge can only raise the bound. The cost: with an agent clock ahead of the cloud's,
 * requests issued in the first |offset| ms after start are refused (`expired`). Keep clocks in NTP.
 */
import type { KeyObject } from 'node:crypto';
import {
  MAX_CLOCK_SKEW_MS,
  OPERATION_SCHEMAS,
  OperationResultSchema,
  ProtocolError,
  ReplayCache,
  openParsedRequest,
  resultData,
  sealResponse,
  signResponse,
  type HealthData,
  type Logger,
  type OpenedRequest,
  type OperationResult,
  type ProtocolErrorCode,
  type RequestEnvelope,
  type ResponseEnvelope,
} from '@writeback/protocol';
import type { Directory } from '@writeback/directory';
import { defaultLogger } from './log-sink.js';
import { SyncProgress, type SyncProgressObserver } from './sync-progress.js';
import { AGENT_VERSION } from './version.js';

/** What to send back for one request. */
export type Execution =
  | { kind: 'response'; envelope: ResponseEnvelope }
  | { kind: 'reject'; requestId: string; code: ProtocolErrorCode; message: string };

export interface ExecutorIdentity {
  agentId: string;
  tenantId: string;
  signingKey: KeyObject;
  decryptionKey: KeyObject;
  encryptionPublicKey: string;
  cloudVerifyKey: KeyObject;
}

export interface ExecutorOptions {
  directory: Directory;
  identity: ExecutorIdentity;
  log?: Logger;
  /** Local clock (tests freeze it). */
  now?: () => number;
  /** Local time the process started; defaults to now() at creation. */
  startedAt?: number;
  replay?: ReplayCache;
  agentVersion?: string;
  /** Shown the answers of sync.pull (full-sync progress bar or log lines); default on stderr. */
  syncProgress?: SyncProgressObserver;
}

export interface Executor {
  /** Open, execute and answer one request. Never throws. */
  execute(envelope: RequestEnvelope): Promise<Execution>;
  /** Learn the cloud-side clock from a relay challenge (see the module header). */
  observeServerTime(serverTime: number, receivedAt?: number): void;
  /** Requests refused from here on: issued before this time (cloud clock). */
  readonly notIssuedBefore: number;
  /** Requests currently at the directory. */
  readonly inFlight: number;
  /** From now on, verified requests are answered `agent_unavailable` without touching the directory. */
  stopAccepting(): void;
  /** Wait until no request is at the directory, or `timeoutMs`. True when drained. */
  drain(timeoutMs: number): Promise<boolean>;
}

/** Strings a result must never contain: the request's secrets (a defensive check on adapters). */
function secretStrings(req: OpenedRequest): string[] {
  switch (req.op) {
    case 'password.reset':
      return [req.secret.newPassword];
    case 'password.change':
      return [req.secret.currentPassword, req.secret.newPassword];
    case 'credentials.verify':
      return [req.secret.password];
    default:
      return [];
  }
}

/**
 * Whether a result echoes one of the request's secrets: a string value (at any depth) that is the
 * secret, or holds it as a whole token (not inside a longer word). The outcome and the reason codes
 * come from a fixed vocabulary and are not looked at, so a password `short` does not "appear" in
 * the reason `too_short` (issue 12).
 */
export function echoesSecret(result: OperationResult, secrets: string[]): boolean {
  const wanted = secrets.filter((s) => s.length > 0);
  if (wanted.length === 0) return false;
  const isWordChar = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}_]/u.test(c);
  const holds = (text: string, secret: string): boolean => {
    for (let i = text.indexOf(secret); i !== -1; i = text.indexOf(secret, i + 1)) {
      const before = text[i - 1];
      const after = text[i + secret.length];
      // A secret that starts or ends with punctuation is its own boundary there.
      const startOk = !isWordChar(secret[0]) || !isWordChar(before);
      const endOk = !isWordChar(secret[secret.length - 1]) || !isWordChar(after);
      if (startOk && endOk) return true;
    }
    return false;
  };
  const visit = (v: unknown): boolean => {
    if (typeof v === 'string') return wanted.some((s) => holds(v, s));
    if (Array.isArray(v)) return v.some(visit);
    if (v !== null && typeof v === 'object') return Object.values(v).some(visit);
    return false;
  };
  const { outcome: _o, reasons: _r, ...free } = result as OperationResult & { reasons?: unknown };
  return visit(free);
}

export function createExecutor(o: ExecutorOptions): Executor {
  const now = o.now ?? Date.now;
  const startedAt = o.startedAt ?? now();
  const replay = o.replay ?? new ReplayCache();
  const log = o.log ?? defaultLogger('agent');
  const version = o.agentVersion ?? AGENT_VERSION;
  const id = o.identity;
  const dir = o.directory;
  let notIssuedBefore = startedAt;
  let inFlight = 0;
  let accepting = true;
  const drainWaiters = new Set<() => void>();
  const progress = o.syncProgress ?? new SyncProgress({ log, now });

  const call = async (req: OpenedRequest): Promise<OperationResult> => {
    switch (req.op) {
      case 'password.reset':
        return dir.resetPassword(req.params.user, req.secret.newPassword, {
          forceChange: req.params.forceChange,
          unlock: req.params.unlock,
          enforceHistory: req.params.enforceHistory,
        });
      case 'password.change':
        return dir.changePassword(req.params.user, req.secret.currentPassword, req.secret.newPassword);
      case 'account.unlock':
        return dir.unlock(req.params.user);
      case 'policy.get':
        return dir.getPolicy(req.params.user);
      case 'credentials.verify':
        return dir.verifyCredentials(req.params.user, req.secret.password);
      case 'sync.pull':
      case 'sync.anchors': {
        if (!dir.sync) return { outcome: 'directory_unavailable', detail: `the ${dir.kind} adapter cannot sync` };
        if (req.op === 'sync.pull') {
          const data = await dir.sync.pullChanges(req.params.cursor, req.params.limit);
          progress.observe(req.params.cursor, data);
          return { outcome: 'succeeded', data };
        }
        return { outcome: 'succeeded', data: await dir.sync.listAnchors(req.params.cursor, req.params.limit) };
      }
      case 'health': {
        const h = await dir.health();
        const data: HealthData = {
          directory: {
            ok: h.ok,
            kind: h.kind,
            latencyMs: h.latencyMs,
            ...(h.detail !== undefined ? { detail: h.detail } : {}),
          },
          agentVersion: version,
          uptimeSeconds: Math.max(0, Math.round((now() - startedAt) / 1000)),
        };
        return { outcome: h.ok ? 'succeeded' : 'directory_unavailable', data };
      }
    }
  };

  /** Run the directory call; a throw or an invalid result is never reported as success. */
  const run = async (req: OpenedRequest): Promise<OperationResult> => {
    const writes = OPERATION_SCHEMAS[req.op].writes;
    const failed: OperationResult = writes
      ? {
          outcome: 'outcome_unknown',
          detail: 'the directory call failed part-way; the change may or may not have been made',
        }
      : { outcome: 'directory_unavailable' };
    let raw: OperationResult;
    try {
      raw = await call(req);
    } catch (err) {
      log.error('directory call threw', { requestId: req.requestId, op: req.op, err });
      return req.op === 'health' ? { ...failed, data: { agentVersion: version } } : failed;
    }
    const parsed = OperationResultSchema.safeParse(raw);
    if (!parsed.success) {
      log.error('directory returned an invalid result', { requestId: req.requestId, op: req.op });
      return failed;
    }
    let result = parsed.data;
    if (result.outcome === 'succeeded') {
      // The cloud reads success data with the operation's schema: sign only data that matches it.
      const data = resultData(req.op, result);
      if (data === null) {
        log.error('directory returned success data that does not match the operation', {
          requestId: req.requestId,
          op: req.op,
        });
        if (!writes) return failed;
        const { data: _x, ...rest } = result;
        result = rest;
      } else if (result.data !== undefined) result = { ...result, data };
    }
    if (echoesSecret(result, secretStrings(req))) {
      // An adapter echoed a password (e.g. in a diagnostic): drop the free-text parts. Defensive,
      // and the answer is still right: a warning for the adapter's maintainers, not an error.
      log.warn('directory result echoed a secret; detail and data removed', {
        requestId: req.requestId,
        op: req.op,
      });
      const { detail: _d, data: _x, ...rest } = result;
      result = rest;
    }
    return result;
  };

  /** Sealed under the request's answer key when the cloud asked so, signed otherwise; the key is zeroed. */
  const answer = (env: RequestEnvelope, req: OpenedRequest, result: OperationResult): Execution => {
    if (!req.answerKey)
      return {
        kind: 'response',
        envelope: signResponse({ request: env, result, agentSigningKey: id.signingKey, now: now() }),
      };
    try {
      return {
        kind: 'response',
        envelope: sealResponse({ request: env, result, answerKey: req.answerKey, now: now() }),
      };
    } finally {
      req.answerKey.fill(0);
    }
  };

  const settleDrain = () => {
    if (inFlight === 0) for (const w of drainWaiters) w();
  };

  return {
    async execute(env) {
      let req: OpenedRequest;
      try {
        req = openParsedRequest(env, {
          cloudVerifyKey: id.cloudVerifyKey,
          agentDecryptionKey: id.decryptionKey,
          agentEncryptionPublicKey: id.encryptionPublicKey,
          agentId: id.agentId,
          tenantId: id.tenantId,
          replay,
          now: now(),
          notIssuedBefore,
        });
      } catch (err) {
        const code: ProtocolErrorCode = err instanceof ProtocolError ? err.code : 'malformed_frame';
        if (!(err instanceof ProtocolError)) log.error('unexpected error opening a request', { err });
        log.warn('request refused', { requestId: env.requestId, op: env.op, code });
        return {
          kind: 'reject',
          requestId: env.requestId,
          code,
          message: err instanceof ProtocolError ? err.message : 'request could not be opened',
        };
      }
      if (!accepting) return answer(env, req, { outcome: 'agent_unavailable', detail: 'the agent is stopping' });
      inFlight++;
      const t0 = now();
      try {
        const result = await run(req);
        const ms = now() - t0;
        const late = now() > req.deadline;
        // Logged after the answer has been handed to the socket (the caller sends it in this turn).
        setImmediate(() =>
          log.info('request executed', { requestId: req.requestId, op: req.op, outcome: result.outcome, ms, late }),
        );
        return answer(env, req, result);
      } finally {
        inFlight--;
        settleDrain();
      }
    },
    observeServerTime(serverTime, receivedAt = now()) {
      const offset = serverTime - receivedAt;
      if (Math.abs(offset) > MAX_CLOCK_SKEW_MS)
        log.warn('clock differs from the relay by more than the allowed skew; check NTP', { offsetMs: offset });
      const bound = startedAt + Math.min(Math.max(offset, 0), MAX_CLOCK_SKEW_MS);
      notIssuedBefore = Math.max(notIssuedBefore, bound);
    },
    get notIssuedBefore() {
      return notIssuedBefore;
    },
    get inFlight() {
      return inFlight;
    },
    stopAccepting() {
      accepting = false;
    },
    drain(timeoutMs) {
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          drainWaiters.delete(onDrained);
          resolve(ok);
        };
        const onDrained = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        drainWaiters.add(onDrained);
      });
    },
  };
}
