/**
 * The LDAP core shared by the AD and OpenLDAP adapters (src/ldap/): the server list's order and
 * backoff periods (the adapters' own shapes, pinned to what each adapter did before they shared
 * it), and the connection pool's lending rules, with fake connections and a hand-moved clock.
 * The same code against real servers: ad-transport.test.ts, openldap-transport.test.ts,
 * openldap-lost.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay } from '@writeback/protocol';
import { BIND_PAUSE, DC_BACKOFF } from '../src/ad/pool.js';
import { ConnectionPool } from '../src/ldap/pool.js';
import { ServerList } from '../src/ldap/server-list.js';
import { serverList } from '../src/openldap/connection.js';

describe('backoff shapes', () => {
  it('AD skips a failing DC 1 s doubling to 60 s, ±20 %; a refused bind pauses 30 s doubling to 10 min', () => {
    assert.deepEqual(
      [0, 1, 5, 6, 20].map((a) => backoffDelay(a, DC_BACKOFF, () => 0.5)),
      [1000, 2000, 32_000, 60_000, 60_000],
    );
    assert.equal(
      backoffDelay(0, DC_BACKOFF, () => 0),
      800,
    );
    assert.equal(
      backoffDelay(0, DC_BACKOFF, () => 1 - 1e-12),
      1200,
    );
    assert.deepEqual(
      [0, 1, 4, 5, 9].map((a) => backoffDelay(a, BIND_PAUSE, () => 0.9)),
      [30_000, 60_000, 480_000, 600_000, 600_000],
    );
  });

  it('OpenLDAP skips a failed server for serverRetryMs, not growing', () => {
    const list = serverList(['ldaps://a', 'ldaps://b'], 30_000, () => 0);
    assert.deepEqual(
      [1, 2, 3].map(() => list.markDown('ldaps://a').backoffMs),
      [30_000, 30_000, 30_000],
    );
    assert.deepEqual(list.order(), ['ldaps://b', 'ldaps://a']);
  });
});

describe('server list', () => {
  it('keeps the configured order, a failed server last until its period ends, the soonest back first', () => {
    let t = 0;
    const list = new ServerList(['a', 'b', 'c'], { baseMs: 1000, capMs: 60_000, jitter: 0 }, () => t);
    assert.deepEqual(list.order(), ['a', 'b', 'c']);
    assert.deepEqual(list.markDown('a'), { failures: 1, backoffMs: 1000 });
    assert.deepEqual(list.markDown('a'), { failures: 2, backoffMs: 2000 });
    assert.deepEqual(list.markDown('b'), { failures: 1, backoffMs: 1000 });
    assert.deepEqual(list.order(), ['c', 'b', 'a']);
    t = 1000;
    assert.deepEqual(list.order(), ['b', 'c', 'a']);
    list.markUp('a');
    assert.deepEqual(list.order(), ['a', 'b', 'c']);
    assert.deepEqual(list.markDown('a'), { failures: 1, backoffMs: 1000 }, 'markUp clears the count');
  });

  it('takes objects with a url (AD) keyed by that url', () => {
    const urls = [{ url: 'ldaps://dc1' }, { url: 'ldaps://dc2' }];
    const list = new ServerList(urls, { baseMs: 10, capMs: 10, jitter: 0 }, () => 0);
    list.markDown({ url: 'ldaps://dc1' });
    assert.deepEqual(
      list.order().map((u) => u.url),
      ['ldaps://dc2', 'ldaps://dc1'],
    );
  });
});

interface Fake {
  id: number;
  bound: boolean;
  disposed: boolean;
}

function pool(o: { size: number; timeoutMs?: number; failOpen?: () => boolean; closeLent?: boolean }) {
  let n = 0;
  const opened: Fake[] = [];
  const p = new ConnectionPool<Fake>({
    size: o.size,
    timeoutMs: o.timeoutMs ?? 1000,
    open: async () => {
      if (o.failOpen?.()) throw new Error('unreachable');
      const c = { id: ++n, bound: true, disposed: false };
      opened.push(c);
      return c;
    },
    usable: (c) => c.bound,
    dispose: async (c) => {
      c.disposed = true;
    },
    closedError: () => new Error('closed'),
    timeoutError: () => new Error('timeout'),
    ...(o.closeLent ? { closeLent: true } : {}),
  });
  return { p, opened };
}

describe('connection pool', () => {
  it('reuses an idle connection, never one that lost its bind', async () => {
    const { p, opened } = pool({ size: 2 });
    const a = await p.acquire();
    p.release(a);
    assert.equal(await p.acquire(), a);
    a.bound = false;
    p.release(a);
    const b = await p.acquire();
    assert.notEqual(b, a);
    assert.equal(a.disposed, true);
    assert.equal(opened.length, 2);
  });

  it('fresh: closes one idle connection to make room and opens a new one', async () => {
    const { p } = pool({ size: 1 });
    const a = await p.acquire();
    p.release(a);
    const b = await p.acquire({ fresh: true });
    assert.notEqual(b, a);
    assert.equal(a.disposed, true);
  });

  it('a full pool makes callers wait for a release, then times out with the adapter error', async () => {
    const { p } = pool({ size: 1, timeoutMs: 50 });
    const a = await p.acquire();
    const waiting = p.acquire();
    p.release(a);
    assert.equal(await waiting, a);
    await assert.rejects(p.acquire(), /timeout/);
  });

  it('a broken connection is closed and its slot goes to a waiter as a new connection', async () => {
    const { p } = pool({ size: 1 });
    const a = await p.acquire();
    const waiting = p.acquire();
    p.release(a, true);
    const b = await waiting;
    assert.notEqual(b, a);
    assert.equal(a.disposed, true);
  });

  it('a failed open frees its slot and tells a waiter', async () => {
    let fail = false;
    const { p } = pool({ size: 1, failOpen: () => fail });
    const a = await p.acquire();
    const waiting = p.acquire();
    fail = true;
    p.release(a, true);
    await assert.rejects(waiting, /unreachable/);
    fail = false;
    assert.ok(await p.acquire());
  });

  it('close refuses waiters and later acquires; lent connections close on release (or at once with closeLent)', async () => {
    for (const closeLent of [false, true]) {
      const { p } = pool({ size: 1, closeLent });
      const a = await p.acquire();
      const waiting = p.acquire();
      await p.close();
      await assert.rejects(waiting, /closed/);
      await assert.rejects(p.acquire(), /closed/);
      assert.equal(a.disposed, closeLent);
      p.release(a);
      assert.equal(a.disposed, true, 'given back after close: closed, not kept');
    }
  });
});
