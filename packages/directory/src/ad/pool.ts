/**
 * Connections to the domain controllers: a small pool of TLS connections bound as the service
 * account, spread over several DCs (tried in configured order, a failing DC is skipped for a
 * backoff period), each having read the DC's rootDSE once.
 *
 * Every client may open exactly one socket (../ldap/client.ts says why): a connection that lost
 * its socket is replaced, never reconnected unbound.
 */
import { backoffDelay, type BackoffShape, type Logger } from '@writeback/protocol';
import type { Client } from 'ldapts';
import { openClient as openLdapClient } from '../ldap/client.js';
import { ConnectionPool } from '../ldap/pool.js';
import { ServerList } from '../ldap/server-list.js';
import { tlsOptionsFor } from '../ldap/tls.js';
import type { AdUrl, ResolvedAdConfig } from './config.js';
import { readRootDse, type RootDse } from '../ldap/root-dse.js';
import { classifyLdapError, isTlsVerificationError, type LdapFailure } from './ldap-errors.js';

/** A bound service-account connection. */
export interface AdConnection {
  readonly client: Client;
  readonly url: AdUrl;
  readonly rootDse: RootDse;
}

/**
 * The request never reached a DC (no connection, bind refused, TLS failed, pool exhausted): safe
 * to retry elsewhere, and certainly nothing was written.
 */
export class NotSentError extends Error {
  override readonly name = 'NotSentError';
  readonly failure: LdapFailure | undefined;
  /** Stable reason for logs: no_dc, tls, bind_rejected, pool_timeout, closed, lost. */
  readonly reason: 'no_dc' | 'tls' | 'bind_rejected' | 'pool_timeout' | 'closed' | 'lost';
  constructor(reason: NotSentError['reason'], message: string, failure?: LdapFailure, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.reason = reason;
    this.failure = failure;
  }
}

/** A failing DC is skipped for 1 s, doubling up to a minute, ±20 %. */
export const DC_BACKOFF: BackoffShape = { baseMs: 1000, capMs: 60_000, jitter: 0.2 };
/** After a refused service bind: 30 s, doubling up to 10 minutes. */
export const BIND_PAUSE: BackoffShape = { baseMs: 30_000, capMs: 600_000, jitter: 0 };

export class AdPool {
  private readonly pool: ConnectionPool<AdConnection>;
  private readonly servers: ServerList<AdUrl>;
  /**
   * After the DC refused the service account's password, binds pause: every retry would be one
   * more bad password, and the lockout policy would lock the service account out.
   */
  private bindRejections = 0;
  private bindPausedUntil = 0;
  /** Called with every new connection's rootDSE (capabilities follow the DC in use). */
  onConnect: ((c: AdConnection) => void) | undefined;

  constructor(
    private readonly cfg: ResolvedAdConfig,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    this.servers = new ServerList(cfg.urls, DC_BACKOFF, now);
    this.pool = new ConnectionPool<AdConnection>({
      size: cfg.poolSize,
      timeoutMs: cfg.timeoutMs,
      open: () => this.open(),
      usable: (c) => c.client.isBound,
      dispose: (c) => c.client.unbind().catch(() => undefined),
      closedError: () => new NotSentError('closed', 'directory closed'),
      timeoutError: () => new NotSentError('pool_timeout', `no free directory connection within ${cfg.timeoutMs} ms`),
      closeLent: true,
    });
  }

  /**
   * A bound connection for one operation; give it back with release() or discard(). `fresh`: not
   * an idle one (an idle connection may have been closed by the DC without its close event having
   * arrived yet: the retry after such a loss must not take another one), a new one, making room by
   * closing an idle one when the pool is full.
   */
  acquire(o: { fresh?: boolean } = {}): Promise<AdConnection> {
    return this.pool.acquire(o);
  }

  /** Give a healthy connection back. */
  release(conn: AdConnection): void {
    this.pool.release(conn);
  }

  /** Throw a connection away (transport failure, or its state is unknown). */
  discard(conn: AdConnection): void {
    this.pool.release(conn, true);
  }

  /** Mark the URL a connection came from as failing (skipped for a while). */
  markDown(url: AdUrl, failure: LdapFailure): void {
    if (!this.cfg.urls.some((u) => u.url === url.url)) return;
    const { failures, backoffMs } = this.servers.markDown(url);
    this.log.warn('directory connection failed; trying other DCs first for a while', {
      url: url.url,
      failures,
      backoffMs,
      errorCode: failure.kind === 'transport' ? failure.errorCode : failure.code,
      diagnostic: failure.diagnostic,
    });
  }

