/**
 * `writeback-agent doctor`: everything that makes writeback fail in practice, checked from the
 * agent's host with the agent's own state file, each with a verdict and what to do.
 *
 *   state.*      the state file: present, parses, parts belong together, mode 0600, owner
 *   proxy        whether the relays and the cloud are reached through an outbound proxy, and which
 *   cloud.*      the cloud's URL and GET /healthz (through the proxy when one applies)
 *   relay.*      for each relay: the URL (wss, port 443), the proxy's CONNECT (proxy.connect),
 *                TCP/TLS reachability, the real challenge/auth handshake with the agent's key
 *                (welcome, revoked, unknown); ids take the relay as a suffix when there are several
 *   clock_skew   local clock against the relay challenge's serverTime (or the cloud's Date header)
 *   directory.*  the adapter's own checks (`directoryDoctorChecks`), prefixed
 *
 * Checks are independent: one failing does not stop the others, except that nothing can be
 * checked without a readable state. The relay handshake is a probe (`probe: true` in the auth
 * frame): the relay gives the verdict the agent itself would get (welcome, revoked, unknown) and
 * closes the connection, which never joins the agent's connections, so no request can be routed
 * to it and a running agent's slots are untouched. A relay older than the probe flag treats it as
 * an agent connection; the doctor then closes as soon as `welcome` arrives and never executes the
 * request that could reach it in that instant (it would end `lost` on the relay).
 *
 * The checks of each group live in doctor/ (state.ts, proxy.ts, cloud.ts, relay.ts; common.ts holds what
 * they share); this file runs them and judges the clock from what cloud and relay measured.
 */
import { readFile } from 'node:fs/promises';
import { createLogger, type Logger } from '@writeback/protocol';
import { directoryDoctorChecks, type DoctorCheck } from '@writeback/directory';
import { stderrLogSink } from './log-sink.js';
import { cloudChecks } from './doctor/cloud.js';
import { errnoCode, type ProbeResult } from './doctor/common.js';
import { proxyCheck } from './doctor/proxy.js';
import { relayChecks } from './doctor/relay.js';
import { relayUrlsOf } from './relays.js';
import { stateChecks } from './doctor/state.js';

export type { DoctorCheck } from '@writeback/directory';

/** pass: every check passed; warn: warnings only; fail: at least one failure. */
export type DoctorStatus = DoctorCheck['status'];

export interface DoctorReport {
  status: DoctorStatus;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  statePath: string;
  /** PEM file of the CA that signs the relay's (and cloud's) certificate, as `run --ca`. */
  caFile?: string;
  /** Per network step (connect, TLS, handshake, HTTP). Default 10 s. */
  timeoutMs?: number;
  /** AD only: probe the Reset Password right with a reset the DC must refuse. Default true. */
  probeReset?: boolean;
  /** The environment the proxy settings (HTTPS_PROXY, NO_PROXY, WRITEBACK_PROXY_*) are read from; default: no proxy. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The relays `run` is told to dial instead of the state's (`--relays`, WRITEBACK_RELAY_URLS). */
  relayUrls?: readonly string[];
  /** Where adapters log (default: errors only, to stderr, so `--json` stdout stays clean). */
  log?: Logger;
  now?: () => number;
}

/** Skew thresholds: request deadlines and the agent's freshness rule depend on the clocks. */
export const CLOCK_SKEW_WARN_MS = 30_000;
export const CLOCK_SKEW_FAIL_MS = 5 * 60_000;

const DEFAULT_TIMEOUT_MS = 10_000;

/** The worst status of the list. */
export function overallStatus(checks: readonly DoctorCheck[]): DoctorStatus {
  if (checks.some((c) => c.status === 'fail')) return 'fail';
  if (checks.some((c) => c.status === 'warn')) return 'warn';
  return 'pass';
}

/** Exit code of `doctor`: 0 all pass, 1 warnings only, 2 at least one failure. */
export function doctorExitCode(status: DoctorStatus): number {
  return status === 'pass' ? 0 : status === 'warn' ? 1 : 2;
}

function clockCheck(relay: ProbeResult['clock'], cloud: ProbeResult['clock']): DoctorCheck {
  const from = relay ? 'the relay' : cloud ? "the cloud's Date header" : null;
  const pair = relay ?? cloud;
  if (!pair || !from)
    return {
      id: 'clock_skew',
      status: 'warn',
      summary: 'not measured: neither the relay nor the cloud answered',
      fix: 'Fix the relay / cloud checks; keep this host in NTP.',
    };
  const skew = pair.local - pair.server;
  const s = Math.round(skew / 1000);
  const abs = Math.abs(skew);
  const what = `local clock is ${s >= 0 ? '+' : ''}${s} s from ${from}`;
  if (abs > CLOCK_SKEW_FAIL_MS)
    return {
      id: 'clock_skew',
      status: 'fail',
      summary: `${what}: requests would be refused as expired or not yet valid`,
      fix: 'Synchronise this host with NTP (chrony / systemd-timesyncd).',
    };
  if (abs > CLOCK_SKEW_WARN_MS)
    return {
      id: 'clock_skew',
      status: 'warn',
      summary: `${what}: deadlines are tight at this skew`,
      fix: 'Synchronise this host with NTP.',
    };
  return { id: 'clock_skew', status: 'pass', summary: what };
}

// ---------------------------------------------------------------------------------------------

/** Run every check. Never throws for what it finds; a state it cannot read is a failed `state.file`. */
export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const now = o.now ?? Date.now;
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const log = o.log ?? createLogger({ name: 'agent.doctor', level: 'error', sink: stderrLogSink });
  const s = await stateChecks(o.statePath);
  if (!s.state || !s.keys) return { status: 'fail', checks: s.checks };
  const { state, keys } = s;

  let ca: Buffer | undefined;
  const caChecks: DoctorCheck[] = [];
  if (o.caFile !== undefined) {
    try {
      ca = await readFile(o.caFile);
      caChecks.push({ id: 'ca', status: 'pass', summary: `CA file ${o.caFile} read` });
    } catch (err) {
      caChecks.push({
        id: 'ca',
        status: 'fail',
        summary: `CA file ${o.caFile} cannot be read (${errnoCode(err)})`,
        fix: 'Give a readable PEM file to --ca.',
      });
    }
  }

  let relayUrls: string[];
  try {
    relayUrls = relayUrlsOf(state, o.relayUrls);
  } catch {
    relayUrls = [state.relayUrl];
  }
  const proxy = proxyCheck(o.env ?? {}, relayUrls, state.cloudUrl);
  const probe = { state, ca, proxy: proxy.settings, timeoutMs, now };
  const several = relayUrls.length > 1;
  const [cloud, relays, directory] = await Promise.all([
    cloudChecks(probe),
    Promise.all(relayUrls.map((u) => relayChecks(probe, keys, u, several ? `:${u}` : ''))),
    directoryDoctorChecks(state.directory, {
      log,
      now,
      ...(o.probeReset === undefined ? {} : { probeReset: o.probeReset }),
    }),
  ]);
  const checks = [
    ...s.checks,
    ...caChecks,
    proxy.check,
    ...cloud.checks,
    ...relays.flatMap((r) => r.checks),
    clockCheck(relays.find((r) => r.clock !== null)?.clock ?? null, cloud.clock),
    ...directory.map((c) => ({ ...c, id: `directory.${c.id}` })),
  ];
  return { status: overallStatus(checks), checks };
}
