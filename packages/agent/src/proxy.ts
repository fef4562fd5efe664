/**
 * The agent's outbound proxy: a corporate HTTP proxy the relay WebSockets and the HTTPS calls to
 * the cloud (registration, doctor) go through as an HTTP CONNECT tunnel, with TLS to the relay or
 * the cloud inside it (end to end unless the proxy inspects TLS: then its CA must be trusted).
 *
 * Read once from the environment, curl's way:
 *   https_proxy / HTTPS_PROXY   for wss:// and https:// targets
 *   http_proxy  / HTTP_PROXY    for ws:// and http:// targets (loopback test stacks)
 *   no_proxy    / NO_PROXY      hosts reached directly: `*`, `host`, `.domain` / `*.domain` (the
 *                               domain and its subdomains), `host:port`, an IP literal
 *   WRITEBACK_PROXY_AUTH_FILE   `user:password` for Basic auth (first line); never logged
 *   WRITEBACK_PROXY_CA_FILE     PEM added to the trusted CAs of every TLS connection (a
 *                               TLS-inspecting proxy's CA, and an https:// proxy's own certificate)
 * Credentials in the proxy URL (`http://user:pass@proxy:3128`) work too, but a file keeps them out
 * of the environment of every child process; the file wins when both are given.
 */
import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { rootCertificates, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Agent as HttpAgent, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { PassThrough, type Duplex } from 'node:stream';
import { AgentError } from './errors.js';
import { AGENT_VERSION } from './version.js';

/** One proxy: where it is (no credentials in it) and the Proxy-Authorization header, if any. */
export interface ProxyEndpoint {
  /** `http://host:port` or `https://host:port`, credentials removed: safe to log. */
  readonly url: URL;
  /** `Basic …`, or null without credentials. Never logged. */
  readonly authorization: string | null;
  /** Where the credentials came from (for doctor and logs, never the credentials themselves). */
  readonly authFrom: 'file' | 'url' | null;
}

/** The proxy settings of this process, parsed once. */
export interface ProxySettings {
  readonly https: ProxyEndpoint | null;
  readonly http: ProxyEndpoint | null;
  /** NO_PROXY entries, lower case; `*` alone bypasses every host. */
  readonly noProxy: readonly string[];
  /** The extra CA (WRITEBACK_PROXY_CA_FILE), and its path for messages. */
  readonly ca: Buffer | undefined;
  readonly caFile: string | undefined;
  readonly authFile: string | undefined;
}

export const NO_PROXY_SETTINGS: ProxySettings = Object.freeze({
  https: null,
  http: null,
  noProxy: [],
  ca: undefined,
  caFile: undefined,
  authFile: undefined,
});

type Env = Readonly<Record<string, string | undefined>>;

const pick = (env: Env, name: string): string | undefined => {
  const v = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
};

function readAuthFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new AgentError('invalid_config', `WRITEBACK_PROXY_AUTH_FILE ${path} cannot be read`, { cause });
  }
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  const colon = line.indexOf(':');
  if (colon < 1) throw new AgentError('invalid_config', `WRITEBACK_PROXY_AUTH_FILE ${path} must hold user:password`);
  return line;
}

function endpoint(raw: string, name: string, fileAuth: string | null): ProxyEndpoint {
  let url: URL;
  try {
    // A bare host:port is what many hosts have in their environment: read it as http://.
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch (cause) {
    // The value may hold a password: it is not repeated in the message.
    throw new AgentError('invalid_config', `${name} is not a URL`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new AgentError('invalid_config', `${name} must be an http:// or https:// proxy URL`);
  let userPass: string | null = fileAuth;
  let authFrom: ProxyEndpoint['authFrom'] = fileAuth ? 'file' : null;
  if (!userPass && (url.username || url.password)) {
    userPass = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    authFrom = 'url';
  }
  const clean = new URL(`${url.protocol}//${url.host}`);
  return {
    url: clean,
    authorization: userPass ? `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}` : null,
    authFrom,
  };
}

/**
 * The proxy settings of an environment. Throws AgentError `invalid_config` for a proxy URL that
 * does not parse or a file that cannot be read (at start-up: a proxy configured wrongly must not
 * turn into connections that silently go direct).
 */
export function proxySettingsFromEnv(env: Env): ProxySettings {
  const authFile = env.WRITEBACK_PROXY_AUTH_FILE?.trim() || undefined;
  const caFile = env.WRITEBACK_PROXY_CA_FILE?.trim() || undefined;
  const fileAuth = authFile ? readAuthFile(authFile) : null;
  const httpsRaw = pick(env, 'https_proxy');
  const httpRaw = pick(env, 'http_proxy');
  let ca: Buffer | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile);
    } catch (cause) {
      throw new AgentError('invalid_config', `WRITEBACK_PROXY_CA_FILE ${caFile} cannot be read`, { cause });
    }
  }
  return Object.freeze({
    https: httpsRaw ? endpoint(httpsRaw, 'HTTPS_PROXY', fileAuth) : null,
    http: httpRaw ? endpoint(httpRaw, 'HTTP_PROXY', fileAuth) : null,
    noProxy: (pick(env, 'no_proxy') ?? '')
      .split(/[\s,]+/)
      .map((e) => e.trim().toLowerCase())
      .filter((e) => e !== ''),
    ca,
    caFile,
    authFile,
  });
}

