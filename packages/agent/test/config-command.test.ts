/**
 * `writeback-agent config show|set` (issue 12: an operator changed directory settings by editing the
 * 0600 state file by hand). Show redacts secrets; set checks a change as registration and `run`
 * would, refuses bad input with a stable code and writes nothing then, writes atomically and 0600,
 * never takes a secret from argv, and says whether a running agent (a real `run` process) must be
 * restarted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { HASH_COST } from '@writeback/directory';
import { freePort, spawnEntry, thrownCode } from '@writeback/testkit';
import { AgentError, loadState, runCli, writeState, type AgentState } from '../src/index.js';
import { checkDirectoryConfig } from '../src/config-command.js';
import { captureCliIo, makeCloud, makeState, tempDir, waitFor } from './fixtures.js';

const cloud = makeCloud();
const BIND_SECRET = 'Bind-S3cret-Value!';
const OPENLDAP = {
  kind: 'openldap',
  urls: ['ldaps://ldap.example.org'],
  bindDn: 'cn=writeback,ou=services,dc=example,dc=org',
  bindPassword: BIND_SECRET,
  baseDn: 'ou=people,dc=example,dc=org',
};

/** `config failed [code]: …` → code (the CLI's stable error form). */
const codeOf = (stderr: string) => /failed \[([a-z_]+)\]/.exec(stderr)?.[1] ?? 'none';

