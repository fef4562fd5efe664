/**
 * The sync engine and the cloud users store on both engines (SQLite and PostgreSQL), against a real
 * agent and the embedded directory: full and incremental sync, the lease between nodes, the
 * mass-delete guard, look-ups (login, UPN, mail; case; LIKE wildcards taken literally), tenant
 * settings.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { registerAgent, startAgent, type RunningAgent } from '@writeback/agent';
import { HASH_COST, openEmbeddedDirectory, type EmbeddedDirectory } from '@writeback/directory';
import { createLogger } from '@writeback/protocol';
import { CloudError } from '../src/errors.js';
import { createSyncEngine } from '../src/sync/engine.js';
import { getTenantSettings, updateTenantSettings } from '../src/tenants/settings.js';
import { findUserByLogin, listUsers } from '../src/users/directory-users.js';
import { ENGINES, startCloud, type Started } from './helpers.js';

const quiet = createLogger({ name: 'test', level: 'error' });

for (const engine of ENGINES) {
  describe(`sync engine on ${engine}`, () => {
    let s: Started;
    let dir: EmbeddedDirectory;
    let agent: RunningAgent;
    let folder: string;
    let tenantId: string;

    before(async () => {
      folder = await mkdtemp(join(tmpdir(), 'wb-sync-'));
      s = await startCloud({ engine });
      const boot = await s.cloud.bootstrap({ tenant: { slug: 'acme' }, agentToken: true });
      tenantId = boot.tenant?.id ?? '';
      const config = { kind: 'embedded' as const, path: join(folder, 'directory'), hash: { ...HASH_COST.fast } };
      dir = await openEmbeddedDirectory(config, { log: quiet });
      for (let i = 0; i < 40; i++)
        await dir.createUser({
          login: `user${i}`,
          upn: `user${i}@corp.example`,
          mail: `u${i}@mail.example`,
          displayName: `User ${i}`,
        });
      await dir.createUser({ login: 'under_score', mail: 'shared@mail.example' });
      await dir.createUser({ login: 'underXscore', mail: 'shared@mail.example' });
      const state = await registerAgent({
        cloudUrl: s.cloud.url,
        token: boot.agentToken?.token ?? '',
        name: 'a1',
        statePath: join(folder, 'agent.json'),
        directory: config,
        log: quiet,
      });
      agent = await startAgent({ state, directory: dir, log: quiet, allowPlaintext: true });
      await agent.ready();
    });
    after(async () => {
      await agent?.stop();
      await dir?.close().catch(() => undefined);
      await s?.stop();
      await rm(folder, { recursive: true, force: true });
    });

    it('full then incremental sync; look-ups by login, UPN and mail, case-insensitive', async () => {
      const { sync, store } = s.cloud;
      assert.equal(await sync.hasSynced(tenantId), false);
      const first = await sync.runOnce(tenantId);
      assert.equal(first.status.phase, 'idle');
      assert.equal(first.status.total, 42);
      assert.deepEqual(first.status.counts, { created: 42, updated: 0, deleted: 0 });
      assert.equal(await sync.hasSynced(tenantId), true);

      assert.equal((await findUserByLogin(store, tenantId, 'USER7'))?.login, 'user7');
      assert.equal((await findUserByLogin(store, tenantId, 'User7@Corp.Example'))?.login, 'user7');
      assert.equal((await findUserByLogin(store, tenantId, 'u7@mail.example'))?.login, 'user7');
      // A mail address two users share names nobody.
      assert.equal(await findUserByLogin(store, tenantId, 'shared@mail.example'), null);
      // `_` is a literal in a search, not a LIKE wildcard.
      assert.deepEqual(
        (await listUsers(store, tenantId, { search: 'under_', limit: 10, offset: 0 })).users.map((u) => u.login),
        ['under_score'],
      );
      const page = await listUsers(store, tenantId, { search: 'user1', limit: 5, offset: 0 });
      assert.equal(page.total, 11);
      assert.equal(page.users.length, 5);

      await dir.updateUser('user7', { displayName: 'Seven', enabled: false });
      await dir.deleteUser('user8');
      const inc = await sync.runOnce(tenantId);
      assert.deepEqual(inc.status.counts, { created: 0, updated: 1, deleted: 1 });
      const seven = await findUserByLogin(store, tenantId, 'user7');
      assert.equal(seven?.displayName, 'Seven');
      assert.equal(seven?.enabled, false);
      assert.equal(await findUserByLogin(store, tenantId, 'user8'), null);
      assert.equal((await listUsers(store, tenantId, { limit: 100, offset: 0, locked: false })).total, 41);
    });

    it('a lease held by another node skips the run; an expired one is taken over', async () => {
      const { store, sync } = s.cloud;
      await store.exec('UPDATE sync_state SET lease_owner = ?, lease_until = ? WHERE tenant_id = ?', [
        'node-other',
        Date.now() + 60_000,
        tenantId,
      ]);
      const skipped = await sync.runOnce(tenantId);
      assert.equal(skipped.skipped, 'leased_elsewhere');
      // A second engine on the same store is "another node" too.
      const other = createSyncEngine({
        db: store,
        gateway: s.cloud.gateway,
        relay: s.cloud.relayClient,
        now: Date.now,
        log: quiet,
        anchorsIntervalMs: 600_000,
        leaseMs: 30_000,
      });
      assert.equal((await other.runOnce(tenantId)).skipped, 'leased_elsewhere');
      await store.exec('UPDATE sync_state SET lease_until = ? WHERE tenant_id = ?', [Date.now() - 1, tenantId]);
      const ran = await other.runOnce(tenantId);
      assert.equal(ran.skipped, undefined);
      assert.equal(ran.status.phase, 'idle');
      const row = await store.one('SELECT lease_owner FROM sync_state WHERE tenant_id = ?', [tenantId]);
      assert.equal(row?.lease_owner, null);
      await other.stop();
    });

    it('the mass-delete guard holds deletions until confirmed; settings validate', async () => {
      const { store, sync } = s.cloud;
      await assert.rejects(
        updateTenantSettings(store, tenantId, { sync: { massDeleteThresholdPercent: 250 } }),
        (err: unknown) =>
          err instanceof CloudError &&
          err.code === 'invalid_request' &&
          err.details?.[0]?.path === 'sync.massDeleteThresholdPercent',
      );
      const settings = await updateTenantSettings(store, tenantId, {
        sync: { massDeleteThresholdPercent: 20, massDeleteMinUsers: 5 },
      });
      assert.equal(settings.sync.massDeleteThresholdPercent, 20);
      assert.equal(settings.signIn.mode, 'cloud_hash');
      assert.deepEqual(await getTenantSettings(store, tenantId), settings);

      for (let i = 20; i < 30; i++) await dir.deleteUser(`user${i}`);
      const blocked = await sync.runOnce(tenantId);
      assert.equal(blocked.status.phase, 'blocked_mass_delete');
      assert.equal(blocked.status.pendingDeletions, 10);
      assert.equal((await listUsers(store, tenantId, { search: 'user2', limit: 100, offset: 0 })).total, 11);
      assert.equal(await sync.confirmDeletions(tenantId), 10);
      assert.equal((await listUsers(store, tenantId, { search: 'user2', limit: 100, offset: 0 })).total, 1);
      assert.equal((await sync.status(tenantId)).phase, 'idle');
      await assert.rejects(
        sync.rejectDeletions(tenantId),
        (err: unknown) => err instanceof CloudError && err.code === 'conflict',
      );
    });
  });
}
