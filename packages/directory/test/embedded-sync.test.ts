/**
 * The embedded directory as a sync source: full sync, incremental changes of every kind, deletions
 * from tombstones, resets on a foreign or restored store, the group scope, anchors pages and batch
 * bounds. Real files in a temp folder, a frozen clock.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  MAX_SYNC_BATCH_BYTES,
  SyncAnchorsDataSchema,
  SyncPullDataSchema,
  type SyncChange,
  type SyncPullData,
} from '@writeback/protocol';
import type { EmbeddedDirectory } from '../src/index.js';
import { byLogin, fixture, RESET } from './embedded-helpers.js';

/** Pull until `more` is false; every answer must be a valid protocol answer. */
async function drain(
  dir: EmbeddedDirectory,
  cursor: string | null,
  limit = 200,
): Promise<{ changes: SyncChange[]; cursor: string; pages: SyncPullData[] }> {
  const changes: SyncChange[] = [];
  const pages: SyncPullData[] = [];
  let c = cursor;
  for (;;) {
    const page = SyncPullDataSchema.parse(await dir.sync.pullChanges(c, limit));
    assert.notEqual(page.reset, true);
    pages.push(page);
    changes.push(...page.changes);
    c = page.cursor;
    if (!page.more) return { changes, cursor: page.cursor, pages };
  }
}

const upserts = (cs: SyncChange[]) => cs.flatMap((c) => (c.kind === 'upsert' ? [c.user] : []));
const deletes = (cs: SyncChange[]) => cs.flatMap((c) => (c.kind === 'delete' ? [c.anchor] : []));

describe('embedded sync source', () => {
  it('full sync returns every user once, then incremental pulls return each kind of change', async (t) => {
    const f = await fixture(t);
    const dir = f.dir;
    for (let i = 0; i < 30; i++)
      await dir.createUser({
        login: `u${i}`,
        mail: `u${i}@corp.example`,
        groups: ['staff'],
        password: 'Initial-Pass-1',
      });
    const full = await drain(dir, null, 7);
    assert.equal(full.pages.length > 4, true);
    assert.equal(new Set(upserts(full.changes).map((u) => u.anchor)).size, 30);
    assert.equal(upserts(full.changes).length, 30);
    assert.equal(full.pages[0]?.total, 30);

    const empty = await drain(dir, full.cursor);
    assert.equal(empty.changes.length, 0);

    const created = await dir.createUser({ login: 'newbie', displayName: 'New Bie', mobile: '+44 20 7946 0000' });
    await dir.updateUser('u1', { login: 'u1-renamed', displayName: 'Renamed' });
    await dir.updateUser('u2', { enabled: false });
    await dir.deleteUser('u3');
    await dir.resetPassword(byLogin('u4'), 'Another-Pass-2', { ...RESET, forceChange: true });
    const inc = await drain(dir, full.cursor);
    const up = new Map(upserts(inc.changes).map((u) => [u.login, u]));
    assert.equal(up.get('newbie')?.anchor, created.anchor);
    assert.equal(up.get('newbie')?.mobile, '+44 20 7946 0000');
    assert.equal(up.get('u1-renamed')?.displayName, 'Renamed');
    assert.equal(up.get('u2')?.enabled, false);
    assert.equal(up.get('u4')?.mustChange, true);
    assert.equal(up.get('u4')?.passwordLastSetAt, null);
    assert.deepEqual(deletes(inc.changes).length, 1);
    assert.equal(up.size, 4);

    const anchors = [];
    let c: string | null = null;
    do {
      const page = SyncAnchorsDataSchema.parse(await dir.sync.listAnchors(c, 8));
      anchors.push(...page.anchors);
      c = page.cursor;
    } while (c !== null);
    assert.equal(anchors.length, 30);
    assert.equal(new Set(anchors).size, 30);
  });

  it('a cursor survives a reopen and compaction; a cursor of another store or from the future resets', async (t) => {
    const f = await fixture(t);
    await f.dir.createUser({ login: 'a' });
    const { cursor } = await drain(f.dir, null);
    await f.dir.compact();
    const dir = await f.reopen();
    await dir.createUser({ login: 'b' });
    assert.deepEqual(
      upserts((await drain(dir, cursor)).changes).map((u) => u.login),
      ['b'],
    );

    const future = cursor.replace(/:\d+$/, ':999');
    assert.equal((await dir.sync.pullChanges(future, 10)).reset, true);
    assert.equal((await dir.sync.pullChanges('garbage', 10)).reset, true);

    // The folder wiped and started again: same seq numbers, another store.
    await dir.close();
    await rm(f.path, { recursive: true, force: true });
    const fresh = await f.reopen();
    await fresh.createUser({ login: 'c' });
    assert.equal((await fresh.sync.pullChanges(cursor, 10)).reset, true);
  });

  it('a group scope syncs members only, serves nobody else, and a user leaving it is a deletion', async (t) => {
    const f = await fixture(t, { syncScope: { groups: ['sspr'] } });
    const dir = f.dir;
    const inside = await dir.createUser({ login: 'inside', groups: ['sspr'], password: 'Initial-Pass-1' });
    await dir.createUser({ login: 'outside', groups: ['other'], password: 'Initial-Pass-1' });
    const full = await drain(dir, null);
    assert.deepEqual(
      upserts(full.changes).map((u) => u.login),
      ['inside'],
    );
    assert.equal((await dir.verifyCredentials(byLogin('outside'), 'Initial-Pass-1')).outcome, 'user_not_found');
    assert.equal((await dir.verifyCredentials(byLogin('inside'), 'Initial-Pass-1')).outcome, 'succeeded');
    await dir.updateUser('inside', { groups: ['other'] });
    const inc = await drain(dir, full.cursor);
    assert.deepEqual(deletes(inc.changes), [inside.anchor]);
    // A cursor made under another scope is refused.
    const unscoped = await f.reopen({ syncScope: undefined });
    assert.equal((await unscoped.sync.pullChanges(full.cursor, 10)).reset, true);
  });

  it('batches stay under the frame budget', async (t) => {
    const f = await fixture(t);
    const long = 'x'.repeat(250);
    for (let i = 0; i < 300; i++)
      await f.dir.createUser({ login: `big${i}`, displayName: `${long}${i}`, groups: [long, `${long}2`, `${long}3`] });
    const { pages } = await drain(f.dir, null, 500);
    assert.equal(pages.length > 1, true);
    for (const p of pages) assert.equal(Buffer.byteLength(JSON.stringify(p)) < MAX_SYNC_BATCH_BYTES, true);
    // Anchors pages too: 2,000 UUIDs would not fit.
    for (let i = 0; i < 1_800; i++) await f.dir.createUser({ login: `small${i}` });
    const first = SyncAnchorsDataSchema.parse(await f.dir.sync.listAnchors(null, 2000));
    assert.notEqual(first.cursor, null);
    assert.equal(Buffer.byteLength(JSON.stringify(first)) < MAX_SYNC_BATCH_BYTES, true);
  });
});
