/**
 * A node that starts while NATS is down (issue 11 item 1): `NatsLink.connect` makes the first
 * connection in the background with the link's backoff, counting the attempts for health and
 * logging the wait once (never the NATS URL, which may hold credentials), and stops when told;
 * the deferred relay client answers meanwhile without waiting (no agents, requests `unavailable`,
 * revocations kept until the client exists). The dials here are scripted: the real nats-server
 * case is test/e2e/nats-down-at-start.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectionOptions, NatsConnection, Status } from 'nats';
import type { RequestEnvelope } from '@writeback/protocol';
import { capturingLogger, findSecrets, quietLog, waitFor } from '@writeback/testkit';
import { createDeferredRelayClient, createNatsLink, type RelayClient } from '../src/index.js';

/** The little of a NatsConnection the link reads: its status events (none) and its end. */
function fakeConnection(): NatsConnection & { closedByUs: boolean } {
  let end: (err?: Error) => void = () => {};
  const closed = new Promise<Error | undefined>((resolve) => {
    end = (err) => resolve(err);
  });
  const fake = {
    closedByUs: false,
    isClosed: () => fake.closedByUs,
    // No status event before the end.
    status: (): AsyncIterable<Status> => ({
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<Status>> => {
          await closed;
          return { done: true, value: undefined };
        },
      }),
    }),
    closed: () => closed,
    async close() {
      fake.closedByUs = true;
      end();
    },
  };
  return fake as unknown as NatsConnection & { closedByUs: boolean };
}

const SECRET_URL = 'nats://writeback:s3cret-Pa55@nats.internal:4222';

/** A dial that fails `failures` times (quoting the URL, as some errors do), then connects. */
function scriptedDial(failures: number) {
  const calls: ConnectionOptions[] = [];
  const made: ReturnType<typeof fakeConnection>[] = [];
  let release: (() => void) | null = null;
  const dial = async (o: ConnectionOptions): Promise<NatsConnection> => {
    calls.push(o);
    if (calls.length <= failures) {
      const err = new Error(`connect ECONNREFUSED ${String(o.servers)}`) as Error & { code: string };
      err.code = 'CONNECTION_REFUSED';
      throw err;
    }
    if (hold.on) await new Promise<void>((r) => (release = r));
    const nc = fakeConnection();
    made.push(nc);
    return nc;
  };
  const hold = { on: false, release: () => release?.() };
  return { dial, calls, made, hold };
}

test('the first connection is made in the background, the attempts counted and the wait logged once', async () => {
  const { log, lines } = capturingLogger('nats', 'debug');
  const script = scriptedDial(5);
  const link = createNatsLink({ log, reconnectBaseMs: 1, reconnectCapMs: 4, dial: script.dial });
  assert.equal(link.state().status, 'connecting');
  const dialer = link.connect({ servers: SECRET_URL, name: 'test' });
  assert.equal(dialer.connection(), null);
  assert.equal(link.isUp(), false);

  const nc = await dialer.connected;
  assert.ok(nc, 'connected once a dial succeeds');
  assert.equal(dialer.connection(), nc);
  assert.equal(script.calls.length, 6);
  assert.equal(link.state().status, 'up');
  // Each dial carries the link's options: reconnect forever once connected.
  for (const o of script.calls) {
    assert.equal(o.maxReconnectAttempts, -1);
    assert.equal(o.servers, SECRET_URL);
    assert.equal(o.name, 'test');
  }
  assert.equal(lines.filter((l) => l.includes('NATS not reachable')).length, 1);
  assert.equal(lines.filter((l) => l.includes('NATS link up')).length, 1);
  assert.ok(
    lines.some((l) => l.includes('CONNECTION_REFUSED')),
    'the reason is logged by its code',
  );
  assert.deepEqual(findSecrets(lines, ['s3cret-Pa55', SECRET_URL]), [], 'the NATS URL never reaches the log');
  assert.throws(() => link.connect({ servers: SECRET_URL }), TypeError);
});

test('the attempts so far are the state while connecting', async () => {
  const script = scriptedDial(Number.POSITIVE_INFINITY);
  const link = createNatsLink({ log: quietLog(), reconnectBaseMs: 1, reconnectCapMs: 2, dial: script.dial });
  const dialer = link.connect({ servers: 'nats://127.0.0.1:1' });
  await waitFor(() => script.calls.length >= 4, { what: 'four dials' });
  const state = link.state();
  assert.equal(state.status, 'connecting');
  assert.ok(state.status === 'connecting' && state.attempts >= 3);
  dialer.stop();
  assert.equal(await dialer.connected, null);
  const dialed = script.calls.length;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(script.calls.length, dialed, 'no dial after stop');
});

