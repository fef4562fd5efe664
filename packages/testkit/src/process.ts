/**
 * Processes of the test's own: a free loopback port to give one, and a package's TypeScript entry
 * (`src/main.ts`) run by tsx as its own OS process, with what it writes kept as text. Imports no
 * @writeback package, so the lab (`@writeback/testkit/lab`) uses it too.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const address = srv.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface EntryProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Everything it wrote to stdout so far. */
  readonly stdout: string;
  /** Everything it wrote to stderr so far (the apps' JSON log). */
  readonly stderr: string;
  /** Its exit code once it ended and its output is read to the end (null: killed by a signal). */
  ended: Promise<number | null>;
}

/** `node --import tsx <script> <args>` with exactly the environment `env`; its output is kept. */
export function spawnEntry(script: string, args: readonly string[], env: NodeJS.ProcessEnv): EntryProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => {
    out.stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out.stderr += d.toString();
  });
  const ended = new Promise<number | null>((resolve) => child.once('close', (code: number | null) => resolve(code)));
  return {
    child,
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    ended,
  };
}

/** Run an entry (`spawnEntry`) to its end: its exit code and everything it wrote. */
export async function runEntry(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnEntry(script, args, env);
  const code = await p.ended;
  return { code, stdout: p.stdout, stderr: p.stderr };
}
