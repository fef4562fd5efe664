/**
 * A cloud node killed mid-request (issue 11, "the API a caller can trust after a lost connection"):
 * the cloud runs as its own OS process (src/main.ts, as in production) on a store on disk, a real
 * agent in this process writes to an embedded directory that holds the write until the test lets
 * it go. A reset is sent with an `Idempotency-Key`; while the directory is writing, the cloud
 * process gets SIGKILL (the caller's connection is lost), the write then completes. A new cloud
 * process starts on the same store and port, the agent reconnects, and the caller retries with the
 * same key: exactly one write reached the directory, and the retry answers what the audit knows
 * (`outcome_unknown` with the first request's id; never a second write, never a false success).
 * A key answered before the kill is replayed by the new process from the store. Run on SQLite and
 * PostgreSQL.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RunningAgent } from '@writeback/agent';
import type { EmbeddedDirectory } from '@writeback/directory';
import {
  ENGINES,
  freePort,
  holdingResets,
  newMasterKey,
  quietLog,
  spawnEntry,
  startEmbeddedAgent,
  TEST_POLICY,
  tempStore,
  waitFor,
  type HeldResets,
  type TempStore,
} from '@writeback/testkit';
import { api, field, str, type ApiResponse } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const T = '/api/v1/tenants/acme';

interface CloudProcess {
  url: string;
  readonly stdout: string;
  kill(): Promise<void>;
}

/** `node src/main.ts` with this environment; resolves once it logged "cloud started". */
async function startCloudProcess(env: Record<string, string>): Promise<CloudProcess> {
  const proc = spawnEntry(MAIN, [], { ...process.env, ...env });
  const { child } = proc;
  // Generous: tsx compiles the whole cloud at start, several seconds on a loaded machine.
  await waitFor(async () => /"msg":"cloud started"/.test(proc.stderr) || child.exitCode !== null, {
    what: 'the cloud process to start',
    timeoutMs: 90_000,
  });
  if (child.exitCode !== null) throw new Error(`the cloud process exited: ${proc.stderr}`);
  return {
    url: /"url":"(http:\/\/[^"]+)"/.exec(proc.stderr)?.[1] ?? '',
    get stdout() {
      return proc.stdout;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await proc.ended;
      }
    },
  };
}

