/**
 * The load of `npm run chaos`: a few workers, each owning a disjoint set of users and resetting
 * them one at a time (so a user never has two writes in flight), alternating the two cloud nodes,
 * one `Idempotency-Key` per logical request. A lost connection (a node killed) is retried with the
 * same key on the other node until one answers; 409 `conflict` waits its Retry-After and retries.
 *
 * Every answer is checked as it comes: after `succeeded` the new password must bind at slapd (a
 * simple bind with ldapts, not the product's adapter), else `false_success`. Each user keeps the
 * set of passwords that may be current: one after a verified success, the old ones plus the new
 * one after an answer that may have written (`timeout`, `outcome_unknown`, an error without an
 * outcome, giving up), unchanged after an outcome that says nothing was written.
 */
import { Client, InvalidCredentialsError } from 'ldapts';
import { NOTHING_WRITTEN, type OutcomeCode, OutcomeCodeSchema } from '@writeback/protocol';
import { type ChaosUser, chaosPassword, TENANT } from './cluster.js';

/** Outcomes that say "could not serve now": what a recovery must end. */
const UNAVAILABLE: ReadonlySet<string> = new Set(['agent_unavailable', 'directory_unavailable']);

/** What the caller was finally told for one logical request. */
export type Told =
  | { kind: 'outcome'; status: number; outcome: OutcomeCode; requestId: string; replayed: boolean }
  | { kind: 'error'; status: number; code: string }
  | { kind: 'gave_up' };

export interface LogicalRequest {
  key: string;
  user: string;
  /** The scenario in effect when it was answered. */
  scenario: string;
  sentAt: number;
  doneAt: number;
  attempts: number;
  lost: number;
  /** Every request id an answer for this key carried (more than one: the key wrote twice). */
  requestIds: Set<string>;
  told: Told;
  /** After `succeeded`: whether the new password bound at slapd. */
  bound?: boolean;
}

export interface FailureEvent {
  scenario: string;
  /** When the failing attempt was sent (ms, performance.now()). */
  sentAt: number;
  what: string;
}

export interface UserState {
  user: ChaosUser;
  /** Passwords that may be current. */
  candidates: Set<string>;
  /** Every password sent for this user (only to explain a final mismatch). */
  sent: string[];
}

export interface FalseSuccess {
  scenario: string;
  user: string;
  key: string;
  requestId: string;
  detail: string;
}

