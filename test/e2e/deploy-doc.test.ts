/**
 * docs/deploy.md, run (issue 12: "every command in it is run by a test, so the guide cannot rot").
 * Every `bash` block of the guide, in order, with the `<!-- deploy-test: … -->` comment before it
 * saying how, runs in one bash shell (`set -euo pipefail`) against a scratch system: its own
 * PostgreSQL database and role on 127.0.0.1:5432 (dropped afterwards), the cloud on a free port
 * with an openssl-made certificate, real system users, a lab Samba AD DC behind a real agent
 * process registered with the token the operator key issued. The guide's host paths move under a
 * scratch folder, `systemctl`/`journalctl` are stand-ins (deploy-doc/systemctl.mjs: no systemd
 * runs here); the guide's own "How this guide is tested" section says the same for its reader.
 * Afterwards: the files' modes and owners, no secret in any log or state file, and a reset through
 * the API reaching the DC after the guide's restore.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '@writeback/testkit';
import { grantDeletedObjectsRead, missingPrograms, type SambaDc, startSambaDc } from '@writeback/testkit/lab';

const checkout = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const guide = readFileSync(join(checkout, 'docs', 'deploy.md'), 'utf8');
const stubs = join(checkout, 'test', 'e2e', 'deploy-doc', 'bin');

type How =
  | { kind: 'run'; quiet: boolean; stdin?: string }
  | { kind: 'doctor' }
  | { kind: 'values' }
  | { kind: 'skip'; reason: string };
interface Block {
  n: number;
  line: number;
  how: How;
  code: string;
}

/** The guide's bash blocks with the comment before each; a block without one is an error. */
function blocksOf(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(bash|sh)\s*$/.test(lines[i] ?? '')) continue;
    let j = i - 1;
    while (j >= 0 && (lines[j] ?? '').trim() === '') j--;
    const note = /^<!-- deploy-test: (.+) -->$/.exec(lines[j] ?? '')?.[1]?.trim();
    assert.ok(note, `docs/deploy.md line ${i + 1}: a bash block without a deploy-test comment before it`);
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `docs/deploy.md line ${i + 1}: an unclosed block`);
    const words = note.split(/\s+/);
    const skip = /^skip "(.+)"$/.exec(note);
    const how: How = skip?.[1]
      ? { kind: 'skip', reason: skip[1] }
      : note === 'doctor' || note === 'values'
        ? { kind: note }
        : words[0] === 'run' && words.slice(1).every((w) => w === 'quiet' || w.startsWith('stdin='))
          ? {
              kind: 'run',
              quiet: words.includes('quiet'),
              ...(words.find((w) => w.startsWith('stdin='))
                ? { stdin: words.find((w) => w.startsWith('stdin='))?.slice(6) }
                : {}),
            }
          : assert.fail(`docs/deploy.md line ${j + 1}: unknown deploy-test comment "${note}"`);
    blocks.push({ n: blocks.length + 1, line: i + 1, how, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** The guide's host paths, moved: /opt/writeback is this checkout, the rest go under `root`. */
function hostPaths(text: string, root: string): string {
  return text.replace(
    /(?<![\w./-])(\/opt\/writeback(?![\w-])|\/etc\/writeback|\/var\/lib\/writeback|\/var\/backups\/writeback|\/etc\/systemd\/system)/g,
    (m) => (m.startsWith('/opt/writeback') ? checkout : `${root}${m}`),
  );
}

/** One bash script: each block's output to out/<n>.log, its start and end to the progress file. */
function script(blocks: Block[], root: string): string {
  const parts = ['set -euo pipefail', 'exec 3>>"$DEPLOY_DOC_ROOT/progress"', 'cd "$HOME"'];
  for (const b of blocks) {
    if (b.how.kind === 'skip' || b.how.kind === 'values') continue;
    const code = hostPaths(b.code, root);
    const stdin = b.how.kind === 'run' && b.how.stdin ? `"$DEPLOY_DOC_ROOT/stdin/${b.how.stdin}"` : '/dev/null';
    parts.push(`echo "begin ${b.n} $(date +%s%3N)" >&3`, `exec >"$DEPLOY_DOC_ROOT/out/${b.n}.log" 2>&1`);
    if (b.how.kind === 'doctor')
      parts.push('set +e', `(\n${code}\n) <${stdin}`, `rc=$?; echo "end ${b.n} $rc $(date +%s%3N)" >&3`, 'set -e');
    else parts.push(`{\n${code}\n} <${stdin}`, `echo "end ${b.n} 0 $(date +%s%3N)" >&3`);
  }
  return `${parts.join('\n')}\n`;
}

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const exists = (user: string) => run('id', ['-u', user]).status === 0;
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
const owner = (path: string) => run('stat', ['-c', '%U:%G', path]).stdout.trim();

const PROGRAMS = [
  'samba',
  'samba-tool',
  'psql',
  'pg_dump',
  'pg_restore',
  'createdb',
  'openssl',
  'curl',
  'jq',
  'basenc',
  'useradd',
  'runuser',
  'systemd-analyze',
];
/** The services run as their own users from this checkout, as from /opt/writeback: they must read it. */
const readable = () =>
  run('runuser', ['-u', 'nobody', '--', 'test', '-r', join(checkout, 'node_modules', 'tsx', 'package.json')]).status ===
  0;

const missing =
  process.getuid?.() !== 0
    ? 'needs root (system users, runuser)'
    : (missingPrograms(PROGRAMS) ??
      (readable()
        ? undefined
        : `the checkout ${checkout} is not readable by other users (the services' users run it)`));

describe('docs/deploy.md, run against a scratch system', { skip: missing }, () => {
  const blocks = blocksOf(guide);
  const root = mkdtempSync(join(tmpdir(), 'wb-deploy-'));
  const tag = randomBytes(4).toString('hex');
  const adminPassword = `Adm-${randomBytes(9).toString('base64url')}-7`;
  const users = ['writeback', 'writeback-agent'].filter((u) => !exists(u));
  let dc: SambaDc | undefined;
  let values: Record<string, string> = {};
  let guideRan = false;

  before(async () => {
    chmodSync(root, 0o755); // the services' users reach their folders under it
    for (const d of ['etc/systemd/system', 'var/lib', 'var/backups', 'root', 'out', 'stdin'])
      mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, 'root'), 0o700);
    dc = await startSambaDc();
    // A domain as agent.md asks for it: people in scope (the doctor checks the rights on one) and
    // the optional right on CN=Deleted Objects.
    await dc.createUser({ login: `staff${tag}`, password: `Staff-${tag}-Pass!1` });
    await grantDeletedObjectsRead(dc);
    writeFileSync(join(root, 'stdin', 'admin-password'), `${adminPassword}\n`, { mode: 0o600 });
    writeFileSync(join(root, 'stdin', 'bind-password'), `${dc.servicePassword}\n`, { mode: 0o600 });
    const port = await freePort();
    values = {
      WRITEBACK_HOST: 'localhost',
      WRITEBACK_PORT: String(port),
      WRITEBACK_URL: `https://localhost:${port}`,
      WRITEBACK_LISTEN: '127.0.0.1',
      TENANT: 'acme',
      PGHOST: '127.0.0.1',
      PGPORT: '5432',
      PGUSER: 'postgres',
      WRITEBACK_DB: `wb_deploy_${tag}`,
      WRITEBACK_DB_USER: `wb_deploy_${tag}_svc`,
      AD_URL: dc.url,
      AD_BIND_DN: dc.serviceDn,
      AD_BASE_DN: `OU=People,${dc.baseDn}`,
      AD_CA_FILE: dc.caFile,
    };
  });

  after(async () => {
    for (const f of existsSync(join(root, 'run')) ? readdirSync(join(root, 'run')) : [])
      if (f.endsWith('.pid')) {
        const pid = Number(readFileSync(join(root, 'run', f), 'utf8'));
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    const psql = (sql: string) => run('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', sql]);
    psql(`DROP DATABASE IF EXISTS "wb_deploy_${tag}" WITH (FORCE)`);
    psql(`DROP DATABASE IF EXISTS "wb_deploy_${tag}_restore_check" WITH (FORCE)`);
    psql(`DROP ROLE IF EXISTS "wb_deploy_${tag}_svc"`);
    for (const u of users) if (exists(u)) run('userdel', [u]);
    await dc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('every block says how it is tested; the values block sets what the test sets', () => {
    assert.ok(blocks.length >= 15, 'the guide has its blocks');
    const valueBlocks = blocks.filter((b) => b.how.kind === 'values');
    assert.equal(valueBlocks.length, 1);
    const names = [...(valueBlocks[0]?.code ?? '').matchAll(/(?:^|\s)([A-Z][A-Z0-9_]*)=/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(names)].sort(), Object.keys(values).sort());
    // Only installing is left out: everything from the database on runs.
    assert.deepEqual(
      blocks.filter((b) => b.how.kind === 'skip').map((b) => b.line),
      [blocks.find((b) => b.code.includes('npm ci'))?.line],
    );
  });

  test('the guide runs from nothing to an agent serving the tenant, backed up and restored', async (t) => {
    writeFileSync(join(root, 'guide.sh'), script(blocks, root));
    const env = {
      PATH: `${stubs}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: join(root, 'root'),
      LANG: 'C.UTF-8',
      DEPLOY_DOC_ROOT: root,
      DEPLOY_DOC_CHECKOUT: checkout,
      SYSTEMD_UNIT_PATH: `${join(root, 'etc', 'systemd', 'system')}:`,
      ...values,
    };
    const log = openSync(join(root, 'guide.log'), 'a');
    const child = spawn('bash', [join(root, 'guide.sh')], { env, stdio: ['ignore', log, log], cwd: root });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const progress = readFileSync(join(root, 'progress'), 'utf8').trim().split('\n');
    const last = Number(/^begin (\d+) /.exec(progress.filter((l) => l.startsWith('begin')).at(-1) ?? '')?.[1]);
    const outOf = (n: number) =>
      existsSync(join(root, 'out', `${n}.log`)) ? readFileSync(join(root, 'out', `${n}.log`), 'utf8') : '';
    const failed = blocks.find((b) => b.n === last);
    assert.equal(
      code,
      0,
      `the block at docs/deploy.md line ${failed?.line} failed:\n${failed?.code}\n--- its output:\n${outOf(last)}\n--- journal:\n${journal()}`,
    );

    const at = (word: string, n: number) =>
      Number(
        progress
          .find((l) => l.startsWith(`${word} ${n} `))
          ?.split(' ')
          .at(-1),
      );
    t.diagnostic(
      blocks
        .filter((b) => at('end', b.n) > 0)
        .map((b) => `line ${b.line}: ${at('end', b.n) - at('begin', b.n)} ms`)
        .join(', '),
    );
    for (const b of blocks) {
      if (b.how.kind === 'run' && b.how.quiet) assert.equal(outOf(b.n).trim(), '', `line ${b.line} must print nothing`);
      if (b.how.kind !== 'doctor') continue;
      const rc = Number(progress.find((l) => l.startsWith(`end ${b.n} `))?.split(' ')[2]);
      const out = outOf(b.n);
      const checks = [...out.matchAll(/^(PASS|WARN|FAIL)\s+(\S+)/gm)].map((m) => ({ status: m[1], id: m[2] }));
      assert.ok(checks.length >= 15, `doctor printed its checks:\n${out}`);
      // What a scratch system must warn about: a port other than 443, Samba's missing policy hints.
      const allowed = new Set(['cloud.url', 'relay.url', 'directory.policy_hints']);
      const others = checks.filter((c) => c.status !== 'PASS' && !(c.status === 'WARN' && allowed.has(c.id ?? '')));
      assert.deepEqual(others, [], `doctor:\n${out}`);
      assert.equal(rc, checks.some((c) => c.status === 'WARN') ? 1 : 0, 'exit 1: warnings only');
    }
    guideRan = true;
  });

  function journal(): string {
    const dir = join(root, 'journal');
    return existsSync(dir)
      ? readdirSync(dir)
          .map((f) => `${f}:\n${readFileSync(join(dir, f), 'utf8').slice(-4000)}`)
          .join('\n')
      : '';
  }

  test('afterwards: modes and owners as the guide says, no secret in a log or state file, a reset reaches the DC', async () => {
    assert.ok(guideRan, 'the guide did not run through (the test before says where it stopped)');
    const at = (p: string) => hostPaths(p, root);
    const home = join(root, 'root');
    assert.equal(mode(at('/etc/writeback/cloud.env')), '640');
    assert.equal(owner(at('/etc/writeback/cloud.env')), 'root:writeback');
    assert.equal(mode(at('/etc/writeback/tls/key.pem')), '640');
    assert.equal(mode(join(home, 'operator.key')), '600');
    assert.ok(!existsSync(at('/var/lib/writeback/operator.key')), 'the service folder keeps no copy');
    assert.ok(!existsSync(join(home, 'agent-token')), 'the used token file is gone');
    assert.equal(mode(at('/var/lib/writeback-agent/agent.json')), '600');
    assert.equal(owner(at('/var/lib/writeback-agent/agent.json')), 'writeback-agent:writeback-agent');
    assert.equal(owner(at('/etc/writeback-agent/bind-password')), 'root:writeback-agent');
    assert.equal(mode(at('/etc/writeback-agent/bind-password')), '640');

    const operatorKey = readFileSync(join(home, 'operator.key'), 'utf8').trim();
    const dbPassword = /postgres:\/\/[^:]+:([^@]+)@/.exec(readFileSync(at('/etc/writeback/cloud.env'), 'utf8'))?.[1];
    assert.ok(dbPassword);
    const secrets = [
      operatorKey,
      operatorKey.split('.')[1] ?? '',
      adminPassword,
      dc?.servicePassword ?? '',
      dbPassword,
    ];
    const texts = [
      ...readdirSync(join(root, 'journal')).map((f) => join(root, 'journal', f)),
      ...readdirSync(join(root, 'out')).map((f) => join(root, 'out', f)),
      join(root, 'guide.log'),
      at('/var/lib/writeback-agent/agent.json'),
      at('/etc/writeback-agent/directory.json'),
    ];
    for (const f of texts)
      for (const s of secrets) assert.ok(!readFileSync(f, 'utf8').includes(s), `a secret in ${f.slice(root.length)}`);

    // The admin the guide made signs in with the typed password (and must enrol an authenticator).
    const curl = (args: string[]) => {
      const r = run('curl', [
        '-sS',
        '--cacert',
        at('/etc/writeback/tls/ca.pem'),
        '-H',
        'Content-Type: application/json',
        ...args,
      ]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const url = values.WRITEBACK_URL;
    const session = curl([
      '--data',
      JSON.stringify({ login: 'it-admin', password: adminPassword }),
      `${url}/api/v1/tenants/acme/admin/sessions`,
    ]);
    assert.equal(session.secondFactor, 'enrolment_required', JSON.stringify(session));

    // After the restore the agent serves the tenant: a reset through the API reaches the DC.
    assert.ok(dc);
    const user = await dc.createUser({ login: `dpl${tag}`, password: `Init-${tag}-Pass!1` });
    const auth = `Authorization: Bearer ${operatorKey}`;
    const key = curl(['-H', auth, '--data', '{"name":"deploy test"}', `${url}/api/v1/tenants/acme/api-keys`]);
    assert.equal(typeof key.key, 'string', JSON.stringify(key));
    const newPassword = `New-${tag}-Pass!2`;
    const reset = curl([
      '-H',
      `Authorization: Bearer ${String(key.key)}`,
      '--data',
      JSON.stringify({ newPassword, forceChange: false }),
      `${url}/api/v1/tenants/acme/users/${user.login}/password/reset`,
    ]);
    assert.equal(reset.outcome, 'succeeded', JSON.stringify(reset));
    assert.equal((await dc.ldapBind(user.dn, newPassword)).code, 0, 'the DC took the new password');
  });
});
