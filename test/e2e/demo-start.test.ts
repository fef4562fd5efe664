/**
 * `npm start`, for real (issue 12, "an operator's first day"): npm in its own process group on a
 * free PORT and DATA_DIR, as an operator runs it.
 *
 * - The printed API examples, run in order through a shell, each end in the outcome it announces
 *   (the bob change was refused for holding his name; the alice sign-in used a password an earlier
 *   example had replaced).
 * - A SIGTERM to the npm process ends every process of the demo (npm's shell swallowed it, and the
 *   demo and its agent ran on).
 * - Started again on another PORT, the agent follows the cloud and connects (it dialed the old port
 *   forever); with its agent killed, the demo's own stop still ends (it waited forever for an exit
 *   that had already happened).
 * - A demo killed outright (SIGKILL) takes its agent with it.
 *
 * Processes are listed by process group (/proc or ps); the checks that nothing survives poll the
 * process table, the one state no event announces.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, tempDirs, waitFor } from '@writeback/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tempDir = tempDirs('wb-demo-');
const BANNER_END = 'Ctrl-C stops everything.';
const started: number[] = [];

after(() => {
  // Whatever a failed test left: only the groups this file started.
  for (const pgid of started) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

interface Demo {
  npm: ChildProcessByStdio<null, Readable, Readable>;
  out(): string;
  err(): string;
  exited: Promise<void>;
  /** Every process holding its output pipes (npm, its shell, the demo, the agent) has ended. */
  closed: Promise<void>;
}

/** `npm start` in its own process group, until it printed its banner. */
async function startDemo(dataDir: string, port: number): Promise<Demo> {
  const npm = spawn('npm', ['start'], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (npm.pid === undefined) throw new Error('npm did not start');
  started.push(npm.pid);
  let out = '';
  let err = '';
  npm.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  npm.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
  const closed = new Promise<void>((resolve) => npm.once('close', () => resolve()));
  await waitFor(() => out.includes(BANNER_END) || npm.exitCode !== null, {
    timeoutMs: 90_000,
    what: `the demo's banner (stderr so far: ${err.slice(-500)})`,
  });
  assert.ok(out.includes(BANNER_END), `the demo did not start: ${err.slice(-2000)}`);
  return { npm, out: () => out, err: () => err, exited, closed };
}

/** Pids in process group `pgid` (the demo's npm, its shell, the demo, its agent). */
function groupPids(pgid: number): number[] {
  const table = execFileSync('ps', ['-eo', 'pid=,pgid='], { encoding: 'utf8' });
  return table
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter(([pid, group]) => group === pgid && pid !== undefined)
    .map(([pid]) => pid as number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const agentPidOf = (banner: string): number => {
  const m = /Stop the agent \(kill (\d+)\)/.exec(banner);
  assert.ok(m?.[1], 'the banner names the agent pid');
  return Number(m[1]);
};

/** Every process of the group has ended (the safety net is long: a loaded machine is slow, not broken). */
async function groupEnds(pgid: number, what: string): Promise<void> {
  await waitFor(() => groupPids(pgid).length === 0, { timeoutMs: 30_000, what });
}

/** The examples of the banner: `# n. … → code` followed by its command. */
function examplesOf(banner: string): { expect: string; command: string; title: string }[] {
  const lines = banner.split('\n');
  const out: { expect: string; command: string; title: string }[] = [];
  lines.forEach((line, i) => {
    const m = /^ {2}# \d+\. (.*) → ([a-z_]+)$/.exec(line);
    const next = lines[i + 1];
    if (m?.[1] && m[2] && next?.startsWith('  curl ')) out.push({ title: m[1], expect: m[2], command: next.trim() });
  });
  return out;
}

/** The code an API answer ends in: its writeback outcome, its error code, or `ok` for a plain read. */
function codeOf(body: string): string {
  const json: unknown = JSON.parse(body);
  if (json === null || typeof json !== 'object') return 'not an object';
  if ('outcome' in json && typeof json.outcome === 'string') return json.outcome;
  if ('error' in json && json.error !== null && typeof json.error === 'object' && 'code' in json.error)
    return String(json.error.code);
  return 'ok';
}

describe('npm start', { concurrency: false }, () => {
  const dataDir = tempDir();

  test('the printed examples work in order; a SIGTERM to npm ends every process of the demo', async () => {
    // The examples are curl command lines; without curl they cannot be run as printed.
    assert.equal(spawnSync('curl', ['--version']).status, 0, 'curl is needed to run the printed examples');
    const demo = await startDemo(dataDir, await freePort());
    const pgid = demo.npm.pid ?? 0;
    const banner = demo.out();
    assert.match(banner, /agent connected/);
    const agentPid = agentPidOf(banner);
    assert.ok(groupPids(pgid).includes(agentPid), 'the agent runs in the group');

    const examples = examplesOf(banner);
    assert.ok(examples.length >= 10, `examples found: ${examples.length}`);
    for (const e of examples) {
      const body = execFileSync('sh', ['-c', e.command], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(codeOf(body), e.expect, `${e.title}: ${body.slice(0, 300)}`);
    }
    const codes = examples.map((e) => e.expect);
    for (const code of ['succeeded', 'policy_violation', 'protected_account', 'account_disabled'])
      assert.ok(codes.includes(code), `an example shows ${code}`);

    demo.npm.kill('SIGTERM');
    await demo.closed;
    await groupEnds(pgid, 'every process of the demo to end after a SIGTERM to npm');
    assert.match(demo.err(), /writeback demo stopped \(launcher gone\)/);
    assert.equal(alive(agentPid), false);
  });

  test('started again on another PORT, the agent connects; with the agent killed, the stop still ends', async () => {
    const port = await freePort();
    const demo = await startDemo(dataDir, port);
    const pgid = demo.npm.pid ?? 0;
    assert.match(demo.out(), /agent connected/, demo.err().slice(-1000));
    assert.ok(
      demo.err().includes(`the cloud runs on http://127.0.0.1:${port} now`),
      'the agent was moved to the new port',
    );
    const agentPid = agentPidOf(demo.out());

    process.kill(agentPid, 'SIGKILL');
    await waitFor(() => demo.err().includes('agent exited'), { what: 'the demo to see its agent end' });
    // As the banner says: example 1 again answers agent_unavailable.
    const first = examplesOf(demo.out())[0];
    assert.ok(first);
    assert.equal(
      codeOf(execFileSync('sh', ['-c', first.command], { encoding: 'utf8', timeout: 20_000 })),
      'agent_unavailable',
    );
    demo.npm.kill('SIGTERM');
    await demo.closed;
    await groupEnds(pgid, 'the demo to end after its agent died');
    // Its own stop ended it, not the safety net of a stop that hangs.
    assert.match(demo.err(), /writeback demo stopped \(launcher gone\)/);
    assert.doesNotMatch(demo.err(), /did not finish/);
  });

  test('a demo killed outright takes its agent with it', async () => {
    const demo = await startDemo(dataDir, await freePort());
    const pgid = demo.npm.pid ?? 0;
    const agentPid = agentPidOf(demo.out());
    const demoPid = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(agentPid)], { encoding: 'utf8' }).trim());
    assert.ok(demoPid > 1 && groupPids(pgid).includes(demoPid));
    process.kill(demoPid, 'SIGKILL');
    await groupEnds(pgid, 'the agent (and npm) to end after the demo was killed');
  });
});
