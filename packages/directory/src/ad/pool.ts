/**
 * Connections to the domain controllers: a small pool of TLS connections bound as the service
 * account, spread over several DCs (tried in configured order, a failing DC is skipped for a
 * backoff period), each having read the DC's rootDSE once.
 *
 * Safety rule: an ldapts Client transparently reconnects when its socket dropped, and the new
 * socket is neither bound nor (for StartTLS) encrypted. A password write on such a socket would be
 * anonymous at best and clear text at worst, so every Client here may open exactly one socket;
 * a second attempt throws before anything is sent, and the pool replaces the connection.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '@writeback/protocol';
import { Client } from 'ldapts';
import type { AdUrl, ResolvedAdConfig } from './config.js';
import { strings, str } from './entry.js';
import { classifyLdapError, isTlsVerificationError, type LdapFailure } from './ldap-errors.js';

/** What a DC says about itself. */
export interface RootDse {
  defaultNamingContext: string | undefined;
  dnsHostName: string | undefined;
  supportedControl: readonly string[];
  currentTime: string | undefined;
}

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
  constructor(reason: NotSentError['reason'], message: string, failure?: LdapFailure) {
    super(message);
    this.reason = reason;
    this.failure = failure;
  }
}

interface UrlHealth {
  failures: number;
  downUntil: number;
}

interface Waiter {
  resolve: (c: PooledConnection) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface PooledConnection extends AdConnection {
  busy: boolean;
}

const ROOT_DSE_ATTRS = ['defaultNamingContext', 'dnsHostName', 'supportedControl', 'currentTime'];

export class AdPool {
  private readonly idle: PooledConnection[] = [];
  private readonly all = new Set<PooledConnection>();
  private readonly waiters: Waiter[] = [];
  private readonly health = new Map<string, UrlHealth>();
  private opening = 0;
  private closed = false;
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
    for (const u of cfg.urls) this.health.set(u.url, { failures: 0, downUntil: 0 });
  }

  /**
   * A bound connection for one operation; give it back with release() or discard(). `fresh`: not
   * an idle one (an idle connection may have been closed by the DC without its close event having
   * arrived yet: the retry after such a loss must not take another one), a new one, making room by
   * closing an idle one when the pool is full.
   */
  async acquire(o: { fresh?: boolean } = {}): Promise<AdConnection> {
    if (this.closed) throw new NotSentError('closed', 'directory closed');
    const idle = this.idle.pop();
    if (idle) {
      if (idle.client.isBound && !o.fresh) {
        idle.busy = true;
        return idle;
      }
      this.drop(idle);
    }
    if (this.all.size + this.opening < this.cfg.poolSize) {
      this.opening++;
      try {
        const c = await this.open();
        if (this.closed) {
          await c.client.unbind().catch(() => undefined);
          throw new NotSentError('closed', 'directory closed');
        }
        const pooled: PooledConnection = { ...c, busy: true };
        this.all.add(pooled);
        return pooled;
      } finally {
        this.opening--;
      }
    }
    return new Promise<PooledConnection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new NotSentError('pool_timeout', `no free directory connection within ${this.cfg.timeoutMs} ms`));
        }, this.cfg.timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Give a healthy connection back. */
  release(conn: AdConnection): void {
    const pooled = this.find(conn);
    if (!pooled) return;
    if (this.closed || !pooled.client.isBound) {
      this.discard(conn);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(pooled);
      return;
    }
    pooled.busy = false;
    this.idle.push(pooled);
  }

  /** Throw a connection away (transport failure, or its state is unknown). */
  discard(conn: AdConnection): void {
    const pooled = this.find(conn);
    if (!pooled) return;
    this.drop(pooled);
    // Someone may be waiting for a slot that is now free.
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      this.opening++;
      this.open()
        .then((c) => {
          const p: PooledConnection = { ...c, busy: true };
          this.all.add(p);
          waiter.resolve(p);
        })
        .catch((e: unknown) => waiter.reject(e instanceof Error ? e : new Error(String(e))))
        .finally(() => {
          this.opening--;
        });
    }
  }

  /** Mark the URL a connection came from as failing (skipped for a while). */
  markDown(url: AdUrl, failure: LdapFailure): void {
    const h = this.health.get(url.url);
    if (!h) return;
    h.failures++;
    const base = Math.min(60_000, 1000 * 2 ** Math.min(h.failures - 1, 6));
    h.downUntil = this.now() + Math.round(base * (0.8 + Math.random() * 0.4));
    this.log.warn('directory connection failed; trying other DCs first for a while', {
      url: url.url,
      failures: h.failures,
      backoffMs: h.downUntil - this.now(),
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
    const t = this.now();
    const up = this.cfg.urls.filter((u) => (this.health.get(u.url)?.downUntil ?? 0) <= t);
    const down = this.cfg.urls
      .filter((u) => (this.health.get(u.url)?.downUntil ?? 0) > t)
      .sort((a, b) => (this.health.get(a.url)?.downUntil ?? 0) - (this.health.get(b.url)?.downUntil ?? 0));
    return [...up, ...down];
  }

  /** True once close() was called: nothing is acquired any more. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Refuses the waiting acquires and unbinds every connection; calling it again does nothing more. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new NotSentError('closed', 'directory closed'));
    }
    const conns = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(conns.map((c) => c.client.unbind().catch(() => undefined)));
  }

  private find(conn: AdConnection): PooledConnection | undefined {
    for (const p of this.all) if (p.client === conn.client) return p;
    return undefined;
  }

  private drop(p: PooledConnection): void {
    this.all.delete(p);
    const i = this.idle.indexOf(p);
    if (i >= 0) this.idle.splice(i, 1);
    p.client.unbind().catch(() => undefined);
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
            this.bindPausedUntil = this.now() + Math.min(600_000, 30_000 * 2 ** Math.min(this.bindRejections - 1, 5));
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
        const h = this.health.get(url.url);
        if (h) {
          h.failures = 0;
          h.downUntil = 0;
        }
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

/** The rootDSE attributes the adapter uses. */
export async function readRootDse(client: Client): Promise<RootDse> {
  const res = await client.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ROOT_DSE_ATTRS });
  const e = res.searchEntries[0];
  if (!e)
    return { defaultNamingContext: undefined, dnsHostName: undefined, supportedControl: [], currentTime: undefined };
  return {
    defaultNamingContext: str(e, 'defaultNamingContext'),
    dnsHostName: str(e, 'dnsHostName'),
    supportedControl: [...new Set(strings(e, 'supportedControl'))],
    currentTime: str(e, 'currentTime'),
  };
}

