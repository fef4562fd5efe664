/**
 * `embeddedDoctorChecks` on real store folders: a missing folder, a broken journal line in the
 * middle (corrupt) against a torn last line (a write in progress), an unreadable snapshot, a low
 * hash cost, the minimum age, protected accounts, a bad configuration, and a store held open.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DoctorCheck } from '../src/doctor.js';
import { embeddedDoctorChecks, HASH_COST } from '../src/embedded/index.js';
import { JOURNAL_FILE, SNAPSHOT_FILE } from '../src/embedded/store.js';
import { CapturedLog, fixture, tempDir } from './embedded-helpers.js';

const fast = { ...HASH_COST.fast };
const { log } = new CapturedLog();

function byId(checks: DoctorCheck[]): Map<string, DoctorCheck> {
  return new Map(checks.map((c) => [c.id, c]));
}
function status(checks: DoctorCheck[], id: string): string | undefined {
  return byId(checks).get(id)?.status;
}

/** A store with two users (one protected), closed, so the journal holds two records. */
async function closedStore(t: Parameters<typeof fixture>[0]): Promise<string> {
  const f = await fixture(t);
  await f.dir.createUser({ login: 'alice', displayName: 'Alice', password: 'Tulip-Initial-2024!' });
  await f.dir.createUser({
    login: 'dave',
    displayName: 'Dave Admin',
    password: 'Birch-Initial-2024!',
    protected: true,
  });
  await f.dir.close();
  return f.path;
}

test('a healthy store at the standard cost passes every check', async (t) => {
  const path = await closedStore(t);
  const checks = await embeddedDoctorChecks({ kind: 'embedded', path, policy: { minAgeSeconds: 0 } }, { log });
  assert.deepEqual(
    checks.filter((c) => c.status !== 'pass'),
    [],
  );
  for (const id of ['config', 'folder', 'store', 'hash_cost', 'min_age', 'users', 'protected_accounts'])
    assert.equal(status(checks, id), 'pass', id);
});

test('a missing folder whose parent is writable is a warning (created empty at start); a file in its place fails', async (t) => {
  const parent = await tempDir(t);
  const missing = await embeddedDoctorChecks(
    { kind: 'embedded', path: join(parent, 'not-yet', 'dir'), hash: fast },
    { log },
  );
  assert.equal(status(missing, 'folder'), 'warn');
  assert.ok(byId(missing).get('folder')?.fix);
  // Nothing to read back, so no store / users checks.
  assert.equal(status(missing, 'store'), undefined);
  assert.equal(status(missing, 'users'), undefined);

  const file = join(parent, 'a-file');
  await writeFile(file, 'x');
  const notDir = await embeddedDoctorChecks({ kind: 'embedded', path: file, hash: fast }, { log });
  assert.equal(status(notDir, 'folder'), 'fail');
});

test('a journal line broken in the middle fails the store check; a torn last line does not', async (t) => {
  const path = await closedStore(t);
  const journal = join(path, JOURNAL_FILE);
  const original = await readFile(journal, 'utf8');
  const lines = original.split('\n');
  assert.ok(lines.length >= 3, 'two records and the final newline');

  await writeFile(journal, `${original}{"seq":3,"ty`);
  const torn = await embeddedDoctorChecks({ kind: 'embedded', path, hash: fast }, { log });
  assert.equal(status(torn, 'store'), 'pass');

  lines[0] = '{"seq":1, not json';
  await writeFile(journal, lines.join('\n'));
  const corrupt = await embeddedDoctorChecks({ kind: 'embedded', path, hash: fast }, { log });
  const store = byId(corrupt).get('store');
  assert.equal(store?.status, 'fail');
  assert.ok(store?.fix);
  // The other checks still report.
  assert.equal(status(corrupt, 'folder'), 'pass');
  assert.equal(status(corrupt, 'hash_cost'), 'warn');
});

test('a snapshot that is not JSON fails the store check', async (t) => {
  const path = await closedStore(t);
  await writeFile(join(path, SNAPSHOT_FILE), '{"seq":');
  assert.equal(status(await embeddedDoctorChecks({ kind: 'embedded', path, hash: fast }, { log }), 'store'), 'fail');
});

test('a hash cost below the standard one is a warning with a fix', async (t) => {
  const path = await closedStore(t);
  const c = byId(await embeddedDoctorChecks({ kind: 'embedded', path, hash: fast }, { log })).get('hash_cost');
  assert.equal(c?.status, 'warn');
  assert.ok(c?.fix);
});

test('minimum age: configured above 0 warns, 0 passes, the stored default counts when the config says nothing', async (t) => {
  const f = await fixture(t);
  await f.dir.createUser({ login: 'alice', displayName: 'Alice', password: 'Tulip-Initial-2024!' });
  await f.dir.setDefaultPolicy({ minAgeSeconds: 0 });
  await f.dir.close();
  assert.equal(
    status(
      await embeddedDoctorChecks(
        { kind: 'embedded', path: f.path, hash: fast, policy: { minAgeSeconds: 3600 } },
        { log },
      ),
      'min_age',
    ),
    'warn',
  );
  assert.equal(
    status(await embeddedDoctorChecks({ kind: 'embedded', path: f.path, hash: fast }, { log }), 'min_age'),
    'pass',
  );
});

test('protected accounts: refused by default (pass), allowProtected on is a warning; no users warns', async (t) => {
  const path = await closedStore(t);
  assert.equal(
    status(await embeddedDoctorChecks({ kind: 'embedded', path, hash: fast }, { log }), 'protected_accounts'),
    'pass',
  );
  const allowed = byId(
    await embeddedDoctorChecks({ kind: 'embedded', path, hash: fast, allowProtected: true }, { log }),
  ).get('protected_accounts');
  assert.equal(allowed?.status, 'warn');
  assert.ok(allowed?.fix);

  const empty = await fixture(t);
  await empty.dir.close();
  assert.equal(
    status(await embeddedDoctorChecks({ kind: 'embedded', path: empty.path, hash: fast }, { log }), 'users'),
    'warn',
  );
});

test('a store held open by a running directory reads back (no lock taken)', async (t) => {
  const f = await fixture(t);
  await f.dir.createUser({ login: 'alice', displayName: 'Alice', password: 'Tulip-Initial-2024!' });
  const checks = await embeddedDoctorChecks({ kind: 'embedded', path: f.path, hash: fast }, { log });
  assert.equal(status(checks, 'store'), 'pass');
  // And the directory still works afterwards.
  const alice = await f.dir.findUser({ by: 'login', value: 'alice' });
  assert.ok(alice !== null && alice !== 'ambiguous');
  assert.equal(alice.login, 'alice');
});

test('a bad configuration is one failed config check', async () => {
  const checks = await embeddedDoctorChecks({ kind: 'embedded', path: '', hash: { N: 3, r: 1, p: 1 } }, { log });
  assert.deepEqual(
    checks.map((c) => [c.id, c.status]),
    [['config', 'fail']],
  );
});