test('a connection made after stop is closed, not kept', async () => {
  const script = scriptedDial(0);
  script.hold.on = true;
  const link = createNatsLink({ log: quietLog(), reconnectBaseMs: 1, reconnectCapMs: 2, dial: script.dial });
  const dialer = link.connect({ servers: 'nats://127.0.0.1:1' });
  await waitFor(() => script.calls.length === 1, { what: 'the dial' });
  dialer.stop();
  script.hold.release();
  assert.equal(await dialer.connected, null);
  assert.equal(script.made.length, 1);
  assert.equal(script.made[0]?.closedByUs, true);
  assert.equal(dialer.connection(), null);
});

const envelope = { requestId: 'r1', agentId: 'a1', tenantId: 't1' } as unknown as RequestEnvelope;

test('the deferred relay client answers at once until the NATS client exists, then hands over', async () => {
  const script = scriptedDial(Number.POSITIVE_INFINITY);
  const link = createNatsLink({ log: quietLog(), reconnectBaseMs: 1, reconnectCapMs: 2, dial: script.dial });
  link.connect({ servers: 'nats://127.0.0.1:1' }).stop();
  let make: (c: RelayClient | null) => void = () => {};
  const revoked: string[] = [];
  const inner: RelayClient = {
    listAgents: async () => [],
    allAgents: async () => [],
    send: async () => ({ kind: 'timeout' }),
    revoke: async (agentId) => {
      revoked.push(agentId);
    },
    health: () => ({ link: 'up', linkSince: 1, reconnectAttempts: 0, relays: [] }),
    close: async () => {},
  };
  const client = createDeferredRelayClient(new Promise((r) => (make = r)), { link, log: quietLog() });

  assert.deepEqual(await client.listAgents('t1'), []);
  assert.deepEqual(await client.allAgents(), []);
  assert.deepEqual(await client.send(envelope), { kind: 'unavailable' });
  assert.equal(client.health?.().link, 'down');
  await client.revoke('a-revoked');
  assert.deepEqual(revoked, [], 'kept until there is a client');

  make(inner);
  await waitFor(() => revoked.length === 1, { what: 'the kept revocation to go out' });
  assert.deepEqual(revoked, ['a-revoked']);
  assert.deepEqual(await client.send(envelope), { kind: 'timeout' }, "the client's answer from now on");
  assert.equal(client.health?.().link, 'up');
  await client.revoke('a-later');
  assert.deepEqual(revoked, ['a-revoked', 'a-later']);
});

test('a deferred relay client closed first closes the NATS client when it comes', async () => {
  const link = createNatsLink({ log: quietLog() });
  let make: (c: RelayClient | null) => void = () => {};
  let innerClosed = false;
  const inner: RelayClient = {
    listAgents: async () => [],
    allAgents: async () => [],
    send: async () => ({ kind: 'timeout' }),
    revoke: async () => {},
    close: async () => {
      innerClosed = true;
    },
  };
  const client = createDeferredRelayClient(new Promise((r) => (make = r)), { link, log: quietLog() });
  await client.close();
  make(inner);
  await waitFor(() => innerClosed, { what: 'the late client to be closed' });
  assert.deepEqual(await client.send(envelope), { kind: 'unavailable' });
});

test('options that cannot work are not retried: connected rejects, naming the code and not the URL', async () => {
  const { log, lines } = capturingLogger('nats', 'debug');
  let dials = 0;
  const link = createNatsLink({
    log,
    reconnectBaseMs: 1,
    reconnectCapMs: 2,
    dial: async () => {
      dials++;
      // What nats.js throws for a URL it cannot parse (its message may quote the URL).
      throw Object.assign(new TypeError(`Invalid URL ${SECRET_URL}`), { code: 'ERR_INVALID_URL' });
    },
  });
  const dialer = link.connect({ servers: SECRET_URL });
  await assert.rejects(
    dialer.connected,
    (e: unknown) => e instanceof TypeError && e.message.includes('ERR_INVALID_URL'),
  );
  assert.equal(dials, 1);
  assert.equal(link.isUp(), false);
  assert.deepEqual(findSecrets(lines, ['s3cret-Pa55']), []);
});