export interface LoadOptions {
  cloudUrls: readonly [string, string];
  apiKey: string;
  ldapUrl: string;
  users: readonly ChaosUser[];
  workers: number;
  runId: string;
  say: (line: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** One attempt's limit: the cloud's deadline (10 s) and its grace, with a margin. */
const ATTEMPT_TIMEOUT_MS = 30_000;
/** A logical request gives up after this long without an answer (counted as may-have-written). */
const GIVE_UP_MS = 180_000;

export class Load {
  readonly requests: LogicalRequest[] = [];
  readonly failures: FailureEvent[] = [];
  readonly falseSuccesses: FalseSuccess[] = [];
  readonly userStates: UserState[];
  scenario = 'warmup';
  #stopping = false;
  #running: Promise<void>[] = [];
  #seq = 0;

  constructor(private readonly o: LoadOptions) {
    this.userStates = o.users.map((user) => ({ user, candidates: new Set([user.initial]), sent: [] }));
  }

  start(): void {
    const n = Math.max(1, Math.min(this.o.workers, this.userStates.length));
    for (let w = 0; w < n; w++) {
      const mine = this.userStates.filter((_, i) => i % n === w);
      this.#running.push(this.#worker(w, mine));
    }
  }

  /** Stop sending; resolves once every request in flight has its answer and check. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#running);
  }

  async #worker(w: number, users: UserState[]): Promise<void> {
    const ldap = new Binder(this.o.ldapUrl);
    let turn = w;
    try {
      while (!this.#stopping) {
        for (const u of users) {
          if (this.#stopping) break;
          await this.#one(u, turn++ % 2, ldap);
        }
      }
    } finally {
      await ldap.close();
    }
  }

  async #one(u: UserState, first: number, ldap: Binder): Promise<void> {
    const key = `chaos-${this.o.runId}-${++this.#seq}`;
    const password = chaosPassword();
    u.sent.push(password);
    const body = JSON.stringify({ newPassword: password, forceChange: false });
    const path = `/api/v1/tenants/${TENANT}/users/${encodeURIComponent(u.user.uid)}/password/reset`;
    const req: LogicalRequest = {
      key,
      user: u.user.uid,
      scenario: this.scenario,
      sentAt: performance.now(),
      doneAt: 0,
      attempts: 0,
      lost: 0,
      requestIds: new Set(),
      told: { kind: 'gave_up' },
    };
    this.requests.push(req);
    let node = first;
    for (;;) {
      if (performance.now() - req.sentAt > GIVE_UP_MS) break;
      const sentAt = performance.now();
      req.attempts += 1;
      let status: number;
      let headers: Headers;
      let json: Record<string, unknown>;
      try {
        const res = await fetch(`${this.o.cloudUrls[node]}${path}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.o.apiKey}`,
            'content-type': 'application/json',
            'idempotency-key': key,
          },
          body,
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        });
        status = res.status;
        headers = res.headers;
        const text = await res.text();
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = {};
        }
      } catch {
        // The connection was lost (a node killed) or the attempt hung: the same key on the other node.
        req.lost += 1;
        this.failures.push({ scenario: this.scenario, sentAt, what: 'connection lost' });
        node = 1 - node;
        await sleep(100);
        continue;
      }
      const replayed = headers.get('idempotent-replayed') === 'true';
      const outcome = OutcomeCodeSchema.safeParse(json.outcome);
      const requestId = typeof json.requestId === 'string' ? json.requestId : undefined;
      if (requestId) req.requestIds.add(requestId);
      if (outcome.success && requestId) {
        req.told = { kind: 'outcome', status, outcome: outcome.data, requestId, replayed };
        if (!replayed && (UNAVAILABLE.has(outcome.data) || status >= 500))
          this.failures.push({ scenario: this.scenario, sentAt, what: outcome.data });
        break;
      }
      const err = json.error as { code?: unknown } | undefined;
      const code = typeof err?.code === 'string' ? err.code : `http_${status}`;
      if (status === 409 && code === 'conflict') {
        // The first attempt with this key still runs (or its lease has not run out): wait, retry.
        const after = Number(headers.get('retry-after') ?? '1');
        await sleep(Math.min(10, Number.isFinite(after) && after > 0 ? after : 1) * 1000);
        continue;
      }
      if (status >= 500) {
        // An error without an outcome: the caller cannot know; retry the same key elsewhere.
        this.failures.push({ scenario: this.scenario, sentAt, what: `${status} ${code}` });
        node = 1 - node;
        await sleep(250);
        continue;
      }
      req.told = { kind: 'error', status, code };
      break;
    }
    req.doneAt = performance.now();
    // Counted in the scenario its answer came in: a request in flight when a fault starts shows that fault.
    req.scenario = this.scenario;

    const t = req.told;
    if (t.kind === 'outcome' && t.outcome === 'succeeded') {
      req.bound = await ldap.binds(u.user.dn, password).catch((err: unknown) => {
        // slapd did not answer the bind at all: unverified, not false (the final check still sees it).
        this.o.say(`bind check of ${u.user.uid} failed: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      if (req.bound === undefined) {
        u.candidates.add(password);
      } else if (req.bound) {
        u.candidates = new Set([password]);
      } else {
        u.candidates.add(password);
        const fs = {
          scenario: req.scenario,
          user: u.user.uid,
          key,
          requestId: t.requestId,
          detail: `told succeeded (HTTP ${t.status}${t.replayed ? ', replayed' : ''}, ${req.attempts} attempt(s), ${req.lost} lost) but the new password does not bind`,
        };
        this.falseSuccesses.push(fs);
        this.o.say(`FALSE SUCCESS ${JSON.stringify(fs)}`);
      }
    } else if (t.kind === 'outcome' && NOTHING_WRITTEN.has(t.outcome)) {
      // Nothing was written: the candidates stay.
    } else {
      u.candidates.add(password);
    }
  }
}

/** Simple binds as the test users over one connection (rebinding), a fresh one after an error. */
class Binder {
  #client: Client | null = null;
  constructor(private readonly url: string) {}

  async binds(dn: string, password: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      this.#client ??= new Client({ url: this.url, timeout: 10_000, connectTimeout: 5_000 });
      try {
        await this.#client.bind(dn, password);
        return true;
      } catch (err) {
        if (err instanceof InvalidCredentialsError) return false;
        // Not an answer about the password (a dropped connection): once more on a new connection.
        await this.close();
        if (attempt >= 2) throw err;
      }
    }
  }

  async close(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    await c?.unbind().catch(() => {});
  }
}
