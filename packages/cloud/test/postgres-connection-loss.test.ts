/**
 * PostgreSQL dropping the cloud's connections (issue 11, item 4): `pg_terminate_backend`, as a
 * failover or a restart does. A client checked out for a transaction had no 'error' listener, so
 * the process died. Now no store error ends the process, a transaction that lost its connection
 * before COMMIT runs again, one whose COMMIT was sent is never run twice, and readiness goes red
 * only while the store really cannot answer.
 *
 * Each test run gets a database of its own, and its connections carry their own application_name,
 * so terminating them touches no other test's connections.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { RunningAgent } from '@writeback/agent';
import type { EmbeddedDirectory } from '@writeback/directory';
import { createLogger } from '@writeback/protocol';
import { PG_URL, startCloud, startAcmeWithAgent, TEST_POLICY, waitFor, type StartedCloud } from '@writeback/testkit';
import { CloudError } from '../src/errors.js';
import { openStore, type Db } from '../src/store/index.js';
import { withDefaultUser } from '../src/store/postgres.js';

const DB = `wbt_${randomBytes(5).toString('hex')}`;
/** The database of PG_URL: where databases are created, altered and watched from. */
const adminDb = new URL(withDefaultUser(PG_URL)).pathname.slice(1) || 'postgres';

/** A URL to this run's database whose connections show as `app` in pg_stat_activity. */
function dbUrl(app: string, database = DB): string {
  const u = new URL(withDefaultUser(PG_URL));
  u.pathname = `/${database}`;
  u.searchParams.set('application_name', app);
  return u.toString();
}

async function onServer<T>(database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: dbUrl('wbt-helper', database) });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * What a failover does to one application's connections to this run's database; returns the
 * backends it ended. (From the server's maintenance database: this run's may refuse connections.)
 */
async function terminate(app: string): Promise<number[]> {
  return onServer(adminDb, async (c) => {
    // In the select list, not the WHERE clause: evaluated only for the rows the filter kept.
    const r = await c.query<{ pid: number }>(
      `SELECT pid, pg_terminate_backend(pid) AS ended FROM pg_stat_activity
        WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = $2`,
      [DB, app],
    );
    return r.rows.map((row) => row.pid);
  });
}

/** Until the server has ended those backends (a row of pg_stat_activity: no event announces it). */
async function gone(pids: readonly number[]): Promise<void> {
  await waitFor(
    () =>
      onServer(adminDb, async (c) => {
        const r = await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1::int[])', [pids]);
        return r.rowCount === 0;
      }),
    { what: 'the terminated backends to end' },
  );
}

function capture() {
  const lines: string[] = [];
  return {
    lines,
    log: createLogger({ name: 'test', level: 'debug', sink: (l) => lines.push(l) }),
    has: (msg: string) => lines.some((l) => l.includes(msg)),
  };
}

