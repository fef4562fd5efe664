/**
 * A relay that keeps refusing the agent is said once, clearly (issue 12: the demo's agent, left
 * dialing a port nothing listened on, wrote one warning per attempt forever and never said what was
 * wrong). Real sockets to a port nothing listens on, then a real hub on it; a hand-moved clock for
 * "for long".
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Clock, freePort } from '@writeback/testkit';
import { startAgent } from '../src/index.js';
import { trackRefusals } from '../src/relay-refusals.js';
import { FakeDirectory, captureLog, makeCloud, makeState, startHub, waitFor } from './fixtures.js';

const cloud = makeCloud();
const REFUSED = 'the relay has refused this agent for a while';

type Line = { level: string; msg: string; code?: string; attempts?: number; refusedForSeconds?: number };
const parsed = (lines: string[]): Line[] => lines.map((l) => JSON.parse(l) as Line);

describe('relay refusals', () => {
  test('the tracker: first failure loud, the rest quiet, one line after afterMs, one when accepted again', () => {
    const clock = new Clock();
    const { log, lines } = captureLog();
    const t = trackRefusals({ log, now: clock.now, afterMs: 30_000 });
    const url = 'ws://127.0.0.1:9/agent';
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    assert.equal(t.failed(url, refused), true);
    assert.equal(t.failed(url, refused), false);
    clock.advance(29_000);
    assert.equal(t.failed(url, refused), false);
    assert.equal(lines.length, 0);
    clock.advance(1_000);
    t.failed(url, refused);
    t.failed(url, refused);
    assert.deepEqual(
      parsed(lines).map((l) => [l.level, l.msg.startsWith(REFUSED), l.code, l.attempts, l.refusedForSeconds]),
      [['warn', true, 'ECONNREFUSED', 4, 30]],
    );
    // Another relay has its own run.
    assert.equal(t.failed('ws://127.0.0.1:10/agent', refused), true);
    t.accepted(url);
    assert.equal(parsed(lines)[1]?.msg, 'relay accepts this agent again');
    assert.equal(t.failed(url, refused), true, 'a new run starts loud again');
  });

  test('an agent dialing a port nothing listens on says so once; when a relay comes up there, it connects', async () => {
    const port = await freePort();
    const clock = new Clock(Date.now());
    const { log, lines } = captureLog();
    const agent = await startAgent({
      state: makeState(cloud, { relayUrl: `ws://127.0.0.1:${port}/agent` }),
      directory: new FakeDirectory(),
      log,
      now: clock.now,
      backoff: { baseMs: 5, capMs: 20 },
    });
    const all = () => parsed(lines).filter((l) => l.msg === 'relay link error' || l.msg.startsWith(REFUSED));
    try {
      await waitFor(() => all().length >= 5, { what: 'a few refused attempts' });
      assert.deepEqual(
        all()
          .filter((l) => l.level === 'warn')
          .map((l) => l.msg),
        ['relay link error'],
        'only the first attempt is a warning',
      );
      clock.advance(31_000);
      await waitFor(() => all().some((l) => l.msg.startsWith(REFUSED)), { what: 'the refusal line' });
      const count = all().length;
      await waitFor(() => all().length >= count + 5, { what: 'more refused attempts' });
      const refusals = all().filter((l) => l.msg.startsWith(REFUSED));
      assert.equal(refusals.length, 1, 'said once');
      assert.equal(refusals[0]?.level, 'warn');
      assert.equal(refusals[0]?.code, 'ECONNREFUSED');

      const hub = await startHub(cloud, {}, port);
      try {
        await agent.ready();
        await waitFor(() => parsed(lines).some((l) => l.msg === 'relay accepts this agent again'), {
          what: 'the line saying the relay accepts it again',
        });
      } finally {
        await agent.stop();
        await hub.close();
      }
    } finally {
      await agent.stop();
    }
  });
});
