/**
 * Issue 11, "the operator key is not printed to logs": the first operator API key reaches the
 * operator only through a 0600 file, whether the first start creates it or the one-time command
 * `main.ts bootstrap-operator-key` does; no log line and nothing on stdout ever holds it. And
 * `main.ts print-public-key`, where relays get the cloud's public key without a SQL query.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@writeback/protocol';
import { createCloud } from '../src/index.js';
import { api, captureLogs, FakeRelay, newMasterKey, runEntry, tempDirs } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TOKEN_RE = /wbk_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}/;
const mode = (p: string): number => statSync(p).mode & 0o777;

const tempDir = tempDirs('wb-opkey-');

/** Run `main.ts <args>` to its end with only these configuration variables. */
const command = (args: string[], env: Record<string, string>) =>
  runEntry(MAIN, args, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'debug', ...env });

const neverPrinted = (texts: string[], ...tokens: string[]) => {
  const all = texts.join('\n');
  assert.doesNotMatch(all, TOKEN_RE, 'no operator key anywhere in the output');
  for (const t of tokens) assert.ok(!all.includes(t.split('.')[1] ?? t), 'not even its secret half');
};

test('bootstrap-operator-key writes one key to a 0600 file before the first start, prints only the path, and refuses a second time', async () => {
  const dir = tempDir();
  const file = join(dir, 'keys', 'operator.key');
  const env = { DATABASE_URL: `sqlite:${join(dir, 'wb.db')}`, WRITEBACK_MASTER_KEY: newMasterKey() };

  const first = await command(['bootstrap-operator-key', '--out', file], env);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(mode(file), 0o600);
  assert.equal(mode(join(dir, 'keys')), 0o700, 'a folder it creates is 0700');
  const token = readFileSync(file, 'utf8').trim();
  assert.match(token, new RegExp(`^${TOKEN_RE.source}$`));
  assert.equal(first.stdout, `operator API key written to ${file} (mode 0600)\n`);

  const again = await command(['bootstrap-operator-key', '--out', join(dir, 'other.key')], env);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /an operator API key exists already/);
  assert.equal(readFileSync(file, 'utf8').trim(), token, 'the first file is untouched');

  // The service then starts with that key and creates none of its own.
  const cloud = await createCloud(
    { port: 0, databaseUrl: env.DATABASE_URL, masterKey: env.WRITEBACK_MASTER_KEY },
    {
      relayClient: new FakeRelay(),
      log: createLogger({ name: 'cloud', level: 'error', sink: () => undefined }),
      printOperatorKey: () => assert.fail('no second key'),
    },
  );
  try {
    assert.equal(cloud.initialOperatorKey, null);
    assert.equal((await api(cloud.url, 'GET', '/api/v1/tenants', { token })).status, 200);
  } finally {
    await cloud.close();
  }

  // A lost key: --rotate revokes every operator key and writes a new one; an existing file is never overwritten.
  const refused = await command(['bootstrap-operator-key', '--rotate', '--out', file], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /exists: nothing was created/);
  const rotatedFile = join(dir, 'rotated.key');
  const rotated = await command(['bootstrap-operator-key', '--rotate', '--out', rotatedFile], env);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.equal(mode(rotatedFile), 0o600);
  const newToken = readFileSync(rotatedFile, 'utf8').trim();
  const again2 = await createCloud(
    { port: 0, databaseUrl: env.DATABASE_URL, masterKey: env.WRITEBACK_MASTER_KEY },
    { relayClient: new FakeRelay(), log: createLogger({ name: 'cloud', level: 'error', sink: () => undefined }) },
  );
  try {
    assert.equal((await api(again2.url, 'GET', '/api/v1/tenants', { token })).status, 401, 'the old key is revoked');
    assert.equal((await api(again2.url, 'GET', '/api/v1/tenants', { token: newToken })).status, 200);
  } finally {
    await again2.close();
  }
  neverPrinted(
    [first.stdout, first.stderr, again.stdout, again.stderr, rotated.stdout, rotated.stderr],
    token,
    newToken,
  );
});

test('print-public-key prints the key the service signs with (what a relay sets as WRITEBACK_CLOUD_PUBLIC_KEY)', async () => {
  const dir = tempDir();
  const env = { DATABASE_URL: `sqlite:${join(dir, 'wb.db')}`, WRITEBACK_MASTER_KEY: newMasterKey() };
  // Before any start: the key is created as a first start would create it.
  const printed = await command(['print-public-key'], env);
  assert.equal(printed.code, 0, printed.stderr);
  const key = printed.stdout.trim();
  assert.match(key, /^[A-Za-z0-9_-]{43}$/);
  const cloud = await createCloud(
    { port: 0, databaseUrl: env.DATABASE_URL, masterKey: env.WRITEBACK_MASTER_KEY },
    {
      relayClient: new FakeRelay(),
      log: createLogger({ name: 'cloud', level: 'error', sink: () => undefined }),
      printOperatorKey: () => {},
    },
  );
  await cloud.close();
  assert.equal(cloud.cloudPublicKey, key);
  const asEnv = await command(['print-public-key', '--env'], env);
  assert.equal(asEnv.stdout, `WRITEBACK_CLOUD_PUBLIC_KEY=${key}\n`);
  // A wrong master key is refused, as it is at start-up.
  const wrong = await command(['print-public-key'], { ...env, WRITEBACK_MASTER_KEY: newMasterKey() });
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stdout, '');
});

test('the first start writes the key to OPERATOR_KEY_FILE (0600) and logs only its path, at every log level', async () => {
  const dir = tempDir();
  const file = join(dir, 'secrets', 'first-operator.key');
  const logs = captureLogs();
  const lines: string[] = [];
  let cloud: Awaited<ReturnType<typeof createCloud>> | undefined;
  try {
    cloud = await createCloud(
      { port: 0, databaseUrl: `sqlite:${join(dir, 'wb.db')}`, operatorKeyFile: file },
      {
        relayClient: new FakeRelay(),
        log: createLogger({ name: 'cloud', level: 'debug', sink: (l) => lines.push(l) }),
      },
    );
    const token = readFileSync(file, 'utf8').trim();
    assert.equal(cloud.initialOperatorKey, token);
    assert.equal(mode(file), 0o600);
    assert.equal(mode(join(dir, 'secrets')), 0o700);
    assert.equal((await api(cloud.url, 'GET', '/api/v1/tenants', { token })).status, 200);
    const said = lines.find((l) => l.includes('first operator API key'));
    assert.ok(said?.includes(JSON.stringify(file)), 'the log names the file');
    neverPrinted([...lines, ...logs.lines], token);
  } finally {
    logs.stop();
    await cloud?.close();
  }
});
