/**
 * Whether this agent can reach its directory, checked on its own (issue 12: an agent pointed at a
 * wrong port stayed "connected" and took one request in seven, each answered
 * `directory_unavailable`). Every `intervalMs` it asks `directory.health()` (bounded by
 * `timeoutMs`: a directory that does not answer is down), keeps `{ ok, since, detail }` and tells
 * its listeners when `ok` flips; the relay links send it with each pong and at once on a change,
 * and the cloud routes around an agent whose directory is down. One line is logged per change.
 */
import type { Directory } from '@writeback/directory';
import type { DirectoryHealthReport, Logger } from '@writeback/protocol';

export interface DirectoryWatchOptions {
  directory: Pick<Directory, 'health'>;
  /** Between checks. Default 5 000 ms. */
  intervalMs?: number;
  /** A check not answered within this is "down". Default 10 000 ms. */
  timeoutMs?: number;
  now?: () => number;
  log: Logger;
}

/** What the relay links read: the latest report, and a signal when it changes. */
export interface DirectoryHealthSource {
  /** The latest report; null before the first check ends. */
  current(): DirectoryHealthReport | null;
  /** Called when `ok` flips (and after the first check). Returns an unsubscribe function. */
  onChange(listener: (report: DirectoryHealthReport) => void): () => void;
}

export interface DirectoryWatch extends DirectoryHealthSource {
  /** Check now (coalesced with a check already running); resolves with the report. */
  check(): Promise<DirectoryHealthReport>;
  /** No more checks. Idempotent. */
  stop(): void;
}

/** The free text sent to the relay: one line, bounded (the protocol allows 256 characters). */
const safeDetail = (detail: string | undefined): string | undefined =>
  detail === undefined ? undefined : detail.replace(/\s+/g, ' ').trim().slice(0, 200) || undefined;

/** Start watching: the first check runs at once. */
export function watchDirectory(o: DirectoryWatchOptions): DirectoryWatch {
  const now = o.now ?? Date.now;
  const intervalMs = o.intervalMs ?? 5_000;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const listeners = new Set<(report: DirectoryHealthReport) => void>();
  let report: DirectoryHealthReport | null = null;
  let running: Promise<DirectoryHealthReport> | null = null;
  let stopped = false;

  const probe = async (): Promise<{ ok: boolean; detail?: string }> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<{ ok: false; detail: string }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
    });
    try {
      const h = await Promise.race([o.directory.health(), late]);
      return h.ok ? { ok: true } : { ok: false, ...(h.detail !== undefined ? { detail: h.detail } : {}) };
    } catch (err) {
      // An adapter that throws from health() is not reachable as far as routing cares.
      o.log.debug('directory health check threw', { err });
      return { ok: false, detail: 'the health check failed' };
    } finally {
      clearTimeout(timer);
    }
  };

  const settle = (seen: { ok: boolean; detail?: string }): DirectoryHealthReport => {
    const previous = report;
    const detail = seen.ok ? undefined : safeDetail(seen.detail);
    if (previous && previous.ok === seen.ok) {
      report = { ok: seen.ok, since: previous.since, ...(detail !== undefined ? { detail } : {}) };
      return report;
    }
    report = { ok: seen.ok, since: now(), ...(detail !== undefined ? { detail } : {}) };
    if (!seen.ok) o.log.warn('directory unreachable; the cloud routes requests to other agents', { detail });
    else if (previous) o.log.info('directory reachable again', { downSince: new Date(previous.since).toISOString() });
    for (const listener of listeners) {
      try {
        listener(report);
      } catch (err) {
        o.log.error('directory health listener threw', { err });
      }
    }
    return report;
  };

  const check = (): Promise<DirectoryHealthReport> => {
    running ??= probe()
      .then(settle)
      .finally(() => {
        running = null;
      });
    return running;
  };

  const timer = setInterval(() => {
    if (!stopped) void check();
  }, intervalMs);
  timer.unref();
  void check();

  return {
    current: () => report,
    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    check,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
