/**
 * `npm run bench:presence`: one relay process holding thousands of agents (issue 11 item 2). A
 * nats-server, a cloud node in RELAY_MODE=nats (SQLite), the standalone relay as its own process,
 * one real agent process over an embedded directory (tenant `bench`), and fake agents that
 * register with the cloud and authenticate for real over WebSocket on loopback: the agent
 * package's own daemon over a stub directory, in this process, one tenant each, so the cloud's
 * gateway can be made to route to each one.
 *
 * At each level (default 1,000, 5,000, 10,000 fake agents) it prints the relay's RSS, the routing
 * latency through the cloud's gateway (a health operation: presence per tenant over NATS, seal,
 * relay, agent, answer) to a sample of fake agents, cold (the tenant's first request: one presence
 * question first) and warm, whether every fake agent was reached, the cost of listing every agent
 * (allAgents, as /healthz does), and the real agent's reset p50/p95 through the HTTP API next to
 * its figure with no fake agent. Ends with one line per level:
 *   agents=<n> relay_rss_mb=<x> route_p50_ms=<y> route_p95_ms=<z> routed=<k>/<n> reset_p50_ms=<w>
 *
 * Options: --levels 1000,5000,10000  --sample <routing samples per level, default 300>
 * --resets <real-agent resets per level, default 200>. Needs nats-server on PATH and a file limit
 * above twice the largest level (`ulimit -n`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registerAgent, startAgent, writeState, type RunningAgent } from '@writeback/agent';
import { createCloud, type Cloud } from '@writeback/cloud';
import type { Directory } from '@writeback/directory';
import { createLogger } from '@writeback/protocol';
import { registerTestAgent, startAgentProcess } from '@writeback/testkit';
import { startNatsServer, startRelayProcess } from '@writeback/testkit/nats';
import { LeanHttpClient } from './http-client.js';
import { drive, ms, summarize } from './stats.js';
import { startDirectoryTarget } from './targets.js';

const { values } = parseArgs({
  options: {
    levels: { type: 'string', default: '1000,5000,10000' },
    sample: { type: 'string', default: '300' },
    resets: { type: 'string', default: '200' },
  },
});
const LEVELS = values.levels.split(',').map(Number);
if (LEVELS.some((n) => !Number.isInteger(n) || n < 0)) throw new TypeError('--levels: comma-separated agent counts');
const SAMPLE = Number(values.sample);
const RESETS = Number(values.resets);
const log = createLogger({ name: 'bench', level: 'error' });
const out = (line: string) => process.stdout.write(`${line}\n`);

/** A directory that is always healthy and writes nothing: the fake agents only answer `health`. */
const stubDirectory: Directory = {
  kind: 'embedded',
  capabilities: {
    enforcesHistoryOnReset: false,
    exactPolicyReasons: false,
    forceChangeOnReset: false,
    unlock: false,
    fineGrainedPolicies: false,
  } as Directory['capabilities'],
  resetPassword: async () => ({ outcome: 'directory_unavailable' }),
  changePassword: async () => ({ outcome: 'directory_unavailable' }),
  unlock: async () => ({ outcome: 'directory_unavailable' }),
  getPolicy: async () => ({ outcome: 'directory_unavailable' }),
  verifyCredentials: async () => ({ outcome: 'directory_unavailable' }),
  findUser: async () => null,
  health: async () => ({ ok: true, kind: 'embedded', latencyMs: 0 }),
  close: async () => {},
};

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

