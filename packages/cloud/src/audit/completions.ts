/**
 * Completing audit records when the store fails at that moment (issue 11, item 5). By then the
 * caller has been told the outcome; the record must end with that same outcome, not be closed
 * `outcome_unknown` with no agent by the sweep. A completion the store refuses is
 *  - appended (and fsynced) to a small outbox file before the caller's answer goes out, so a
 *    restart writes it still (`recover`, run before this process's first sweep);
 *  - retried in the background with capped, jittered backoff, for a bounded time;
 *  - held: this process's sweep leaves its record alone (`held()`), and when it is written it
 *    also corrects a record another node's sweep closed meanwhile (audit.ts finishHeldRecord).
 *
 * The outbox holds JSON lines, `held` (with the completion) and `written` (it reached the store).
 * Only failures are written to it, so it stays small; nothing is ever removed from it while the
 * cloud runs (several nodes on one host may share it: replaying another's line is harmless, the
 * update is conditional). It can be deleted while the cloud is stopped once `recover` has logged
 * nothing left to write.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { OutcomeCodeSchema, PolicyReasonSchema, type Logger } from '@writeback/protocol';
import { sqlitePath, type Db } from '../store/index.js';
import { finishHeldRecord, finishRecord, type FinishInput } from './audit.js';

export interface AuditCompletionsOptions {
  db: Db;
  log: Logger;
  /** The outbox file; null keeps held completions in memory only (an in-memory store). */
  outboxFile: string | null;
  /** How long the first attempt may take before the completion is held (the answer waits for it). Default 2 000. */
  firstAttemptMs?: number;
  /** Pause before the first retry, doubled up to `maxRetryMs` (jittered). Defaults 250 and 15 000. */
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** How long this process keeps retrying one completion; the outbox keeps it after that. Default 15 min. */
  retryForMs?: number;
}

export type CompletionResult =
  /** The record is done with this outcome. */
  | 'written'
  /** It was done already (the sweep closed it before the answer came). */
  | 'already_done'
  /** The store refused it: held, in the outbox, and retried. */
  | 'held';

export interface AuditCompletions {
  /** Complete a request's record; never throws (a failure holds the completion). */
  complete(requestId: string, f: FinishInput): Promise<CompletionResult>;
  /** Request ids whose completion this process holds (the sweep leaves their records alone). */
  held(): string[];
  /** Write what the outbox holds from a previous run (once; later calls wait for the first). */
  recover(): Promise<void>;
  /** Resolves when nothing is held. */
  settled(): Promise<void>;
  /** Stop retrying: one last attempt each, the outbox keeps what is still not written. */
  close(): Promise<void>;
}

/** Where the outbox goes by default: next to a SQLite file, else `.data/` under the working folder. */
export function defaultOutboxFile(databaseUrl: string, schema?: string): string | null {
  if (databaseUrl.startsWith('sqlite:')) {
    const file = sqlitePath(databaseUrl);
    return file === null ? null : `${file}-audit-outbox.jsonl`;
  }
  return join('.data', `audit-outbox-${schema ?? 'public'}.jsonl`);
}

const FinishSchema = z.object({
  outcome: OutcomeCodeSchema,
  reasons: z.array(PolicyReasonSchema).optional(),
  detail: z.string().max(1024).optional(),
  agentId: z.string().nullable().optional(),
  latencyMs: z.number(),
  finishedAt: z.number(),
});
const LineSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('held'), requestId: z.string().min(1).max(128), finish: FinishSchema }),
  z.object({ kind: z.literal('written'), requestId: z.string().min(1).max(128) }),
]);
type Line = z.infer<typeof LineSchema>;

/** The finish input as plain JSON (no undefined fields). */
function plain(f: FinishInput): z.infer<typeof FinishSchema> {
  return {
    outcome: f.outcome,
    ...(f.reasons?.length ? { reasons: [...f.reasons] } : {}),
    ...(f.detail !== undefined ? { detail: f.detail.slice(0, 1024) } : {}),
    agentId: f.agentId ?? null,
    latencyMs: f.latencyMs,
    finishedAt: f.finishedAt,
  };
}

interface Held {
  finish: FinishInput;
  since: number;
  attempts: number;
  timer: NodeJS.Timeout | null;
}

