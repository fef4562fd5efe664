/** Shared fixtures for the embedded directory tests: temp folders, a frozen clock, a captured log. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '@writeback/protocol';
import { HASH_COST, openEmbeddedDirectory, type EmbeddedConfig, type EmbeddedDirectory } from '../src/index.js';

export const T0 = Date.parse('2026-01-05T09:00:00.000Z');
export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

/** A clock that only moves when told to. */
export class FrozenClock {
  t = T0;
  readonly now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Every log line a test run writes, to check that no password ever shows up. */
export class CapturedLog {
  readonly lines: string[] = [];
  readonly log: Logger = createLogger({ name: 'test', level: 'debug', sink: (l) => this.lines.push(l) });
  assertNoSecret(...secrets: string[]): void {
    for (const line of this.lines)
      for (const s of secrets)
        if (line.includes(s)) throw new Error(`a secret leaked into a log line: ${line.slice(0, 80)}`);
  }
}

export async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wb-embedded-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface Fixture {
  dir: EmbeddedDirectory;
  path: string;
  clock: FrozenClock;
  logs: CapturedLog;
  reopen: (extra?: Partial<EmbeddedConfig>) => Promise<EmbeddedDirectory>;
}

/** A fresh directory in a temp folder, fast hashes, frozen clock; closed after the test. */
export async function fixture(
  t: { after: (fn: () => Promise<void>) => void },
  extra: Partial<EmbeddedConfig> = {},
): Promise<Fixture> {
  const path = await tempDir(t);
  const clock = new FrozenClock();
  const logs = new CapturedLog();
  const open = (more: Partial<EmbeddedConfig> = {}) =>
    openEmbeddedDirectory(
      { kind: 'embedded', path, hash: { ...HASH_COST.fast }, ...extra, ...more },
      { now: clock.now, log: logs.log },
    );
  const f: Fixture = {
    dir: await open(),
    path,
    clock,
    logs,
    reopen: async (more) => {
      await f.dir.close();
      f.dir = await open(more);
      return f.dir;
    },
  };
  t.after(() => f.dir.close());
  return f;
}

export const byLogin = (value: string) => ({ by: 'login' as const, value });
export const byAnchor = (value: string) => ({ by: 'anchor' as const, value });
export const RESET = { forceChange: false, unlock: false, enforceHistory: true };
