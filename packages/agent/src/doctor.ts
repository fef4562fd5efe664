/**
 * `writeback-agent doctor`: everything that makes writeback fail in practice, checked from the
 * agent's host with the agent's own state file, each with a verdict and what to do.
 *
 *   state.*      the state file: present, parses, parts belong together, mode 0600, owner
 *   cloud.*      the cloud's URL and GET /healthz
 *   relay.*      the relay URL (wss, port 443), TCP/TLS reachability, the real challenge/auth
 *                handshake with the agent's key (welcome, revoked, unknown)
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
 */
import { readFile, stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket, type RawData } from 'ws';
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  RelayToAgentFrameSchema,
  createLogger,
  encodeFrame,
  parseFrame,
  signAuthProof,
  type Logger,
  type RelayErrorCode,
  type RelayToAgentFrame,
} from '@writeback/protocol';
import { directoryDoctorChecks, type DoctorCheck } from '@writeback/directory';
import { AgentStateSchema, checkStateConsistency, type AgentKeys, type AgentState } from './config.js';
import { AgentError } from './errors.js';
import { stderrLogSink } from './log-sink.js';
import { isLoopbackHost } from './urls.js';
import { AGENT_VERSION } from './version.js';

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

function errnoCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'error';
}

// ---------------------------------------------------------------------------------------------
// state

type StateResult = { checks: DoctorCheck[]; state: AgentState | null; keys: AgentKeys | null };

/**
 * Read the state as `loadState` would, but report instead of refusing: a group-readable file is a
 * failed `state.permissions` check and the other checks still run with it.
 */
async function stateChecks(path: string): Promise<StateResult> {
  const checks: DoctorCheck[] = [];
  const none = (c: DoctorCheck): StateResult => ({ checks: [...checks, c], state: null, keys: null });
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (err) {
    const code = errnoCode(err);
    return none(
      code === 'ENOENT'
        ? {
            id: 'state.file',
            status: 'fail',
            summary: `no state file at ${path}`,
            fix: 'Give the path the agent runs with (--state), or register the agent (writeback-agent register).',
          }
        : {
            id: 'state.file',
            status: 'fail',
            summary: `${path} cannot be examined (${code})`,
            fix: 'Run the doctor as the user the agent runs as.',
          },
    );
  }
  if (!info.isFile())
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path} is not a file`,
      fix: 'Give the path of the state file written by register.',
    });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path} cannot be read (${errnoCode(err)})`,
      fix: 'Run the doctor as the user the agent runs as (the file is 0600).',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path} is not JSON`,
      fix: 'Restore the state file from a backup, or register the agent again (revoke the old one).',
    });
  }
  const parsed = AgentStateSchema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.map(String).join('.') ?? '';
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path} is not a valid state file (at "${where}")`,
      fix: 'Restore the state file from a backup, or register the agent again (revoke the old one).',
    });
  }
  let keys: AgentKeys;
  try {
    keys = checkStateConsistency(parsed.data);
  } catch (err) {
    const what = err instanceof AgentError ? err.code : errnoCode(err);
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path}: its keys and certificate do not belong together (${what})`,
      fix: 'Restore the state file from a backup, or register the agent again (revoke the old one).',
    });
  }
  const state = parsed.data;
  checks.push({
    id: 'state.file',
    status: 'pass',
    summary: `agent ${state.agentId} (${state.name}) of tenant ${state.tenantId}, ${state.directory.kind} directory`,
  });

  const mode = Number(info.mode) & 0o777;
  checks.push(
    (mode & 0o077) === 0
      ? { id: 'state.permissions', status: 'pass', summary: `mode ${mode.toString(8).padStart(3, '0')}` }
      : {
          id: 'state.permissions',
          status: 'fail',
          summary: `mode ${mode.toString(8).padStart(3, '0')}: the private keys are ${(mode & 0o044) !== 0 ? 'readable' : 'accessible'} by group or others; the agent refuses to start with it`,
          fix: `chmod 600 ${path}, and, if others could read it, revoke this agent and register a new one.`,
        },
  );
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : null;
  const owner = Number(info.uid);
  checks.push(
    uid === null || owner === uid
      ? {
          id: 'state.owner',
          status: 'pass',
          summary: uid === null ? 'owner not checked on this platform' : `owned by this user (uid ${owner})`,
        }
      : {
          id: 'state.owner',
          status: 'warn',
          summary: `owned by uid ${owner}, the doctor runs as uid ${uid}: what it finds about files and folders is what uid ${uid} can do`,
          fix: `Run the doctor as the agent's user (sudo -u '#${owner}' writeback-agent doctor ...).`,
        },
  );
  return { checks, state, keys };
}

