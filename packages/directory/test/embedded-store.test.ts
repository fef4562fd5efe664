/**
 * The embedded directory's persistence: reopen, crash (a real SIGKILL), torn and corrupt journals,
 * compaction (on open, by size, on request), the snapshot/journal overlap a crash mid-compaction
 * leaves, the folder lock, fsync durability and a full disk (a real `ulimit -f`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, chmod, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Logger } from '@writeback/protocol';
import { DirectoryError, HASH_COST, openEmbeddedDirectory } from '../src/index.js';
import {
  byAnchor,
  byLogin,
  CapturedLog,
  DAY,
  fixture,
  FrozenClock,
  RESET,
  tempDir,
  type Fixture,
} from './embedded-helpers.js';

/** The embedded directory in `path` with fast hashes (and `log`, when given). */
const openFast = (path: string, log?: Logger) =>
  openEmbeddedDirectory({ kind: 'embedded', path, hash: { ...HASH_COST.fast } }, log ? { log } : {});
const modeOf = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./embedded-child.ts', import.meta.url));
const PW1 = 'Correct-Horse-1';
const PW2 = 'Battery!Staple2';

/** A fixture whose store holds alice and bob (password PW1), closed, and the path of its journal. */
async function closedWithAliceAndBob(t: Parameters<typeof fixture>[0]): Promise<{ f: Fixture; journal: string }> {
  const f = await fixture(t);
  await f.dir.createUser({ login: 'alice', password: PW1 });
  await f.dir.createUser({ login: 'bob', password: PW1 });
  await f.dir.close();
  return { f, journal: join(f.path, 'journal.jsonl') };
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof DirectoryError && err.code === code);
}