const defaultPort = (url: URL): number =>
  url.port !== '' ? Number(url.port) : url.protocol === 'https:' || url.protocol === 'wss:' ? 443 : 80;
const bare = (host: string) => host.replace(/^\[|\]$/g, '').toLowerCase();

/** Whether NO_PROXY sends `url` direct. */
export function bypassesProxy(url: URL, noProxy: readonly string[]): boolean {
  const host = bare(url.hostname);
  const port = defaultPort(url);
  for (const entry of noProxy) {
    if (entry === '*') return true;
    let name = entry;
    let entryPort: number | null = null;
    // host:port, [v6]:port; a bare IPv6 literal has several colons and no port.
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (m?.[1] && m[2]) {
      name = m[1];
      entryPort = Number(m[2]);
    }
    name = bare(name).replace(/^\*?\./, '');
    if (entryPort !== null && entryPort !== port) continue;
    if (host === name || (isIP(host) === 0 && host.endsWith(`.${name}`))) return true;
  }
  return false;
}

/** The proxy `url` goes through, or null for a direct connection. */
export function proxyFor(url: URL, settings: ProxySettings): ProxyEndpoint | null {
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  const proxy = secure ? settings.https : settings.http;
  if (!proxy || bypassesProxy(url, settings.noProxy)) return null;
  return proxy;
}

/**
 * The CAs for TLS to the relay or the cloud: `ca` (--ca) alone replaces the public roots as it
 * always did; the proxy's CA is added to whichever set applies (to the public roots without --ca).
 */
export function trustedCas(ca: Buffer | undefined, settings: ProxySettings): Buffer | (string | Buffer)[] | undefined {
  if (!settings.ca) return ca;
  return ca ? [ca, settings.ca] : [...rootCertificates, settings.ca];
}

export interface TunnelTarget {
  host: string;
  port: number;
}

const MAX_HEADER_BYTES = 16 * 1024;

function proxyError(status: number, proxy: ProxyEndpoint, target: TunnelTarget): AgentError {
  const where = `proxy ${proxy.url.host} (CONNECT ${target.host}:${target.port})`;
  // 407 is the proxy's own "credentials, please"; some proxies (tinyproxy 1.11) answer a CONNECT
  // with bad credentials 401 instead.
  const err =
    status === 407 || status === 401
      ? new AgentError(
          'proxy_auth_failed',
          proxy.authorization
            ? `${where} refused the credentials (HTTP ${status})`
            : `${where} requires authentication (HTTP ${status}) and none is configured`,
        )
      : status === 403
        ? new AgentError('proxy_forbidden', `${where} does not allow this tunnel (HTTP 403)`)
        : new AgentError('proxy_refused', `${where} answered HTTP ${status} instead of opening the tunnel`);
  return Object.assign(err, { proxyStatus: status });
}

/**
 * Open a CONNECT tunnel to `target` through `proxy`: resolves with the socket once the proxy
 * answered 2xx (bytes after that answer belong to the tunnel). Rejects with AgentError
 * `proxy_unreachable`, `proxy_auth_failed` (407, or 401 as some proxies say it), `proxy_forbidden`
 * (403) or `proxy_refused`.
 */
