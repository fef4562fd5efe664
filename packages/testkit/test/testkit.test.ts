/** The testkit's own pieces: waitFor on events and on conditions, the clock, the log capture. */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { createLogger } from '@writeback/protocol';
import { captureLogs, capturingLogger, Clock, emitterEvents, eventsOf, findSecrets, waitFor } from '../src/index.js';

describe('waitFor', () => {
  it('resolves with the first matching event, and stops listening', async () => {
    const e = new EventEmitter();
    const got = waitFor(emitterEvents<number>(e, 'n'), { match: (n) => n > 1 });
    e.emit('n', 1);
    e.emit('n', 2);
    assert.equal(await got, 2);
    assert.equal(e.listenerCount('n'), 0);
  });

  it('re-checks a condition on each event of `on`, not on a timer', async () => {
    const listeners = new Set<(v: unknown) => void>();
    const source = eventsOf<unknown>((l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    });
    let ready = false;
    let checks = 0;
    const done = waitFor(
      () => {
        checks++;
        return ready;
      },
      { on: source },
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(checks, 1);
    ready = true;
    for (const l of listeners) l('tick');
    await done;
    assert.equal(checks, 2);
    assert.equal(listeners.size, 0);
  });

  it('polls a condition without `on`; the timeout is a safety net that names what was awaited', async () => {
    let n = 0;
    await waitFor(() => ++n >= 3);
    assert.equal(n, 3);
    await assert.rejects(
      waitFor(() => false, { timeoutMs: 30, what: 'nothing' }),
      /timed out waiting for nothing/,
    );
    await assert.rejects(
      waitFor(
        eventsOf<never>(() => () => {}),
        { timeoutMs: 30, what: 'an event' },
      ),
      /no an event within 30 ms/,
    );
  });

  it('fails with the error a condition throws', async () => {
    await assert.rejects(
      waitFor(() => {
        throw new Error('broken');
      }),
      /broken/,
    );
  });
});

describe('Clock', () => {
  it('stands still until moved', () => {
    const clock = new Clock(1_000);
    const { now } = clock;
    assert.equal(now(), 1_000);
    assert.equal(clock.advance(500), 1_500);
    assert.equal(now(), 1_500);
    clock.set(10);
    assert.equal(now(), 10);
  });
});

describe('logs', () => {
  it('captures the default sink until stopped; a capturing logger keeps its own lines, redacted', () => {
    const log = createLogger({ name: 't', level: 'debug' });
    const capture = captureLogs();
    log.info('hello', { password: 'Hunter2-secret' });
    capture.stop();
    log.info('after');
    assert.equal(capture.lines.length, 1);
    assert.deepEqual(findSecrets(capture.lines, ['Hunter2-secret', 'hello']), ['hello']);
    const own = capturingLogger('own');
    own.log.child({ part: 'x' }).debug('one', { token: 'abc' });
    assert.equal(own.lines.length, 1);
    assert.match(own.lines[0] ?? '', /"token":"\[redacted\]"/);
  });
});
