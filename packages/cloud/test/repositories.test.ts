/**
 * Conformance of the store's repositories that used to be SQL inside the domain and page modules
 * (issue 9: SQL only behind repositories under store/), same test bodies on SQLite and PostgreSQL:
 * web sessions (round trip, touch, ending a subject's sessions, sweeping).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore, type Db } from '../src/store/index.js';
import {
  deleteExpiredWebSessions,
  deleteSubjectSessions,
  deleteWebSession,
  getWebSession,
  insertWebSession,
  touchWebSession,
  updateSessionData,
  type WebSession,
} from '../src/store/web-sessions.js';
import { createTenant } from '../src/tenants/tenants.js';
import { ENGINES, tempStore, type TempStore } from './helpers.js';

const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
let seq = 0;

function newSession(tenantId: string, over: Partial<WebSession> = {}): WebSession {
  seq += 1;
  return {
    id: seq.toString(16).padStart(24, '0'),
    kind: 'user',
    tenantId,
    subjectId: 'u-alice',
    subjectLogin: 'alice',
    csrfToken: `csrf-${seq}`,
    data: {},
    createdAt: T0,
    lastSeenAt: T0,
    expiresAt: T0 + 8 * 3_600_000,
    ...over,
  };
}

for (const engine of ENGINES) {
  describe(`repositories on ${engine}`, () => {
    let ts: TempStore;
    let db: Db;
    let tenantId: string;
    let otherTenantId: string;
    before(async () => {
      ts = tempStore(engine);
      db = await openStore({ url: String(ts.config.databaseUrl), ...(ts.schema ? { schema: ts.schema } : {}) });
      tenantId = (await createTenant(db, { slug: `acme-${engine}`, name: 'Acme' }, T0)).id;
      otherTenantId = (await createTenant(db, { slug: `other-${engine}`, name: 'Other' }, T0)).id;
    });
    after(async () => {
      await db.close();
      await ts.drop();
    });

    describe('web sessions', () => {
      test('a session reads back as written, with its secret hash; data and last seen update', async () => {
        const s = newSession(tenantId, { kind: 'admin', data: { stage: 'mfa', pwAt: T0 } });
        await insertWebSession(db, s, 'hash-1');
        assert.deepEqual(await getWebSession(db, s.id), { session: s, secretHash: 'hash-1' });
        assert.equal(await getWebSession(db, 'f'.repeat(24)), undefined);
        await touchWebSession(db, s.id, T0 + 60_000);
        await updateSessionData(db, s.id, { stage: 'ok', pwAt: T0 });
        assert.deepEqual(await getWebSession(db, s.id), {
          session: { ...s, lastSeenAt: T0 + 60_000, data: { stage: 'ok', pwAt: T0 } },
          secretHash: 'hash-1',
        });
        await deleteWebSession(db, s.id);
        assert.equal(await getWebSession(db, s.id), undefined);
      });

      test("ending a subject's sessions touches only that tenant, kind and subject", async () => {
        const mine = [newSession(tenantId, { subjectId: 'u-bob' }), newSession(tenantId, { subjectId: 'u-bob' })];
        const keep = [
          newSession(tenantId, { subjectId: 'u-carol' }),
          newSession(tenantId, { subjectId: 'u-bob', kind: 'admin' }),
          newSession(otherTenantId, { subjectId: 'u-bob' }),
        ];
        for (const s of [...mine, ...keep]) await insertWebSession(db, s, 'h');
        assert.equal(await deleteSubjectSessions(db, tenantId, 'user', 'u-bob'), 2);
        assert.equal(await deleteSubjectSessions(db, tenantId, 'user', 'u-bob'), 0);
        for (const s of mine) assert.equal(await getWebSession(db, s.id), undefined);
        for (const s of keep) assert.equal((await getWebSession(db, s.id))?.session.id, s.id);
      });

      test('the sweep removes sessions past their absolute end or idle since the cut-off, and no others', async () => {
        const ended = newSession(tenantId, { expiresAt: T0 + 1000 });
        const idle = newSession(tenantId, { lastSeenAt: T0 - 20 * 60_000 });
        const live = newSession(tenantId, { lastSeenAt: T0 + 500 });
        for (const s of [ended, idle, live]) await insertWebSession(db, s, 'h');
        const removed = await deleteExpiredWebSessions(db, T0 + 1000, T0 - 15 * 60_000);
        assert.equal(removed, 2);
        assert.equal(await getWebSession(db, ended.id), undefined);
        assert.equal(await getWebSession(db, idle.id), undefined);
        assert.equal((await getWebSession(db, live.id))?.session.id, live.id);
      });

      test('stored data that is not a JSON object reads as empty', async () => {
        const s = newSession(tenantId);
        await insertWebSession(db, s, 'h');
        await updateSessionData(db, s.id, {});
        await db.exec('UPDATE web_sessions SET data = ? WHERE id = ?', ['[1, 2]', s.id]);
        assert.deepEqual((await getWebSession(db, s.id))?.session.data, {});
      });
    });
  });
}
