/**
 * `npm run chaos` (issue 11, "operating a cluster"): a whole cluster on loopback (a nats-server,
 * a PostgreSQL database of its own, 2 cloud nodes with RELAY_MODE=nats, 2 standalone relays, a lab
 * slapd with the test users, 2 agent processes of one tenant writing to it, one per relay; every
 * part its own OS process), resets driven through it (chaos/load.ts) while faults run one after
 * the other, each followed by its recovery (chaos/scenarios.ts): kill -9 of an agent, of a relay,
 * of a cloud node (each started again on its port), NATS down, PostgreSQL connections terminated,
 * a relay paused (late presence answers), a flood of unauthenticated WebSockets.
 *
 * Every outcome is checked (chaos/load.ts, chaos/verify.ts): a `succeeded` whose password does not
 * bind at slapd, or a user whose final password is none of those that may be current, is a
 * `false_success`; a key answered with two request ids, or more reset records for a user than keys
 * sent, a `double_write`; an answer whose audit record (once the sweep closed the pending ones)
 * says another outcome, an `audit_mismatch` (told `outcome_unknown`/`timeout` and the audit knew
 * better later is counted apart: not a contradiction). `unavailable_after_recovery_s` is, per
 * fault, the time from its end (process ready again, NATS back, ...) to the last request sent that
 * failed (agent_unavailable, directory_unavailable, a 5xx, a lost connection); the final line has
 * the largest. One line per scenario, then:
 *   requests=<n> false_success=<n> double_write=<n> audit_mismatch=<n> unavailable_after_recovery_s=<x>
 * Exit 1 when one of the three counters is above 0 (or a recovery never came), 2 when the run broke.
 *
 * Options: --duration-per-scenario <s, default 20> --workers <4> --users <200> --nats-down-s <30>
 * --flood <2000 sockets> --short (16 users, 2 workers, 2 s per scenario, NATS down 3 s, 500
 * sockets, no agent restarted during the flood: the version `npm test` runs) --keep (keep the processes' logs). Needs nats-server,
 * slapd and psql on PATH and PostgreSQL at TEST_POSTGRES_URL (default postgres://127.0.0.1:5432/test)
 * with the right to create a database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Cluster, startCluster } from './chaos/cluster.js';
import { Load, type LogicalRequest } from './chaos/load.js';
import { SCENARIOS } from './chaos/scenarios.js';
import { checkAudit, checkFinalPasswords, settledAudit } from './chaos/verify.js';

const { values } = parseArgs({
  options: {
    'duration-per-scenario': { type: 'string' },
    workers: { type: 'string' },
    users: { type: 'string' },
    'nats-down-s': { type: 'string' },
    flood: { type: 'string' },
    short: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const short = values.short;
const num = (v: string | undefined, dflt: number, name: string): number => {
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new TypeError(`--${name}: a positive number`);
  return n;
};
const DURATION_S = num(values['duration-per-scenario'], short ? 2 : 20, 'duration-per-scenario');
const WORKERS = Math.floor(num(values.workers, short ? 2 : 4, 'workers'));
const USERS = Math.floor(num(values.users, short ? 16 : 200, 'users'));
const NATS_DOWN_S = num(values['nats-down-s'], short ? 3 : 30, 'nats-down-s');
const FLOOD = Math.floor(num(values.flood, short ? 500 : 2000, 'flood'));
/** A recovery must show this long without a failure (the window's end may be later). */
const QUIET_MS = Math.min(5, DURATION_S) * 1000;
/** After this long without recovery the scenario is given up as "never recovered". */
const RECOVERY_CAP_MS = 90_000;

