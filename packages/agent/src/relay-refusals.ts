/**
 * One clear line when a relay keeps refusing this agent (issue 12: the demo's agent, left dialing a
 * port nothing listened on any more, wrote a warning per attempt, forever, none saying what was
 * wrong). Per relay URL: the first failed attempt of a run is logged as a warning, as before; the
 * next ones at debug; once the relay has accepted no connection for `afterMs`, one warning says so
 * with the error's code and the number of attempts, and what to check; when a link is ready on it
 * again, one info line. (A lost connection is logged once, then summarised.)
 */
import type { Logger } from '@writeback/protocol';

export interface RefusalTracker {
  /** An attempt on `relayUrl` failed with `err`: true when this failure is worth a warning of its own. */
  failed(relayUrl: string, err: unknown): boolean;
  /** A link is ready on `relayUrl`: the run of failures, if any, is over. */
  accepted(relayUrl: string): void;
}

export interface RefusalTrackerOptions {
  log: Logger;
  now: () => number;
  /** How long refusals last before the one warning. Default 30 s. */
  afterMs?: number;
}

/** The code of a socket error (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, …), of an AgentError, or `socket_error`. */
function codeOf(err: unknown): string {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return 'socket_error';
}

export function trackRefusals(o: RefusalTrackerOptions): RefusalTracker {
  const afterMs = o.afterMs ?? 30_000;
  const runs = new Map<string, { since: number; attempts: number; code: string; told: boolean }>();
  return {
    failed(relayUrl, err) {
      const code = codeOf(err);
      const run = runs.get(relayUrl);
      if (!run) {
        runs.set(relayUrl, { since: o.now(), attempts: 1, code, told: false });
        return true;
      }
      run.attempts++;
      run.code = code;
      if (!run.told && o.now() - run.since >= afterMs) {
        run.told = true;
        o.log.warn(
          'the relay has refused this agent for a while; still retrying: check that a relay runs at relayUrl and that it is the right URL (writeback-agent status, writeback-agent doctor)',
          { relayUrl, code, attempts: run.attempts, refusedForSeconds: Math.round((o.now() - run.since) / 1000) },
        );
      }
      return false;
    },
    accepted(relayUrl) {
      const run = runs.get(relayUrl);
      if (!run) return;
      runs.delete(relayUrl);
      if (run.told)
        o.log.info('relay accepts this agent again', {
          relayUrl,
          refusedForSeconds: Math.round((o.now() - run.since) / 1000),
          attempts: run.attempts,
        });
    },
  };
}