interface Fake {
  tenantId: string;
  agentId: string;
  running: RunningAgent;
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'wb-bench-presence-'));
  const prefix = `wbbench.${randomBytes(3).toString('hex')}`;
  const nats = await startNatsServer();
  const cloud: Cloud = await createCloud(
    {
      port: 0,
      databaseUrl: `sqlite:${join(dir, 'writeback.db')}`,
      masterKey: randomBytes(32).toString('base64url'),
      relayMode: 'nats',
      natsUrl: nats.url,
      natsPrefix: prefix,
      syncEnabled: false,
    },
    { log, printOperatorKey: () => {} },
  );
  const relay = await startRelayProcess({
    natsUrl: nats.url,
    natsPrefix: prefix,
    cloudPublicKey: cloud.cloudPublicKey,
    relayId: 'bench-relay',
    env: { RELAY_MAX_PENDING_AUTH_PER_IP: '1024' },
  });
  const fakes: Fake[] = [];
  let real: Awaited<ReturnType<typeof startAgentProcess>> | null = null;
  try {
    // The real agent, as its own process, over the embedded directory.
    const target = await startDirectoryTarget('embedded', { dir, users: 16, log });
    const boot = await cloud.bootstrap({ tenant: { slug: 'bench' }, apiKey: true, agentToken: true });
    const statePath = join(dir, 'agent.json');
    const state = await registerTestAgent({
      cloud,
      token: boot.agentToken?.token ?? '',
      statePath,
      directory: target.config,
      name: 'real-agent',
      log,
    });
    await writeState(statePath, { ...state, relayUrl: relay.url });
    real = await startAgentProcess({
      statePath,
      cloud,
      ...(boot.tenant ? { tenantId: boot.tenant.id } : {}),
      logLevel: 'error',
      output: 'inherit',
      timeoutMs: 30_000,
    });
    const http = new LeanHttpClient(cloud.url, { maxSockets: 1, headers: { Authorization: `Bearer ${boot.apiKey}` } });
    let resetNo = 0;
    const resetP = async () => {
      const samples: number[] = [];
      let failed = 0;
      for (let i = 0; i < RESETS; i++) {
        const user = target.users[i % target.users.length] ?? '';
        const t0 = performance.now();
        const res = await http.post(
          `/api/v1/tenants/bench/users/${encodeURIComponent(user)}/password/reset`,
          JSON.stringify({ newPassword: `Bq-${++resetNo}-${randomBytes(3).toString('hex')}!x`, forceChange: false }),
        );
        samples.push(performance.now() - t0);
        if (!res.body.includes('"outcome":"succeeded"')) failed++;
      }
      return { ...summarize(samples), failed };
    };
    await resetP(); // warm-up
    const base = await resetP();
    out(
      `real agent, no fake agent: reset p50 ${ms(base.p50)} ms p95 ${ms(base.p95)} ms (${base.failed} not succeeded)`,
    );

    const fakeDir = join(dir, 'fakes');
    await mkdir(fakeDir);
    const addFakes = async (n: number) => {
      const from = fakes.length;
      const t0 = performance.now();
      await drive(n, 16, async (k) => {
        const i = from + k;
        const b = await cloud.bootstrap({ tenant: { slug: `fake-${i}` }, agentToken: true });
        const st = await registerAgent({
          cloudUrl: cloud.url,
          token: b.agentToken?.token ?? '',
          name: `fake-${i}`,
          statePath: join(fakeDir, `${i}.json`),
          directory: { kind: 'embedded', path: '/nonexistent' },
          allowPlaintext: true,
          log,
        });
        const running = await startAgent({
          state: { ...st, relayUrl: relay.url },
          directory: stubDirectory,
          allowPlaintext: true,
          log,
        });
        await running.ready();
        fakes.push({ tenantId: st.tenantId, agentId: st.agentId, running });
      });
      return performance.now() - t0;
    };

    const route = async (f: Fake): Promise<{ ms: number; ok: boolean }> => {
      const t0 = performance.now();
      const answer = await cloud.gateway.send({ tenantId: f.tenantId, request: { op: 'health', params: {} } });
      return { ms: performance.now() - t0, ok: answer.agentId === f.agentId && answer.result.outcome === 'succeeded' };
    };

    const summary: string[] = [];
    for (const level of LEVELS) {
      const addMs = await addFakes(level - fakes.length);
      // Wait until the relay says it holds them all (real agent included).
      for (;;) {
        const h = (await (await fetch(relay.healthUrl)).json()) as { agents: number };
        if (h.agents >= level + 1) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const rss = await rssMb(relay.child.pid ?? 0);
      // Every fake agent once (concurrency 8): the first request of its tenant, presence asked first.
      const cold: number[] = [];
      let routed = 0;
      await drive(fakes.length, 8, async (i) => {
        const f = fakes[i];
        if (!f) return;
        const r = await route(f);
        cold.push(r.ms);
        if (r.ok) routed++;
      });
      // A sample, one at a time, now that each tenant's presence is known.
      const warm: number[] = [];
      for (let i = 0; i < SAMPLE; i++) {
        const f = fakes[Math.floor(Math.random() * fakes.length)];
        if (f) warm.push((await route(f)).ms);
      }
      const t0 = performance.now();
      const all = await cloud.relayClient.allAgents();
      const allMs = performance.now() - t0;
      const t1 = performance.now();
      const hz = await fetch(`${cloud.url}/healthz`);
      const hzMs = performance.now() - t1;
      const resets = await resetP();
      const c = summarize(cold);
      const w = summarize(warm);
      out(
        `${level} fake agents (+1 real; connected in ${(addMs / 1000).toFixed(1)} s): relay RSS ${rss.toFixed(0)} MB; ` +
          `routed ${routed}/${fakes.length} (cold, concurrency 8: p50 ${ms(c.p50)} p95 ${ms(c.p95)} ms); ` +
          `routing p50 ${ms(w.p50)} ms p95 ${ms(w.p95)} ms (warm, one at a time, ${warm.length} samples); ` +
          `allAgents ${all.length} in ${ms(allMs)} ms; cloud /healthz ${hz.status} in ${ms(hzMs)} ms; ` +
          `real agent reset p50 ${ms(resets.p50)} ms p95 ${ms(resets.p95)} ms (${resets.failed} not succeeded)`,
      );
      summary.push(
        `agents=${level} relay_rss_mb=${rss.toFixed(0)} route_p50_ms=${ms(w.p50)} route_p95_ms=${ms(w.p95)} routed=${routed}/${fakes.length} reset_p50_ms=${ms(resets.p50)} reset_p50_no_fakes_ms=${ms(base.p50)}`,
      );
    }
    for (const line of summary) out(line);
    await real?.stop();
    real = null;
    await target.stop();
  } finally {
    await Promise.all(fakes.map((f) => f.running.stop().catch(() => {})));
    await real?.stop();
    await relay.stop();
    await cloud.close();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:presence failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
