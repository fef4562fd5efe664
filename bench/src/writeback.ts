/**
 * `npm run bench`: drives password resets through the whole path (HTTP API → in-process relay →
 * agent process → directory) and the same operations straight on the directory adapter, and prints
 * p50/p95/p99 of both, the overhead, and throughput, ending with
 *   overhead_p50_ms=<x> overhead_p99_ms=<y> throughput_rps=<z>
 *
 * Options: --directory embedded|ad|openldap (default embedded), --n <sequential samples>,
 * --total <requests for throughput>, --concurrency <c>, --users <n>, --hash N[,r[,p]] (embedded).
 * The embedded directory uses scrypt N=1024 r=1 p=1 (HASH_COST.fast) so the directory is not the
 * bottleneck; the standard cost (N=16384 r=8) is ~50x slower per write. `ad` starts the lab's
 * Samba AD DC (ldaps, delegated service account; about 35 ms a reset, so the throughput phase is
 * capped at 300 requests) and `openldap` the lab's slapd (ldaps, ppolicy), both on loopback.
 */
import { spawn } from 'node:child_process';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registerAgent } from '@writeback/agent';
import { createCloud } from '@writeback/cloud';
import { openDirectory, type Directory } from '@writeback/directory';
import { createLogger } from '@writeback/protocol';
import { drive, row, summarize } from './stats.js';
import { startDirectoryTarget, type DirectoryTarget, type TargetKind } from './targets.js';

const { values } = parseArgs({
  options: {
    directory: { type: 'string', default: 'embedded' },
    n: { type: 'string', default: '500' },
    total: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '32' },
    users: { type: 'string', default: '64' },
    /** Embedded directory scrypt cost: N[,r[,p]] (default HASH_COST.fast = 1024,1,1). */
    hash: { type: 'string' },
  },
});
const KINDS: readonly TargetKind[] = ['embedded', 'ad', 'openldap'];
function parseKind(raw: string): TargetKind {
  const k = KINDS.find((x) => x === raw);
  if (k === undefined) throw new TypeError(`--directory: one of ${KINDS.join(', ')}`);
  return k;
}
const kind = parseKind(values.directory);
const N = Number(values.n);
const TOTAL = Number(values.total);
const C = Number(values.concurrency);
const USERS = Number(values.users);

