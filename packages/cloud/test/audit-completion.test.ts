/**
 * The audit must not contradict the caller (issue 11, item 5): when completing the record fails
 * after the agent's success, the caller is told `succeeded`, and the record used to stay pending
 * until the sweep closed it `outcome_unknown` with no agent. Now the completion is held (outbox
 * file + background retries): the record ends `succeeded` with the agent's id, the sweep leaves it
 * alone meanwhile, a restart writes what the outbox holds, and another node's sweep is corrected.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { RunningAgent } from '@writeback/agent';
import type { EmbeddedDirectory } from '@writeback/directory';
import { createLogger, type OperationRequest } from '@writeback/protocol';
import {
  Clock,
  PG_URL,
  startCloud,
  startAcmeWithAgent,
  TEST_POLICY,
  waitFor,
  type StartedCloud,
} from '@writeback/testkit';
import { getAuditByRequestId, sweepPending } from '../src/audit/audit.js';
import { CloudError } from '../src/errors.js';
import { loadOrCreateCloudKey } from '../src/keys/cloud-key.js';
import { openStore, type Db } from '../src/store/index.js';
import { withDefaultUser } from '../src/store/postgres.js';
import { createTenant } from '../src/tenants/tenants.js';
import { createWritebackService } from '../src/writeback/service.js';
import { FakeRelay, registerInStore, respond, type TestAgent } from './helpers.js';

const reset: OperationRequest = {
  op: 'password.reset',
  params: { user: { by: 'login', value: 'alice' }, forceChange: false, unlock: false, enforceHistory: true },
  secret: { newPassword: 'N3w-Secret-Value!42' },
};
const actor = { kind: 'api_key' as const, id: 'k-test' };

/** The store, except that completing a record fails while `failing` (as a store that went away would). */
function flaky(db: Db) {
  const s = { failing: true, refused: 0 };
  const completes = /^\s*UPDATE audit SET state = 'done', outcome = \?/;
  const wrap = (inner: Db): Db => ({
    engine: inner.engine,
    query: (sql, params) => inner.query(sql, params),
    one: (sql, params) => inner.one(sql, params),
    async exec(sql, params) {
      if (s.failing && completes.test(sql)) {
        s.refused += 1;
        throw new CloudError('store_unavailable', 'the database is unavailable');
      }
      return inner.exec(sql, params);
    },
    tx: (fn) => inner.tx((t) => fn(wrap(t))),
    close: () => inner.close(),
  });
  return Object.assign(s, { db: wrap(db) });
}

