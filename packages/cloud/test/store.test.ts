/**
 * The data layer on both engines, same test bodies: migrations from empty and re-run, the Db
 * contract (transactions, conflicts), the repositories (sync_state among them: lease, staged
 * deletions, run records), and the audit record's state machine under concurrency.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { MIGRATIONS, migrate } from '../src/store/index.js';
import { createTenant, findTenant, listTenants } from '../src/tenants/tenants.js';
import { finishRecord, getAuditByRequestId, insertPending, listAudit, sweepPending } from '../src/audit/audit.js';
import { authenticateApiKey, createApiKey, revokeApiKey } from '../src/auth/api-keys.js';
import { loadOrCreateCloudKey } from '../src/keys/cloud-key.js';
import { numberPlaceholders } from '../src/store/postgres.js';
import {
  beginFullSync,
  closeHeldDeletions,
  ensureSyncState,
  finishFullSync,
  getStagedDeletions,
  getSyncState,
  markAnchorsPass,
  recordRunFailure,
  recordRunSuccess,
  releaseSyncLease,
  renewSyncLease,
  setStagedDeletions,
  setSyncCursor,
  setSyncPhase,
  takeSyncLease,
  tenantHasSynced,
} from '../src/store/sync-state.js';
import { cloudErrorCode, describeOnEveryStore, openTempStore, tempStore } from './helpers.js';

test('placeholders are numbered outside quoted text only', () => {
  assert.equal(numberPlaceholders(`SELECT ? , '?' , "a?" , ?`), `SELECT $1 , '?' , "a?" , $2`);
});

describeOnEveryStore(
  'store',
  (store) => {
    test('migrations apply from empty, are recorded, and a re-run applies nothing', async () => {
      const first = await migrate(store.db);
      assert.deepEqual(
        first,
        MIGRATIONS.map((m) => m.id),
      );
      const rows = await store.db.query('SELECT id, name FROM schema_migrations ORDER BY id');
      assert.deepEqual(
        rows.map((r) => Number(r.id)),
        MIGRATIONS.map((m) => m.id),
      );
      assert.deepEqual(await migrate(store.db), []);
      // Every table of the logical schema exists and is empty.
      for (const table of [
        'tenants',
        'admins',
        'admin_sessions',
        'api_keys',
        'agent_tokens',
        'agents',
        'cloud_keys',
        'audit',
      ]) {
        const row = await store.db.one(`SELECT COUNT(*) AS n FROM ${table}`);
        assert.equal(Number(row?.n), 0, table);
      }
    });

    test('concurrent migrate calls agree: one applies, the others see it applied', async () => {
      const ts2 = tempStore(store.engine);
      const one = await openTempStore(ts2, { migrate: false });
      try {
        const all = await Promise.all([migrate(one), migrate(one), migrate(one)]);
        assert.deepEqual(
          all.flat().sort((p, q) => p - q),
          MIGRATIONS.map((m) => m.id),
        );
      } finally {
        await one.close();
      }
      if (store.engine === 'sqlite') return ts2.drop();
      // PostgreSQL: two separate pools (two nodes starting together) on a fresh schema.
      await ts2.drop();
      const a = await openTempStore(ts2, { migrate: false });
      const b = await openTempStore(ts2, { migrate: false });
      try {
        const [x, y] = await Promise.all([migrate(a), migrate(b)]);
        assert.deepEqual(
          [...x, ...y].sort((p, q) => p - q),
          MIGRATIONS.map((m) => m.id),
        );
      } finally {
        await a.close();
        await b.close();
        await ts2.drop();
      }
    });

    test('a failed transaction leaves nothing behind; a unique violation is a conflict', async () => {
      await assert.rejects(
        store.db.tx(async (t) => {
          await t.exec('INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, ?)', [
            't-00000000000000aa',
            'rolled-back',
            'x',
            1,
          ]);
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await findTenant(store.db, 'rolled-back'), undefined);
      await createTenant(store.db, { slug: 'unique-one', name: 'U' }, 1);
      assert.equal(await cloudErrorCode(createTenant(store.db, { slug: 'unique-one', name: 'U2' }, 2)), 'conflict');
      assert.ok((await listTenants(store.db)).some((t) => t.slug === 'unique-one'));
    });

    test('a found tenant is remembered per store; a miss is asked again (another node may create it)', async () => {
      assert.equal(await findTenant(store.db, 'made-elsewhere'), undefined);
      // Another node (a second pool on the same database) creates it: the miss was not remembered.
      const other = await openTempStore(store.temp, { migrate: false });
      try {
        await createTenant(other, { slug: 'made-elsewhere', name: 'E' }, 5);
      } finally {
        await other.close();
      }
      const found = await findTenant(store.db, 'made-elsewhere');
      assert.equal(found?.name, 'E');
      // The next look is served from memory: the same frozen object, by slug and by id.
      assert.equal(await findTenant(store.db, 'made-elsewhere'), found);
      assert.ok(Object.isFrozen(found));
      assert.equal((await findTenant(store.db, found?.id ?? ''))?.slug, 'made-elsewhere');
    });

    test('numbers round-trip as numbers (BIGINT ms timestamps)', async () => {
      const t = await createTenant(store.db, { slug: 'big-time', name: 'B' }, 4_102_444_800_123);
      const again = await findTenant(store.db, t.id);
      assert.equal(again?.createdAt, 4_102_444_800_123);
      assert.equal(typeof again?.createdAt, 'number');
    });

    test('api keys: only the hash is stored; revoked keys stop authenticating', async () => {
      const tenant = await createTenant(store.db, { slug: 'keys', name: 'K' }, 10);
      const { key, token } = await createApiKey(store.db, { scope: 'tenant', tenantId: tenant.id, name: 'k' }, 10);
      const stored = await store.db.one('SELECT secret_hash FROM api_keys WHERE id = ?', [key.id]);
      assert.ok(stored && typeof stored.secret_hash === 'string' && !token.includes(stored.secret_hash));
      assert.equal((await authenticateApiKey(store.db, token, 20))?.id, key.id);
      assert.equal(
        await authenticateApiKey(store.db, `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, 20),
        null,
      );
      assert.equal(await revokeApiKey(store.db, tenant.id, key.id, 30), true);
      assert.equal(await authenticateApiKey(store.db, token, 40), null);
    });

    test('the cloud key is created once, encrypted, and refuses the wrong master key', async () => {
      const mk = Buffer.alloc(32, 7);
      const k1 = await loadOrCreateCloudKey(store.db, mk, 1);
      const k2 = await loadOrCreateCloudKey(store.db, mk, 2);
      assert.equal(k1.publicKey, k2.publicKey);
      const row = await store.db.one('SELECT private_key_enc FROM cloud_keys WHERE id = ?', [k1.id]);
      assert.ok(row && typeof row.private_key_enc === 'string' && row.private_key_enc.startsWith('v1.'));
      assert.equal(await cloudErrorCode(loadOrCreateCloudKey(store.db, Buffer.alloc(32, 8), 3)), 'master_key_mismatch');
    });

    test('audit: pending → done once; finish and sweep race with exactly one winner', async () => {
      const requestId = randomUUID();
      await insertPending(store.db, {
        tenantId: 't-x',
        requestId,
        actor: { kind: 'api_key', id: 'k1' },
        action: 'password.reset',
        targetUser: 'alice',
        startedAt: 100,
        deadlineAt: 200,
      });
      assert.equal((await getAuditByRequestId(store.db, requestId))?.state, 'pending');
      // A duplicate request id is refused: one record per request.
      assert.equal(
        await cloudErrorCode(
          insertPending(store.db, {
            tenantId: 't-x',
            requestId,
            actor: { kind: 'api_key', id: 'k1' },
            action: 'password.reset',
            startedAt: 100,
            deadlineAt: 200,
          }),
        ),
        'conflict',
      );
      const results = await Promise.all([
        finishRecord(store.db, requestId, { outcome: 'succeeded', latencyMs: 5, finishedAt: 105 }),
        sweepPending(store.db, 1_000, 1_000).then((n) => n > 0),
        finishRecord(store.db, requestId, { outcome: 'timeout', latencyMs: 6, finishedAt: 106 }),
      ]);
      assert.equal(results.filter(Boolean).length, 1);
      const rec = await getAuditByRequestId(store.db, requestId);
      assert.equal(rec?.state, 'done');
      assert.ok(rec?.outcome === 'succeeded' || rec?.outcome === 'outcome_unknown' || rec?.outcome === 'timeout');
    });

    test('audit: many concurrent requests each get exactly one record, all finished', async () => {
      const ids = Array.from({ length: 40 }, () => randomUUID());
      await Promise.all(
        ids.map(async (requestId, i) => {
          await insertPending(store.db, {
            tenantId: 't-many',
            requestId,
            actor: { kind: 'user', id: `u${i}` },
            action: 'password.change',
            targetUser: `u${i}`,
            startedAt: 1_000 + i,
            deadlineAt: 9_000,
          });
          assert.equal(
            await finishRecord(store.db, requestId, {
              outcome: i % 2 ? 'succeeded' : 'policy_violation',
              reasons: i % 2 ? undefined : ['too_short'],
              latencyMs: i,
              finishedAt: 2_000 + i,
            }),
            true,
          );
        }),
      );
      const rows = await store.db.query("SELECT request_id, state FROM audit WHERE tenant_id = 't-many'");
      assert.equal(rows.length, ids.length);
      assert.ok(rows.every((r) => r.state === 'done'));
      assert.equal(new Set(rows.map((r) => r.request_id)).size, ids.length);
    });

    test('audit: the sweep closes only records past their deadline', async () => {
      const live = randomUUID();
      const dead = randomUUID();
      await insertPending(store.db, {
        tenantId: 't-sweep',
        requestId: live,
        actor: { kind: 'user', id: 'a' },
        action: 'password.change',
        startedAt: 50_000,
        deadlineAt: 60_000,
      });
      await insertPending(store.db, {
        tenantId: 't-sweep',
        requestId: dead,
        actor: { kind: 'user', id: 'b' },
        action: 'password.change',
        startedAt: 10_000,
        deadlineAt: 20_000,
      });
      assert.equal(await sweepPending(store.db, 30_000, 55_000), 1);
      const d = await getAuditByRequestId(store.db, dead);
      assert.equal(d?.state, 'done');
      assert.equal(d?.outcome, 'outcome_unknown');
      assert.equal(d?.latencyMs, 45_000);
      assert.equal((await getAuditByRequestId(store.db, live))?.state, 'pending');
    });

    test('audit listing: filters, newest first, cursor pages cover everything once', async () => {
      for (let i = 0; i < 7; i++) {
        const requestId = randomUUID();
        await insertPending(store.db, {
          tenantId: 't-list',
          requestId,
          actor: { kind: 'user', id: 'x' },
          action: 'password.change',
          targetUser: i % 2 ? 'Bob' : 'carol',
          startedAt: 5_000 + (i < 3 ? 0 : i),
          deadlineAt: 99_000,
        });
        await finishRecord(store.db, requestId, {
          outcome: i % 2 ? 'succeeded' : 'wrong_current_password',
          latencyMs: 1,
          finishedAt: 6_000,
        });
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await listAudit(store.db, 't-list', { limit: 3, cursor });
        seen.push(...page.items.map((r) => r.requestId));
        for (let i = 1; i < page.items.length; i++)
          assert.ok((page.items[i - 1]?.startedAt ?? 0) >= (page.items[i]?.startedAt ?? 0));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      assert.equal(seen.length, 7);
      assert.equal(new Set(seen).size, 7);
      assert.equal((await listAudit(store.db, 't-list', { limit: 50, user: 'bob' })).items.length, 3);
      assert.equal(
        (await listAudit(store.db, 't-list', { limit: 50, outcome: 'wrong_current_password' })).items.length,
        4,
      );
      assert.equal((await listAudit(store.db, 't-list', { limit: 50, from: 5_004 })).items.length, 3);
      assert.equal(
        await cloudErrorCode(listAudit(store.db, 't-list', { limit: 5, cursor: 'not-a-cursor' })),
        'invalid_request',
      );
    });

    test('sync state: created once (concurrently too), full walk, cursors, first completion kept', async () => {
      const { id } = await createTenant(store.db, { slug: 'sync-walk', name: 'S' }, 1);
      assert.equal(await getSyncState(store.db, id), null);
      assert.equal(await tenantHasSynced(store.db, id), false);
      const made = await Promise.all([
        ensureSyncState(store.db, id),
        ensureSyncState(store.db, id),
        ensureSyncState(store.db, id),
      ]);
      assert.ok(made.every((s) => s.phase === 'idle' && s.cursor === null && !s.inFull && s.total === 0));
      const rows = await store.db.query('SELECT tenant_id FROM sync_state WHERE tenant_id = ?', [id]);
      assert.equal(rows.length, 1);

      await beginFullSync(store.db, id, false);
      await setSyncCursor(store.db, id, 'full', 'f-1');
      let s = await getSyncState(store.db, id);
      assert.equal(s?.phase, 'full');
      assert.equal(s?.inFull, true);
      assert.equal(s?.fullCursor, 'f-1');
      // Resuming keeps the stored cursor; starting again clears it.
      await beginFullSync(store.db, id, true);
      assert.equal((await getSyncState(store.db, id))?.fullCursor, 'f-1');
      await finishFullSync(store.db, id, 'c-1', 4_102_444_800_000);
      s = await getSyncState(store.db, id);
      assert.equal(s?.cursor, 'c-1');
      assert.equal(s?.fullCursor, null);
      assert.equal(s?.inFull, false);
      assert.equal(s?.firstFullAt, 4_102_444_800_000);
      assert.equal(typeof s?.firstFullAt, 'number');
      assert.equal(await tenantHasSynced(store.db, id), true);
      await beginFullSync(store.db, id, false);
      await finishFullSync(store.db, id, 'c-2', 4_102_444_900_000);
      s = await getSyncState(store.db, id);
      assert.equal(s?.firstFullAt, 4_102_444_800_000);
      assert.equal(s?.lastFullAt, 4_102_444_900_000);
      await setSyncCursor(store.db, id, 'incremental', 'c-3');
      await setSyncPhase(store.db, id, 'incremental');
      await markAnchorsPass(store.db, id, 77);
      s = await getSyncState(store.db, id);
      assert.equal(s?.cursor, 'c-3');
      assert.equal(s?.phase, 'incremental');
      assert.equal(s?.lastAnchorsAt, 77);
    });

    test('sync state: one lease holder; renew only by the holder; an expired lease is taken over', async () => {
      const { id } = await createTenant(store.db, { slug: 'sync-lease', name: 'L' }, 1);
      await ensureSyncState(store.db, id);
      assert.equal(await takeSyncLease(store.db, id, 'node-a', 1_000, 31_000), true);
      assert.equal(await takeSyncLease(store.db, id, 'node-a', 2_000, 32_000), true);
      assert.equal(await takeSyncLease(store.db, id, 'node-b', 3_000, 33_000), false);
      assert.equal(await renewSyncLease(store.db, id, 'node-b', 40_000), false);
      assert.equal(await renewSyncLease(store.db, id, 'node-a', 40_000), true);
      await releaseSyncLease(store.db, id, 'node-b');
      assert.equal((await getSyncState(store.db, id))?.leaseOwner, 'node-a');
      // Two nodes racing for an expired lease: exactly one gets it.
      const race = await Promise.all([
        takeSyncLease(store.db, id, 'node-b', 50_000, 80_000),
        takeSyncLease(store.db, id, 'node-c', 50_000, 80_000),
      ]);
      assert.equal(race.filter(Boolean).length, 1);
      const holder = race[0] ? 'node-b' : 'node-c';
      assert.equal(await renewSyncLease(store.db, id, 'node-a', 90_000), false);
      await releaseSyncLease(store.db, id, holder);
      const s = await getSyncState(store.db, id);
      assert.equal(s?.leaseOwner, null);
      assert.equal(s?.leaseUntil, null);
    });

    test('sync state: staged deletions keep when they were first staged; held ones close applied or discarded', async () => {
      const { id } = await createTenant(store.db, { slug: 'sync-deletes', name: 'D' }, 1);
      assert.equal(await getStagedDeletions(store.db, id), null);
      await ensureSyncState(store.db, id);
      assert.deepEqual(await getStagedDeletions(store.db, id), { phase: 'idle', anchors: [] });
      await store.db.tx(async (t) => setStagedDeletions(t, id, ['g-1', 'g-2'], 10));
      await setStagedDeletions(store.db, id, ['g-1', 'g-2', 'g-3'], 20);
      let s = await getSyncState(store.db, id);
      assert.deepEqual(s?.pendingDeletes, ['g-1', 'g-2', 'g-3']);
      assert.equal(s?.pendingSince, 10);
      await setStagedDeletions(store.db, id, [], 30);
      s = await getSyncState(store.db, id);
      assert.deepEqual(s?.pendingDeletes, []);
      assert.equal(s?.pendingSince, null);

      await setStagedDeletions(store.db, id, ['g-4'], 40);
      await setSyncPhase(store.db, id, 'blocked_mass_delete');
      assert.deepEqual(await getStagedDeletions(store.db, id), { phase: 'blocked_mass_delete', anchors: ['g-4'] });
      await closeHeldDeletions(store.db, id, { deleted: 1, total: 9 });
      s = await getSyncState(store.db, id);
      assert.equal(s?.phase, 'idle');
      assert.deepEqual(s?.pendingDeletes, []);
      assert.deepEqual(s?.counts, { created: 0, updated: 0, deleted: 1 });
      assert.equal(s?.total, 9);
      await setStagedDeletions(store.db, id, ['g-5'], 50);
      await setSyncPhase(store.db, id, 'blocked_mass_delete');
      await closeHeldDeletions(store.db, id);
      s = await getSyncState(store.db, id);
      assert.equal(s?.phase, 'idle');
      assert.equal(s?.pendingSince, null);
      assert.equal(s?.counts.deleted, 1);
    });

    test('sync state: a run records its counts; a failure keeps the last success and the last agent', async () => {
      const { id } = await createTenant(store.db, { slug: 'sync-runs', name: 'R' }, 1);
      await ensureSyncState(store.db, id);
      await recordRunSuccess(store.db, id, {
        phase: 'idle',
        startedAt: 100,
        finishedAt: 150,
        agentId: 'a-1',
        counts: { created: 3, updated: 2, deleted: 1 },
        total: 42,
      });
      let s = await getSyncState(store.db, id);
      assert.equal(s?.lastRunAt, 100);
      assert.equal(s?.lastSuccessAt, 150);
      assert.equal(s?.agentId, 'a-1');
      assert.deepEqual(s?.counts, { created: 3, updated: 2, deleted: 1 });
      assert.equal(s?.total, 42);
      assert.equal(s?.lastError, null);
      await recordRunFailure(store.db, id, {
        phase: 'error',
        startedAt: 200,
        code: 'agent_unavailable',
        agentId: null,
        counts: { created: 0, updated: 0, deleted: 0 },
      });
      s = await getSyncState(store.db, id);
      assert.equal(s?.phase, 'error');
      assert.equal(s?.lastRunAt, 200);
      assert.equal(s?.lastSuccessAt, 150);
      assert.equal(s?.lastError, 'agent_unavailable');
      assert.equal(s?.agentId, 'a-1');
      assert.equal(s?.total, 42);
      // A later success clears the error.
      await recordRunSuccess(store.db, id, {
        phase: 'idle',
        startedAt: 300,
        finishedAt: 310,
        agentId: 'a-2',
        counts: { created: 0, updated: 0, deleted: 0 },
        total: 42,
      });
      s = await getSyncState(store.db, id);
      assert.equal(s?.lastError, null);
      assert.equal(s?.agentId, 'a-2');
    });
  },
  { migrate: false },
);
