/**
 * The writeback service against the real store and agents with real keys, behind an in-test
 * RelayClient that decides what each connection does: outcome mapping, failover, verification of
 * answers, and the audit record's life (one per request, pending → done, the sweep).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { generateSigningKeyPair, type OperationRequest, type RequestEnvelope } from '@writeback/protocol';
import { revokeAgent } from '../src/agents/registry.js';
import { getAuditByRequestId } from '../src/audit/audit.js';
import { loadOrCreateCloudKey, type CloudSigningKey } from '../src/keys/cloud-key.js';
import { openStore, type Db } from '../src/store/index.js';
import { createTenant } from '../src/tenants/tenants.js';
import { createWritebackService, type WritebackService } from '../src/writeback/service.js';
import { createLogger } from '@writeback/protocol';
import {
  Clock,
  effectivePolicy,
  FakeRelay,
  respond,
  registerInStore,
  type TestAgent,
  type Behaviour,
} from './helpers.js';

const SECRET = 'N3w-Secret-Value!42';
const reset: OperationRequest = {
  op: 'password.reset',
  params: { user: { by: 'login', value: 'alice' }, forceChange: false, unlock: false, enforceHistory: true },
  secret: { newPassword: SECRET },
};
const policyGet: OperationRequest = { op: 'policy.get', params: { user: { by: 'login', value: 'alice' } } };
const actor = { kind: 'api_key' as const, id: 'k-test' };

interface Fixture {
  db: Db;
  cloudKey: CloudSigningKey;
  clock: Clock;
  relay: FakeRelay;
  tenantId: string;
  otherTenantId: string;
  logs: string[];
  service(o?: { deadlineMs?: number; relayGraceMs?: number; pendingGraceMs?: number }): WritebackService;
  agent(name: string, tenantId?: string): Promise<TestAgent>;
}

async function fixture(): Promise<Fixture> {
  const clock = new Clock();
  const db = await openStore({ url: 'sqlite::memory:' });
  const cloudKey = await loadOrCreateCloudKey(db, Buffer.alloc(32, 1), clock.now());
  const relay = new FakeRelay();
  const tenant = await createTenant(db, { slug: 'acme', name: 'Acme' }, clock.now());
  const other = await createTenant(db, { slug: 'other', name: 'Other' }, clock.now());
  const logs: string[] = [];
  const log = createLogger({ name: 'test', sink: (l) => logs.push(l), level: 'debug' });
  return {
    db,
    cloudKey,
    clock,
    relay,
    tenantId: tenant.id,
    otherTenantId: other.id,
    logs,
    service: (o = {}) =>
      createWritebackService({
        db,
        relay,
        cloudKey,
        deadlineMs: o.deadlineMs ?? 10_000,
        now: clock.now,
        log,
        relayGraceMs: o.relayGraceMs ?? 100,
        pendingGraceMs: o.pendingGraceMs ?? 1_000,
      }),
    agent(name, tenantId = tenant.id) {
      return registerInStore(db, cloudKey, { tenantId, name, now: clock.now() });
    },
  };
}

const behave =
  (answer: Awaited<ReturnType<Behaviour>>): Behaviour =>
  async () =>
    answer;

describe('writeback service', () => {
  let fx: Fixture;
  let svc: WritebackService;
  before(async () => {
    fx = await fixture();
  });
  after(() => fx.db.close());
  beforeEach(() => {
    fx.relay.conns.clear();
    fx.relay.sent.length = 0;
    fx.relay.extra = [];
    svc = fx.service();
  });
  /** A connected agent that answers only once `release()` is called, signing at `signedAt(env)`. */
  const heldAgent = async (name: string, signedAt: (env: RequestEnvelope) => number): Promise<() => void> => {
    const a = await fx.agent(name);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    fx.relay.connect(a, async (env, agent) => {
      await gate;
      return { kind: 'response', envelope: await agent.answer(env, { now: signedAt(env) }) };
    });
    return release;
  };

  test('a signed answer is verified and returned; the agent got the sealed secret; one audit record, done', async () => {
    const a = await fx.agent('a1');
    a.script = (req) => {
      assert.equal(req.op, 'password.reset');
      assert.deepEqual(req.secret, { newPassword: SECRET });
      return { outcome: 'succeeded', historyEnforced: true };
    };
    fx.relay.connect(a, respond({ now: fx.clock.now() }));
    const r = await svc.executeOperation({
      tenantId: fx.tenantId,
      request: reset,
      actor,
      target: 'alice',
      clientIp: '192.0.2.1',
    });
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.historyEnforced, true);
    assert.equal(r.agentId, a.agentId);
    const env = fx.relay.sent[0];
    assert.ok(env);
    assert.equal(env.deadline, fx.clock.now() + 10_000);
    assert.equal(env.requestId, r.requestId);
    // The relay sees a sealed envelope: the password is not in it.
    assert.ok(!JSON.stringify(env).includes(SECRET));
    const rec = await getAuditByRequestId(fx.db, r.requestId);
    assert.equal(rec?.state, 'done');
    assert.equal(rec?.outcome, 'succeeded');
    assert.equal(rec?.agentId, a.agentId);
    assert.equal(rec?.targetUser, 'alice');
    assert.equal(rec?.clientIp, '192.0.2.1');
    assert.deepEqual(rec?.actor, actor);
  });

  test('no connected agent: agent_unavailable at once, nothing sent', async () => {
    await fx.agent('idle');
    const r = await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(r.result.outcome, 'agent_unavailable');
    assert.equal(fx.relay.sent.length, 0);
    assert.equal((await getAuditByRequestId(fx.db, r.requestId))?.outcome, 'agent_unavailable');
  });

  test('presence of unknown, revoked and other-tenant agents is ignored', async () => {
    const revoked = await fx.agent('revoked');
    await revokeAgent(fx.db, fx.tenantId, revoked.agentId, fx.clock.now());
    const foreign = await fx.agent('foreign', fx.otherTenantId);
    fx.relay.connect(revoked);
    fx.relay.extra = [
      { ...foreign.presence(), tenantId: fx.tenantId },
      { ...foreign.presence(), agentId: 'a-unknown', tenantId: fx.tenantId },
    ];
    const r = await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(r.result.outcome, 'agent_unavailable');
    assert.equal(fx.relay.sent.length, 0);
  });

  test('unavailable fails over to the next agent within the deadline', async () => {
    const a = await fx.agent('a-down');
    const b = await fx.agent('b-up');
    fx.relay.connect(a, behave({ kind: 'unavailable' }));
    fx.relay.connect(b, respond({ now: fx.clock.now() }));
    const r = await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.agentId, b.agentId);
    assert.deepEqual(
      fx.relay.sent.map((e) => e.agentId),
      [a.agentId, b.agentId],
    );
    // Each attempt is sealed to its own agent's key but keeps the one request id (one audit record).
    assert.equal(fx.relay.sent[0]?.requestId, fx.relay.sent[1]?.requestId);
    assert.notDeepEqual(fx.relay.sent[0]?.sealed, fx.relay.sent[1]?.sealed);
  });

  test('every agent unavailable: agent_unavailable', async () => {
    const a = await fx.agent('x1');
    const b = await fx.agent('x2');
    fx.relay.connect(a, behave({ kind: 'unavailable' }));
    fx.relay.connect(b, behave({ kind: 'unavailable' }));
    const r = await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(r.result.outcome, 'agent_unavailable');
    assert.equal(fx.relay.sent.length, 2);
  });

  test('rejected → request_rejected; timeout → timeout', async () => {
    const a = await fx.agent('rej');
    fx.relay.connect(a, behave({ kind: 'rejected', code: 'expired', message: 'expired' }));
    assert.equal(
      (await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor })).result.outcome,
      'request_rejected',
    );
    fx.relay.connect(a, behave({ kind: 'timeout' }));
    const t = await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(t.result.outcome, 'timeout');
    assert.equal((await getAuditByRequestId(fx.db, t.requestId))?.outcome, 'timeout');
  });

  test('lost: a write is outcome_unknown (never retried), a read is retried on the next agent', async () => {
    const a = await fx.agent('lossy');
    const b = await fx.agent('steady');
    b.script = () => ({
      outcome: 'succeeded',
      policy: effectivePolicy({ source: 'embedded', minAgeSeconds: 0, lockoutDurationSeconds: 900 }),
    });
    fx.relay.connect(a, behave({ kind: 'lost' }));
    fx.relay.connect(b, respond({ now: fx.clock.now() }));
    const w = await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(w.result.outcome, 'outcome_unknown');
    assert.equal(w.agentId, a.agentId);
    assert.equal(fx.relay.sent.length, 1);
    fx.relay.sent.length = 0;
    const r = await svc.executeOperation({ tenantId: fx.tenantId, request: policyGet, actor });
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.policy?.minLength, 12);
    assert.equal(fx.relay.sent.length, 2);
  });

  test('an answer that fails verification: outcome_unknown for a write, retry for a read', async () => {
    const forger = generateSigningKeyPair();
    const a = await fx.agent('forged');
    const b = await fx.agent('honest');
    fx.relay.connect(a, async (env, agent) => ({
      kind: 'response',
      envelope: await agent.answer(env, { now: fx.clock.now(), signWith: forger }),
    }));
    fx.relay.connect(b, respond({ now: fx.clock.now() }));
    const w = await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(w.result.outcome, 'outcome_unknown');
    const r = await svc.executeOperation({ tenantId: fx.tenantId, request: policyGet, actor });
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.agentId, b.agentId);
  });

  test("an answer signed by another registered agent of the tenant is not accepted as this agent's", async () => {
    const a = await fx.agent('victim');
    const b = await fx.agent('impostor');
    fx.relay.connect(a, async (env, agent) => ({
      kind: 'response',
      envelope: await agent.answer(env, { now: fx.clock.now(), signWith: b.signing }),
    }));
    const w = await svc.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(w.result.outcome, 'outcome_unknown');
  });

  test('a relay that never answers is cut off shortly after the deadline (timeout)', async () => {
    const a = await fx.agent('black-hole');
    fx.relay.connect(a, () => new Promise(() => undefined));
    const quick = fx.service({ deadlineMs: 100, relayGraceMs: 50 });
    const started = Date.now();
    const r = await quick.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    assert.equal(r.result.outcome, 'timeout');
    assert.ok(Date.now() - started < 2_000);
  });

  test('the record is pending while the request is in flight, and done after; the key is not re-read per request', async () => {
    const release = await heldAgent('slow', () => fx.clock.now());
    const keyReads: string[] = [];
    const spyDb: Db = {
      ...fx.db,
      query: (sql, p) => {
        if (sql.includes('cloud_keys')) keyReads.push(sql);
        return fx.db.query(sql, p);
      },
      one: (sql, p) => {
        if (sql.includes('cloud_keys')) keyReads.push(sql);
        return fx.db.one(sql, p);
      },
    };
    const spied = createWritebackService({
      db: spyDb,
      relay: fx.relay,
      cloudKey: fx.cloudKey,
      deadlineMs: 10_000,
      now: fx.clock.now,
      log: createLogger({ name: 't', sink: () => undefined }),
    });
    const pending = spied.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    await new Promise((r) => setTimeout(r, 30));
    const env = fx.relay.sent[fx.relay.sent.length - 1];
    assert.ok(env);
    assert.equal((await getAuditByRequestId(fx.db, env.requestId))?.state, 'pending');
    release();
    const r = await pending;
    const rec = await getAuditByRequestId(fx.db, r.requestId);
    assert.equal(rec?.state, 'done');
    assert.equal(rec?.outcome, 'succeeded');
    const rows = await fx.db.query('SELECT COUNT(*) AS n FROM audit WHERE request_id = ?', [r.requestId]);
    assert.equal(Number(rows[0]?.n), 1);
    assert.deepEqual(keyReads, []);
  });

  test('the sweep closes an abandoned pending record as outcome_unknown; a late answer does not overwrite it', async () => {
    const release = await heldAgent('stuck', (env) => env.issuedAt);
    const s = fx.service({ deadlineMs: 5_000, relayGraceMs: 60_000, pendingGraceMs: 1_000 });
    const inFlight = s.executeOperation({ tenantId: fx.tenantId, request: reset, actor });
    await new Promise((r) => setTimeout(r, 30));
    const env = fx.relay.sent[fx.relay.sent.length - 1];
    assert.ok(env);
    // Not yet past deadline + grace: untouched.
    assert.equal(await s.sweepPending(), 0);
    fx.clock.advance(5_000 + 1_001);
    assert.equal(await s.sweepPending(), 1);
    const swept = await getAuditByRequestId(fx.db, env.requestId);
    assert.equal(swept?.state, 'done');
    assert.equal(swept?.outcome, 'outcome_unknown');
    release();
    await inFlight;
    assert.equal((await getAuditByRequestId(fx.db, env.requestId))?.outcome, 'outcome_unknown');
    assert.ok(
      fx.logs.map((l) => JSON.parse(l)).some((l) => l.level === 'warn' && l.requestId === env.requestId),
      'the late answer is logged, not recorded',
    );
  });
});