/**
 * A TLS-protected, not yet bound client on one URL (StartTLS already done), allowed exactly one
 * socket. Throws NotSentError ('tls' when the certificate did not verify, logged with the fix).
 */
export async function openClient(cfg: ResolvedAdConfig, url: AdUrl, log: Logger): Promise<Client> {
  const host = new URL(url.url).hostname.replace(/^\[|\]$/g, '');
  const tlsOptions: tls.ConnectionOptions = {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: !cfg.skipTlsVerification,
    ...(cfg.ca ? { ca: cfg.ca } : {}),
    ...(cfg.tlsServerName ? { servername: cfg.tlsServerName } : net.isIP(host) ? {} : { servername: host }),
  };
  let plainSockets = 0;
  let tlsSockets = 0;
  const refuse = (): never => {
    throw new Error('connection dropped; refusing to reconnect this client (it would be unbound)');
  };
  const createConnection = ((...args: Parameters<typeof net.connect>) => {
    if (plainSockets++ > 0) refuse();
    return net.connect(...args);
  }) as typeof net.connect;
  const createSecureConnection = ((...args: Parameters<typeof tls.connect>) => {
    if (tlsSockets++ > 0) refuse();
    return tls.connect(...args);
  }) as typeof tls.connect;

  const client = new Client({
    url: url.url,
    timeout: cfg.timeoutMs,
    connectTimeout: cfg.timeoutMs,
    // For ldaps:// the options apply from the first byte; for StartTLS they must not be given
    // here (ldapts would then open TLS directly) but to startTLS().
    ...(url.startTls ? {} : { tlsOptions }),
    createConnection,
    createSecureConnection,
  });
  if (url.startTls) {
    try {
      await client.startTLS(tlsOptions);
    } catch (err) {
      await client.unbind().catch(() => undefined);
      throw connectFailure(cfg, url, err, log);
    }
  }
  return client;
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
      },
    );
    return new NotSentError('tls', 'TLS verification failed', f);
  }
  return new NotSentError('no_dc', 'directory connection failed', f);
}
