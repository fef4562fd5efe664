/**
 * Progress of the initial (full) directory sync, as the agent sees it: the cloud pulls batches
 * (`sync.pull`), and a full sync is the run of pulls that starts with cursor null and whose answers
 * carry `total`, until an answer says `more: false`.
 *
 * On a terminal (stderr is a TTY) it draws one line, redrawn at most 10 times a second:
 *   sync ▕████░░░░░░░░░░░░░░░░▏ 12,400/100,000 users  5,230/s  ETA 17s
 * Otherwise it logs a structured `sync.progress {synced, total, rate}` line at most every 5 s, and
 * one at the end (`done: true`). It only observes: it never throws into the executor.
 */
import type { Logger, SyncPullData } from '@writeback/protocol';

/** What the executor tells the progress display about each successful sync.pull. */
export interface SyncProgressObserver {
  observe(requestCursor: string | null, data: SyncPullData): void;
}

/** The output a bar is drawn on (process.stderr, or a fake in tests). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface SyncProgressOptions {
  log: Logger;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Clock, ms (tests freeze it). */
  now?: () => number;
  /** Least time between two redraws on a terminal. Default 100 ms (10/s). */
  redrawMs?: number;
  /** Least time between two log lines without a terminal. Default 5 s. */
  logEveryMs?: number;
}

/** Figures of a run at one moment. */
export interface ProgressFigures {
  synced: number;
  total: number;
  /** Users per second since the run started (0 until time has passed). */
  rate: number;
  /** Seconds left at that rate; null when unknown (no rate yet). */
  etaSeconds: number | null;
}

const nf = new Intl.NumberFormat('en-US');

/** Users per second and seconds left, from a run's start time. */
export function progressFigures(synced: number, total: number, startedAt: number, now: number): ProgressFigures {
  const elapsed = (now - startedAt) / 1000;
  const rate = elapsed > 0 ? synced / elapsed : 0;
  const left = Math.max(0, total - synced);
  const etaSeconds = left === 0 ? 0 : rate > 0 ? Math.ceil(left / rate) : null;
  return { synced, total, rate, etaSeconds };
}

/** 17s, 2m05s, 1h02m. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `sync ▕████░░░░▏ 12,400/100,000 users  5,230/s  ETA 17s` with a bar of `cells` cells. */
export function formatProgressLine(f: ProgressFigures, cells = 20): string {
  const ratio = f.total > 0 ? Math.min(1, f.synced / f.total) : 1;
  const full = Math.floor(ratio * cells);
  const bar = `${'█'.repeat(full)}${'░'.repeat(cells - full)}`;
  const eta = f.etaSeconds === null ? 'ETA --' : `ETA ${formatDuration(f.etaSeconds)}`;
  return `sync ▕${bar}▏ ${nf.format(f.synced)}/${nf.format(f.total)} users  ${nf.format(Math.round(f.rate))}/s  ${eta}`;
}

interface Run {
  startedAt: number;
  synced: number;
  total: number;
  lastDrawAt: number;
  lastLogAt: number;
}

export class SyncProgress implements SyncProgressObserver {
  private readonly log: Logger;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly redrawMs: number;
  private readonly logEveryMs: number;
  private run: Run | undefined;

  constructor(o: SyncProgressOptions) {
    this.log = o.log;
    this.stream = o.stream ?? process.stderr;
    this.now = o.now ?? Date.now;
    this.redrawMs = o.redrawMs ?? 100;
    this.logEveryMs = o.logEveryMs ?? 5000;
  }

  /** The run in progress, if any (tests and status). */
  get current(): ProgressFigures | undefined {
    const r = this.run;
    return r ? progressFigures(r.synced, r.total, r.startedAt, this.now()) : undefined;
  }

  observe(requestCursor: string | null, data: SyncPullData): void {
    try {
      this.step(requestCursor, data);
    } catch (err) {
      this.log.debug('sync progress display failed', { err });
    }
  }

  private step(requestCursor: string | null, data: SyncPullData): void {
    const t = this.now();
    if (data.reset) {
      if (this.run) this.finish(t, 'reset');
      return;
    }
    // Only full-sync answers carry total; incremental pulls are not drawn.
    if (data.total === undefined) {
      if (this.run) this.finish(t, 'done');
      return;
    }
    if (requestCursor === null || !this.run) {
      // A new full sync (or one this process joins after a restart: counted from here).
      if (this.run) this.finish(t, 'restarted');
      this.run = { startedAt: t, synced: 0, total: data.total, lastDrawAt: Number.NEGATIVE_INFINITY, lastLogAt: t };
    }
    const run = this.run;
    run.total = data.total;
    run.synced += data.changes.length;
    if (!data.more) {
      this.finish(t, 'done');
      return;
    }
    if (this.stream.isTTY) {
      if (t - run.lastDrawAt >= this.redrawMs) {
        run.lastDrawAt = t;
        this.draw(run, t, false);
      }
    } else if (t - run.lastLogAt >= this.logEveryMs) {
      run.lastLogAt = t;
      this.logLine(run, t, false);
    }
  }

  private finish(t: number, how: 'done' | 'reset' | 'restarted'): void {
    const run = this.run;
    this.run = undefined;
    if (!run) return;
    if (this.stream.isTTY) this.draw(run, t, true, how === 'done' ? undefined : how);
    else this.logLine(run, t, true, how);
  }

  private draw(run: Run, t: number, last: boolean, note?: string): void {
    const f = progressFigures(run.synced, run.total, run.startedAt, t);
    const cols = this.stream.columns ?? 80;
    // Keep the line inside the terminal: the text around the bar takes about 50 columns.
    const cells = Math.max(8, Math.min(30, cols - 52));
    const line = formatProgressLine(f, cells) + (note ? `  (${note})` : '');
    // The cursor goes back to the start of the line after drawing: a log line written to the same
    // stream before the next draw overwrites the bar instead of being glued to its end.
    this.stream.write(`\r\x1b[K${line}${last ? '\n' : '\r'}`);
  }

  private logLine(run: Run, t: number, last: boolean, how?: string): void {
    const f = progressFigures(run.synced, run.total, run.startedAt, t);
    this.log.info('sync.progress', {
      synced: f.synced,
      total: f.total,
      rate: Math.round(f.rate),
      ...(f.etaSeconds !== null && !last ? { etaSeconds: f.etaSeconds } : {}),
      ...(last
        ? {
            done: how === 'done',
            ...(how && how !== 'done' ? { ended: how } : {}),
            seconds: Math.round((t - run.startedAt) / 100) / 10,
          }
        : {}),
    });
  }
}
