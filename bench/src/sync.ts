/**
 * `npm run bench:sync`: directory sync at scale. Generates `--users` (default 100,000) users in the
 * embedded directory (in a child process, so this process's peak memory is the cloud's), starts the
 * cloud (SQLite store, in-process relay) and the agent as its own process, then measures
 *
 * - the initial full sync (pull batches + anchors pass) into SQLite: users/s;
 * - incremental latency with the default 1 s interval: a change on the directory (a password reset
 *   through the API, answered once the directory has it) until the cloud's copy shows it, over
 *   `--changes` changes at random points of the interval: p50/p95;
 * - peak RSS (VmHWM) of the agent process and of this process (cloud + relay + HTTP client).
 *
 * Ends with `sync_users_per_s=<x> agent_peak_rss_mb=<y> cloud_peak_rss_mb=<z> incremental_p50_ms=<w>`.
 * Users have no password (the hash cost does not matter to a sync); the ones the latency phase
 * resets get one through the API.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCloud, useStderrLogging } from '@writeback/cloud';
import { HASH_COST, openEmbeddedDirectory } from '@writeback/directory';
import { createLogger } from '@writeback/protocol';
import { startBenchAgent } from './agent.js';
import { ms, percentile, processCpuMs } from './stats.js';

const { values } = parseArgs({
  options: {
    /** embedded (default) or openldap (the lab's slapd over ldaps; default 10,000 users). */
    directory: { type: 'string', default: 'embedded' },
    users: { type: 'string' },
    changes: { type: 'string', default: '20' },
    /** Internal: generate the directory in this folder and exit (the child process). */
    generate: { type: 'string' },
  },
});
if (values.directory !== 'embedded' && values.directory !== 'openldap')
  throw new TypeError('--directory: embedded or openldap');
const KIND: 'embedded' | 'openldap' = values.directory;
const USERS = Number(values.users ?? (KIND === 'embedded' ? 100_000 : 10_000));
const CHANGES = Number(values.changes);
if (!(USERS >= 10)) throw new TypeError('--users: at least 10');
if (!(CHANGES >= 1)) throw new TypeError('--changes: at least 1');

useStderrLogging();
const log = createLogger({
  name: 'bench',
  level: process.env.BENCH_LOG_LEVEL === 'debug' ? 'debug' : process.env.BENCH_LOG_LEVEL === 'info' ? 'info' : 'error',
});
const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));
const login = (i: number) => `user${String(i).padStart(6, '0')}`;

function directoryConfig(dir: string) {
  return {
    kind: 'embedded' as const,
    path: join(dir, 'directory'),
    hash: { ...HASH_COST.fast },
    compactAfterBytes: 256 * 1024 * 1024,
  };
}

/** Child process: create the users, many at a time (one journal write carries many of them). */
async function generate(dir: string): Promise<void> {
  const d = await openEmbeddedDirectory(directoryConfig(dir), { log });
  const CHUNK = 2_000;
  for (let start = 0; start < USERS; start += CHUNK) {
    const jobs: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(USERS, start + CHUNK); i++) {
      jobs.push(
        d.createUser({
          login: login(i),
          upn: `${login(i)}@corp.example`,
          mail: `${login(i)}@mail.example`,
          displayName: `User ${i}`,
          groups: ['staff'],
        }),
      );
    }
    await Promise.all(jobs);
  }
  await d.compact();
  await d.close();
}