// ---------------------------------------------------------------------------------------------
// cloud

interface HttpAnswer {
  status: number;
  date: number | null;
  body: string;
}

/** One GET with a CA and a timeout (fetch cannot take a CA file). */
function httpGet(url: URL, ca: Buffer | undefined, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const options = {
      method: 'GET',
      timeout: timeoutMs,
      headers: { accept: 'application/json', 'user-agent': `writeback-agent/${AGENT_VERSION} doctor` },
      ...(ca ? { ca } : {}),
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024) chunks.push(c);
      });
      res.on('end', () => {
        const d = res.headers.date ? Date.parse(res.headers.date) : Number.NaN;
        resolve({
          status: res.statusCode ?? 0,
          date: Number.isFinite(d) ? d : null,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', reject);
    };
    const req =
      url.protocol === 'https:' ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

function tlsFix(code: string): string | null {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return 'The certificate is for another name: use the name it was issued for in the URL.';
  if (/CERT|SELF_SIGNED|ISSUER|SIGNATURE|UNABLE_TO_VERIFY/.test(code))
    return 'Give the CA that issued the certificate (--ca <pem>, as for run), or install a publicly trusted certificate.';
  return null;
}

function reachFix(code: string, what: string): string {
  return (
    tlsFix(code) ??
    (code === 'ENOTFOUND' || code === 'EAI_AGAIN'
      ? `The host name of the ${what} does not resolve here: check DNS.`
      : code === 'ECONNREFUSED'
        ? `Nothing listens there: check the ${what} is running and the URL's port.`
        : `Check the outbound firewall / proxy allows this host to reach the ${what} (HTTPS, port 443).`)
  );
}

interface CloudResult {
  checks: DoctorCheck[];
  /** Server time from the Date header, and when it was received. */
  date: { server: number; local: number } | null;
}

async function cloudChecks(
  state: AgentState,
  ca: Buffer | undefined,
  timeoutMs: number,
  now: () => number,
): Promise<CloudResult> {
  const checks: DoctorCheck[] = [];
  const url = new URL(state.cloudUrl);
  checks.push(urlCheck('cloud.url', url, 'https:', 'cloudUrl'));
  const health = new URL('healthz', url.href.endsWith('/') ? url.href : `${url.href}/`);
  let answer: HttpAnswer;
  try {
    answer = await httpGet(health, ca, timeoutMs);
  } catch (err) {
    const code = errnoCode(err);
    checks.push({
      id: 'cloud.health',
      status: 'fail',
      summary: `GET ${health.href} failed (${code})`,
      fix: reachFix(code, 'cloud'),
    });
    return { checks, date: null };
  }
  const local = now();
  const date = answer.date === null ? null : { server: answer.date, local };
  let status: unknown = null;
  try {
    const body: unknown = JSON.parse(answer.body);
    status = typeof body === 'object' && body !== null && 'status' in body ? body.status : null;
  } catch {
    status = null;
  }
  if (answer.status === 200 && status === 'ok')
    checks.push({ id: 'cloud.health', status: 'pass', summary: `${health.href} answers ok` });
  else if (answer.status === 503)
    checks.push({
      id: 'cloud.health',
      status: 'fail',
      summary: `${health.href} answers 503: the cloud's store does not answer`,
      fix: 'The cloud operator must check its database.',
    });
  else
    checks.push({
      id: 'cloud.health',
      status: 'fail',
      summary: `${health.href} answers HTTP ${answer.status}, not the writeback health document`,
      fix: 'Check cloudUrl in the state file points at the writeback cloud (not a proxy page).',
    });
  return { checks, date };
}

/** Scheme and port of an outbound URL: plaintext fails unless loopback; a port other than 443 warns. */
function urlCheck(id: string, url: URL, secure: 'https:' | 'wss:', option: string): DoctorCheck {
  const plain = url.protocol !== secure;
  const port = url.port === '' ? (plain ? 80 : 443) : Number(url.port);
  if (plain) {
    if (isLoopbackHost(url.hostname)) {
      return {
        id,
        status: 'warn',
        summary: `INSECURE: ${option} ${url.origin} is plain text (acceptable only for a local test stack on this host)`,
        fix: `Use ${secure}// with TLS in front of the cloud for anything real.`,
      };
    }
    return {
      id,
      status: 'fail',
      summary: `INSECURE: ${option} ${url.origin} is plain text to another host: anyone on the path sees and can tamper with the traffic`,
      fix: `Put TLS in front of the cloud and use ${secure}//…:443.`,
    };
  }
  if (port !== 443) {
    return {
      id,
      status: 'warn',
      summary: `${option} ${url.origin} uses port ${port}: firewalls usually allow only 443 outbound`,
      fix: 'Serve it on 443, or make sure the outbound firewall allows this port.',
    };
  }
  return { id, status: 'pass', summary: `${url.origin} (TLS, port 443)` };
}

// ---------------------------------------------------------------------------------------------
// relay

/** TCP connect, then the TLS handshake (certificate verified) for wss://. */
function reach(url: URL, ca: Buffer | undefined, timeoutMs: number): Promise<{ tls: string | null }> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'wss:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
    const socket = secure
      ? tlsConnect({
          host,
          port,
          servername: isIpLiteral(host) ? '' : host,
          ...(ca ? { ca } : {}),
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({ host, port });
    const timer = setTimeout(
      () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      const tls = 'getProtocol' in socket && typeof socket.getProtocol === 'function' ? socket.getProtocol() : null;
      socket.end();
      socket.destroy();
      resolve({ tls: typeof tls === 'string' ? tls : null });
    });
  });
}

const isIpLiteral = (host: string) => /^[\d.]+$/.test(host) || host.includes(':');

type Handshake =
  | { kind: 'welcome'; serverTime: number; receivedAt: number; relayId: string; connectionId: string }
  | { kind: 'refused'; code: RelayErrorCode; serverTime: number | null; receivedAt: number }
  | { kind: 'failed'; reason: string; serverTime: number | null; receivedAt: number };

/** The agent's real handshake, once: challenge → auth (signed with the agent's key) → welcome or error, then close. */
function handshake(
  state: AgentState,
  keys: AgentKeys,
  ca: Buffer | undefined,
  timeoutMs: number,
  now: () => number,
): Promise<Handshake> {
  return new Promise((resolve) => {
    let serverTime: number | null = null;
    let receivedAt = 0;
    let relayId = '';
    let done = false;
    const ws = new WebSocket(state.relayUrl, {
      maxPayload: MAX_FRAME_BYTES * 2,
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
      ...(ca ? { ca } : {}),
    });
    const finish = (h: Handshake) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(h);
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'doctor done');
      else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      setTimeout(() => ws.terminate(), 1_000).unref();
    };
    const timer = setTimeout(
      () =>
        finish({
          kind: 'failed',
          reason: serverTime === null ? 'no challenge in time' : 'no answer to auth in time',
          serverTime,
          receivedAt,
        }),
      timeoutMs,
    );
    ws.on('error', (err) => finish({ kind: 'failed', reason: errnoCode(err), serverTime, receivedAt }));
    ws.on('unexpected-response', (_req, res) =>
      finish({
        kind: 'failed',
        reason: `HTTP ${res.statusCode ?? 0} instead of a WebSocket upgrade`,
        serverTime,
        receivedAt,
      }),
    );
    ws.on('close', (code) =>
      finish({ kind: 'failed', reason: `closed (${code}) without an answer`, serverTime, receivedAt }),
    );
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      let frame: RelayToAgentFrame;
      try {
        if (isBinary) throw new Error('binary frame');
        frame = parseFrame(buf, RelayToAgentFrameSchema);
      } catch {
        finish({ kind: 'failed', reason: 'the relay sent a frame that does not parse', serverTime, receivedAt });
        return;
      }
      switch (frame.t) {
        case 'challenge':
          if (serverTime !== null)
            return finish({ kind: 'failed', reason: 'second challenge', serverTime, receivedAt });
          serverTime = frame.serverTime;
          receivedAt = now();
          relayId = frame.relayId;
          ws.send(
            encodeFrame({
              v: PROTOCOL_VERSION,
              t: 'auth',
              certificate: state.certificate,
              sig: signAuthProof(frame.nonce, frame.relayId, state.certificate, keys.signingKey),
              agentVersion: AGENT_VERSION,
              directory: state.directory.kind,
              capabilities: {},
              // The relay closes a probe after its verdict: no request can be routed here.
              probe: true,
            }),
          );
          return;
        case 'welcome':
          if (serverTime === null)
            return finish({ kind: 'failed', reason: 'welcome before challenge', serverTime, receivedAt });
          return finish({ kind: 'welcome', serverTime, receivedAt, relayId, connectionId: frame.connectionId });
        case 'error':
          return finish({ kind: 'refused', code: frame.code, serverTime, receivedAt });
        case 'request':
          // Never executed; the close that follows `welcome` is already on its way.
          return;
        case 'ping':
          return;
      }
    });
  });
}

