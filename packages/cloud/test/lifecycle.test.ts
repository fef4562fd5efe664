/**
 * Start-up and restart: the generated development master key (0600, next to the database), the
 * cloud key surviving a restart, the first operator key handed over once, the sweep of records a dead
 * process left pending, a wrong master key refusing to start, HTTPS, and the process entry
 * (main.ts) from the environment with a clean stop on SIGTERM.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@writeback/protocol';
import { selfSignedCertificate } from '@writeback/testkit/lab';
import { insertPending, getAuditByRequestId } from '../src/audit/audit.js';
import { CloudError } from '../src/errors.js';
import { openStore } from '../src/store/index.js';
import { createCloud } from '../src/index.js';
import { api, FakeRelay, newMasterKey, runEntry, spawnEntry, tempDirs } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const quiet = () => createLogger({ name: 'cloud', level: 'error', sink: () => undefined });
const tempDir = tempDirs('wb-life-');

test('issue 10: the SQLite database, its -wal and -shm files are 0600 and the folders it creates 0700; an old 0644 file is narrowed', async () => {
  const dir = tempDir();
  const mode = (p: string): number => statSync(p).mode & 0o777;
  const path = join(dir, 'new', 'sub', 'wb.db');
  const db = await openStore({ url: `sqlite:${path}` });
  try {
    assert.ok(existsSync(`${path}-wal`) && existsSync(`${path}-shm`), 'WAL mode writes its side files');
    for (const p of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(p), 0o600, p);
    for (const p of [join(dir, 'new'), join(dir, 'new', 'sub')]) assert.equal(mode(p), 0o700, p);
  } finally {
    await db.close();
  }
  const old = join(dir, 'old.db');
  writeFileSync(old, '', { mode: 0o644 });
  const again = await openStore({ url: `sqlite:${old}` });
  try {
    assert.equal(mode(old), 0o600);
    assert.equal(mode(`${old}-wal`), 0o600);
  } finally {
    await again.close();
  }
});

test('first start generates a 0600 master key and an operator key shown once; a restart keeps both identities', async () => {
  const dir = tempDir();
  const databaseUrl = `sqlite:${join(dir, 'wb.db')}`;
  const printed: string[] = [];
  const first = await createCloud(
    { port: 0, databaseUrl },
    { relayClient: new FakeRelay(), log: quiet(), printOperatorKey: (k) => printed.push(k) },
  );
  const key = first.cloudPublicKey;
  assert.equal(printed.length, 1);
  assert.equal(first.initialOperatorKey, printed[0]);
  assert.equal((await api(first.url, 'GET', '/api/v1/tenants', { token: printed[0] })).status, 200);
  await first.close();
  assert.equal(statSync(join(dir, 'master.key')).mode & 0o777, 0o600);

  // A request whose process died mid-flight: pending with a deadline long past.
  const db = await openStore({ url: databaseUrl });
  await insertPending(db, {
    tenantId: 't-0000000000000001',
    requestId: 'c0ffee00-0000-4000-8000-000000000001',
    actor: { kind: 'user', id: 'x' },
    action: 'password.change',
    startedAt: 1_000,
    deadlineAt: 2_000,
  });
  await db.close();

  const second = await createCloud(
    { port: 0, databaseUrl },
    { relayClient: new FakeRelay(), log: quiet(), printOperatorKey: (k) => printed.push(k) },
  );
  try {
    assert.equal(second.cloudPublicKey, key, 'the signing key survives a restart (agents keep trusting it)');
    assert.equal(printed.length, 1, 'the operator key is printed only on the first start');
    assert.equal(second.initialOperatorKey, null);
    const swept = await getAuditByRequestId(second.store, 'c0ffee00-0000-4000-8000-000000000001');
    assert.equal(swept?.state, 'done');
    assert.equal(swept?.outcome, 'outcome_unknown');
  } finally {
    await second.close();
  }
});

test('a master key that does not decrypt the stored cloud key refuses to start', async () => {
  const dir = tempDir();
  const databaseUrl = `sqlite:${join(dir, 'wb.db')}`;
  const c = await createCloud(
    { port: 0, databaseUrl, masterKey: newMasterKey() },
    { relayClient: new FakeRelay(), log: quiet(), printOperatorKey: () => undefined },
  );
  await c.close();
  await assert.rejects(
    createCloud({ port: 0, databaseUrl, masterKey: newMasterKey() }, { relayClient: new FakeRelay(), log: quiet() }),
    (e: unknown) => e instanceof CloudError && e.code === 'master_key_mismatch',
  );
});

test('PostgreSQL without a master key is a configuration error', async () => {
  await assert.rejects(
    createCloud({ port: 0, databaseUrl: 'postgres://127.0.0.1:5432/test' }, { log: quiet() }),
    (e: unknown) => e instanceof TypeError && e.message.startsWith('config.masterKey'),
  );
});

test('TLS_CERT/TLS_KEY serve HTTPS and agents are given a wss:// relay URL', async () => {
  const dir = tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await selfSignedCertificate(
    { cert, key },
    { subject: '/CN=127.0.0.1', days: 1, extensions: ['subjectAltName=IP:127.0.0.1'] },
  );
  const c = await createCloud(
    { port: 0, databaseUrl: 'sqlite::memory:', masterKey: newMasterKey(), tls: { cert, key } },
    { relayClient: new FakeRelay(), log: quiet(), printOperatorKey: () => undefined },
  );
  try {
    assert.match(c.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(c.relayUrl, /^wss:\/\/127\.0\.0\.1:\d+\/agent$/);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`${c.url}/healthz`, { ca: readFileSync(cert) }, (res) => {
        let data = '';
        res.on('data', (d: Buffer) => {
          data += d.toString();
        });
        res.on('end', () => resolve(data));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(JSON.parse(body).status, 'ok');
  } finally {
    await c.close();
  }
});

test('main.ts starts from the environment, writes the first operator key to a 0600 file (never to stdout or the log), and stops cleanly on SIGTERM', async () => {
  const dir = tempDir();
  const proc = spawnEntry(MAIN, [], {
    ...process.env,
    PORT: '0',
    DATABASE_URL: `sqlite:${join(dir, 'wb.db')}`,
    WRITEBACK_MASTER_KEY: newMasterKey(),
    LOG_LEVEL: 'info',
  });
  try {
    const started = Date.now();
    while (!/"msg":"cloud started"/.test(proc.stderr)) {
      // Generous: tsx compiles the whole cloud at start, several seconds on a loaded 2-core machine.
      if (Date.now() - started > 60_000) throw new Error(`no start: ${proc.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /"url":"(http:\/\/[^"]+)"/.exec(proc.stderr)?.[1] ?? '';
    // Issue 11: the key goes to operator.key next to the database (0600); only the path is logged.
    const file = join(dir, 'operator.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const opKey = readFileSync(file, 'utf8').trim();
    assert.match(opKey, /^wbk_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    const secret = opKey.split('.')[1] ?? 'x';
    assert.ok(
      !proc.stdout.includes(secret) && !proc.stderr.includes(secret),
      'the key is neither on stdout nor in the log',
    );
    assert.doesNotMatch(proc.stdout + proc.stderr, /wbk_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}/);
    assert.ok(proc.stderr.includes(JSON.stringify(file)), 'the log says where the key is');
    assert.equal((await api(url, 'GET', '/api/v1/tenants', { token: opKey })).status, 200);
  } finally {
    proc.child.kill('SIGTERM');
  }
  assert.equal(await proc.ended, 0);
});

test('main.ts exits 1 on bad configuration, naming the option', async () => {
  const { code, stderr } = await runEntry(MAIN, [], { ...process.env, PORT: 'eighty' });
  assert.equal(code, 1);
  assert.ok(stderr.includes('config.port (PORT)'));
});