const out = (line: string) => process.stdout.write(`${line}\n`);
const say = (line: string) => out(`# ${line}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface ScenarioRun {
  name: string;
  faultEnd: number;
  extra: Record<string, string | number>;
  recovered: boolean;
}

async function main(): Promise<number> {
  const runDir = await mkdtemp(join(tmpdir(), 'wb-chaos-'));
  say(
    `chaos: ${USERS} users, ${WORKERS} workers, ${DURATION_S} s per scenario, NATS down ${NATS_DOWN_S} s, flood ${FLOOD}; logs in ${runDir}`,
  );
  let cluster: Cluster | undefined;
  let keepLogs = values.keep;
  /** Printed last, after the cluster stopped, so it is the last line. */
  let finalLine: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    void (cluster?.stop() ?? Promise.resolve()).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const t0 = performance.now();
    cluster = await startCluster({ runDir, users: USERS, say });
    const c = cluster;
    say(`cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const load = new Load({
      cloudUrls: c.cloudUrls,
      apiKey: c.apiKey,
      ldapUrl: c.lab.url,
      users: c.users,
      workers: WORKERS,
      runId: randomBytes(4).toString('hex'),
      say,
    });
    load.start();
    await sleep(DURATION_S * 1000);

    const runs: ScenarioRun[] = [];
    for (const s of SCENARIOS) {
      load.scenario = s.name;
      say(`scenario ${s.name}`);
      const extra = await s.inject(c, {
        natsDownS: NATS_DOWN_S,
        floodSockets: FLOOD,
        floodHoldS: 3,
        downMs: short ? 300 : 1000,
        floodRestartsAgent: !short,
        say,
      });
      const faultEnd = performance.now();
      await sleep(DURATION_S * 1000);
      // Until a quiet stretch (no failed request sent for QUIET_MS) in which a request sent after
      // the fault's end succeeded (workers all waiting on requests of the fault prove nothing), or the cap.
      const lastFailure = () => {
        const f = load.failures.filter((e) => e.scenario === s.name && e.sentAt >= faultEnd);
        return f.length === 0 ? null : Math.max(...f.map((e) => e.sentAt));
      };
      const served = () =>
        load.requests.some((q) => q.sentAt >= faultEnd && q.told.kind === 'outcome' && q.told.outcome === 'succeeded');
      let recovered = false;
      for (;;) {
        const last = lastFailure();
        if ((last === null || performance.now() - last >= QUIET_MS) && served()) {
          recovered = true;
          break;
        }
        if (performance.now() - faultEnd > RECOVERY_CAP_MS) break;
        await sleep(250);
      }
      if (!recovered) say(`  NO RECOVERY within ${RECOVERY_CAP_MS / 1000} s of the end of ${s.name}`);
      runs.push({ name: s.name, faultEnd, extra, recovered });
    }
    say('stopping the load');
    await load.stop();

    say('reading the audit (after the pending sweep)');
    const audit = await settledAudit(c.cloudUrls[1], c.apiKey, 60_000);
    const findings = checkAudit(load.requests, audit);
    const finalBad = await checkFinalPasswords(load.userStates, await c.storedPasswords());
    for (const x of findings.auditMismatch) say(`AUDIT MISMATCH ${JSON.stringify(x)}`);
    for (const x of findings.doubleWrite) say(`DOUBLE WRITE ${JSON.stringify(x)}`);
    for (const x of finalBad) say(`FINAL PASSWORD user=${x.user.uid}: ${x.detail}`);
    if (findings.pendingLeft > 0) say(`${findings.pendingLeft} audit records still pending after 60 s`);

    // One line per scenario (warm-up first), then the final line.
    const unavailable = new Map<string, number>();
    for (const r of runs) {
      const after = load.failures.filter((e) => e.scenario === r.name && e.sentAt >= r.faultEnd);
      unavailable.set(r.name, after.length === 0 ? 0 : (Math.max(...after.map((e) => e.sentAt)) - r.faultEnd) / 1000);
    }
    const perScenario = (name: string) => {
      const reqs = load.requests.filter((q) => q.scenario === name);
      const told = (pred: (o: string) => boolean) =>
        reqs.filter((q) => (q.told.kind === 'outcome' ? pred(q.told.outcome) : pred(q.told.kind))).length;
      const inS = <T extends { scenario: string }>(xs: readonly T[]) => xs.filter((x) => x.scenario === name).length;
      return [
        `requests=${reqs.length}`,
        `succeeded=${told((o) => o === 'succeeded')}`,
        `unavailable=${told((o) => o === 'agent_unavailable' || o === 'directory_unavailable')}`,
        `unknown=${told((o) => o === 'outcome_unknown' || o === 'timeout' || o === 'error' || o === 'gave_up')}`,
        `lost_connections=${reqs.reduce((a, q) => a + q.lost, 0)}`,
        `not_succeeded=${notSucceeded(reqs) || '-'}`,
        `false_success=${inS(load.falseSuccesses)}`,
        `double_write=${inS(findings.doubleWrite)}`,
        `audit_mismatch=${inS(findings.auditMismatch)}`,
        `unknown_resolved=${inS(findings.unknownResolved)}`,
      ];
    };
    out(`scenario=warmup ${perScenario('warmup').join(' ')}`);
    for (const r of runs) {
      const extra = Object.entries(r.extra).map(([k, v]) => `${k}=${v}`);
      out(
        `scenario=${r.name} ${perScenario(r.name).join(' ')} unavailable_after_recovery_s=${(unavailable.get(r.name) ?? 0).toFixed(1)} recovered=${r.recovered ? 'yes' : 'no'} ${extra.join(' ')}`.trimEnd(),
      );
    }
    out(
      `final_passwords users=${load.userStates.length} not_in_candidates=${finalBad.length} unattributed_double_write=${inS(findings.doubleWrite, '?')} no_audit_record_for_refusal=${findings.noRecord.length} reset_audit_records=${findings.resetRecords}`,
    );
    const falseSuccess = load.falseSuccesses.length + finalBad.length;
    const maxUnavailable = Math.max(0, ...unavailable.values());
    finalLine = `requests=${load.requests.length} false_success=${falseSuccess} double_write=${findings.doubleWrite.length} audit_mismatch=${findings.auditMismatch.length} unavailable_after_recovery_s=${maxUnavailable.toFixed(1)}`;
    const bad = falseSuccess > 0 || findings.doubleWrite.length > 0 || findings.auditMismatch.length > 0;
    if (bad || runs.some((r) => !r.recovered)) keepLogs = true;
    return bad || runs.some((r) => !r.recovered) ? 1 : 0;
  } catch (err) {
    keepLogs = true;
    process.stderr.write(`chaos: the run broke: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 2;
  } finally {
    await cluster?.stop();
    if (keepLogs) say(`logs kept in ${runDir}`);
    else await rm(runDir, { recursive: true, force: true });
    if (finalLine) out(finalLine);
  }
}

/** The answers other than `succeeded`, counted: `agent_unavailable:3,outcome_unknown:1`. */
function notSucceeded(reqs: readonly LogicalRequest[]): string {
  const counts = new Map<string, number>();
  for (const q of reqs) {
    const t = q.told;
    const what = t.kind === 'outcome' ? t.outcome : t.kind === 'error' ? `${t.status}_${t.code}` : 'gave_up';
    if (what !== 'succeeded') counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].map(([k, v]) => `${k}:${v}`).join(',');
}

function inS(xs: readonly { scenario: string }[], name: string): number {
  return xs.filter((x) => x.scenario === name).length;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${String(err)}\n`);
    process.exit(2);
  },
);