for (const engine of ENGINES) {
  describe(`a cloud process killed mid-request, on ${engine}`, () => {
    let dir: string;
    let store: TempStore;
    let env: Record<string, string>;
    let cloud: CloudProcess;
    let directory: EmbeddedDirectory;
    let held: HeldResets;
    let agent: RunningAgent;
    let apiKey = '';

    const reset = (key: string, newPassword: string): Promise<ApiResponse> =>
      api(cloud.url, 'POST', `${T}/users/alice/password/reset`, {
        token: apiKey,
        headers: { 'idempotency-key': key },
        body: { newPassword, forceChange: false },
      });
    const agentConnected = () =>
      waitFor(
        async () => {
          const r = await api(cloud.url, 'GET', `${T}/agents`, { token: apiKey }).catch(() => null);
          return r?.status === 200 && (field(r.json, 'agents') as { connected: boolean }[]).some((a) => a.connected);
        },
        { what: 'the agent to be connected', timeoutMs: 30_000 },
      );

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'wb-idem-kill-'));
      store = tempStore(engine);
      env = {
        PORT: String(await freePort()),
        HOST: '127.0.0.1',
        DATABASE_URL: String(store.config.databaseUrl),
        ...(store.config.databaseSchema ? { DATABASE_SCHEMA: store.config.databaseSchema } : {}),
        WRITEBACK_MASTER_KEY: newMasterKey(),
        LOG_LEVEL: 'info',
        SYNC_ENABLED: 'false',
        WRITEBACK_DEADLINE_MS: '4000',
        PENDING_GRACE_MS: '0',
        PENDING_SWEEP_INTERVAL_MS: '250',
        AUDIT_OUTBOX_FILE: join(dir, 'audit-outbox.jsonl'),
        OPERATOR_KEY_FILE: join(dir, 'operator.key'),
      };
      cloud = await startCloudProcess(env);
      // The first operator key: in OPERATOR_KEY_FILE, or on stdout where the cloud still prints it.
      const keyFile = env.OPERATOR_KEY_FILE ?? '';
      const keyRe = /wbk_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}/;
      await waitFor(async () => existsSync(keyFile) || keyRe.test(cloud.stdout), { what: 'the operator key' });
      const operatorKey = keyRe.exec(existsSync(keyFile) ? readFileSync(keyFile, 'utf8') : cloud.stdout)?.[0] ?? '';
      assert.ok(operatorKey, 'the first start prints the operator key');
      const tenant = await api(cloud.url, 'POST', '/api/v1/tenants', {
        token: operatorKey,
        body: { slug: 'acme', name: 'Acme' },
      });
      assert.equal(tenant.status, 201, tenant.text);
      apiKey = str((await api(cloud.url, 'POST', `${T}/api-keys`, { token: operatorKey, body: {} })).json, 'key');
      const token = str((await api(cloud.url, 'POST', `${T}/agent-tokens`, { token: apiKey, body: {} })).json, 'token');
      ({ directory, agent } = await startEmbeddedAgent({
        cloud,
        token,
        dir,
        policy: TEST_POLICY,
        log: quietLog(),
        serve: (d) => {
          held = holdingResets(d);
          return held.dir;
        },
      }));
      await agentConnected();
    });
    after(async () => {
      held?.go();
      await agent?.stop();
      await cloud?.kill();
      await directory?.close();
      await store?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    test('the retry after the kill writes nothing and answers from the audit; an answered key is replayed', async () => {
      // Answered before the kill: kept in the store.
      const answeredKey = `answered-${engine}`;
      const answered = await reset(answeredKey, 'Tulip-Answered-2030!');
      assert.equal(answered.status, 200, answered.text);
      assert.equal(held.done, 1);

      // In flight at the kill: the directory is writing when the process dies.
      held.hold = true;
      const key = `in-flight-${engine}`;
      const lost = reset(key, 'Tulip-In-Flight-2030!').then(
        (r) => ({ answered: r }),
        (err: unknown) => ({ lost: err }),
      );
      await waitFor(async () => held.started === 2, { what: 'the write to reach the directory' });
      await cloud.kill();
      const first = await lost;
      assert.ok('lost' in first, `the caller lost the connection (got ${JSON.stringify(first)})`);
      held.hold = false;
      held.go();
      await waitFor(async () => held.done === 2, { what: 'the directory write to complete' });

      cloud = await startCloudProcess(env);
      await agentConnected();

      // The first attempt's lease runs out (at most 10 s after the kill): until then, 409 + Retry-After.
      let retry = await reset(key, 'Tulip-In-Flight-2030!');
      const deadline = Date.now() + 30_000;
      while (retry.status === 409 && field(retry.json, 'error', 'code') === 'conflict' && Date.now() < deadline) {
        assert.ok(Number(retry.headers.get('retry-after')) >= 1);
        await new Promise((r) => setTimeout(r, 250));
        retry = await reset(key, 'Tulip-In-Flight-2030!');
      }
      assert.equal(retry.status, 502, retry.text);
      assert.equal(field(retry.json, 'outcome'), 'outcome_unknown');
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      const requestId = str(retry.json, 'requestId');
      assert.equal(held.started, 2, 'the retry sent nothing to the directory');
      assert.equal(held.done, 2, 'exactly one write per key reached the directory');

      // The audit holds one record for that request: the killed process's, closed by the new one's sweep.
      await waitFor(
        async () => {
          const r = await api(cloud.url, 'GET', `${T}/audit?limit=50`, { token: apiKey });
          const mine = (field(r.json, 'items') as { requestId: string; outcome: string | null }[]).filter(
            (i) => i.requestId === requestId,
          );
          return mine.length === 1 && mine[0]?.outcome === 'outcome_unknown';
        },
        { what: 'the pending record to be closed', timeoutMs: 15_000 },
      );
      const again = await reset(key, 'Tulip-In-Flight-2030!');
      assert.equal(again.status, 502);
      assert.equal(str(again.json, 'requestId'), requestId);

      // Answered before the kill: the new process replays it from the store.
      const replay = await reset(answeredKey, 'Tulip-Answered-2030!');
      assert.equal(replay.status, 200);
      assert.deepEqual(replay.json, answered.json);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');

      // The agent and directory work: a new key writes (so the retries wrote nothing by design, not by accident).
      const fresh = await reset(`fresh-${engine}`, 'Tulip-Fresh-2030!');
      assert.equal(fresh.status, 200, fresh.text);
      assert.equal(held.done, 3);
      assert.equal(
        (await directory.verifyCredentials({ by: 'login', value: 'alice' }, 'Tulip-Fresh-2030!')).outcome,
        'succeeded',
      );
    });
  });
}
