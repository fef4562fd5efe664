/**
 * The agent's full-sync progress: the line format, rate and ETA arithmetic, redraw throttling on a
 * terminal, structured log lines otherwise, all on a frozen clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, type SyncPullData } from '@writeback/protocol';
import { formatDuration, formatProgressLine, progressFigures, SyncProgress } from '../src/sync-progress.js';

const upserts = (n: number): SyncPullData['changes'] =>
  Array.from({ length: n }, (_, i) => ({
    kind: 'upsert' as const,
    user: {
      anchor: `a${i}`,
      login: `u${i}`,
      enabled: true,
      locked: false,
      mustChange: false,
      protected: false,
      passwordLastSetAt: null,
    },
  }));

const ESC = String.fromCharCode(27);

function fakeTty(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 72, write: (s: string) => writes.push(s) } };
}

function captured() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ name: 'agent-test', level: 'debug', sink: (l) => lines.push(JSON.parse(l)) });
  return { log, lines };
}

describe('sync progress: figures and format', () => {
  it('formats the line with thousands separators, rate and ETA', () => {
    const f = progressFigures(12_400, 100_000, 0, 2_371);
    assert.equal(Math.round(f.rate), 5_230);
    assert.equal(f.etaSeconds, 17);
    assert.equal(formatProgressLine(f, 8), 'sync ▕░░░░░░░░▏ 12,400/100,000 users  5,230/s  ETA 17s');
    assert.equal(
      formatProgressLine(progressFigures(50, 100, 0, 1000), 8),
      'sync ▕████░░░░▏ 50/100 users  50/s  ETA 1s',
    );
  });

  it('has no ETA before time has passed, and 0 at the end', () => {
    assert.equal(progressFigures(0, 10, 5, 5).etaSeconds, null);
    assert.match(formatProgressLine(progressFigures(0, 10, 5, 5), 4), /ETA --$/);
    assert.equal(progressFigures(10, 10, 0, 1000).etaSeconds, 0);
    assert.equal(formatProgressLine(progressFigures(10, 10, 0, 1000), 4), 'sync ▕████▏ 10/10 users  10/s  ETA 0s');
    assert.equal(formatProgressLine(progressFigures(0, 0, 0, 1000), 4), 'sync ▕████▏ 0/0 users  0/s  ETA 0s');
  });

  it('writes durations as s, m and h', () => {
    assert.deepEqual(
      [formatDuration(0), formatDuration(59.4), formatDuration(125), formatDuration(3_720)],
      ['0s', '59s', '2m05s', '1h02m'],
    );
  });
});

describe('sync progress: a full sync as the executor reports it', () => {
  it('draws on a terminal at most 10 times a second and ends the line', () => {
    let t = 1_000;
    const { writes, stream } = fakeTty(true);
    const p = new SyncProgress({ log: captured().log, stream, now: () => t });
    p.observe(null, { changes: upserts(100), cursor: 'c1', more: true, total: 1_000 });
    assert.equal(writes.length, 1);
    t += 50;
    p.observe('c1', { changes: upserts(100), cursor: 'c2', more: true, total: 1_000 });
    assert.equal(writes.length, 1, 'throttled');
    t += 60;
    p.observe('c2', { changes: upserts(100), cursor: 'c3', more: true, total: 1_000 });
    assert.equal(writes.length, 2);
    assert.equal(writes[1]?.startsWith(`\r${ESC}[K`), true, 'clears the line first');
    assert.match(writes[1] ?? '', /sync ▕.*▏ 300\/1,000 users {2}2,727\/s {2}ETA 1s\r$/);
    assert.equal(p.current?.synced, 300);
    t += 200;
    p.observe('c3', { changes: upserts(700), cursor: 'i1', more: false, total: 1_000 });
    assert.equal(writes.length, 3);
    assert.match(writes[2] ?? '', /1,000\/1,000 users .*ETA 0s\n$/, 'the last draw ends the line');
    assert.equal(p.current, undefined);
    // Incremental pulls (no total) draw nothing.
    p.observe('i1', { changes: upserts(3), cursor: 'i2', more: false });
    assert.equal(writes.length, 3);
  });

  it('logs sync.progress at most every 5 s without a terminal, and once at the end', () => {
    let t = 0;
    const { writes, stream } = fakeTty(false);
    const { log, lines } = captured();
    const p = new SyncProgress({ log, stream, now: () => t });
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      t += 1_000;
      const data: SyncPullData = { changes: upserts(500), cursor: `c${i}`, more: i < 19, total: 10_000 };
      p.observe(cursor, data);
      cursor = data.cursor;
    }
    assert.equal(writes.length, 0);
    const progress = lines.filter((l) => l.msg === 'sync.progress');
    // Pulls at t=1..20 s: logs at 6, 11 and 16 s, plus the end.
    assert.deepEqual(
      progress.map((l) => [l.synced, l.total, l.rate, l.done]),
      [
        [3_000, 10_000, 600, undefined],
        [5_500, 10_000, 550, undefined],
        [8_000, 10_000, 533, undefined],
        [10_000, 10_000, 526, true],
      ],
    );
  });

  it('ends a run that the cloud resets, and starts over on the next cursor-null pull', () => {
    const t = 0;
    const { log, lines } = captured();
    const p = new SyncProgress({ log, stream: fakeTty(false).stream, now: () => t });
    p.observe(null, { changes: upserts(10), cursor: 'c1', more: true, total: 100 });
    p.observe('c1', { changes: [], cursor: '', more: false, reset: true });
    assert.equal(p.current, undefined);
    const end = lines.filter((l) => l.msg === 'sync.progress').at(-1);
    assert.equal(end?.done, false);
    assert.equal(end?.ended, 'reset');
    p.observe(null, { changes: upserts(5), cursor: 'c1', more: true, total: 50 });
    const now = () => p.current;
    assert.deepEqual([now()?.synced, now()?.total], [5, 50]);
  });

  it('never throws into the executor', () => {
    const p = new SyncProgress({
      log: captured().log,
      stream: {
        isTTY: true,
        write: () => {
          throw new Error('EPIPE');
        },
      },
    });
    assert.doesNotThrow(() => p.observe(null, { changes: [], cursor: 'c', more: true, total: 1 }));
  });
});
