/**
 * Conformance of the store's repositories that used to be SQL inside the domain and page modules
 * (issue 9: SQL only behind repositories under store/), same test bodies on SQLite and PostgreSQL:
 * web sessions (round trip, touch, ending a subject's sessions, sweeping), admins and their API
 * sessions, admins' TOTP factors (a confirmed factor is never replaced; a step is claimed once, even
 * by 20 concurrent claims), the audit readers (filters, offset and keyset pages, a user's events,
 * chart rows), agents and registration tokens (a token is consumed once, even by 20 concurrent
 * registrations), settings documents and directory users (lookup keys, LIKE escaping, sync writes).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { claimAdminTotpStep, deleteAdminTotp, getAdminTotp, putUnconfirmedAdminTotp } from '../src/store/admin-totp.js';
import {
  adminExistsInTenant,
  adminLoginsOfTenant,
  getAdminById,
  getAdminByLogin,
  getAdminSession,
  insertAdmin,
  insertAdminSession,
  revokeAdminSession,
  revokeAdminSessions,
  type Admin,
} from '../src/store/admins.js';
import {
  consumeAgentToken,
  expireAgentToken,
  getAgentToken,
  insertAgentToken,
  listOpenAgentTokens,
} from '../src/store/agent-tokens.js';
import {
  getAgent,
  insertAgent,
  isLiveAgent,
  listTenantAgents,
  revokeAgent,
  touchAgent,
  type RegisteredAgent,
} from '../src/store/agents.js';
import {
  chartRows,
  distinctActions,
  getRecordByRequestId,
  insertPendingRecord,
  listRecordsAfter,
  markRecordDone,
  pageRecords,
  recordsForTargets,
  type AuditRecord,
} from '../src/store/audit.js';
import {
  countLiveUsers,
  findUsersByKey,
  getCloudHash,
  getUserByAnchor,
  insertCloudUser,
  insertSyncedUser,
  listUsers,
  liveAnchors,
  markDeleted,
  setCloudHash,
  setUserFlags,
  syncedUsersByAnchor,
  updateSyncedUser,
  type SyncedUserValues,
} from '../src/store/directory-users.js';
import { pingStore } from '../src/store/health.js';
import { getSettingsDocument, putSettingsDocument } from '../src/store/tenants.js';
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
import { cloudErrorCode, describeOnEveryStore } from './helpers.js';

const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
let seq = 0;
const nextId = (prefix: string): string => {
  seq += 1;
  return `${prefix}-${String(seq).padStart(8, '0')}`;
};

function newAdmin(tenantId: string, over: Partial<Admin> = {}): Admin {
  const id = nextId('adm');
  return { id, tenantId, login: `login-${id}`, role: 'admin', createdAt: T0, ...over };
}

function newAgent(
  tenantId: string,
  over: Partial<RegisteredAgent> = {},
): Omit<RegisteredAgent, 'revokedAt' | 'lastSeenAt'> {
  const id = nextId('a');
  return {
    id,
    tenantId,
    name: `agent ${id}`,
    signingKey: `sig-${id}`,
    encryptionKey: `enc-${id}`,
    directory: 'embedded',
    version: '1.0.0',
    registeredAt: T0,
    ...over,
  };
}

function synced(login: string, over: Partial<SyncedUserValues> = {}): SyncedUserValues {
  return {
    login,
    upn: null,
    mail: null,
    displayName: null,
    mobile: null,
    dn: `cn=${login}`,
    enabled: true,
    locked: false,
    mustChange: false,
    protected: false,
    passwordLastSetAt: '2030-01-01T00:00:00.000Z',
    groupsJson: '[]',
    ...over,
  };
}

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

describeOnEveryStore('repositories', (store) => {
  let tenantId: string;
  let otherTenantId: string;
  before(async () => {
    tenantId = (await createTenant(store.db, { slug: `acme-${store.engine}`, name: 'Acme' }, T0)).id;
    otherTenantId = (await createTenant(store.db, { slug: `other-${store.engine}`, name: 'Other' }, T0)).id;
  });

  describe('web sessions', () => {
    test('a session reads back as written, with its secret hash; data and last seen update', async () => {
      const s = newSession(tenantId, { kind: 'admin', data: { stage: 'mfa', pwAt: T0 } });
      await insertWebSession(store.db, s, 'hash-1');
      assert.deepEqual(await getWebSession(store.db, s.id), { session: s, secretHash: 'hash-1' });
      assert.equal(await getWebSession(store.db, 'f'.repeat(24)), undefined);
      await touchWebSession(store.db, s.id, T0 + 60_000);
      await updateSessionData(store.db, s.id, { stage: 'ok', pwAt: T0 });
      assert.deepEqual(await getWebSession(store.db, s.id), {
        session: { ...s, lastSeenAt: T0 + 60_000, data: { stage: 'ok', pwAt: T0 } },
        secretHash: 'hash-1',
      });
      await deleteWebSession(store.db, s.id);
      assert.equal(await getWebSession(store.db, s.id), undefined);
    });

    test("ending a subject's sessions touches only that tenant, kind and subject", async () => {
      const mine = [newSession(tenantId, { subjectId: 'u-bob' }), newSession(tenantId, { subjectId: 'u-bob' })];
      const keep = [
        newSession(tenantId, { subjectId: 'u-carol' }),
        newSession(tenantId, { subjectId: 'u-bob', kind: 'admin' }),
        newSession(otherTenantId, { subjectId: 'u-bob' }),
      ];
      for (const s of [...mine, ...keep]) await insertWebSession(store.db, s, 'h');
      assert.equal(await deleteSubjectSessions(store.db, tenantId, 'user', 'u-bob'), 2);
      assert.equal(await deleteSubjectSessions(store.db, tenantId, 'user', 'u-bob'), 0);
      for (const s of mine) assert.equal(await getWebSession(store.db, s.id), undefined);
      for (const s of keep) assert.equal((await getWebSession(store.db, s.id))?.session.id, s.id);
    });

    test('several subjects end in one statement, all but the session named as kept', async () => {
      const byId = newSession(tenantId, { subjectId: 'u-dan' });
      const byLogin = newSession(tenantId, { subjectId: 'dan' });
      const current = newSession(tenantId, { subjectId: 'u-dan' });
      const other = newSession(tenantId, { subjectId: 'u-erin' });
      for (const s of [byId, byLogin, current, other]) await insertWebSession(store.db, s, 'h');
      assert.equal(await deleteSubjectSessions(store.db, tenantId, 'user', ['u-dan', 'dan', 'dan'], current.id), 2);
      for (const s of [byId, byLogin]) assert.equal(await getWebSession(store.db, s.id), undefined);
      for (const s of [current, other]) assert.equal((await getWebSession(store.db, s.id))?.session.id, s.id);
    });

    test('the sweep removes sessions past their absolute end or idle since the cut-off, and no others', async () => {
      const ended = newSession(tenantId, { expiresAt: T0 + 1000 });
      const idle = newSession(tenantId, { lastSeenAt: T0 - 20 * 60_000 });
      const live = newSession(tenantId, { lastSeenAt: T0 + 500 });
      for (const s of [ended, idle, live]) await insertWebSession(store.db, s, 'h');
      const removed = await deleteExpiredWebSessions(store.db, T0 + 1000, T0 - 15 * 60_000);
      assert.equal(removed, 2);
      assert.equal(await getWebSession(store.db, ended.id), undefined);
      assert.equal(await getWebSession(store.db, idle.id), undefined);
      assert.equal((await getWebSession(store.db, live.id))?.session.id, live.id);
    });

    test('stored data that is not a JSON object reads as empty', async () => {
      const s = newSession(tenantId);
      await insertWebSession(store.db, s, 'h');
      await updateSessionData(store.db, s.id, {});
      await store.db.exec('UPDATE web_sessions SET data = ? WHERE id = ?', ['[1, 2]', s.id]);
      assert.deepEqual((await getWebSession(store.db, s.id))?.session.data, {});
    });
  });

  test('the store answers a ping', async () => {
    await pingStore(store.db);
  });

  describe('admins and their API sessions', () => {
    test('an account reads back by login and id with its hash; a taken login is a conflict', async () => {
      const a = newAdmin(tenantId, { role: 'helpdesk' });
      await insertAdmin(store.db, a, 'scrypt$hash');
      const stored = { admin: a, passwordHash: 'scrypt$hash', disabled: false };
      assert.deepEqual(await getAdminByLogin(store.db, tenantId, a.login), stored);
      assert.deepEqual(await getAdminById(store.db, a.id), stored);
      assert.equal(await getAdminByLogin(store.db, otherTenantId, a.login), undefined);
      assert.equal(
        await cloudErrorCode(insertAdmin(store.db, newAdmin(tenantId, { login: a.login }), 'h')),
        'conflict',
      );
      // The same login in another tenant is another account.
      await insertAdmin(store.db, newAdmin(otherTenantId, { login: a.login }), 'h');
      assert.equal(await adminExistsInTenant(store.db, tenantId, a.id), true);
      assert.equal(await adminExistsInTenant(store.db, otherTenantId, a.id), false);
      assert.equal((await adminLoginsOfTenant(store.db, tenantId)).get(a.id), a.login);
      assert.equal((await adminLoginsOfTenant(store.db, otherTenantId)).has(a.id), false);
      await store.db.exec('UPDATE admins SET disabled_at = ? WHERE id = ?', [T0, a.id]);
      assert.equal((await getAdminById(store.db, a.id))?.disabled, true);
    });

    test("a session reads back with its account; revoking keeps the first time and ends all of an admin's", async () => {
      const a = newAdmin(tenantId);
      await insertAdmin(store.db, a, 'h');
      const ids = [nextId('s'), nextId('s'), nextId('s')];
      for (const id of ids)
        await insertAdminSession(store.db, {
          id,
          tenantId,
          adminId: a.id,
          secretHash: `hash-${id}`,
          createdAt: T0,
          expiresAt: T0 + 3_600_000,
        });
      const [first, second, third] = ids as [string, string, string];
      assert.deepEqual(await getAdminSession(store.db, first), {
        id: first,
        secretHash: `hash-${first}`,
        expiresAt: T0 + 3_600_000,
        revokedAt: null,
        admin: a,
        adminDisabled: false,
      });
      assert.equal(await getAdminSession(store.db, 'nope'), undefined);
      await revokeAdminSession(store.db, first, T0 + 1);
      await revokeAdminSession(store.db, first, T0 + 2);
      assert.equal((await getAdminSession(store.db, first))?.revokedAt, T0 + 1);
      assert.equal(await revokeAdminSessions(store.db, a.id, T0 + 3), 2);
      assert.equal(await revokeAdminSessions(store.db, a.id, T0 + 4), 0);
      assert.equal((await getAdminSession(store.db, second))?.revokedAt, T0 + 3);
      assert.equal((await getAdminSession(store.db, third))?.revokedAt, T0 + 3);
    });
  });

  describe("admins' TOTP factors", () => {
    test('enrolment replaces an unconfirmed key, never a confirmed one; each step is claimed once', async () => {
      const a = newAdmin(tenantId);
      await insertAdmin(store.db, a, 'h');
      assert.equal(await getAdminTotp(store.db, a.id), null);
      assert.equal(await putUnconfirmedAdminTotp(store.db, a, 'sealed-1', T0), true);
      assert.equal(await putUnconfirmedAdminTotp(store.db, a, 'sealed-2', T0), true);
      assert.deepEqual(await getAdminTotp(store.db, a.id), {
        adminId: a.id,
        sealed: 'sealed-2',
        confirmed: false,
        lastStep: null,
      });
      // A claim for a key replaced meanwhile does not count.
      assert.equal(await claimAdminTotpStep(store.db, a.id, 'sealed-1', 100, T0), false);
      assert.equal(await claimAdminTotpStep(store.db, a.id, 'sealed-2', 100, T0), true);
      assert.deepEqual(await getAdminTotp(store.db, a.id), {
        adminId: a.id,
        sealed: 'sealed-2',
        confirmed: true,
        lastStep: 100,
      });
      assert.equal(await putUnconfirmedAdminTotp(store.db, a, 'sealed-3', T0), false);
      assert.equal((await getAdminTotp(store.db, a.id))?.sealed, 'sealed-2');
      assert.equal(await claimAdminTotpStep(store.db, a.id, 'sealed-2', 100, T0), false);
      assert.equal(await claimAdminTotpStep(store.db, a.id, 'sealed-2', 99, T0), false);
      const wins = await Promise.all(
        Array.from({ length: 20 }, () => claimAdminTotpStep(store.db, a.id, 'sealed-2', 101, T0)),
      );
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal(await deleteAdminTotp(store.db, a.id), true);
      assert.equal(await deleteAdminTotp(store.db, a.id), false);
      assert.equal(await getAdminTotp(store.db, a.id), null);
    });
  });

  describe('audit readers', () => {
    // One tenant of its own, so counts are exact.
    let auditTenant: string;
    const records: AuditRecord[] = [];
    before(async () => {
      auditTenant = (await createTenant(store.db, { slug: `audit-${store.engine}`, name: 'Audit' }, T0)).id;
      const rows: [string, string, string | null, number][] = [
        ['password.reset', 'Alice', 'succeeded', T0],
        ['password.reset', 'bob', 'policy_violation', T0 + 1000],
        ['account.unlock', 'alice@acme.test', 'succeeded', T0 + 2000],
        ['password.change', 'carol', null, T0 + 3000],
        ['password.reset', 'ALICE', 'timeout', T0 + 3000],
      ];
      for (const [action, target, outcome, at] of rows) {
        const id = nextId('aud');
        const requestId = `req-${id}`;
        await insertPendingRecord(store.db, {
          id,
          tenantId: auditTenant,
          requestId,
          actor: { kind: 'admin', id: 'adm-1' },
          action,
          targetUser: target,
          clientIp: '192.0.2.1',
          startedAt: at,
          deadlineAt: at + 30_000,
        });
        if (outcome === 'succeeded' || outcome === 'policy_violation' || outcome === 'timeout')
          assert.equal(
            await markRecordDone(store.db, requestId, {
              outcome,
              reasons: outcome === 'policy_violation' ? ['too_short'] : null,
              detail: null,
              agentId: 'a-1',
              latencyMs: 12,
              finishedAt: at + 12,
            }),
            true,
          );
        const r = await getRecordByRequestId(store.db, requestId);
        assert.ok(r);
        records.push(r);
      }
      // Another tenant's record never shows.
      await insertPendingRecord(store.db, {
        id: nextId('aud'),
        tenantId: otherTenantId,
        requestId: nextId('req'),
        actor: { kind: 'system', id: 'sync' },
        action: 'password.reset',
        targetUser: 'alice',
        clientIp: null,
        startedAt: T0,
        deadlineAt: T0 + 1,
      });
    });

    test('a finished record reads back whole, and finishing twice does nothing', async () => {
      const r = records[1];
      assert.ok(r);
      assert.equal(r.state, 'done');
      assert.equal(r.outcome, 'policy_violation');
      assert.deepEqual(r.reasons, ['too_short']);
      assert.deepEqual(r.actor, { kind: 'admin', id: 'adm-1' });
      assert.equal(r.latencyMs, 12);
      const again = {
        outcome: 'succeeded',
        reasons: null,
        detail: null,
        agentId: null,
        latencyMs: 1,
        finishedAt: T0,
      } as const;
      assert.equal(await markRecordDone(store.db, r.requestId, again), false);
      assert.deepEqual(await getRecordByRequestId(store.db, r.requestId), r);
    });

    test('offset pages are newest first, filtered, with the total of all matches', async () => {
      const all = await pageRecords(store.db, auditTenant, {}, { limit: 2, offset: 0 });
      assert.equal(all.total, 5);
      // Same start time: the larger id first.
      assert.deepEqual(
        all.rows.map((r) => r.id),
        [records[4]?.id, records[3]?.id],
      );
      const next = await pageRecords(store.db, auditTenant, {}, { limit: 10, offset: 2 });
      assert.deepEqual(
        next.rows.map((r) => r.id),
        [records[2]?.id, records[1]?.id, records[0]?.id],
      );
      const resets = await pageRecords(store.db, auditTenant, { action: 'password.reset' }, { limit: 10, offset: 0 });
      assert.equal(resets.total, 3);
      const alice = await pageRecords(store.db, auditTenant, { user: 'alice' }, { limit: 10, offset: 0 });
      assert.deepEqual(
        alice.rows.map((r) => r.targetUser),
        ['ALICE', 'Alice'],
      );
      const pending = await pageRecords(store.db, auditTenant, { outcome: 'pending' }, { limit: 10, offset: 0 });
      assert.deepEqual(
        pending.rows.map((r) => r.targetUser),
        ['carol'],
      );
      const window = await pageRecords(
        store.db,
        auditTenant,
        { from: T0 + 1000, to: T0 + 3000 },
        { limit: 10, offset: 0 },
      );
      assert.deepEqual(
        window.rows.map((r) => r.targetUser),
        ['alice@acme.test', 'bob'],
      );
      const ok = await pageRecords(store.db, auditTenant, { outcome: 'succeeded' }, { limit: 10, offset: 0 });
      assert.equal(ok.total, 2);
    });

    test('keyset pages go on strictly after the last record, ties broken by id', async () => {
      const first = await listRecordsAfter(store.db, auditTenant, {}, 2);
      assert.deepEqual(
        first.map((r) => r.id),
        [records[4]?.id, records[3]?.id],
      );
      const last = first[1];
      assert.ok(last);
      const rest = await listRecordsAfter(store.db, auditTenant, {}, 10, { startedAt: last.startedAt, id: last.id });
      assert.deepEqual(
        rest.map((r) => r.id),
        [records[2]?.id, records[1]?.id, records[0]?.id],
      );
      const afterFirst = await listRecordsAfter(store.db, auditTenant, {}, 10, {
        startedAt: first[0]?.startedAt ?? 0,
        id: first[0]?.id ?? '',
      });
      assert.equal(afterFirst[0]?.id, records[3]?.id);
    });

    test("a user's events match any of their names, case-insensitively; actions and chart rows", async () => {
      const mine = await recordsForTargets(store.db, auditTenant, ['alice', 'Alice@Acme.test', ''], 10);
      assert.deepEqual(
        mine.map((r) => r.id),
        [records[4]?.id, records[2]?.id, records[0]?.id],
      );
      assert.deepEqual(await recordsForTargets(store.db, auditTenant, [''], 10), []);
      assert.equal((await recordsForTargets(store.db, auditTenant, ['alice'], 1)).length, 1);
      assert.deepEqual(await distinctActions(store.db, auditTenant), [
        'account.unlock',
        'password.change',
        'password.reset',
      ]);
      const points = await chartRows(store.db, auditTenant, { action: 'password.reset' }, 2);
      assert.deepEqual(points, [
        { startedAt: T0 + 3000, action: 'password.reset', outcome: 'timeout' },
        { startedAt: T0 + 1000, action: 'password.reset', outcome: 'policy_violation' },
      ]);
    });
  });

  describe('agents and registration tokens', () => {
    test('an agent reads back; a signing key registered twice is a conflict; listing, revoking, touching', async () => {
      const a = newAgent(tenantId, { registeredAt: T0 + 10 });
      const b = newAgent(tenantId, { registeredAt: T0 });
      await insertAgent(store.db, a);
      await insertAgent(store.db, b);
      assert.deepEqual(await getAgent(store.db, a.id), { ...a, revokedAt: null, lastSeenAt: null });
      assert.equal(await getAgent(store.db, 'nope'), undefined);
      assert.equal(
        await cloudErrorCode(insertAgent(store.db, newAgent(otherTenantId, { signingKey: a.signingKey }))),
        'conflict',
      );
      const ids = (await listTenantAgents(store.db, tenantId)).map((x) => x.id);
      assert.deepEqual(
        ids.filter((id) => id === a.id || id === b.id),
        [b.id, a.id],
      );
      assert.equal(await isLiveAgent(store.db, a.id, tenantId), true);
      assert.equal(await isLiveAgent(store.db, a.id, otherTenantId), false);
      assert.equal(await revokeAgent(store.db, otherTenantId, a.id, T0), false);
      assert.equal(await revokeAgent(store.db, tenantId, a.id, T0 + 20), true);
      assert.equal(await revokeAgent(store.db, tenantId, a.id, T0 + 30), false);
      assert.equal(await isLiveAgent(store.db, a.id, tenantId), false);
      assert.equal((await getAgent(store.db, a.id))?.revokedAt, T0 + 20);
      assert.ok(!(await listTenantAgents(store.db, tenantId)).some((x) => x.id === a.id));
      assert.ok((await listTenantAgents(store.db, tenantId, { includeRevoked: true })).some((x) => x.id === a.id));
      await touchAgent(store.db, b.id, T0 + 100, '1.1.0');
      // An older sighting arriving late changes nothing.
      await touchAgent(store.db, b.id, T0 + 50, '1.0.9');
      const seen = await getAgent(store.db, b.id);
      assert.equal(seen?.lastSeenAt, T0 + 100);
      assert.equal(seen?.version, '1.1.0');
    });

    test('a token is consumed once, even by 20 concurrent registrations; open tokens list and expire', async () => {
      const tok = {
        id: nextId('tok'),
        tenantId,
        secretHash: 'h',
        createdAt: T0,
        expiresAt: T0 + 3_600_000,
        createdBy: 'admin:adm-1',
      };
      const later = { ...tok, id: nextId('tok'), createdAt: T0 + 5 };
      await insertAgentToken(store.db, tok);
      await insertAgentToken(store.db, later);
      assert.deepEqual(await getAgentToken(store.db, tok.id), { ...tok, usedAt: null });
      assert.deepEqual(
        (await listOpenAgentTokens(store.db, tenantId, T0 + 10)).map((k) => k.id),
        [later.id, tok.id],
      );
      assert.deepEqual(await listOpenAgentTokens(store.db, otherTenantId, T0 + 10), []);
      const wins = await Promise.all(
        Array.from({ length: 20 }, (_, i) => consumeAgentToken(store.db, tok.id, `a-${i}`, T0 + 20)),
      );
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal((await getAgentToken(store.db, tok.id))?.usedAt, T0 + 20);
      assert.deepEqual(
        (await listOpenAgentTokens(store.db, tenantId, T0 + 30)).map((k) => k.id),
        [later.id],
      );
      assert.equal(await expireAgentToken(store.db, tenantId, tok.id, T0 + 30), false);
      assert.equal(await expireAgentToken(store.db, otherTenantId, later.id, T0 + 30), false);
      assert.equal(await expireAgentToken(store.db, tenantId, later.id, T0 + 30), true);
      assert.equal(await expireAgentToken(store.db, tenantId, later.id, T0 + 40), false);
      assert.deepEqual(await listOpenAgentTokens(store.db, tenantId, T0 + 30), []);
      assert.equal(await consumeAgentToken(store.db, 'nope', 'a-x', T0), false);
    });
  });

  test('a settings document is inserted, then replaced', async () => {
    assert.equal(await getSettingsDocument(store.db, tenantId), null);
    await putSettingsDocument(store.db, tenantId, '{"a":1}', T0);
    await store.db.tx((t) => putSettingsDocument(t, tenantId, '{"a":2}', T0 + 1));
    assert.equal(await getSettingsDocument(store.db, tenantId), '{"a":2}');
    assert.equal(await getSettingsDocument(store.db, otherTenantId), null);
  });

  describe('directory users', () => {
    test('synced users: found by any lookup key, compared, updated, deleted and undeleted', async () => {
      await insertSyncedUser(
        store.db,
        tenantId,
        'u-dave',
        'anchor-dave',
        synced('Dave', { upn: 'Dave@Acme.test', mail: 'dave@mail.test', groupsJson: '["staff"]' }),
        T0,
      );
      await insertSyncedUser(
        store.db,
        tenantId,
        'u-erin',
        'anchor-erin',
        synced('erin', { mail: 'DAVE@mail.test' }),
        T0,
      );
      for (const key of ['dave', 'dave@acme.test'])
        assert.deepEqual(
          (await findUsersByKey(store.db, tenantId, key)).map((u) => u.id),
          ['u-dave'],
        );
      assert.deepEqual((await findUsersByKey(store.db, tenantId, 'dave@mail.test')).map((u) => u.id).sort(), [
        'u-dave',
        'u-erin',
      ]);
      assert.deepEqual(await findUsersByKey(store.db, otherTenantId, 'dave'), []);
      const dave = await getUserByAnchor(store.db, tenantId, 'anchor-dave');
      assert.equal(dave?.login, 'Dave');
      assert.deepEqual(dave?.groups, ['staff']);
      const rows = await syncedUsersByAnchor(store.db, tenantId, ['anchor-dave', 'anchor-none']);
      assert.deepEqual([...rows.keys()], ['anchor-dave']);
      assert.equal(rows.get('anchor-dave')?.groupsJson, '["staff"]');
      assert.equal(rows.get('anchor-dave')?.enabled, true);

      await setCloudHash(store.db, tenantId, 'u-dave', 'scrypt$x', '2030-01-02T00:00:00.000Z', T0);
      assert.deepEqual(await getCloudHash(store.db, tenantId, 'u-dave'), {
        hash: 'scrypt$x',
        hashSetAt: '2030-01-02T00:00:00.000Z',
        passwordLastSetAt: '2030-01-01T00:00:00.000Z',
      });
      await updateSyncedUser(store.db, 'u-dave', synced('dave2', { locked: true }), { dropCloudHash: false }, T0 + 1);
      assert.equal((await getCloudHash(store.db, tenantId, 'u-dave'))?.hash, 'scrypt$x');
      assert.deepEqual(
        (await findUsersByKey(store.db, tenantId, 'dave2')).map((u) => [u.id, u.locked]),
        [['u-dave', true]],
      );
      await updateSyncedUser(store.db, 'u-dave', synced('dave2'), { dropCloudHash: true }, T0 + 2);
      assert.equal((await getCloudHash(store.db, tenantId, 'u-dave'))?.hash, null);

      const before = await countLiveUsers(store.db, tenantId);
      assert.ok((await liveAnchors(store.db, tenantId)).has('anchor-dave'));
      assert.equal(await markDeleted(store.db, tenantId, ['anchor-dave', 'anchor-none'], T0 + 3), 1);
      assert.equal(await markDeleted(store.db, tenantId, ['anchor-dave'], T0 + 4), 0);
      assert.equal(await countLiveUsers(store.db, tenantId), before - 1);
      assert.ok(!(await liveAnchors(store.db, tenantId)).has('anchor-dave'));
      assert.deepEqual(await findUsersByKey(store.db, tenantId, 'dave2'), []);
      assert.equal(await getCloudHash(store.db, tenantId, 'u-dave'), null);
      assert.equal(
        (await syncedUsersByAnchor(store.db, tenantId, ['anchor-dave'])).get('anchor-dave')?.deletedAt,
        T0 + 3,
      );
      await updateSyncedUser(store.db, 'u-dave', synced('dave3'), { dropCloudHash: false }, T0 + 5);
      assert.equal((await getUserByAnchor(store.db, tenantId, 'anchor-dave'))?.deletedAt, null);
    });

    test('cloud users, flags, and listing with search (LIKE wildcards match literally), filters and paging', async () => {
      const t = (await createTenant(store.db, { slug: `users-${store.engine}`, name: 'Users' }, T0)).id;
      await insertCloudUser(store.db, t, 'u-c1', { login: 'Zed_1', mail: 'Zed@Cloud.test', passwordHash: 'h1' }, T0);
      await insertCloudUser(store.db, t, 'u-c2', { login: 'zedx1', displayName: 'Zed Other', passwordHash: 'h2' }, T0);
      await insertSyncedUser(store.db, t, 'u-s1', 'anc-1', synced('amy', { displayName: '100% Amy' }), T0);
      assert.equal(await countLiveUsers(store.db, t, 'cloud'), 2);
      assert.equal(await countLiveUsers(store.db, t), 1);
      assert.equal((await getCloudHash(store.db, t, 'u-c1'))?.hash, 'h1');
      const page = await listUsers(store.db, t, { limit: 10, offset: 0 });
      assert.equal(page.total, 3);
      assert.deepEqual(
        page.users.map((u) => u.id),
        ['u-s1', 'u-c1', 'u-c2'],
      );
      // `_` is a literal underscore, not "any character": zedx1 does not match `zed_`.
      assert.deepEqual(
        (await listUsers(store.db, t, { search: 'ZED_', limit: 10, offset: 0 })).users.map((u) => u.id),
        ['u-c1'],
      );
      assert.deepEqual(
        (await listUsers(store.db, t, { search: '100%', limit: 10, offset: 0 })).users.map((u) => u.id),
        ['u-s1'],
      );
      assert.deepEqual(
        (await listUsers(store.db, t, { search: 'zed@', limit: 10, offset: 0 })).users.map((u) => u.id),
        ['u-c1'],
      );
      assert.equal((await listUsers(store.db, t, { source: 'cloud', limit: 1, offset: 1 })).users[0]?.id, 'u-c2');
      await setUserFlags(store.db, t, 'u-c2', { locked: true, mustChange: true }, T0 + 1);
      await setUserFlags(store.db, t, 'u-c2', {}, T0 + 2);
      const locked = await listUsers(store.db, t, { locked: true, limit: 10, offset: 0 });
      assert.deepEqual(
        locked.users.map((u) => [u.id, u.mustChange, u.updatedAt]),
        [['u-c2', true, T0 + 1]],
      );
      assert.equal((await listUsers(store.db, t, { mustChange: false, limit: 10, offset: 0 })).total, 2);
    });
  });
});
