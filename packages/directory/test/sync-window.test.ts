/**
 * The windowed pull shared by the AD and OpenLDAP sync sources, on an in-memory key space: every
 * change exactly once across resumed pulls, bounded batches (count and bytes), narrowing when a
 * window is too wide, places to move past, and the tail that never moves past what it has seen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SYNC_BATCH_BYTES, type SyncChange } from '@writeback/protocol';
import { pullWindows, WindowTooWideError, type KeyedChange, type WindowState } from '../src/sync-window.js';

const del = (anchor: string): SyncChange => ({ kind: 'delete', anchor });

/** A fake directory: changes at integer keys; fetch filters by [lo, hi]. */
function space(items: KeyedChange[], maxEntries = Number.POSITIVE_INFINITY) {
  const stats = { fetches: 0, largest: 0 };
  const fetch = async (lo: number, hi: number): Promise<KeyedChange[]> => {
    stats.fetches++;
    const out = items.filter((i) => i.n >= lo && i.n <= hi);
    if (out.length > maxEntries) throw new WindowTooWideError('too wide');
    stats.largest = Math.max(stats.largest, out.length);
    return out;
  };
  return { fetch, stats };
}

async function drain(
  fetch: (lo: number, hi: number) => Promise<KeyedChange[]>,
  end: number,
  limit: number,
  settleFrom?: number,
) {
  let state: WindowState = { pos: { n: 0, tie: '' }, width: 10 };
  const got: SyncChange[] = [];
  let pulls = 0;
  for (;;) {
    const r = await pullWindows({
      state,
      end,
      limit,
      fetch,
      maxWidth: 2 ** 40,
      maxWindows: 32,
      ...(settleFrom !== undefined ? { settleFrom } : {}),
    });
    assert.ok(r.changes.length <= limit);
    got.push(...r.changes);
    state = r.state;
    pulls++;
    if (r.done) return { got, pulls, state };
    assert.ok(pulls < 10_000, 'terminates');
  }
}

describe('sync windows', () => {
  it('returns every change once, in bounded batches, over sparse and dense stretches', async () => {
    const items: KeyedChange[] = [];
    // Sparse start, a dense burst (several changes per key), a gap, a second stretch.
    for (let i = 0; i < 50; i++) items.push({ n: 1_000 + i * 997, tie: `a${i}`, change: del(`sparse-${i}`) });
    for (let i = 0; i < 600; i++)
      items.push({ n: 100_000 + Math.floor(i / 3), tie: `b${String(i).padStart(4, '0')}`, change: del(`dense-${i}`) });
    for (let i = 0; i < 100; i++) items.push({ n: 5_000_000 + i * 13, tie: `c${i}`, change: del(`late-${i}`) });
    const { fetch, stats } = space(items);
    const { got, pulls } = await drain(fetch, 6_000_000, 40);
    const anchors = got.map((c) => (c.kind === 'delete' ? c.anchor : ''));
    assert.equal(anchors.length, items.length);
    assert.equal(new Set(anchors).size, items.length);
    assert.ok(pulls >= Math.ceil(items.length / 40));
    // Memory: once the width has adapted, a window holds about one batch.
    assert.ok(stats.largest <= 600, `largest window ${stats.largest}`);
  });

  it('answers with what it has when its time is up, and goes on from there', async () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ n: 1 + i * 50, tie: 't', change: del(`x${i}`) }));
    const { fetch, stats } = space(items);
    let state: WindowState = { pos: { n: 0, tie: '' }, width: 10 };
    const got: SyncChange[] = [];
    for (let pulls = 0; ; pulls++) {
      assert.ok(pulls < 1000);
      const before = stats.fetches;
      const r = await pullWindows({
        state,
        end: 6_000,
        limit: 500,
        fetch,
        maxWidth: 2 ** 40,
        maxWindows: 32,
        timeBudgetMs: 0,
      });
      assert.ok(stats.fetches - before <= 1, 'one window per pull at most');
      got.push(...r.changes);
      state = r.state;
      if (r.done) break;
    }
    assert.equal(got.length, 100);
  });

  it('narrows a window the server refuses as too wide', async () => {
    const items = Array.from({ length: 400 }, (_, i) => ({ n: 50 + i, tie: 't', change: del(`x${i}`) }));
    const { fetch } = space(items, 100);
    const { got } = await drain(fetch, 10_000, 50);
    assert.equal(got.length, 400);
  });

  it('moves past null changes without sending or counting them', async () => {
    const items: KeyedChange[] = Array.from({ length: 300 }, (_, i) => ({
      n: i + 1,
      tie: 't',
      change: i % 3 === 0 ? del(`kept${i}`) : null,
    }));
    const { fetch } = space(items);
    const { got } = await drain(fetch, 1_000, 20);
    assert.equal(got.length, 100);
  });

  it('keeps a batch inside the byte budget', async () => {
    const big = 'x'.repeat(9_000);
    const items: KeyedChange[] = Array.from({ length: 20 }, (_, i) => ({
      n: i + 1,
      tie: 't',
      change: del(`${big}${i}`),
    }));
    const { fetch } = space(items);
    const r = await pullWindows({
      state: { pos: { n: 0, tie: '' }, width: 100 },
      end: 100,
      limit: 500,
      fetch,
      maxWidth: 1000,
      maxWindows: 8,
    });
    assert.ok(r.changes.length >= 1 && r.changes.length < 20);
    assert.ok(Buffer.byteLength(JSON.stringify(r.changes)) <= MAX_SYNC_BATCH_BYTES);
    assert.equal(r.done, false);
  });

  it('moves only to changes seen in recent windows, so a change stamped there later is not skipped', async () => {
    const items: KeyedChange[] = [
      { n: 10, tie: 'a', change: del('old') },
      { n: 995, tie: 'a', change: del('recent') },
    ];
    const { fetch, stats } = space(items);
    const first = await drain(fetch, 2_000, 100, 990);
    assert.deepEqual(first.got, [del('old'), del('recent')]);
    assert.deepEqual(first.state.pos, { n: 995, tie: 'a' }, 'not past the end of the windows read');
    // A change that lands later with a key inside the windows already read (a server clock behind).
    items.push({ n: 996, tie: 'a', change: del('late') });
    const opts = { end: 2_000, settleFrom: 990, limit: 100, fetch, maxWidth: 2 ** 40, maxWindows: 32 };
    const r = await pullWindows({ ...opts, state: first.state });
    assert.deepEqual(r.changes, [del('late')]);
    assert.equal(r.done, true);
    // Replaying a state gives the same answer.
    assert.deepEqual(await pullWindows({ ...opts, state: first.state }), r);
    // The recent stretch is one window, however narrow the state's width: a write stamped in an
    // earlier window but committed later cannot fall behind a newer change read in a later one.
    const before = stats.fetches;
    await pullWindows({ ...opts, state: { pos: { n: 991, tie: '' }, width: 1 } });
    assert.equal(stats.fetches - before, 1);
    // Below settleFrom, read windows are passed for good.
    const old = await drain(fetch, 500, 100, 990);
    assert.deepEqual(old.state.pos, { n: 501, tie: '' });
  });
});
