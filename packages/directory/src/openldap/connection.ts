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
import { type Client, ResultCodeError, type Control } from 'ldapts';
import type { Logger } from '@writeback/protocol';
import { DirectoryError } from '../errors.js';
import { openClient } from '../ldap/client.js';
import { ConnectionPool } from '../ldap/pool.js';
import { ServerList } from '../ldap/server-list.js';
import { tlsOptionsFor as sharedTlsOptions, tlsProblemOf } from '../ldap/tls.js';
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

function reasonOf(err: unknown): UnreachableError['reason'] {
  if (tlsProblemOf(err)) return 'tls';
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const msg = err instanceof Error ? err.message : '';
  if (/timed? ?out/i.test(msg) || code === 'ETIMEDOUT') return 'timeout';
  return 'network';
}

/** The servers in the order to try them: the configured order, one that failed skipped for `retryMs`. */
export function serverList(urls: readonly string[], retryMs: number, now: () => number): ServerList {
  return new ServerList(urls, { baseMs: retryMs, capMs: retryMs, jitter: 0 }, now);
}

/** TLS options for one URL's host (ldap/tls.ts; `host` also names the certificate for StartTLS). */
export function tlsOptionsFor(cfg: ResolvedOpenLdapConfig, host: string): ConnectionOptions {
  return {
    host: host.replace(/^\[|\]$/g, ''),
    ...sharedTlsOptions(
      { ca: cfg.ca, tlsServerName: cfg.tlsServerName, skipVerification: cfg.dangerouslySkipTlsVerification },
      host,
    ),
  };
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
    let client: Client;
    try {
      client = await openClient(url, {
        tlsOptions: tlsOptionsFor(cfg, new URL(url).hostname),
        startTls: cfg.startTls,
        timeoutMs: cfg.timeoutMs,
      });
    } catch (err) {
      last = err;
      servers.markDown(url);
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
  private readonly pool: ConnectionPool<Pooled>;

  constructor(
    private readonly cfg: ResolvedOpenLdapConfig,
    private readonly servers: ServerList,
    log: Logger,
  ) {
    const closed = () => new DirectoryError('closed', 'the OpenLDAP directory is closed');
    this.pool = new ConnectionPool<Pooled>({
      size: cfg.poolSize,
      timeoutMs: cfg.timeoutMs,
      open: async () => {
        const { client, url } = await connectAndBind(cfg, servers, cfg.bindDn, cfg.bindPassword);
        return new Pooled(client, url);
      },
      usable: (c) => c.usable,
      dispose: (c) =>
        c.client.unbind().catch((err: unknown) => log.debug('openldap: closing a connection failed', { err })),
      closedError: closed,
      timeoutError: () => new UnreachableError('no pooled directory connection became free in time', 'pool_exhausted'),
    });
  }

  /** A usable connection: an idle one, a new one, or the next one released (up to timeoutMs). */
  acquire(): Promise<PooledConnection> {
    return this.pool.acquire();
  }

  /** Give a connection back; one that is no longer usable (or `broken`) is closed instead. */
  release(conn: PooledConnection, broken = false): void {
    if (conn instanceof Pooled) this.pool.release(conn, broken);
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

  /** True once close() was called: nothing is acquired any more. */
  get isClosed(): boolean {
    return this.pool.isClosed;
  }

  /** Refuses the waiting acquires and unbinds the idle connections (busy ones on release); idempotent. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