async function vmHwmMb(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m?.[1] ? Number(m[1]) / 1024 : Number.NaN;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wb-bench-sync-'));
  process.stdout.write(
    `machine: ${cpus().length} cores, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} at start\n`,
  );
  try {
    const g0 = performance.now();
    const target = KIND === 'embedded' ? await embeddedTarget(dir) : await openldapTarget(dir);
    process.stdout.write(
      `generated ${USERS} users in ${target.describe} in ${((performance.now() - g0) / 1000).toFixed(1)} s\n`,
    );
    try {
      await measure(dir, target);
    } finally {
      await target.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Target {
  describe: string;
  config: Record<string, unknown>;
  /** Make one change on the directory; resolves with the column that shows it in the cloud's copy. */
  change(
    login: string,
    i: number,
    api: (path: string, body: unknown) => Promise<unknown>,
  ): Promise<{ column: 'display_name' | 'password_last_set_at' }>;
  stop(): Promise<void>;
}

async function embeddedTarget(dir: string): Promise<Target> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/src/sync.ts', '--generate', dir, '--users', String(USERS)],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`user generation failed (exit ${code})`);
  return {
    describe: 'the embedded directory (generated in a child process)',
    config: directoryConfig(dir),
    // The agent process holds the embedded store (single writer): the change is a reset through the
    // API, answered once the directory has it.
    async change(who, _i, api) {
      const body = await api(`/users/${who}/password/reset`, {
        newPassword: `Bs-${randomBytes(6).toString('hex')}-9x!`,
        forceChange: false,
      });
      const outcome = body !== null && typeof body === 'object' && 'outcome' in body ? body.outcome : undefined;
      if (outcome !== 'succeeded') throw new Error(`reset answered ${String(outcome)}`);
      return { column: 'password_last_set_at' };
    },
    stop: async () => {},
  };
}

async function openldapTarget(dir: string): Promise<Target> {
  const { slapdDirectoryConfig, startSlapd } = await import('@writeback/testkit/lab');
  const lab = await startSlapd({ tls: true });
  try {
    const CHUNK = 2_000;
    for (let start = 0; start < USERS; start += CHUNK) {
      const entries: string[] = [];
      for (let i = start; i < Math.min(USERS, start + CHUNK); i++) {
        entries.push(
          `dn: uid=${login(i)},ou=people,${lab.baseDn}\nobjectClass: inetOrgPerson\nuid: ${login(i)}\ncn: User ${i}\nsn: ${i}\nmail: ${login(i)}@mail.example\ndisplayName: User ${i}\n`,
        );
      }
      await lab.ldapadd(entries.join('\n'));
    }
    return {
      describe: `slapd (lab, ldaps, default 500-entry size limit)`,
      config: await slapdDirectoryConfig(lab, dir),
      // A change made with OpenLDAP's own tool, straight on the server.
      async change(who, i) {
        const name = `Changed ${i} ${randomBytes(3).toString('hex')}`;
        await lab.ldapmodify(
          `dn: uid=${who},ou=people,${lab.baseDn}\nchangetype: modify\nreplace: displayName\ndisplayName: ${name}\n`,
        );
        return { column: 'display_name' };
      },
      stop: () => lab.stop(),
    };
  } catch (err) {
    await lab.stop();
    throw err;
  }
}

async function measure(dir: string, target: Target): Promise<void> {
  const cloud = await createCloud(
    {
      port: 0,
      databaseUrl: `sqlite:${join(dir, 'writeback.db')}`,
      masterKey: randomBytes(32).toString('base64url'),
      writebackDeadlineMs: 30_000,
      syncEnabled: false,
    },
    { log, printOperatorKey: () => {} },
  );
  const boot = await cloud.bootstrap({ tenant: { slug: 'bench' }, apiKey: true, agentToken: true });
  const tenantId = boot.tenant?.id ?? '';
  const agent = await startBenchAgent(
    { cloud, token: boot.agentToken?.token ?? '', dir, directory: target.config, log },
    { logLevel: process.env.BENCH_LOG_LEVEL ?? 'error', output: 'inherit', timeoutMs: 60_000 },
  );
  try {
    // Initial full sync: pull batches (each upserted with its cursor in one transaction), then the anchors pass.
    // The agent's link is listed a moment before it is ready for requests: wait for one answer.
    for (let i = 0; ; i++) {
      const h = await cloud.writeback.executeOperation({
        tenantId,
        request: { op: 'health', params: {} },
        actor: { kind: 'system', id: 'bench' },
        audit: false,
      });
      if (h.result.outcome === 'succeeded') break;
      if (i > 100) throw new Error(`agent not answering: ${h.result.outcome}`);
      await sleep(100);
    }
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const agentCpu0 = processCpuMs(agent.pid);
    const full = await cloud.sync.runOnce(tenantId);
    const fullS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cloudCpuMs = (cpu.user + cpu.system) / 1000;
    const agentCpuMs = processCpuMs(agent.pid) - agentCpu0;
    // The slapd lab has users of its own (alice, bob...) besides the generated ones.
    if (full.status.phase !== 'idle' || full.status.total < USERS)
      throw new Error(
        `full sync ended ${full.status.phase} (${full.status.lastError ?? 'no error'}) with ${full.status.total} users`,
      );
    const usersPerS = USERS / fullS;
    process.stdout.write(
      `initial full sync from ${KIND}: ${USERS} users in ${fullS.toFixed(1)} s = ${Math.round(usersPerS)} users/s (SQLite, WAL)\n`,
    );
    // On a shared machine the wall clock includes waiting for a core; CPU time does not.
    process.stdout.write(
      `  CPU per 1,000 users: cloud ${ms((cloudCpuMs * 1000) / USERS)} ms, agent ${ms((agentCpuMs * 1000) / USERS)} ms (pulls overlap commits, so an idle 2-core machine runs at about ${Math.round((USERS / Math.max(cloudCpuMs, agentCpuMs)) * 1000)} users/s)\n`,
    );

    // Incremental: the scheduler as in production (default interval), a change at a random point of it.
    cloud.sync.start();
    const latencies: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      await sleep(Math.random() * 1_000);
      const who = login(Math.floor(Math.random() * USERS));
      const read = () =>
        cloud.store.one(
          'SELECT password_last_set_at, display_name FROM directory_users WHERE tenant_id = ? AND login_lc = ?',
          [tenantId, who],
        );
      const before = await read();
      const api = async (path: string, body: unknown): Promise<unknown> => {
        const res = await fetch(`${cloud.url}/api/v1/tenants/bench${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${boot.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return res.json();
      };
      const { column } = await target.change(who, i, api);
      const changedAt = performance.now();
      for (;;) {
        const row = await read();
        if (row && row[column] !== before?.[column]) break;
        if (performance.now() - changedAt > 30_000)
          throw new Error(
            `a change did not reach the cloud within 30 s (sync: ${JSON.stringify(await cloud.sync.status(tenantId))})`,
          );
        await sleep(5);
      }
      latencies.push(performance.now() - changedAt);
    }
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);
    process.stdout.write(
      `incremental latency (directory change → visible in the cloud store, ${CHANGES} changes, 1 s interval): p50 ${ms(p50)} ms, p95 ${ms(p95)} ms, max ${ms(latencies[latencies.length - 1] ?? Number.NaN)} ms\n`,
    );

    const agentMb = await vmHwmMb(agent.pid);
    const cloudMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(
      `peak RSS: agent process ${agentMb.toFixed(0)} MB${KIND === 'embedded' ? ` (its directory holds the ${USERS} users in memory)` : ''}, cloud process ${cloudMb.toFixed(0)} MB\n`,
    );
    process.stdout.write(
      `sync_users_per_s=${Math.round(usersPerS)} agent_peak_rss_mb=${agentMb.toFixed(0)} cloud_peak_rss_mb=${cloudMb.toFixed(0)} incremental_p50_ms=${Math.round(p50)}\n`,
    );
  } finally {
    await agent.stop('SIGTERM');
    await cloud.close();
  }
}

if (values.generate) {
  generate(values.generate).catch((err: unknown) => {
    process.stderr.write(`generation failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