interface RelayResult {
  checks: DoctorCheck[];
  clock: { server: number; local: number } | null;
}

async function relayChecks(
  state: AgentState,
  keys: AgentKeys,
  ca: Buffer | undefined,
  timeoutMs: number,
  now: () => number,
): Promise<RelayResult> {
  const checks: DoctorCheck[] = [];
  const url = new URL(state.relayUrl);
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
    checks.push({
      id: 'relay.url',
      status: 'fail',
      summary: `relayUrl ${url.origin} is not a ws(s):// URL`,
      fix: 'Register the agent again against a correctly configured cloud.',
    });
    return { checks, clock: null };
  }
  checks.push(urlCheck('relay.url', url, 'wss:', 'relayUrl'));
  try {
    const r = await reach(url, ca, timeoutMs);
    checks.push({
      id: 'relay.reach',
      status: 'pass',
      summary: `${url.host} reachable${r.tls ? `, ${r.tls} certificate verified` : ' (no TLS)'}`,
    });
  } catch (err) {
    const code = errnoCode(err);
    checks.push({
      id: 'relay.reach',
      status: 'fail',
      summary: `${url.host} not reachable (${code})`,
      fix: reachFix(code, 'relay'),
    });
    checks.push({
      id: 'relay.auth',
      status: 'fail',
      summary: 'not tried: the relay is not reachable',
      fix: 'Fix relay.reach first.',
    });
    return { checks, clock: null };
  }
  const h = await handshake(state, keys, ca, timeoutMs, now);
  const clock = h.serverTime === null ? null : { server: h.serverTime, local: h.receivedAt };
  if (h.kind === 'welcome') {
    checks.push({
      id: 'relay.auth',
      status: 'pass',
      summary: `relay ${h.relayId} accepted this agent's key (welcome; the connection was closed at once)`,
    });
  } else if (h.kind === 'refused') {
    checks.push(refusalCheck(h.code));
  } else {
    checks.push({
      id: 'relay.auth',
      status: 'fail',
      summary: `handshake with ${url.origin}${url.pathname} failed: ${h.reason}`,
      fix: 'Check relayUrl (path /agent) and that no proxy on the way strips WebSocket upgrades.',
    });
  }
  return { checks, clock };
}