describe('held audit completions (writeback service, real store and agent keys)', () => {
  const clock = new Clock();
  let db: Db;
  let relay: FakeRelay;
  let tenantId: string;
  let agent: TestAgent;
  let dir: string;
  const lines: string[] = [];
  const log = createLogger({ name: 'test', level: 'debug', sink: (l) => lines.push(l) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wb-outbox-'));
    db = await openStore({ url: 'sqlite::memory:' });
    const cloudKey = await loadOrCreateCloudKey(db, Buffer.alloc(32, 1), clock.now());
    relay = new FakeRelay();
    tenantId = (await createTenant(db, { slug: 'acme', name: 'Acme' }, clock.now())).id;
    agent = await registerInStore(db, cloudKey, { tenantId, name: 'a1', now: clock.now() });
    relay.connect(agent, respond({ now: clock.now }));
    service = (store: Db, outboxFile: string | null) =>
      createWritebackService({
        db: store,
        relay,
        cloudKey,
        deadlineMs: 5_000,
        now: clock.now,
        log,
        relayGraceMs: 100,
        pendingGraceMs: 1_000,
        outboxFile,
        completionRetry: { firstMs: 5, maxMs: 20 },
      });
  });
  after(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let service: (store: Db, outboxFile: string | null) => ReturnType<typeof createWritebackService>;
  const outbox = () => join(dir, `outbox-${randomBytes(4).toString('hex')}.jsonl`);

  test('finishing fails after the success: the sweep leaves the record alone, it ends succeeded with the agent', async () => {
    const store = flaky(db);
    const file = outbox();
    const svc = service(store.db, file);
    try {
      const r = await svc.executeOperation({ tenantId, request: reset, actor });
      assert.equal(r.result.outcome, 'succeeded', 'the caller is told succeeded');
      assert.equal(r.agentId, agent.agentId);
      assert.ok(store.refused >= 1);
      assert.equal((await getAuditByRequestId(db, r.requestId))?.state, 'pending');
      assert.match(readFileSync(file, 'utf8'), new RegExp(`"kind":"held","requestId":"${r.requestId}"`));
      // Past deadline and grace while the completion is still held: this process's sweep skips it.
      clock.advance(5_000 + 1_001);
      assert.equal(await svc.sweepPending(), 0);
      assert.equal((await getAuditByRequestId(db, r.requestId))?.state, 'pending');
      store.failing = false;
      await svc.auditSettled();
      const rec = await getAuditByRequestId(db, r.requestId);
      assert.equal(rec?.state, 'done');
      assert.equal(rec?.outcome, 'succeeded');
      assert.equal(rec?.agentId, agent.agentId);
      assert.equal(await svc.sweepPending(), 0);
      assert.equal((await getAuditByRequestId(db, r.requestId))?.outcome, 'succeeded');
    } finally {
      await svc.close();
    }
  });

  test('a process stopped while the store is down: the next start writes the outbox before its first sweep', async () => {
    const store = flaky(db);
    const file = outbox();
    const first = service(store.db, file);
    const r = await first.executeOperation({ tenantId, request: reset, actor });
    assert.equal(r.result.outcome, 'succeeded');
    await first.close(); // the store is still refusing: the outbox keeps it
    assert.equal((await getAuditByRequestId(db, r.requestId))?.state, 'pending');
    clock.advance(5_000 + 1_001);
    const next = service(db, file);
    try {
      assert.equal(await next.sweepPending(), 0);
      const rec = await getAuditByRequestId(db, r.requestId);
      assert.equal(rec?.outcome, 'succeeded');
      assert.equal(rec?.agentId, agent.agentId);
    } finally {
      await next.close();
    }
  });

  test("another node's sweep closed the record outcome_unknown meanwhile: the held completion corrects it", async () => {
    const store = flaky(db);
    const svc = service(store.db, outbox());
    try {
      const r = await svc.executeOperation({ tenantId, request: reset, actor });
      clock.advance(5_000 + 1_001);
      // Another node knows nothing of this process's held completions.
      assert.equal(await sweepPending(db, clock.now() - 1_000, clock.now()), 1);
      assert.equal((await getAuditByRequestId(db, r.requestId))?.outcome, 'outcome_unknown');
      store.failing = false;
      await svc.auditSettled();
      const rec = await getAuditByRequestId(db, r.requestId);
      assert.equal(rec?.outcome, 'succeeded');
      assert.equal(rec?.agentId, agent.agentId);
    } finally {
      await svc.close();
    }
  });
});

describe('a cloud on PostgreSQL whose connection drops while it records the agent’s success', () => {
  const DB = `wbt_${randomBytes(5).toString('hex')}`;
  const admin = async (sql: string, database?: string) => {
    const u = new URL(withDefaultUser(PG_URL));
    if (database) u.pathname = `/${database}`;
    const c = new pg.Client({ connectionString: u.toString() });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await c.query(sql);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const clock = new Clock(Date.now());
  let started: StartedCloud;
  let directory: EmbeddedDirectory;
  let agent: RunningAgent;
  let dir: string;
  let apiKey = '';
  const lines: string[] = [];

  before(async () => {
    await admin(`CREATE DATABASE "${DB}"`);
    dir = await mkdtemp(join(tmpdir(), 'wb-audit-pg-'));
    const u = new URL(withDefaultUser(PG_URL));
    u.pathname = `/${DB}`;
    started = await startCloud({
      config: { databaseUrl: u.toString(), auditOutboxFile: join(dir, 'audit-outbox.jsonl') },
      deps: { now: clock.now, log: createLogger({ name: 'cloud', level: 'debug', sink: (l) => lines.push(l) }) },
    });
    ({ apiKey, directory, agent } = await startAcmeWithAgent(started.cloud, {
      dir,
      policy: TEST_POLICY,
    }));
    // The fault: the server ends the very connection that records a success, the first 3 times
    // (a sequence, because it does not roll back with the aborted statement).
    await admin(
      `CREATE SEQUENCE fault_budget;
       CREATE FUNCTION drop_on_success() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF nextval('fault_budget') <= 3 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
           RETURN NEW;
         END $$;
       CREATE TRIGGER drop_on_success BEFORE UPDATE ON audit FOR EACH ROW
         WHEN (OLD.state = 'pending' AND NEW.state = 'done' AND NEW.outcome = 'succeeded')
         EXECUTE FUNCTION drop_on_success();`,
      DB,
    );
  });
  after(async () => {
    try {
      await agent?.stop();
      await started?.stop();
      await directory?.close();
      await rm(dir, { recursive: true, force: true });
    } finally {
      await admin(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`);
    }
  });

  test('the caller is told succeeded and the record ends succeeded with the agent, never outcome_unknown', async () => {
    clock.set(Date.now()); // the agent checks the request's times against its own clock
    const res = await fetch(`${started.cloud.url}/api/v1/tenants/acme/users/alice/password/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ newPassword: 'Tulip-Outage-2030!' }),
    });
    const body = (await res.json()) as { outcome: string; requestId: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.outcome, 'succeeded');
    // Past the deadline and the grace: the periodic sweep would run now.
    clock.advance(started.cloud.config.writebackDeadlineMs + started.cloud.config.pendingGraceMs + 1);
    await started.cloud.writeback.sweepPending();
    await waitFor(async () => (await getAuditByRequestId(started.cloud.store, body.requestId))?.state === 'done', {
      what: 'the record to be done',
    });
    const rec = await getAuditByRequestId(started.cloud.store, body.requestId);
    assert.equal(rec?.outcome, 'succeeded', JSON.stringify(rec));
    assert.equal(rec?.agentId, agent.agentId);
    const outbox = readFileSync(join(dir, 'audit-outbox.jsonl'), 'utf8');
    assert.match(outbox, new RegExp(`"kind":"held","requestId":"${body.requestId}"`));
    await started.cloud.writeback.auditSettled();
    assert.match(
      readFileSync(join(dir, 'audit-outbox.jsonl'), 'utf8'),
      new RegExp(`"kind":"written","requestId":"${body.requestId}"`),
    );
    assert.ok(lines.some((l) => l.includes('held audit completion written')));
  });
});