export function createAuditCompletions(o: AuditCompletionsOptions): AuditCompletions {
  const { db, log } = o;
  const firstAttemptMs = o.firstAttemptMs ?? 2_000;
  const firstRetryMs = o.firstRetryMs ?? 250;
  const maxRetryMs = o.maxRetryMs ?? 15_000;
  const retryForMs = o.retryForMs ?? 15 * 60_000;
  const holding = new Map<string, Held>();
  let waiters: (() => void)[] = [];
  let closed = false;
  let recovering: Promise<void> | null = null;

  /** Append one line; `sync`: on disk before this returns (a held completion must survive a crash). */
  function append(line: Line, sync: boolean): boolean {
    if (o.outboxFile === null) return false;
    try {
      mkdirSync(dirname(o.outboxFile), { recursive: true, mode: 0o700 });
      const fd = openSync(o.outboxFile, 'a', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(line)}\n`);
        if (sync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return true;
    } catch (err) {
      log.error('could not write the audit outbox', { file: o.outboxFile, err });
      return false;
    }
  }

  function release(requestId: string): void {
    const h = holding.get(requestId);
    if (h?.timer) clearTimeout(h.timer);
    holding.delete(requestId);
    if (holding.size === 0) {
      const w = waiters;
      waiters = [];
      for (const fn of w) fn();
    }
  }

  const pause = (attempts: number): number => {
    const base = Math.min(maxRetryMs, firstRetryMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(base / 2 + Math.random() * (base / 2));
  };

  function schedule(requestId: string, h: Held): void {
    if (closed) return;
    h.timer = setTimeout(() => void attempt(requestId), pause(h.attempts));
    h.timer.unref();
  }

  /** One try at a held completion; true when it is settled (written, or nothing left to write). */
  async function tryHeld(requestId: string, h: Held): Promise<boolean> {
    h.attempts += 1;
    try {
      const applied = await finishHeldRecord(db, requestId, h.finish);
      append({ kind: 'written', requestId }, false);
      if (applied)
        log.info('held audit completion written', { requestId, outcome: h.finish.outcome, attempts: h.attempts });
      else log.warn('held audit completion found its record done with an outcome already, or gone', { requestId });
      return true;
    } catch (err) {
      if (h.attempts === 1 || h.attempts % 10 === 0)
        log.warn('held audit completion still not written', { requestId, attempts: h.attempts, err });
      return false;
    }
  }

  async function attempt(requestId: string): Promise<void> {
    const h = holding.get(requestId);
    if (!h || closed) return;
    h.timer = null;
    if (await tryHeld(requestId, h)) return release(requestId);
    if (performance.now() - h.since >= retryForMs) {
      log.error(
        o.outboxFile === null
          ? 'gave up writing a held audit completion: the sweep will close the record as outcome_unknown'
          : 'stopped retrying a held audit completion; the outbox keeps it for the next start',
        { requestId, attempts: h.attempts, outboxFile: o.outboxFile },
      );
      return release(requestId);
    }
    schedule(requestId, h);
  }

  function hold(requestId: string, finish: FinishInput): void {
    if (holding.has(requestId)) return;
    const h: Held = { finish, since: performance.now(), attempts: 0, timer: null };
    holding.set(requestId, h);
    schedule(requestId, h);
  }

  async function firstAttempt(requestId: string, f: FinishInput): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer from the store within ${firstAttemptMs} ms`)),
        firstAttemptMs,
      );
    });
    try {
      return await Promise.race([finishRecord(db, requestId, f), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async complete(requestId, f) {
      try {
        return (await firstAttempt(requestId, f)) ? 'written' : 'already_done';
      } catch (err) {
        const kept = append({ kind: 'held', requestId, finish: plain(f) }, true);
        log.warn('could not complete the audit record; holding the completion and retrying', {
          requestId,
          outcome: f.outcome,
          inOutbox: kept,
          err,
        });
        hold(requestId, f);
        return 'held';
      }
    },
    held: () => [...holding.keys()],
    recover() {
      recovering ??= (async () => {
        if (o.outboxFile === null) return;
        let text: string;
        try {
          text = readFileSync(o.outboxFile, 'utf8');
        } catch (err) {
          if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return;
          log.error('could not read the audit outbox', { file: o.outboxFile, err });
          return;
        }
        const open = new Map<string, FinishInput>();
        let unreadable = 0;
        for (const raw of text.split('\n')) {
          if (raw.trim() === '') continue;
          let parsed: ReturnType<typeof LineSchema.safeParse>;
          try {
            parsed = LineSchema.safeParse(JSON.parse(raw));
          } catch {
            unreadable += 1;
            continue;
          }
          if (!parsed.success) unreadable += 1;
          else if (parsed.data.kind === 'held') open.set(parsed.data.requestId, parsed.data.finish);
          else open.delete(parsed.data.requestId);
        }
        if (unreadable > 0) log.warn('unreadable lines in the audit outbox were skipped', { unreadable });
        let written = 0;
        for (const [requestId, finish] of open) {
          if (holding.has(requestId)) continue;
          const h: Held = { finish, since: performance.now(), attempts: 0, timer: null };
          if (await tryHeld(requestId, h)) written += 1;
          else if (!closed) {
            holding.set(requestId, h);
            schedule(requestId, h);
          }
        }
        if (open.size > 0)
          log.info('audit outbox recovered', { file: o.outboxFile, found: open.size, written, held: holding.size });
      })();
      return recovering;
    },
    settled() {
      return holding.size === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
    async close() {
      if (closed) return;
      closed = true;
      await recovering;
      for (const [requestId, h] of [...holding]) {
        if (h.timer) clearTimeout(h.timer);
        h.timer = null;
        await tryHeld(requestId, h);
        release(requestId);
      }
    },
  };
}
