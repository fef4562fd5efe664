/**
 * No password (nor any token secret) in the log or the store, on both engines: run every flow that
 * carries one, capture every log line at debug level, then scan the SQLite files' bytes or every
 * PostgreSQL row for the test's secrets.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { createLogger } from '@writeback/protocol';
import { withDefaultUser } from '../src/store/postgres.js';
import {
  adminApiSession,
  api,
  captureLogs,
  ENGINES,
  FakeRelay,
  PG_URL,
  respond,
  startCloud,
  str,
  tenantWithAgent,
  effectivePolicy,
} from './helpers.js';

const ADMIN_PASSWORD = 'Admin-Secret-Passphrase-1';
const GIVEN = 'Given-Reset-Secret-22';
const CURRENT = 'Current-Secret-33';
const NEW = 'Brand-New-Secret-44';
const WEAK = 'weak-secret-5';

async function pgDump(schema: string): Promise<string> {
  const c = new pg.Client({ connectionString: withDefaultUser(PG_URL) });
  await c.connect();
  try {
    const tables = await c.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    let out = '';
    for (const { table_name } of tables.rows)
      out += JSON.stringify((await c.query(`SELECT * FROM "${schema}"."${table_name}"`)).rows);
    return out;
  } finally {
    await c.end();
  }
}

for (const engine of ENGINES) {
  test(`no secret reaches the log or the ${engine} store`, async () => {
    const cap = captureLogs();
    const relay = new FakeRelay();
    const s = await startCloud({
      engine,
      deps: { relayClient: relay, log: createLogger({ name: 'cloud', level: 'debug' }) },
    });
    const secrets: string[] = [ADMIN_PASSWORD, GIVEN, CURRENT, NEW, WEAK, s.operatorKey.split('.')[1] ?? 'x'];
    try {
      const base = s.cloud.url;
      const { apiKey, agent } = await tenantWithAgent(s, relay);
      secrets.push(apiKey.split('.')[1] ?? 'x');
      relay.connect(agent, respond());
      agent.script = (req) => {
        if (req.op === 'policy.get')
          return {
            outcome: 'succeeded',
            policy: effectivePolicy({
              source: 'embedded',
              historyLength: 5,
              minAgeSeconds: 0,
              lockoutThreshold: 0,
              lockoutDurationSeconds: 0,
            }),
          };
        if (req.op === 'password.change') {
          if (req.secret.newPassword === WEAK) return { outcome: 'policy_violation', reasons: ['too_short'] };
          return req.secret.currentPassword === CURRENT
            ? { outcome: 'succeeded' }
            : { outcome: 'wrong_current_password' };
        }
        return { outcome: 'succeeded' };
      };

      const admin = await api(base, 'POST', '/api/v1/tenants/acme/admins', {
        token: s.operatorKey,
        body: { login: 'boss', password: ADMIN_PASSWORD },
      });
      assert.equal(admin.status, 201);
      // The API enrols the admin's authenticator first (issue 10): its key is a secret too.
      const session = await adminApiSession(base, { tenant: 'acme', login: 'boss', password: ADMIN_PASSWORD });
      const sessionToken = session.token;
      secrets.push(sessionToken.split('.')[1] ?? 'x', session.secret);
      assert.equal(
        (
          await api(base, 'POST', '/api/v1/tenants/acme/admin/sessions', {
            body: { login: 'boss', password: `${ADMIN_PASSWORD}-wrong` },
          })
        ).status,
        401,
      );

      assert.equal(
        (
          await api(base, 'POST', '/api/v1/tenants/acme/users/alice/password/reset', {
            token: sessionToken,
            body: { newPassword: GIVEN },
          })
        ).status,
        200,
      );
      const gen = await api(base, 'POST', '/api/v1/tenants/acme/users/bob/password/reset', { token: apiKey });
      assert.equal(gen.status, 200);
      secrets.push(str(gen.json, 'temporaryPassword'));
      // The public change, in this order: succeeds, wrong current password, too weak, malformed.
      for (const [body, status] of [
        [{ username: 'carol', currentPassword: CURRENT, newPassword: NEW }, 200],
        [{ username: 'carol', currentPassword: NEW, newPassword: CURRENT }, 403],
        [{ username: 'carol', currentPassword: CURRENT, newPassword: WEAK }, 422],
        [{ username: 42, currentPassword: CURRENT, newPassword: NEW }, 400],
      ] as const)
        assert.equal((await api(base, 'POST', '/api/v1/tenants/acme/password/change', { body })).status, status);
      const tok = await api(base, 'POST', '/api/v1/tenants/acme/agent-tokens', { token: apiKey });
      secrets.push(str(tok.json, 'token').split('.')[1] ?? 'x');
      const audit = await api(base, 'GET', '/api/v1/tenants/acme/audit?limit=500', { token: apiKey });
      for (const secret of secrets) assert.ok(!audit.text.includes(secret), 'audit API');
    } finally {
      await s.cloud.close();
      cap.stop();
    }
    try {
      assert.ok(cap.lines.length > 10, 'the run logged');
      const log = cap.lines.join('\n');
      for (const secret of secrets)
        assert.ok(!log.includes(secret), `log contains a secret (${secrets.indexOf(secret)})`);
      let stored: string;
      if (engine === 'sqlite') {
        const dir = dirname(s.store.file ?? '');
        stored = readdirSync(dir)
          .map((f) => readFileSync(join(dir, f)).toString('latin1'))
          .join('\n');
        assert.ok(stored.includes('password.reset'), 'the scan reads the real database');
      } else {
        stored = await pgDump(s.store.schema ?? '');
        assert.ok(stored.includes('password.reset'), 'the scan reads the real rows');
      }
      for (const secret of secrets)
        assert.ok(!stored.includes(secret), `store contains a secret (${secrets.indexOf(secret)})`);
    } finally {
      await s.store.drop();
    }
  });
}