/** Run the child and return what it printed (it always ends by SIGKILL). */
async function child(mode: 'crash' | 'fill', path: string, ulimitKb?: number): Promise<unknown> {
  const node = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(CHILD)} ${mode} ${JSON.stringify(path)}`;
  const cmd = ulimitKb === undefined ? node : `ulimit -f ${ulimitKb}; ${node}`;
  const out = await run('bash', ['-c', cmd]).then(
    (r) => r.stdout,
    (err: { stdout?: string; signal?: string; code?: unknown }) => {
      if (err.stdout) return err.stdout;
      throw err;
    },
  );
  return JSON.parse(out.trim());
}

describe('embedded store', () => {
  it('everything survives close and reopen; sequence numbers continue', async (t) => {
    const f = await fixture(t);
    const a = await f.dir.createUser({
      login: 'alice',
      displayName: 'Alice A',
      upn: 'alice@x.example',
      password: PW1,
      mustChange: true,
    });
    await f.dir.definePolicy('strict', { minLength: 14 });
    await f.dir.updateUser('alice', { policyName: 'strict', protected: true });
    await f.dir.setDefaultPolicy({ lockoutThreshold: 3 });
    await f.dir.verifyCredentials(byLogin('alice'), 'Wrong-Pass-1');
    const before = {
      users: f.dir.listUsers(),
      policies: f.dir.listPolicies(),
      seq: f.dir.seq,
      changes: f.dir.changesSince(0),
    };
    await f.reopen();
    assert.deepEqual(
      { users: f.dir.listUsers(), policies: f.dir.listPolicies(), seq: f.dir.seq, changes: f.dir.changesSince(0) },
      before,
    );
    assert.equal((await f.dir.verifyCredentials(byLogin('ALICE@x.example'), PW1)).outcome, 'succeeded');
    // The bad-attempt counter persisted: the successful sign-in had one to clear (one change).
    const b = await f.dir.createUser({ login: 'bob' });
    assert.equal(b.seq, before.seq + 2);
    assert.notEqual(a.anchor, b.anchor);
  });

  it('a hard crash (SIGKILL) loses nothing that was answered, and the stale lock is taken over', async (t) => {
    const path = await tempDir(t);
    const got = await child('crash', path);
    assert.ok(got && typeof got === 'object' && 'anchors' in got && Array.isArray(got.anchors) && 'seq' in got);
    assert.equal(
      (await readFile(join(path, 'LOCK'), 'utf8')).trim().length > 0,
      true,
      'the dead process left its lock',
    );
    const logs = new CapturedLog();
    const dir = await openFast(path, logs.log);
    t.after(() => dir.close());
    assert.equal(dir.seq, got.seq);
    assert.equal(dir.userCount, 20);
    for (const [i, anchor] of got.anchors.entries()) {
      const r = await dir.verifyCredentials(
        byAnchor(String(anchor)),
        i < 10 ? 'Second-Password-2' : 'First-Password-1',
      );
      assert.equal(r.outcome, 'succeeded', `user ${i}`);
    }
  });

  it('issue 10: the folders it creates are 0700 and every file 0600; an old 0644 journal is narrowed on open', async (t) => {
    const top = join(await tempDir(t), 'new');
    const path = join(top, 'embedded');
    const open = () => openFast(path, new CapturedLog().log);
    let dir = await open();
    await dir.createUser({ login: 'alice', password: PW1 });
    for (const p of [top, path]) assert.equal(await modeOf(p), 0o700, p);
    for (const f of ['snapshot.json', 'journal.jsonl', 'LOCK']) assert.equal(await modeOf(join(path, f)), 0o600, f);
    await dir.close();
    await chmod(join(path, 'journal.jsonl'), 0o644);
    await chmod(join(path, 'snapshot.json'), 0o644);
    dir = await open();
    t.after(() => dir.close());
    for (const f of ['snapshot.json', 'journal.jsonl']) assert.equal(await modeOf(join(path, f)), 0o600, f);
  });

  it('a torn last line is dropped; the records before it are kept', async (t) => {
    const f = await fixture(t);
    await f.dir.createUser({ login: 'alice', password: PW1 });
    await f.dir.resetPassword(byLogin('alice'), PW2, RESET);
    await f.dir.close();
    const journal = join(f.path, 'journal.jsonl');
    const lines = (await readFile(journal, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 2);
    // What a crash halfway through writing a third record leaves behind.
    await appendFile(journal, (lines[1] ?? '').slice(0, 57));
    const dir = await f.reopen();
    assert.equal(dir.seq, 2);
    assert.equal((await dir.verifyCredentials(byLogin('alice'), PW2)).outcome, 'succeeded');
    assert.ok(f.logs.lines.some((l) => l.includes('torn')));
    // The reopen compacted: the torn bytes are gone, new writes land cleanly.
    assert.equal((await stat(journal)).size, 0);
    await dir.createUser({ login: 'bob' });
    await f.reopen();
    assert.equal(f.dir.userCount, 2);
  });

  it('an unreadable line followed by good ones is corruption, not a torn tail', async (t) => {
    const { f, journal } = await closedWithAliceAndBob(t);
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines[0] = '{"seq":1,"type":"user","garbage":';
    await writeFile(journal, lines.join('\n'));
    await rejects(openFast(f.path, f.logs.log), 'store_corrupt');
    // A snapshot that is not ours is refused too, and the failed open released the lock.
    await writeFile(journal, '');
    await writeFile(join(f.path, 'snapshot.json'), '{"format":"something-else"}');
    await rejects(openFast(f.path, f.logs.log), 'store_corrupt');
    await writeFile(join(f.path, 'snapshot.json'), '{"format":');
    await rejects(openFast(f.path, f.logs.log), 'store_corrupt');
    f.dir = await openFast(join(f.path, 'fresh'), f.logs.log);
  });

  it('compacts when the journal outgrows the threshold, and on request', async (t) => {
    const f = await fixture(t, { compactAfterBytes: 4096 });
    await f.dir.createUser({ login: 'alice', password: PW1 });
    const snap = join(f.path, 'snapshot.json');
    const journal = join(f.path, 'journal.jsonl');
    for (let i = 0; i < 30; i++) await f.dir.resetPassword(byLogin('alice'), `Rotating-${i}-Pw!`, RESET);
    const size = (await stat(journal)).size;
    assert.ok(size <= 4096 + 4096, `journal stays near the threshold (${size} bytes)`);
    const snapText = await readFile(snap, 'utf8');
    assert.ok(JSON.parse(snapText).seq > 1, 'the snapshot moved forward');
    await f.dir.compact();
    assert.equal((await stat(journal)).size, 0);
    assert.equal(JSON.parse(await readFile(snap, 'utf8')).seq, f.dir.seq);
    const seq = f.dir.seq;
    await f.reopen();
    assert.equal(f.dir.seq, seq);
    assert.equal((await f.dir.verifyCredentials(byLogin('alice'), 'Rotating-29-Pw!')).outcome, 'succeeded');
    assert.deepEqual(
      (await f.dir.resetPassword(byLogin('alice'), 'Rotating-10-Pw!', RESET)).reasons,
      ['history'],
      'history survived compaction',
    );
  });

  it('a crash between snapshot rename and journal truncation: old records are skipped, not replayed twice', async (t) => {
    const { f, journal } = await closedWithAliceAndBob(t);
    await copyFile(journal, `${journal}.saved`);
    await f.reopen(); // compacts: snapshot at seq 2, journal emptied
    await f.dir.close();
    await copyFile(`${journal}.saved`, journal); // as if the truncation never happened
    await f.reopen();
    assert.equal(f.dir.userCount, 2);
    assert.equal(f.dir.seq, 2);
    assert.ok(f.logs.lines.some((l) => l.includes('"skipped":2')));
    // A leftover temp snapshot from a crash mid-write is ignored.
    await writeFile(join(f.path, 'snapshot.json.tmp-999999'), '{"torn');
    await f.reopen();
    assert.equal(f.dir.userCount, 2);
  });

  it('changesSince survives compaction and reopen (per-user seq and tombstones)', async (t) => {
    const f = await fixture(t);
    const a = await f.dir.createUser({ login: 'a1' });
    const b = await f.dir.createUser({ login: 'b1' });
    const cursor = f.dir.seq;
    await f.dir.updateUser('a1', { mail: 'a1@x.example' });
    await f.dir.deleteUser('b1');
    const expected = f.dir.changesSince(cursor);
    await f.dir.compact();
    await f.reopen();
    assert.deepEqual(f.dir.changesSince(cursor), expected);
    assert.deepEqual(
      expected.changes.map((c) => (c.type === 'user' ? c.user.anchor : c.anchor)),
      [a.anchor, b.anchor],
    );
  });

  it('one folder, one instance: a second open fails with store_locked', async (t) => {
    const f = await fixture(t);
    await rejects(openFast(f.path), 'store_locked');
    await f.dir.close();
    // A lock held by another live process (our parent stands in for it).
    await writeFile(join(f.path, 'LOCK'), `${process.ppid}\n`);
    await rejects(openFast(f.path), 'store_locked');
    await writeFile(join(f.path, 'LOCK'), '2147483646\n'); // no such process: stale
    f.dir = await openFast(f.path, f.logs.log);
  });

  it("durability 'fsync' writes and reads back the same", async (t) => {
    const f = await fixture(t, { durability: 'fsync' });
    await f.dir.createUser({ login: 'alice', password: PW1 });
    const results = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const u = await f.dir.createUser({ login: `u${i}`, password: PW1 });
        return f.dir.resetPassword(byAnchor(u.anchor), PW2, RESET);
      }),
    );
    assert.ok(results.every((r) => r.outcome === 'succeeded'));
    await f.reopen();
    assert.equal(f.dir.userCount, 11);
  });

  it('a full disk: the unconfirmed write is outcome_unknown, later writes directory_unavailable; reopen recovers', async (t) => {
    const path = await tempDir(t);
    const got = await child('fill', path, 64);
    assert.ok(
      got && typeof got === 'object' && 'last' in got && 'after' in got && 'healthy' in got && 'succeeded' in got,
    );
    assert.equal(got.last, 'outcome_unknown');
    assert.equal(got.after, 'directory_unavailable');
    assert.equal(got.healthy, false);
    const clock = new FrozenClock();
    clock.advance(DAY);
    const dir = await openEmbeddedDirectory(
      { kind: 'embedded', path, hash: { ...HASH_COST.fast } },
      { now: clock.now, log: new CapturedLog().log },
    );
    t.after(() => dir.close());
    const n = Number(got.succeeded);
    assert.equal(
      (await dir.verifyCredentials(byLogin('filler'), `Password-${n - 1}-x!`)).outcome,
      'succeeded',
      'the last confirmed write is there',
    );
    assert.equal((await dir.resetPassword(byLogin('filler'), 'Fresh-Start-1', RESET)).outcome, 'succeeded');
  });

  it('bad configuration throws TypeError naming the option', async (t) => {
    const path = await tempDir(t);
    const cases: [unknown, RegExp][] = [
      [{ kind: 'embedded', path, hash: { N: 1000, r: 8, p: 1 } }, /^hash\.N:/],
      [{ kind: 'embedded', path, durability: 'sometimes' }, /^durability:/],
      [{ kind: 'embedded', path, policy: { minLength: -1 } }, /^policy\.minLength:/],
      [{ kind: 'embedded', path, policy: { minLength: 20, maxLength: 10 } }, /^policy\.minLength:/],
      [{ kind: 'embedded' }, /^path:/],
      [{ kind: 'ad', path }, /^kind:/],
      [{ kind: 'embedded', path, extra: 1 }, /./],
    ];
    for (const [cfg, re] of cases) {
      await assert.rejects(
        // @ts-expect-error deliberately malformed configuration
        openEmbeddedDirectory(cfg),
        (err: unknown) => err instanceof TypeError && re.test(err.message),
      );
    }
  });
});
