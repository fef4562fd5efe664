/**
 * Issue 12 item 1: the agent checks its own directory and tells the relay, with each pong and at
 * once when it changes, so the cloud routes around an agent whose directory is down.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DirectoryHealth } from '@writeback/directory';
import type { DirectoryHealthReport } from '@writeback/protocol';
import { startAgent } from '../src/index.js';
import { watchDirectory } from '../src/directory-watch.js';
import { captureLog, FakeDirectory, makeCloud, makeState, startHub, waitFor } from './fixtures.js';

const cloud = makeCloud();

/** A directory whose health the test sets: an answer, a throw, or no answer at all. */
function scriptedHealth() {
  let next: () => Promise<DirectoryHealth> = async () => ({ ok: true, kind: 'openldap', latencyMs: 1 });
  return {
    directory: { health: () => next() },
    up() {
      next = async () => ({ ok: true, kind: 'openldap', latencyMs: 1 });
    },
    down(detail: string) {
      next = async () => ({ ok: false, kind: 'openldap', latencyMs: 0, detail });
    },
    throws() {
      next = async () => {
        throw new Error('socket closed');
      };
    },
    silent() {
      next = () => new Promise<DirectoryHealth>(() => {});
    },
  };
}

describe('watchDirectory', () => {
  test('reports ok, then down with the adapter detail since the flip, and tells listeners the first report and each flip only', async () => {
    let t = 1_000;
    const h = scriptedHealth();
    const { log, lines } = captureLog();
    const watch = watchDirectory({ directory: h.directory, intervalMs: 60_000, now: () => t, log });
    try {
      const seen: DirectoryHealthReport[] = [];
      watch.onChange((r) => seen.push(r));
      assert.deepEqual(await watch.check(), { ok: true, since: 1_000 });
      t = 2_000;
      assert.deepEqual(await watch.check(), { ok: true, since: 1_000 }, 'unchanged: same since');
      h.down('connect ECONNREFUSED\n127.0.0.1:1');
      t = 3_000;
      assert.deepEqual(await watch.check(), { ok: false, since: 3_000, detail: 'connect ECONNREFUSED 127.0.0.1:1' });
      t = 4_000;
      h.throws();
      assert.deepEqual(await watch.check(), { ok: false, since: 3_000, detail: 'the health check failed' });
      h.up();
      t = 5_000;
      assert.deepEqual(await watch.check(), { ok: true, since: 5_000 });
      assert.deepEqual(
        seen.map((r) => [r.ok, r.since]),
        [
          [true, 1_000],
          [false, 3_000],
          [true, 5_000],
        ],
      );
      assert.equal(lines.filter((l) => l.includes('directory unreachable')).length, 1);
      assert.equal(lines.filter((l) => l.includes('directory reachable again')).length, 1);
    } finally {
      watch.stop();
    }
  });

  test('a directory that does not answer within the timeout is down', async () => {
    const h = scriptedHealth();
    h.silent();
    const watch = watchDirectory({ directory: h.directory, intervalMs: 60_000, timeoutMs: 30, log: captureLog().log });
    try {
      const r = await watch.check();
      assert.equal(r.ok, false);
      assert.match(r.detail ?? '', /no answer within 30 ms/);
    } finally {
      watch.stop();
    }
  });
});

describe('the running agent reports its directory to the relay', () => {
  test('down and back up reach the hub presence at once, each announced', async () => {
    const fx = await startHub(cloud);
    const state = makeState(cloud, { relayUrl: fx.url, agentId: 'agent-dh', tenantId: 'tenant-dh' });
    const directory = new FakeDirectory();
    const events: string[] = [];
    const off = fx.hub.onPresence((e) => events.push(e.type));
    const agent = await startAgent({ state, directory, log: captureLog().log, directoryCheckMs: 50 });
    const presence = async () => (await fx.hub.client().listAgents('tenant-dh'))[0]?.directoryHealth;
    try {
      await agent.ready();
      await waitFor(async () => (await presence())?.ok === true, { what: 'the first report' });
      directory.failing.add('health');
      // Announced as it changes, not at the next heartbeat (the hub pings every 10 s here).
      await waitFor(async () => (await presence())?.ok === false, { timeoutMs: 5_000, what: 'the down report' });
      assert.equal((await presence())?.detail, 'the health check failed');
      directory.failing.delete('health');
      await waitFor(async () => (await presence())?.ok === true, { timeoutMs: 5_000, what: 'the up report' });
      assert.ok(events.filter((e) => e === 'directory').length >= 3, events.join(','));
    } finally {
      off();
      await agent.stop();
      await fx.close();
    }
  });
});
