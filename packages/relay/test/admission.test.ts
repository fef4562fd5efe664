/**
 * Unauthenticated connections (issue 10, Low; issue 11 item 7): refusals are summarised in the
 * log instead of one line each, pending connections are capped per address and in total with fair
 * admission (an agent from another address gets in during a flood), and the handshake deadline
 * covers the whole handshake. Other addresses are other loopback addresses (127.0.0.2, ...).
 * Nothing here waits for time: each step waits for the frame or close it causes, and the log's
 * windows follow the hub's hand-moved clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, generateSigningKeyPair, privateKeyObject } from '@writeback/protocol';
import { remoteKey } from '../src/admission.js';
import { ScriptedAgent, connectAgent, makeAgentIdentity, makeCloud, startHub } from './helpers.js';

const cloud = makeCloud();
const stranger = privateKeyObject(generateSigningKeyPair().privateJwk);

interface Line {
  level: string;
  msg: string;
  code?: string;
  refused?: Record<string, number>;
  remotes?: number;
}

function recordingLog() {
  const lines: Line[] = [];
  const log = createLogger({ name: 'relay', level: 'debug', sink: (l) => lines.push(JSON.parse(l) as Line) });
  return { log, lines };
}

/** A connection that answers the challenge with a proof by the wrong key: refused `auth_failed`. */
async function refusedAgent(url: string, n: number): Promise<void> {
  const agent = new ScriptedAgent(url, makeAgentIdentity(cloud, 'tenant-a', `intruder-${n}`));
  await agent.authenticate({ signWith: stranger });
  assert.equal((await agent.next('error')).code, 'auth_failed');
  await agent.closed;
}

/** An unauthenticated connection that got its challenge and says nothing more. */
async function silent(url: string, localAddress = '127.0.0.1'): Promise<ScriptedAgent> {
  const agent = new ScriptedAgent(url, null, { localAddress });
  await agent.next('challenge');
  return agent;
}

describe('refusal log', () => {
  test('issue 10: a burst of refused connections writes one line per reason, then one summary per window with counts', async () => {
    let now = 1_000_000;
    const { log, lines } = recordingLog();
    const fx = await startHub(cloud, { log, now: () => now, refusalLogIntervalMs: 60_000 });
    try {
      for (let i = 0; i < 20; i++) await refusedAgent(fx.url, i);
      const warned = lines.filter((l) => l.level === 'warn' || l.level === 'error');
      assert.equal(warned.length, 1, 'twenty refusals, one line');
      assert.equal(warned[0]?.code, 'auth_failed');

      // The window has passed: the next refusal first closes it with a summary of the counted ones.
      now += 60_000;
      await refusedAgent(fx.url, 20);
      const summary = lines.find((l) => l.msg === 'agent connections refused (summary)');
      assert.deepEqual(summary?.refused, { auth_failed: 19 });
      assert.equal(summary?.remotes, 1);
      assert.equal(lines.filter((l) => l.level === 'warn' || l.level === 'error').length, 3);
    } finally {
      await fx.close();
    }
  });
});

describe('admission of unauthenticated connections', () => {
  test('issue 11 item 7: one address holds at most maxPendingAuthPerIp; another address still gets in', async () => {
    const fx = await startHub(cloud, { maxPendingAuthPerIp: 3, maxPendingAuth: 100, authTimeoutMs: 60_000 });
    try {
      const flood = [await silent(fx.url), await silent(fx.url), await silent(fx.url)];
      const refused = new ScriptedAgent(fx.url);
      assert.equal((await refused.closed).code, 1006, 'destroyed before the upgrade');
      assert.equal(refused.frames.length, 0);
      const agent = await connectAgent(fx.url, makeAgentIdentity(cloud, 'tenant-a', 'agent-elsewhere'), {
        localAddress: '127.0.0.2',
      });
      assert.equal(fx.hub.holds('agent-elsewhere'), true);
      agent.close();
      for (const f of flood) f.close();
    } finally {
      await fx.close();
    }
  });

  test('issue 11 item 7: at the total cap an agent from another address takes the flooding address’s oldest place', async () => {
    const { log, lines } = recordingLog();
    const fx = await startHub(cloud, { maxPendingAuthPerIp: 3, maxPendingAuth: 3, authTimeoutMs: 60_000, log });
    try {
      const flood = [await silent(fx.url), await silent(fx.url), await silent(fx.url)];
      const agent = await connectAgent(fx.url, makeAgentIdentity(cloud, 'tenant-a', 'agent-fair'), {
        localAddress: '127.0.0.2',
      });
      assert.equal(fx.hub.holds('agent-fair'), true);
      // Cut without an error frame (no `overloaded`: that tells an agent it holds every slot).
      assert.equal((await flood[0]?.closed)?.code, 1006);
      assert.ok(lines.some((l) => l.msg === 'agent connection refused' && l.code === 'evicted'));
      // The flood fills the cap again; a newcomer from a third address takes its next-oldest place.
      flood.push(await silent(fx.url));
      const third = await connectAgent(fx.url, makeAgentIdentity(cloud, 'tenant-a', 'agent-third'), {
        localAddress: '127.0.0.3',
      });
      assert.equal(fx.hub.holds('agent-third'), true);
      assert.equal((await flood[1]?.closed)?.code, 1006);
      agent.close();
      third.close();
      for (const f of flood) f.close();
    } finally {
      await fx.close();
    }
  });

  test('at the total cap with no address over its share, a newcomer is refused (nobody is evicted)', async () => {
    const fx = await startHub(cloud, { maxPendingAuthPerIp: 1, maxPendingAuth: 2, authTimeoutMs: 60_000 });
    try {
      const a = await silent(fx.url, '127.0.0.1');
      const b = await silent(fx.url, '127.0.0.2');
      const c = new ScriptedAgent(fx.url, null, { localAddress: '127.0.0.3' });
      assert.equal((await c.closed).code, 1006);
      assert.equal(a.frames.length, 0);
      assert.equal(b.frames.length, 0);
      a.close();
      b.close();
    } finally {
      await fx.close();
    }
  });

  test('the handshake deadline covers the gate: a stalled gate answers auth_timeout and frees the place', async () => {
    const fx = await startHub(cloud, {
      maxPendingAuthPerIp: 1,
      maxPendingAuth: 1,
      authTimeoutMs: 200,
      gate: (agentId) => (agentId === 'agent-stuck' ? new Promise<boolean>(() => {}) : true),
    });
    try {
      const stuck = new ScriptedAgent(fx.url, makeAgentIdentity(cloud, 'tenant-a', 'agent-stuck'));
      await stuck.authenticate();
      assert.equal((await stuck.next('error')).code, 'auth_timeout');
      await stuck.closed;
      const next = await connectAgent(fx.url, makeAgentIdentity(cloud, 'tenant-a', 'agent-next'));
      assert.equal(fx.hub.holds('agent-next'), true);
      next.close();
    } finally {
      await fx.close();
    }
  });
});

test('pending connections are counted per IPv4 address and per IPv6 /64', () => {
  assert.equal(remoteKey('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(remoteKey('2001:db8:1:2::7'), remoteKey('2001:db8:1:2:ffff:1:2:3'));
  assert.notEqual(remoteKey('2001:db8:1:2::7'), remoteKey('2001:db8:1:3::7'));
});