const log = createLogger({ name: 'bench', level: 'error' });
const pw = (i: number, tag: string) => `Bq${tag}-${i}-${randomBytes(3).toString('hex')}!x`;

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'wb-bench-'));
  const [hN, hr, hp] = (values.hash ?? '').split(',').map(Number);
  const hash = values.hash ? { N: hN ?? 1024, r: hr || 1, p: hp || 1 } : undefined;
  const target: DirectoryTarget = await startDirectoryTarget(kind, { dir, users: USERS, log, ...(hash ? { hash } : {}) });
  process.stdout.write(`directory: ${target.describe}\n`);
  try {
    // 1. Straight on the adapter, in this process.
    const direct: Directory = await openDirectory(target.config, { log });
    const directReset = async (i: number, tag: string) => {
      const r = await direct.resetPassword({ by: 'login', value: target.users[i % target.users.length] ?? '' }, pw(i, tag), { forceChange: false, unlock: false, enforceHistory: true });
      if (r.outcome !== 'succeeded') throw new Error(`direct reset: ${r.outcome} ${r.reasons?.join(',') ?? ''}`);
    };
    // The same warm-up as the full path gets (pool filled, JIT, a freshly started lab server settled).
    await drive(Math.min(50, N), 4, (i) => directReset(i, 'v'));
    const d1 = await drive(N, 1, (i) => directReset(i, 'd'));
    const dT = await drive(target.throughputTotal(TOTAL), C, (i) => directReset(i, 'e'));
    await direct.close();

    // 2. The whole path: cloud + relay in this process, the agent as its own process.
    const cloud = await createCloud({ port: 0, databaseUrl: `sqlite:${join(dir, 'writeback.db')}`, masterKey: randomBytes(32).toString('base64url'), writebackDeadlineMs: 30_000, pendingGraceMs: 60_000 }, { log, printOperatorKey: () => {} });
    const boot = await cloud.bootstrap({ tenant: { slug: 'bench' }, apiKey: true, agentToken: true });
    const statePath = join(dir, 'agent.json');
    await registerAgent({ cloudUrl: cloud.url, token: boot.agentToken?.token ?? '', name: 'bench-agent', statePath, directory: target.config, log });
    const agent = spawn(process.execPath, [...(process.env.BENCH_AGENT_NODE_ARGS ? process.env.BENCH_AGENT_NODE_ARGS.split(' ') : []), 'packages/agent/bin/writeback-agent.js', 'run', '--state', statePath], { env: { ...process.env, LOG_LEVEL: 'error' }, stdio: ['ignore', 'inherit', 'inherit'] });
    try {
      const until = Date.now() + 20_000;
      while ((await cloud.relayClient.allAgents()).length === 0) {
        if (Date.now() > until) throw new Error('agent did not connect');
        await new Promise((r) => setTimeout(r, 25));
      }
      // A lean keep-alive HTTP client: the load generator shares the 2 cores with the system under test.
      const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: C });
      const base = new URL(cloud.url);
      const post = (path: string, payload: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpRequest(
            { agent: httpAgent, host: base.hostname, port: base.port, path, method: 'POST', headers: { authorization: `Bearer ${boot.apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          req.end(payload);
        });
      const reset = async (i: number, tag: string) => {
        const user = target.users[i % target.users.length] ?? '';
        const res = await post(`/api/v1/tenants/bench/users/${encodeURIComponent(user)}/password/reset`, JSON.stringify({ newPassword: pw(i, tag), forceChange: false, enforceHistory: true }));
        if (!res.body.includes('"outcome":"succeeded"')) throw new Error(`full reset: ${res.status} ${res.body}`);
      };
      await drive(Math.min(50, N), 4, (i) => reset(i, 'w')); // warm-up
      const f1 = await drive(N, 1, (i) => reset(i, 'f'));
      const fT = await drive(target.throughputTotal(TOTAL), C, (i) => reset(i, 'g'));

      const ds = summarize(d1.latencies);
      const fs = summarize(f1.latencies);
      const directRps = (dT.latencies.length / dT.elapsedMs) * 1000;
      const fullRps = (fT.latencies.length / fT.elapsedMs) * 1000;
      process.stdout.write(`\nsequential (concurrency 1):\n${row('direct adapter reset', ds)}\n${row('full path reset (HTTP→relay→agent)', fs)}\n`);
      process.stdout.write(`${row('overhead (full − direct)', { n: fs.n, p50: fs.p50 - ds.p50, p95: fs.p95 - ds.p95, p99: fs.p99 - ds.p99, mean: fs.mean - ds.mean, max: fs.max - ds.max })}\n`);
      process.stdout.write(`\nthroughput (concurrency ${C}):\n  direct adapter: ${directRps.toFixed(0)} resets/s (${dT.latencies.length} in ${(dT.elapsedMs / 1000).toFixed(2)} s)\n  full path:      ${fullRps.toFixed(0)} resets/s (${fT.latencies.length} in ${(fT.elapsedMs / 1000).toFixed(2)} s); ${row('latency under load', summarize(fT.latencies)).trim()}\n`);
      process.stdout.write(`  ratio full/direct throughput: ${(fullRps / directRps).toFixed(2)}\n\n`);
      process.stdout.write(`overhead_p50_ms=${(fs.p50 - ds.p50).toFixed(2)} overhead_p99_ms=${(fs.p99 - ds.p99).toFixed(2)} throughput_rps=${fullRps.toFixed(0)}\n`);
      httpAgent.destroy();
    } finally {
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
      await cloud.close();
    }
  } finally {
    await target.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
