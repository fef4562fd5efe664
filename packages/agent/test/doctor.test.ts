/**
 * `writeback-agent doctor` against a real cloud (HTTP + in-process relay + SQLite) on a real port,
 * an agent registered with a one-time token, and the embedded directory on disk: a healthy system,
 * a revoked and an unknown agent, a state file others can read, a corrupt store, a skewed clock,
 * the relay down, and the CLI as its own process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCloud, type Cloud as CloudService } from '@writeback/cloud';
import { HASH_COST, openEmbeddedDirectory } from '@writeback/directory';
import { createLogger } from '@writeback/protocol';
import { doctorExitCode, runDoctor, type DoctorCheck, type DoctorReport } from '../src/doctor.js';
import { registerAgent, runCli, startAgent, writeState, type AgentState, type RunningAgent } from '../src/index.js';
import { makeCloud, makeState, startTlsHub, tempDir, waitFor } from './fixtures.js';

const ESC = '\u001b[';
const quiet = createLogger({ name: 'test', level: 'error', sink: () => {} });
const ROOT = new URL('../../../', import.meta.url).pathname;

function check(report: DoctorReport, id: string): DoctorCheck {
  const c = report.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in ${report.checks.map((x) => x.id).join(', ')}`);
  return c;
}

function statuses(report: DoctorReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
}

describe('doctor against a real cloud, relay and embedded directory', () => {
  let dir: { path: string; remove(): Promise<void> };
  let cloud: CloudService;
  let state: AgentState;
  let statePath: string;
  let apiKey: string;
  let tenant: string;
  let agent: RunningAgent | null = null;
  const doctor = (extra: Partial<Parameters<typeof runDoctor>[0]> = {}) =>
    runDoctor({ statePath, log: quiet, timeoutMs: 5_000, ...extra });

  before(async () => {
    dir = await tempDir();
    cloud = await createCloud(
      {
        port: 0,
        databaseUrl: `sqlite:${join(dir.path, 'cloud.db')}`,
        masterKey: randomBytes(32).toString('base64url'),
        pendingGraceMs: 0,
      },
      { log: quiet, printOperatorKey: () => {} },
    );
    const boot = await cloud.bootstrap({ tenant: { slug: 'acme', name: 'Acme' }, apiKey: true, agentToken: true });
    apiKey = boot.apiKey ?? '';
    tenant = boot.tenant?.id ?? '';
    const directory = {
      kind: 'embedded',
      path: join(dir.path, 'directory'),
      hash: { ...HASH_COST.fast },
      policy: { minAgeSeconds: 0 },
    };
    const d = await openEmbeddedDirectory({ ...directory, kind: 'embedded' }, { log: quiet });
    await d.createUser({ login: 'alice', displayName: 'Alice', password: 'Tulip-Initial-2024!' });
    await d.createUser({ login: 'dave', displayName: 'Dave Admin', password: 'Birch-Initial-2024!', protected: true });
    await d.close();
    statePath = join(dir.path, 'agent.json');
    state = await registerAgent({
      cloudUrl: cloud.url,
      token: boot.agentToken?.token ?? '',
      name: 'doctor-agent',
      statePath,
      directory,
      log: quiet,
    });
  });

  after(async () => {
    await agent?.stop();
    await cloud.close().catch(() => {});
    await dir.remove();
  });

  test('healthy system, with the agent running: warnings only (plain text on loopback, fast hashes), exit code 1', async () => {
    const d = await openEmbeddedDirectory(
      { kind: 'embedded', path: join(dir.path, 'directory'), hash: { ...HASH_COST.fast } },
      { log: quiet },
    );
    agent = await startAgent({ state, directory: d, log: quiet, allowPlaintext: true });
    try {
      await agent.ready();
      const report = await doctor();
      assert.deepEqual(
        report.checks.filter((c) => c.status === 'fail'),
        [],
      );
      for (const id of [
        'state.file',
        'state.permissions',
        'state.owner',
        'cloud.health',
        'relay.reach',
        'relay.auth',
        'clock_skew',
        'directory.config',
        'directory.folder',
        'directory.store',
        'directory.min_age',
        'directory.users',
        'directory.protected_accounts',
      ]) {
        assert.equal(check(report, id).status, 'pass', JSON.stringify(check(report, id)));
      }
      // ws:// and http:// to 127.0.0.1 on a port other than 443; scrypt below the standard cost.
      for (const id of ['cloud.url', 'relay.url', 'directory.hash_cost']) {
        assert.equal(check(report, id).status, 'warn', id);
        assert.ok(check(report, id).fix, id);
      }
      assert.equal(report.status, 'warn');
      assert.equal(doctorExitCode(report.status), 1);
      // The doctor's own connection came and went; the running agent's link is untouched.
      assert.equal(agent.status()[0]?.status, 'ready');
      await waitFor(async () => (await cloud.relayClient.listAgents(tenant))[0]?.connections === 1, {
        timeoutMs: 3_000,
        what: 'the doctor connection to go',
      });
    } finally {
      await agent.stop();
      agent = null;
      await d.close();
    }
  });

  test('the clock: 45 s off warns, 10 min off fails', async () => {
    assert.equal(check(await doctor({ now: () => Date.now() + 45_000 }), 'clock_skew').status, 'warn');
    const far = await doctor({ now: () => Date.now() - 600_000 });
    assert.equal(check(far, 'clock_skew').status, 'fail');
    assert.equal(far.status, 'fail');
  });

  test('the CLI as its own process: --json, exit code 1, the same checks', async () => {
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['packages/agent/bin/writeback-agent.js', 'doctor', '--state', statePath, '--json'],
        { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'error' } },
        (_err, out) => resolve({ code: child.exitCode, stdout: out }),
      );
    });
    assert.equal(code, 1, stdout);
    const body: unknown = JSON.parse(stdout);
    assert.ok(
      typeof body === 'object' && body !== null && 'status' in body && 'checks' in body && Array.isArray(body.checks),
    );
    assert.equal(body.status, 'warn');
    const ids = body.checks.map((c: unknown) => (typeof c === 'object' && c !== null && 'id' in c ? c.id : null));
    for (const id of ['state.file', 'relay.auth', 'clock_skew', 'directory.store']) assert.ok(ids.includes(id), id);
    // The report never carries the agent's private keys.
    for (const secret of [state.signing.privateJwk.d, state.encryption.privateJwk.d])
      assert.equal(stdout.includes(secret), false);
  });

  test('readable report: one line per check, fixes under warnings, colour only on a TTY without NO_COLOR', async () => {
    const run = async (isTTY: boolean, env: Record<string, string>) => {
      let out = '';
      const code = await runCli(['doctor', '--state', statePath], {
        stdout: (t) => (out += t),
        stderr: () => {},
        isTTY,
        env,
      });
      return { code, out };
    };
    const plain = await run(false, {});
    assert.equal(plain.code, 1);
    assert.equal(plain.out.includes(ESC), false);
    assert.match(plain.out, /^PASS {2}relay\.auth +\S/m);
    assert.match(plain.out, /^WARN {2}relay\.url +\S.*\n +→ \S/m);
    assert.match(plain.out, /\d+ checks: \d+ pass, 3 warn, 0 fail/);
    assert.equal((await run(true, { NO_COLOR: '1' })).out.includes(ESC), false);
    assert.ok((await run(true, {})).out.includes(`${ESC}33mWARN`));
  });

  test('a state file others can read fails state.permissions; the other checks still run', async () => {
    await chmod(statePath, 0o644);
    try {
      const report = await doctor();
      assert.equal(check(report, 'state.permissions').status, 'fail');
      assert.ok(check(report, 'state.permissions').fix);
      assert.equal(check(report, 'relay.auth').status, 'pass');
      assert.equal(check(report, 'directory.store').status, 'pass');
      assert.equal(doctorExitCode(report.status), 2);
    } finally {
      await chmod(statePath, 0o600);
    }
  });

  test('a missing or broken state file is the only check, failed', async () => {
    const missing = await doctor({ statePath: join(dir.path, 'nope.json') });
    assert.deepEqual(statuses(missing), { 'state.file': 'fail' });
    const broken = join(dir.path, 'broken.json');
    await writeFile(broken, '{"version":1', { mode: 0o600 });
    assert.deepEqual(statuses(await doctor({ statePath: broken })), { 'state.file': 'fail' });
  });

  test('a journal line broken mid-file fails directory.store', async () => {
    const folder = join(dir.path, 'corrupt');
    const d = await openEmbeddedDirectory(
      { kind: 'embedded', path: folder, hash: { ...HASH_COST.fast } },
      { log: quiet },
    );
    await d.createUser({ login: 'bob', displayName: 'Bob', password: 'Maple-Initial-2024!' });
    await d.createUser({ login: 'erin', displayName: 'Erin', password: 'Aspen-Initial-2024!' });
    await d.close();
    const journal = join(folder, 'journal.jsonl');
    const original = await readFile(journal, 'utf8');
    const lines = original.split('\n');
    assert.ok(lines.length >= 3, 'two records and a trailing newline');
    lines[0] = '{"seq": this is not json';
    await writeFile(journal, lines.join('\n'));
    const other = join(dir.path, 'corrupt-agent.json');
    await writeState(other, { ...state, directory: { kind: 'embedded', path: folder, hash: { ...HASH_COST.fast } } });
    const report = await doctor({ statePath: other });
    assert.equal(check(report, 'directory.store').status, 'fail');
    assert.ok(check(report, 'directory.store').fix);
    assert.equal(check(report, 'relay.auth').status, 'pass');
    // A torn last line is a write in progress, not corruption.
    await writeFile(journal, `${original}{"seq":3,"ty`);
    assert.equal(check(await doctor({ statePath: other }), 'directory.store').status, 'pass');
  });

  test("relay not reachable: the clock comes from the cloud's Date header", async () => {
    const path = join(dir.path, 'no-relay.json');
    await writeState(path, { ...state, relayUrl: 'ws://127.0.0.1:1/agent' });
    const report = await doctor({ statePath: path, now: () => Date.now() + 45_000 });
    assert.equal(check(report, 'relay.reach').status, 'fail');
    assert.equal(check(report, 'cloud.health').status, 'pass');
    assert.equal(check(report, 'clock_skew').status, 'warn');
    assert.equal(check(await doctor({ statePath: path }), 'clock_skew').status, 'pass');
  });

  test('plain text to another host fails cloud.url and relay.url', async () => {
    const path = join(dir.path, 'remote-plain.json');
    await writeState(path, { ...state, cloudUrl: 'http://192.0.2.1/', relayUrl: 'ws://192.0.2.1/agent' });
    const report = await doctor({ statePath: path, timeoutMs: 300 });
    for (const id of ['cloud.url', 'relay.url', 'cloud.health', 'relay.reach'])
      assert.equal(check(report, id).status, 'fail', id);
  });

  test('an agent of another cloud is refused: relay.auth fails (auth_failed)', async () => {
    const foreign = makeState(makeCloud(), { relayUrl: state.relayUrl, agentId: 'agent-x', tenantId: tenant });
    const path = join(dir.path, 'foreign.json');
    await writeState(path, { ...foreign, cloudUrl: state.cloudUrl });
    const c = check(await doctor({ statePath: path }), 'relay.auth');
    assert.equal(c.status, 'fail');
    assert.equal(c.code, 'auth_failed');
  });

  test('a revoked agent: relay.auth fails (agent_revoked), exit code 2', async () => {
    const res = await fetch(`${cloud.url}/api/v1/tenants/acme/agents/${state.agentId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(res.status, 204);
    const report = await doctor();
    const c = check(report, 'relay.auth');
    assert.equal(c.status, 'fail');
    assert.equal(c.code, 'agent_revoked');
    assert.ok(c.fix);
    assert.equal(doctorExitCode(report.status), 2);
  });

  test('the cloud and its relay down: cloud.health and relay.reach fail, the clock is not measured', async () => {
    await cloud.close();
    const report = await doctor();
    assert.equal(check(report, 'cloud.health').status, 'fail');
    assert.equal(check(report, 'relay.reach').status, 'fail');
    assert.equal(check(report, 'relay.auth').status, 'fail');
    assert.equal(check(report, 'clock_skew').status, 'warn');
    assert.equal(check(report, 'directory.store').status, 'pass');
    assert.equal(doctorExitCode(report.status), 2);
  });
});

test('wss:// with a private CA: reach and handshake pass with --ca (port not 443 warns), TLS fails without it', async (t) => {
  const dir = await tempDir();
  try {
    const cloud = makeCloud();
    const tls = await startTlsHub(cloud, dir.path);
    if (!tls) return t.skip('openssl not available');
    const port = tls.port;
    const statePath = join(dir.path, 'agent.json');
    await writeState(statePath, {
      ...makeState(cloud, { relayUrl: `wss://localhost:${port}/agent` }),
      cloudUrl: `https://localhost:${port}/`,
      directory: { kind: 'embedded', path: join(dir.path, 'directory') },
    });
    try {
      const trusted = await runDoctor({ statePath, caFile: tls.caFile, log: quiet, timeoutMs: 5_000 });
      assert.equal(check(trusted, 'relay.url').status, 'warn');
      assert.equal(check(trusted, 'relay.reach').status, 'pass');
      assert.equal(check(trusted, 'relay.auth').status, 'pass');
      assert.equal(check(trusted, 'clock_skew').status, 'pass');
      const untrusted = await runDoctor({ statePath, log: quiet, timeoutMs: 5_000 });
      assert.equal(check(untrusted, 'relay.reach').status, 'fail');
      assert.ok(check(untrusted, 'relay.reach').fix);
      assert.equal(check(untrusted, 'cloud.health').status, 'fail');
    } finally {
      await tls.close();
    }
  } finally {
    await dir.remove();
  }
});