describe('writeback-agent config', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let statePath: string;
  let state: AgentState;
  before(async () => {
    dir = await tempDir();
  });
  after(() => dir.remove());

  const fresh = async (directory: Record<string, unknown> = OPENLDAP) => {
    statePath = join(dir.path, `agent-${Math.random().toString(36).slice(2)}.json`);
    state = { ...makeState(cloud), directory: { ...directory, kind: String(directory.kind) } };
    await writeState(statePath, state);
  };
  const run = async (args: string[], readLine?: () => Promise<string>) => {
    const cli = captureCliIo();
    const code = await runCli(['config', ...args], { ...cli.io, ...(readLine ? { readLine } : {}) });
    return { code, out: cli.out, err: cli.err };
  };

  test('show prints the directory settings with the bind password redacted', async () => {
    await fresh();
    const text = await run(['show', '--state', statePath]);
    assert.equal(text.code, 0);
    assert.match(text.out, /bindDn\s+cn=writeback,ou=services/);
    assert.match(text.out, /bindPassword\s+\[redacted\]/);
    assert.ok(!text.out.includes(BIND_SECRET));
    const json = await run(['show', '--state', statePath, '--json']);
    assert.equal(json.code, 0);
    const shown = z
      .object({ agentId: z.string(), directory: z.record(z.string(), z.unknown()) })
      .parse(JSON.parse(json.out));
    assert.deepEqual(shown.directory, { ...OPENLDAP, bindPassword: '[redacted]' });
  });

  test('set changes settings (typed values, dotted keys, null removes) and keeps the file 0600 and whole', async () => {
    await fresh({ ...OPENLDAP, userFilter: '(objectClass=inetOrgPerson)' });
    const r = await run([
      'set',
      '--state',
      statePath,
      'timeoutMs=5000',
      'startTls=false',
      'urls=["ldaps://ldap2.example.org","ldaps://ldap3.example.org"]',
      'scope.filter=(departmentNumber=42)',
      'userFilter=null',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /changed: scope\.filter, startTls, timeoutMs, urls, userFilter/);
    assert.match(r.out, /not running/);
    assert.equal((await stat(statePath)).mode & 0o777, 0o600);
    const after = await loadState(statePath);
    assert.deepEqual(after.directory, {
      ...OPENLDAP,
      timeoutMs: 5000,
      startTls: false,
      urls: ['ldaps://ldap2.example.org', 'ldaps://ldap3.example.org'],
      scope: { filter: '(departmentNumber=42)' },
    });
    assert.deepEqual({ ...after, directory: null }, { ...state, directory: null }, 'identity and keys unchanged');
    // No temporary file left beside it.
    assert.deepEqual(
      (await readdir(dir.path)).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  test('bad input is refused with a stable code and nothing is written', async () => {
    await fresh();
    const before = await readFile(statePath, 'utf8');
    const cases: [string[], string][] = [
      [['timeoutMs=10'], 'invalid_config'], // below the adapter's minimum
      [['nosuchSetting=1'], 'invalid_config'], // the adapter's schema is strict
      [['urls=["ldap://ldap.example.org"]'], 'insecure_url'], // passwords in clear
      [['kind=ad'], 'config_kind_change'],
      [[`bindPassword=${BIND_SECRET}x`], 'config_secret_in_argv'],
    ];
    for (const [assignments, code] of cases) {
      const r = await run(['set', '--state', statePath, ...assignments]);
      assert.equal(r.code, 1, assignments.join(' '));
      assert.equal(codeOf(r.err), code, assignments.join(' '));
      assert.ok(!r.err.includes(BIND_SECRET), 'the secret is not echoed');
    }
    assert.equal(await readFile(statePath, 'utf8'), before);
    // Usage errors (no key=value, nothing to set, unknown sub-command) exit 2.
    assert.equal((await run(['set', '--state', statePath, 'timeoutMs'])).code, 2);
    assert.equal((await run(['set', '--state', statePath])).code, 2);
    assert.equal((await run(['edit', '--state', statePath])).code, 2);
    // A state file others can read is refused as by every command.
    await chmod(statePath, 0o644);
    assert.equal(
      codeOf((await run(['set', '--state', statePath, 'timeoutMs=5000'])).err),
      'state_insecure_permissions',
    );
  });

  test('a secret comes from stdin (key=-) or a --file patch, and is never shown', async () => {
    await fresh();
    const fromStdin = 'N3w-Bind-Secret!';
    const r = await run(['set', '--state', statePath, 'bindPassword=-'], async () => fromStdin);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /changed: bindPassword/);
    assert.ok(!r.out.includes(fromStdin) && !r.err.includes(fromStdin));
    assert.equal((await loadState(statePath)).directory.bindPassword, fromStdin);
    assert.equal(
      codeOf((await run(['set', '--state', statePath, 'bindPassword=-'], async () => '')).err),
      'invalid_config',
    );

    // --file: a JSON merge patch (null removes); here: from an inline password to a password file.
    const pwFile = join(dir.path, 'bind-password');
    await writeFile(pwFile, 'From-A-File-1!\n', { mode: 0o600 });
    const patch = join(dir.path, 'patch.json');
    await writeFile(patch, JSON.stringify({ bindPassword: null, bindPasswordFile: pwFile }));
    const f = await run(['set', '--state', statePath, '--file', patch, '--json']);
    assert.equal(f.code, 0, f.err);
    assert.deepEqual(JSON.parse(f.out), {
      changed: ['bindPassword', 'bindPasswordFile'],
      written: true,
      daemonPid: null,
      restartNeeded: false,
    });
    const d = (await loadState(statePath)).directory;
    assert.equal(d.bindPassword, undefined);
    assert.equal(d.bindPasswordFile, pwFile);
    // A password file that cannot be read is refused (as `run` would at start).
    assert.equal(
      codeOf((await run(['set', '--state', statePath, `bindPasswordFile=${join(dir.path, 'missing')}`])).err),
      'invalid_config',
    );
  });

  test('--dry-run checks without writing; the same values again change nothing', async () => {
    await fresh();
    const before = await readFile(statePath, 'utf8');
    const dry = await run(['set', '--state', statePath, '--dry-run', '--json', 'poolSize=8']);
    assert.equal(dry.code, 0, dry.err);
    assert.deepEqual(JSON.parse(dry.out), {
      changed: ['poolSize'],
      written: false,
      daemonPid: null,
      restartNeeded: false,
    });
    assert.equal(await readFile(statePath, 'utf8'), before);
    const same = await run(['set', '--state', statePath, '--json', `bindDn=${OPENLDAP.bindDn}`]);
    assert.deepEqual(JSON.parse(same.out), { changed: [], written: false, daemonPid: null, restartNeeded: false });
  });

  test('embedded: nested policy settings are checked by the adapter (minLength above maxLength is refused)', async () => {
    await fresh({ kind: 'embedded', path: join(dir.path, 'directory'), hash: { ...HASH_COST.fast } });
    const ok = await run(['set', '--state', statePath, 'policy.minLength=12', 'policy.maxLength=64']);
    assert.equal(ok.code, 0, ok.err);
    assert.deepEqual((await loadState(statePath)).directory.policy, { minLength: 12, maxLength: 64 });
    assert.equal(codeOf((await run(['set', '--state', statePath, 'policy.minLength=80'])).err), 'invalid_config');
  });

  test('the check: the registration schema, then the adapter option check run applies (unit)', () => {
    assert.equal(
      thrownCode(() => checkDirectoryConfig({ nokind: true }), AgentError),
      'invalid_config',
    );
    assert.equal(
      thrownCode(() => checkDirectoryConfig({ kind: 'ldif' }), AgentError),
      'invalid_config',
    );
    assert.equal(
      thrownCode(() => checkDirectoryConfig({ kind: 'ad' }), AgentError),
      'invalid_config',
    );
    assert.equal(
      thrownCode(
        () =>
          checkDirectoryConfig({
            kind: 'ad',
            urls: ['ldap://dc1.corp.example'],
            bindDn: 'svc@corp.example',
            bindPassword: 'x',
            baseDn: 'DC=corp,DC=example',
          }),
        AgentError,
      ),
      'insecure_url',
    );
    assert.equal(
      thrownCode(() => checkDirectoryConfig(OPENLDAP), AgentError),
      'no error',
    );
  });

  test('a running agent (a real `run` process) keeps the old settings: set says it must be restarted', async () => {
    const port = await freePort(); // nothing listens: the links back off, the daemon runs on
    await fresh({ kind: 'embedded', path: join(dir.path, 'run-directory'), hash: { ...HASH_COST.fast } });
    await writeState(statePath, { ...state, relayUrl: `ws://127.0.0.1:${port}/agent` });
    const bin = join(import.meta.dirname, '..', 'bin', 'writeback-agent.js');
    const agent = spawnEntry(bin, ['run', '--state', statePath], { ...process.env, LOG_LEVEL: 'error' });
    try {
      await waitFor(
        async () =>
          (await readFile(`${statePath}.status`, 'utf8').catch(() => '')).includes(`"pid": ${agent.child.pid}`),
        { timeoutMs: 15_000, what: 'the running agent status file' },
      );
      const r = await run(['set', '--state', statePath, 'policy.minLength=11']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`running agent \\(pid ${agent.child.pid}\\).*restart`));
      const j = await run(['set', '--state', statePath, '--json', 'policy.minLength=12']);
      assert.deepEqual(JSON.parse(j.out), {
        changed: ['policy.minLength'],
        written: true,
        daemonPid: agent.child.pid,
        restartNeeded: true,
      });
    } finally {
      agent.child.kill('SIGTERM');
      await agent.ended;
    }
    const stopped = await run(['set', '--state', statePath, '--json', 'policy.minLength=13']);
    assert.equal(JSON.parse(stopped.out).restartNeeded, false);
  });
});
