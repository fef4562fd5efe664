import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, parseLogLevel, setDefaultLogLevel, setDefaultLogSink } from '@writeback/protocol';

describe('logger sinks (the protocol formats, the app writes)', () => {
  it('writes through the default sink an app installs, even for loggers made before it', () => {
    const log = createLogger({ name: 't' }).child({ part: 'x' });
    const lines: string[] = [];
    const prev = setDefaultLogSink((l) => lines.push(l));
    try {
      log.info('hello', { password: 'hunter22' });
    } finally {
      setDefaultLogSink(prev);
    }
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0] ?? '{}');
    assert.equal(entry.msg, 'hello');
    assert.equal(entry.part, 'x');
    assert.equal(entry.password, '[redacted]');
  });

  it('a logger with its own sink and level ignores the defaults', () => {
    const own: string[] = [];
    const other: string[] = [];
    const prevSink = setDefaultLogSink((l) => other.push(l));
    const prevLevel = setDefaultLogLevel('error');
    try {
      const log = createLogger({ name: 't', level: 'debug', sink: (l) => own.push(l) });
      log.debug('mine');
      createLogger({ name: 'u' }).warn('below the default level');
      createLogger({ name: 'u' }).error('at it');
    } finally {
      setDefaultLogSink(prevSink);
      setDefaultLogLevel(prevLevel);
    }
    assert.equal(own.length, 1);
    assert.deepEqual(
      other.map((l) => JSON.parse(l).msg),
      ['at it'],
    );
  });

  it('reads a level from configuration text', () => {
    assert.equal(parseLogLevel('debug'), 'debug');
    assert.equal(parseLogLevel('verbose'), undefined);
    assert.equal(parseLogLevel('toString'), undefined);
    assert.equal(parseLogLevel(undefined), undefined);
  });
});