export function openTunnel(
  proxy: ProxyEndpoint,
  target: TunnelTarget,
  o: { ca?: Buffer | (string | Buffer)[] | undefined; timeoutMs?: number } = {},
): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const host = bare(proxy.url.hostname);
    const port = defaultPort(proxy.url);
    const socket: Socket | TLSSocket =
      proxy.url.protocol === 'https:'
        ? tlsConnect({ host, port, servername: isIP(host) ? '' : host, ...(o.ca ? { ca: o.ca } : {}) })
        : netConnect({ host, port });
    let done = false;
    let received = Buffer.alloc(0);
    const timer = setTimeout(
      () => fail(new AgentError('proxy_unreachable', `proxy ${proxy.url.host} did not answer the CONNECT in time`)),
      o.timeoutMs ?? 10_000,
    );
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    function fail(err: Error) {
      if (done) return;
      done = true;
      cleanup();
      socket.destroy();
      reject(err);
    }
    function onError(cause: Error) {
      fail(new AgentError('proxy_unreachable', `proxy ${proxy.url.host} cannot be reached`, { cause }));
    }
    function onClose() {
      fail(new AgentError('proxy_unreachable', `proxy ${proxy.url.host} closed the connection before answering`));
    }
    function onData(chunk: Buffer) {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > MAX_HEADER_BYTES)
          fail(new AgentError('proxy_unreachable', `proxy ${proxy.url.host} sent an answer that is not HTTP`));
        return;
      }
      const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (!m?.[1]) {
        fail(new AgentError('proxy_unreachable', `proxy ${proxy.url.host} sent an answer that is not HTTP`));
        return;
      }
      const status = Number(m[1]);
      if (status < 200 || status > 299) {
        fail(proxyError(status, proxy, target));
        return;
      }
      done = true;
      cleanup();
      const rest = received.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    }
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once(proxy.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      const authority = isIP(target.host) === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
      socket.write(
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: writeback-agent/${AGENT_VERSION}\r\n` +
          (proxy.authorization ? `Proxy-Authorization: ${proxy.authorization}\r\n` : '') +
          '\r\n',
      );
    });
  });
}

/** TLS over an open tunnel, the certificate checked for `host` against `ca` (or the public roots). */
export function tlsOverTunnel(
  socket: Duplex,
  host: string,
  ca: Buffer | (string | Buffer)[] | undefined,
  alpn: string[] = ['http/1.1'],
): TLSSocket {
  return tlsConnect({ socket, servername: isIP(host) ? '' : host, ALPNProtocols: alpn, ...(ca ? { ca } : {}) });
}

type Target = { host: string; port: number; servername: string };

/**
 * An http(s) Agent whose connections come from `connect` (asynchronously: the CONNECT answer is
 * awaited). Given as the `agent` of `http(s).request` or of a `ws` client; https when `secure`
 * (a request checks its agent's protocol).
 */
export function connectAgent(secure: boolean, connect: (target: Target) => Promise<Duplex>): HttpAgent {
  const Base = secure ? HttpsAgent : HttpAgent;
  class ConnectAgent extends Base {
    override createConnection(
      options: ClientRequestArgs & { servername?: string },
      callback?: (err: Error | null, stream: Duplex) => void,
    ): undefined {
      const host = bare(options.host ?? options.hostname ?? 'localhost');
      const port = Number(options.port ?? options.defaultPort ?? (secure ? 443 : 80));
      const servername = options.servername ?? host;
      connect({ host, port, servername }).then(
        (socket) => callback?.(null, socket),
        // The callback's stream is not read on error.
        (err: Error) => callback?.(err, new PassThrough()),
      );
      return undefined;
    }
  }
  return new ConnectAgent({ keepAlive: false });
}

/** An Agent whose connections are CONNECT tunnels through `proxy` (TLS inside them when `secure`). */
export function tunnelAgent(
  proxy: ProxyEndpoint,
  secure: boolean,
  o: { ca?: Buffer | (string | Buffer)[] | undefined; timeoutMs?: number } = {},
): HttpAgent {
  return connectAgent(secure, async (t) => {
    const socket = await openTunnel(proxy, t, o);
    return secure ? tlsOverTunnel(socket, t.servername, o.ca) : socket;
  });
}

/** What a log line or doctor may say about a proxy: its origin and where its credentials come from. */
export function describeProxy(proxy: ProxyEndpoint): string {
  return `${proxy.url.origin}${proxy.authFrom === 'file' ? ' (Basic auth from WRITEBACK_PROXY_AUTH_FILE)' : proxy.authFrom === 'url' ? ' (Basic auth from the proxy URL)' : ''}`;
}
