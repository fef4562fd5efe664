/**
 * Connections to the OpenLDAP servers: TLS (ldaps:// or StartTLS) with the configured CA, the
 * servers tried in order with a failed one skipped for a while, and a small pool of connections
 * bound as the service account. User-bound connections (change, verify) are opened per request
 * and closed at once; they never enter the pool.
 *
 * ldapts reconnects a closed client transparently on the next call, UNBOUND; a pooled connection
 * used after such a reconnect would run as anonymous. Every use therefore checks `isBound`
 * synchronously right before the call (no await in between), and a client that lost its socket is
 * thrown away, never reused.
 */
import type { ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import { Client, ResultCodeError, type Control } from 'ldapts';
import type { Logger } from '@writeback/protocol';
import { DirectoryError } from '../errors.js';
import type { ResolvedOpenLdapConfig } from './config.js';

/** No server could be reached (network, TLS, timeout) or the pool had no connection in time. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    message: string,
    readonly reason: 'network' | 'tls' | 'timeout' | 'pool_exhausted' | 'lost',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server answered a bind with a result code (wrong password, locked, ...). */
export class BindRejectedError extends Error {
  override readonly name = 'BindRejectedError';
  constructor(
    readonly code: number,
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(`bind rejected with LDAP result ${code}`, options);
  }
}

export function isResultCodeError(err: unknown): err is ResultCodeError {
  return err instanceof ResultCodeError && typeof err.code === 'number';
}

const TLS_ERROR = /CERT|SSL|TLS|SELF_SIGNED|ALTNAME|UNABLE_TO|HANDSHAKE/i;

function reasonOf(err: unknown): UnreachableError['reason'] {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const msg = err instanceof Error ? err.message : '';
  if (TLS_ERROR.test(code) || TLS_ERROR.test(msg)) return 'tls';
  if (/timed? ?out/i.test(msg) || code === 'ETIMEDOUT') return 'timeout';
  return 'network';
}

/** The servers in the order to try them: the configured order, recently failed ones last. */
export class ServerList {
  private readonly downUntil = new Map<string, number>();
  constructor(
    readonly urls: readonly string[],
    private readonly retryMs: number,
    private readonly now: () => number,
  ) {}
  order(): string[] {
    const t = this.now();
    const up = this.urls.filter((u) => (this.downUntil.get(u) ?? 0) <= t);
    const down = this.urls.filter((u) => (this.downUntil.get(u) ?? 0) > t);
    return [...up, ...down];
  }
  markDown(url: string): void {
    this.downUntil.set(url, this.now() + this.retryMs);
  }
  markUp(url: string): void {
    this.downUntil.delete(url);
  }
}

/** TLS options for one URL's host. */
export function tlsOptionsFor(cfg: ResolvedOpenLdapConfig, host: string): ConnectionOptions {
  const bare = host.replace(/^\[|\]$/g, '');
  const opts: ConnectionOptions = {
    host: bare,
    minVersion: 'TLSv1.2',
    rejectUnauthorized: !cfg.dangerouslySkipTlsVerification,
  };
  if (cfg.ca) opts.ca = cfg.ca;
  // SNI must not carry an IP address; Node checks the certificate against `host` then.
  if (cfg.tlsServerName) opts.servername = cfg.tlsServerName;
  else if (isIP(bare) === 0) opts.servername = bare;
  return opts;
}

/** A client connected (and TLS-upgraded when configured) to one server. */
export interface OpenedClient {
  client: Client;
  url: string;
}

/**
 * Connects to the first server that answers and binds as `dn`. `makeControls` is called once per
 * attempt so a response control is never parsed into an instance used by an earlier attempt.
 * Throws BindRejectedError when a server answered the bind with an error (not retried elsewhere:
 * it is the directory's answer), UnreachableError when no server could be reached.
 */
export async function connectAndBind(
  cfg: ResolvedOpenLdapConfig,
  servers: ServerList,
  dn: string,
  password: string,
  makeControls: () => Control[] = () => [],
  onAttempt?: (controls: Control[]) => void,
): Promise<OpenedClient> {
  let last: unknown;
  for (const url of servers.order()) {
    const u = new URL(url);
    const secure = u.protocol === 'ldaps:';
    const tls = tlsOptionsFor(cfg, u.hostname);
    const client = new Client({
      url,
      timeout: cfg.timeoutMs,
      connectTimeout: cfg.timeoutMs,
      ...(secure ? { tlsOptions: tls } : {}),
    });
    try {
      if (!secure && cfg.startTls) await client.startTLS({ ...tls });
    } catch (err) {
      last = err;
      servers.markDown(url);
      await client.unbind().catch(() => undefined);
      continue;
    }
    const controls = makeControls();
    onAttempt?.(controls);
    try {
      await client.bind(dn, password, controls);
      servers.markUp(url);
      return { client, url };
    } catch (err) {
      await client.unbind().catch(() => undefined);
      if (isResultCodeError(err)) throw new BindRejectedError(err.code, url, { cause: err });
      last = err;
      servers.markDown(url);
    }
  }
  throw new UnreachableError('no directory server could be reached', reasonOf(last), { cause: last });
}

/** A bound service connection lent by the pool. */
export interface PooledConnection {
  readonly client: Client;
  readonly url: string;
  /** Still connected and bound as the service account (safe to send the next request). */
  readonly usable: boolean;
}

class Pooled implements PooledConnection {
  constructor(
    public client: Client,
    public url: string,
  ) {}
  get usable(): boolean {
    return this.client.isBound;
  }
}

/** Bound service-account connections, at most `size`, handed out one request at a time. */
export class ServicePool {
  private readonly idle: Pooled[] = [];
  private readonly waiters: Array<(c: Pooled | Error) => void> = [];
  private total = 0;
  private closed = false;

  constructor(
    private readonly cfg: ResolvedOpenLdapConfig,
    private readonly servers: ServerList,
    private readonly log: Logger,
  ) {}

  /** A usable connection: an idle one, a new one, or the next one released (up to timeoutMs). */
  async acquire(): Promise<PooledConnection> {
    if (this.closed) throw new DirectoryError('closed', 'the OpenLDAP directory is closed');
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.usable) return c;
      this.discard(c);
    }
    if (this.total < this.cfg.poolSize) {
      this.total++;
      try {
        const { client, url } = await connectAndBind(this.cfg, this.servers, this.cfg.bindDn, this.cfg.bindPassword);
        if (this.closed) {
          await client.unbind().catch(() => undefined);
          throw new DirectoryError('closed', 'the OpenLDAP directory is closed');
        }
        return new Pooled(client, url);
      } catch (err) {
        this.total--;
        this.wakeOne();
        throw err;
      }
    }
    return new Promise<PooledConnection>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(take);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new UnreachableError('no pooled directory connection became free in time', 'pool_exhausted'));
      }, this.cfg.timeoutMs);
      const take = (c: Pooled | Error) => {
        clearTimeout(timer);
        if (c instanceof Error) reject(c);
        else resolve(c);
      };
      this.waiters.push(take);
    });
  }

  /** Give a connection back; one that is no longer usable (or `broken`) is closed instead. */
  release(conn: PooledConnection, broken = false): void {
    if (!(conn instanceof Pooled)) return;
    if (broken || !conn.usable || this.closed) {
      this.discard(conn);
      this.wakeOne();
      return;
    }
    const w = this.waiters.shift();
    if (w) w(conn);
    else this.idle.push(conn);
  }

  /** A waiter whose slot freed up gets a fresh connection (or the error making one). */
  private wakeOne(): void {
    const w = this.waiters.shift();
    if (!w) return;
    this.acquire().then(
      (c) => (c instanceof Pooled ? w(c) : w(new Error('unexpected connection'))),
      (err: unknown) => w(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /**
   * Replaces a lent connection's dead client with a freshly bound one, keeping the lease (and the
   * pool slot): used when the first read of an operation finds the server closed it while idle.
   */
  async renew(conn: PooledConnection): Promise<void> {
    if (!(conn instanceof Pooled)) throw new TypeError('not a pooled connection');
    const fresh = await connectAndBind(this.cfg, this.servers, this.cfg.bindDn, this.cfg.bindPassword);
    const stale = conn.client;
    conn.client = fresh.client;
    conn.url = fresh.url;
    stale.unbind().catch(() => undefined);
  }

  private discard(c: Pooled): void {
    this.total = Math.max(0, this.total - 1);
    c.client.unbind().catch((err: unknown) => this.log.debug('openldap: closing a connection failed', { err }));
  }

  /** True once close() was called: nothing is acquired any more. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Refuses the waiting acquires and unbinds the idle connections (busy ones on release); idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle.splice(0);
    for (const w of this.waiters.splice(0)) w(new DirectoryError('closed', 'the OpenLDAP directory is closed'));
    await Promise.all(idle.map((c) => c.client.unbind().catch(() => undefined)));
    this.total = 0;
  }
}