function refusalCheck(code: RelayErrorCode): DoctorCheck {
  switch (code) {
    case 'agent_revoked':
      return {
        id: 'relay.auth',
        status: 'fail',
        code,
        summary: 'the relay refused this agent: agent_revoked (revoked, or unknown to the cloud)',
        fix: 'Ask an admin for a new registration token and register again (--overwrite).',
      };
    case 'auth_failed':
      return {
        id: 'relay.auth',
        status: 'fail',
        code,
        summary:
          'the relay refused this agent: auth_failed (its certificate is not signed by this cloud, or the cloud could not check it)',
        fix: 'The state belongs to another cloud (or its key changed): register again with a token of this cloud.',
      };
    case 'overloaded':
      return {
        id: 'relay.auth',
        status: 'pass',
        code,
        summary: "the relay accepted this agent's key (no free connection slot: the running agent holds them all)",
      };
    default:
      return {
        id: 'relay.auth',
        status: 'fail',
        code,
        summary: `the relay refused the handshake: ${code}`,
        fix: 'Check that the agent and the cloud run compatible versions.',
      };
  }
}

function clockCheck(relay: RelayResult['clock'], cloud: CloudResult['date']): DoctorCheck {
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

  const [cloud, relay, directory] = await Promise.all([
    cloudChecks(state, ca, timeoutMs, now),
    relayChecks(state, keys, ca, timeoutMs, now),
    directoryDoctorChecks(state.directory, {
      log,
      now,
      ...(o.probeReset === undefined ? {} : { probeReset: o.probeReset }),
    }),
  ]);
  const checks = [
    ...s.checks,
    ...caChecks,
    ...cloud.checks,
    ...relay.checks,
    clockCheck(relay.clock, cloud.date),
    ...directory.map((c) => ({ ...c, id: `directory.${c.id}` })),
  ];
  return { status: overallStatus(checks), checks };
}