  /**
   * A separate, short-lived connection bound as someone else (pass-through sign-in). Throws
   * NotSentError when no DC could be reached; a refused bind is returned as its LdapFailure.
   */
  async bindAs(url: AdUrl, dn: string, password: string): Promise<Extract<LdapFailure, { kind: 'result' }> | null> {
    const client = await this.connectTo(url);
    try {
      await client.bind(dn, password);
      return null;
    } catch (err) {
      const f = classifyLdapError(err);
      if (f.kind === 'transport') throw connectFailure(this.cfg, url, err, this.log);
      return f;
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** URLs in the order to try: healthy ones as configured, then the failing ones, soonest back first. */
  orderedUrls(): AdUrl[] {
    return this.servers.order();
  }

  /** True once close() was called: nothing is acquired any more. */
  get isClosed(): boolean {
    return this.pool.isClosed;
  }

  /** Refuses the waiting acquires and unbinds every connection; calling it again does nothing more. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Open, bind and read the rootDSE on the first DC that answers. */
  private async open(): Promise<AdConnection> {
    if (this.now() < this.bindPausedUntil) {
      throw new NotSentError('bind_rejected', 'service account bind refused recently; not retrying yet');
    }
    let last: NotSentError | undefined;
    for (const url of this.orderedUrls()) {
      try {
        const client = await this.connectTo(url);
        try {
          await client.bind(this.cfg.bindDn, this.cfg.bindPassword);
        } catch (err) {
          await client.unbind().catch(() => undefined);
          const f = classifyLdapError(err);
          if (f.kind === 'result') {
            // A refused service bind is a configuration problem, the same on every DC.
            this.bindRejections++;
            this.bindPausedUntil = this.now() + backoffDelay(this.bindRejections - 1, BIND_PAUSE);
            this.log.error(
              'service account bind refused by the DC; check bindDn / bindPassword and that the account is enabled and not locked',
              {
                url: url.url,
                ldapCode: f.code,
                data: f.data,
                retryInMs: this.bindPausedUntil - this.now(),
              },
            );
            throw new NotSentError('bind_rejected', 'service account bind refused', f);
          }
          throw connectFailure(this.cfg, url, err, this.log);
        }
        let rootDse: RootDse;
        try {
          rootDse = await readRootDse(client);
        } catch (err) {
          await client.unbind().catch(() => undefined);
          throw connectFailure(this.cfg, url, err, this.log);
        }
        this.servers.markUp(url);
        this.bindRejections = 0;
        const conn: AdConnection = { client, url, rootDse };
        this.onConnect?.(conn);
        return conn;
      } catch (err) {
        const e =
          err instanceof NotSentError
            ? err
            : new NotSentError('no_dc', 'directory connection failed', classifyLdapError(err));
        if (e.reason === 'bind_rejected') throw e;
        if (e.failure) this.markDown(url, e.failure);
        last = e;
      }
    }
    throw last ?? new NotSentError('no_dc', 'no DC configured');
  }

  private connectTo(url: AdUrl): Promise<Client> {
    return openClient(this.cfg, url, this.log);
  }
}

/**
 * A TLS-protected, not yet bound client on one URL (StartTLS already done), allowed exactly one
 * socket. Throws NotSentError ('tls' when the certificate did not verify, logged with the fix).
 */
export async function openClient(cfg: ResolvedAdConfig, url: AdUrl, log: Logger): Promise<Client> {
  const tlsOptions = tlsOptionsFor(
    { ca: cfg.ca, tlsServerName: cfg.tlsServerName, skipVerification: cfg.skipTlsVerification },
    new URL(url.url).hostname,
  );
  try {
    return await openLdapClient(url.url, { tlsOptions, startTls: url.startTls, timeoutMs: cfg.timeoutMs });
  } catch (err) {
    throw connectFailure(cfg, url, err, log);
  }
}

/** A transport failure before anything was sent: log TLS problems loudly, wrap as NotSentError. */
export function connectFailure(cfg: ResolvedAdConfig, url: AdUrl, err: unknown, log: Logger): NotSentError {
  const f = classifyLdapError(err);
  if (isTlsVerificationError(f)) {
    log.error(
      'TLS verification of the DC certificate failed; set caFile to the CA that issued it (and tlsServerName if the name in the certificate differs from the URL host)',
      {
        url: url.url,
        errorCode: f.kind === 'transport' ? f.errorCode : undefined,
        diagnostic: f.diagnostic,
        caFile: cfg.caFile,
        tlsServerName: cfg.tlsServerName,
        ...(f.kind === 'transport' && f.certificateNames ? { certificateNames: f.certificateNames } : {}),
      },
    );
    return new NotSentError('tls', 'TLS verification failed', f, err);
  }
  return new NotSentError('no_dc', 'directory connection failed', f, err);
}