before(async () => {
  await onServer(adminDb, (c) => c.query(`CREATE DATABASE "${DB}"`));
});
after(async () => {
  await onServer(adminDb, (c) => c.query(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`));
});

describe('store on PostgreSQL when the server drops its connections', () => {
  let db: Db;
  const logs = capture();
  before(async () => {
    db = await openStore({ url: dbUrl('wbt-store'), log: logs.log, poolSize: 4 });
    await db.exec('CREATE TABLE tx_probe (id TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  });
  after(() => db.close());

  test('a transaction whose connection is terminated before COMMIT runs again, once, and the process lives', async () => {
    let runs = 0;
    const out = await db.tx(async (t) => {
      runs += 1;
      await t.exec('INSERT INTO tx_probe (id, n) VALUES (?, ?)', ['a', runs]);
      if (runs === 1) {
        // The connection dies while this client is checked out and idle between statements: pg
        // emits its error on the client, which had no listener before the fix (the process died).
        await gone(await terminate('wbt-store'));
        await waitFor(() => logs.has('a database connection was lost'), { what: 'the lost connection to be seen' });
      }
      await t.exec('UPDATE tx_probe SET n = n + 10 WHERE id = ?', ['a']);
      return runs;
    });
    assert.equal(out, 2, 'the whole function ran again on a new connection');
    assert.deepEqual(await db.query('SELECT id, n FROM tx_probe'), [{ id: 'a', n: 12 }]);
    // Idle connections were dropped too: the next statements open new ones.
    await gone(await terminate('wbt-store'));
    assert.deepEqual(await db.one('SELECT COUNT(*) AS n FROM tx_probe'), { n: 1 });
    await db.exec('DELETE FROM tx_probe');
  });

  test('a transaction whose connection is lost after COMMIT was sent is not run again: store_unavailable', async () => {
    // A deferred constraint trigger that sleeps holds the COMMIT at the server long enough to end it there.
    await db.exec(`CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$`);
    await db.exec(`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON tx_probe
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`);
    try {
      let runs = 0;
      const committing = db.tx(async (t) => {
        runs += 1;
        await t.exec('INSERT INTO tx_probe (id, n) VALUES (?, ?)', ['b', 1]);
      });
      const settled = committing.then(
        () => null,
        (err: unknown) => err,
      );
      await waitFor(
        () =>
          onServer(DB, async (c) => {
            const r = await c.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name = 'wbt-store' AND state = 'active' AND query = 'COMMIT'",
            );
            return r.rowCount === 1;
          }),
        { what: 'the COMMIT to be at the server' },
      );
      await terminate('wbt-store');
      const err = await settled;
      assert.ok(err instanceof CloudError && err.code === 'store_unavailable', String(err));
      assert.match(err.message, /may or may not have been applied/);
      assert.equal(runs, 1, 'never run again once COMMIT was sent');
    } finally {
      await db.exec('DROP TRIGGER slow_commit ON tx_probe');
      await db.exec('DROP FUNCTION slow_commit()');
    }
  });
});

describe('a cloud on PostgreSQL serving requests while the server drops its connections', () => {
  let started: StartedCloud;
  let directory: EmbeddedDirectory;
  let agent: RunningAgent;
  let dir: string;
  const logs = capture();
  const T = '/api/v1/tenants/acme';
  let apiKey = '';
  let n = 0;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${started.cloud.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const reset = () => call('POST', `${T}/users/alice/password/reset`, { newPassword: `Tulip-Loss-${++n}-2030!` });
  const health = async () => (await fetch(`${started.cloud.url}/healthz`)).status;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-pg-loss-'));
    started = await startCloud({
      config: { databaseUrl: dbUrl('wbt-cloud'), databasePoolSize: 4 },
      deps: { log: logs.log },
    });
    ({ apiKey, directory, agent } = await startAcmeWithAgent(started.cloud, {
      dir,
      policy: TEST_POLICY,
      log: logs.log,
    }));
  });
  after(async () => {
    await agent?.stop();
    await started?.stop();
    await directory?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the process lives, the next requests succeed, readiness stays green while the store can answer', async () => {
    assert.equal((await reset()).status, 200);
    let stop = false;
    const during: number[] = [];
    const worker = async () => {
      while (!stop) {
        during.push((await reset()).status);
        during.push((await call('GET', `${T}/audit?limit=5`)).status);
      }
    };
    const workers = [worker(), worker(), worker()];
    const readiness: number[] = [];
    for (let i = 0; i < 3; i++) {
      // Let the load reach the store again before each cut.
      const seen = during.length;
      await waitFor(() => during.length >= seen + 6, { what: 'requests between cuts' });
      await gone(await terminate('wbt-cloud'));
      readiness.push(await health());
    }
    stop = true;
    await Promise.all(workers);
    // Requests in flight at a cut may fail (a write whose outcome is unknown is not retried); none crashed anything.
    assert.ok(
      during.every((s) => s === 200 || s >= 500),
      `statuses: ${during.join(',')}`,
    );
    assert.deepEqual(readiness, [200, 200, 200], 'the store answered all along: readiness stays green');
    for (let i = 0; i < 5; i++) {
      const r = await reset();
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.outcome, 'succeeded');
    }
    const audit = await call('GET', `${T}/audit?limit=5`);
    assert.equal(audit.status, 200);
    assert.ok(logs.has('a database connection was lost'), 'the loss is logged');
  });

  test('readiness goes red while the store is really unreachable, and green again with it', async () => {
    await onServer(adminDb, (c) => c.query(`ALTER DATABASE "${DB}" WITH ALLOW_CONNECTIONS false`));
    try {
      await gone(await terminate('wbt-cloud'));
      const res = await fetch(`${started.cloud.url}/healthz`);
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { store: string }).store, 'error');
      assert.notEqual((await reset()).status, 200);
    } finally {
      await onServer(adminDb, (c) => c.query(`ALTER DATABASE "${DB}" WITH ALLOW_CONNECTIONS true`));
    }
    assert.equal(await health(), 200);
    const r = await reset();
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.outcome, 'succeeded');
  });
});
