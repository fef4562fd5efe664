/**
 * The doctor's relay.* checks, for each relay the agent dials: the relay URL, TCP/TLS reachability
 * (through the outbound proxy's CONNECT tunnel when one applies: `proxy.connect` says how the
 * proxy answered), and the agent's real challenge/auth handshake as a probe (see doctor.ts), whose
 * challenge also gives a clock. With several relays every id takes the relay as a suffix
 * (`relay.reach:wss://r2.example.com`).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket, type RawData } from 'ws';
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  RelayToAgentFrameSchema,
  encodeFrame,
  parseFrame,
  signAuthProof,
  type RelayErrorCode,
  type RelayToAgentFrame,
} from '@writeback/protocol';
import type { DoctorCheck } from '@writeback/directory';
import type { AgentKeys } from '../config.js';
import { AgentError } from '../errors.js';
import { describeProxy, openTunnel, proxyFor, trustedCas, tunnelAgent, type ProxyEndpoint } from '../proxy.js';
import { AGENT_VERSION } from '../version.js';
import { errnoCode, proxyFix, reachFix, urlCheck, type ProbeContext, type ProbeResult } from './common.js';

type Ca = Buffer | (string | Buffer)[] | undefined;

/** TCP connect (or the given tunnel), then the TLS handshake (certificate verified) for wss://. */
function reach(url: URL, ca: Ca, timeoutMs: number, tunnel?: Socket): Promise<{ tls: string | null }> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'wss:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
    const socket = secure
      ? tlsConnect({
          ...(tunnel ? { socket: tunnel } : { host, port }),
          servername: isIpLiteral(host) ? '' : host,
          ...(ca ? { ca } : {}),
          ALPNProtocols: ['http/1.1'],
        })
      : (tunnel ?? netConnect({ host, port }));
    if (!secure && tunnel) {
      tunnel.destroy();
      resolve({ tls: null });
      return;
    }
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
  { state, timeoutMs, now }: ProbeContext,
  keys: AgentKeys,
  url: URL,
  ca: Ca,
  proxy: ProxyEndpoint | null,
): Promise<Handshake> {
  return new Promise((resolve) => {
    let serverTime: number | null = null;
    let receivedAt = 0;
    let relayId = '';
    let done = false;
    const ws = new WebSocket(url, {
      maxPayload: MAX_FRAME_BYTES * 2,
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
      ...(ca ? { ca } : {}),
      ...(proxy ? { agent: tunnelAgent(proxy, url.protocol === 'wss:', { ca, timeoutMs }) } : {}),
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

/**
 * relay.url, proxy.connect (only through a proxy), relay.reach and relay.auth (the agent's real
 * handshake) for the relay at `relayUrl`; the clock is the relay's. `suffix` names the relay in the
 * ids when there are several.
 */
export async function relayChecks(
  probe: ProbeContext,
  keys: AgentKeys,
  relayUrl: string,
  suffix = '',
): Promise<ProbeResult> {
  const { timeoutMs } = probe;
  const id = (name: string) => `${name}${suffix}`;
  const checks: DoctorCheck[] = [];
  const url = new URL(relayUrl);
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
    checks.push({
      id: id('relay.url'),
      status: 'fail',
      summary: `relayUrl ${url.origin} is not a ws(s):// URL`,
      fix: 'Register the agent again against a correctly configured cloud.',
    });
    return { checks, clock: null };
  }
  checks.push({ ...urlCheck('relay.url', url, 'wss:', 'relayUrl'), id: id('relay.url') });
  const ca = trustedCas(probe.ca, probe.proxy);
  const proxy = proxyFor(url, probe.proxy);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? (url.protocol === 'wss:' ? 443 : 80) : Number(url.port);
  let tunnel: Socket | undefined;
  if (proxy) {
    try {
      tunnel = await openTunnel(proxy, { host, port }, { ca, timeoutMs });
      checks.push({
        id: id('proxy.connect'),
        status: 'pass',
        summary: `proxy ${describeProxy(proxy)} opened a tunnel to ${host}:${port}`,
      });
    } catch (err) {
      const code = err instanceof AgentError ? err.code : errnoCode(err);
      checks.push({
        id: id('proxy.connect'),
        status: 'fail',
        code,
        summary: err instanceof AgentError ? err.message : `CONNECT through ${proxy.url.origin} failed (${code})`,
        fix: proxyFix(code, proxy, `${host}:${port}`),
      });
      checks.push({
        id: id('relay.reach'),
        status: 'fail',
        summary: `not tried: the proxy did not open a tunnel to ${host}:${port}`,
        fix: `Fix ${id('proxy.connect')} first.`,
      });
      checks.push({
        id: id('relay.auth'),
        status: 'fail',
        summary: 'not tried: the relay is not reachable',
        fix: `Fix ${id('proxy.connect')} first.`,
      });
      return { checks, clock: null };
    }
  }
  try {
    const r = await reach(url, ca, timeoutMs, tunnel);
    checks.push({
      id: id('relay.reach'),
      status: 'pass',
      summary: `${url.host} reachable${proxy ? ` through ${proxy.url.origin}` : ''}${r.tls ? `, ${r.tls} certificate verified` : ' (no TLS)'}`,
    });
  } catch (err) {
    tunnel?.destroy();
    const code = errnoCode(err);
    checks.push({
      id: id('relay.reach'),
      status: 'fail',
      summary: `${url.host} not reachable${proxy ? ` through ${proxy.url.origin}` : ''} (${code})`,
      fix:
        proxy && /CERT|SELF_SIGNED|ISSUER|UNABLE_TO_VERIFY/.test(code)
          ? `${reachFix(code, 'relay')} A proxy that inspects TLS re-signs certificates with its own CA: give that CA in WRITEBACK_PROXY_CA_FILE.`
          : reachFix(code, 'relay'),
    });
    checks.push({
      id: id('relay.auth'),
      status: 'fail',
      summary: 'not tried: the relay is not reachable',
      fix: `Fix ${id('relay.reach')} first.`,
    });
    return { checks, clock: null };
  }
  const h = await handshake(probe, keys, url, ca, proxy);
  const clock = h.serverTime === null ? null : { server: h.serverTime, local: h.receivedAt };
  if (h.kind === 'welcome') {
    checks.push({
      id: id('relay.auth'),
      status: 'pass',
      summary: `relay ${h.relayId} accepted this agent's key (welcome; the connection was closed at once)`,
    });
  } else if (h.kind === 'refused') {
    checks.push({ ...refusalCheck(h.code), id: id('relay.auth') });
  } else {
    checks.push({
      id: id('relay.auth'),
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
    case 'auth_unavailable':
      return {
        id: 'relay.auth',
        status: 'warn',
        code,
        summary:
          'the relay could not check this agent right now (the cloud did not answer its check: its store or NATS)',
        fix: 'Nothing to change on this host: the agent retries by itself. If it lasts, check the cloud health (/healthz) and NATS.',
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
