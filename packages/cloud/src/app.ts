/**
 * createCloud: assembles the service from its parts and starts it. Order matters: the store and
 * its migrations first, then the cloud signing key (decrypted once, never per request), the relay
 * (in-process hub on `/agent` of the same server, or NATS), the sending gateway with sync and the
 * writeback service on top of it, the HTTP app, then the listener and the periodic sweep of
 * abandoned audit records.
 */
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '@writeback/protocol';
import {
  createDeferredRelayClient,
  createNatsLink,
  createNatsRelayClient,
  createRelayHub,
  serveAgentGate,
  type RelayClient,
  type RelayHub,
  type RelayHubOptions,
} from '@writeback/relay';
import { agentGate, touchAgents } from './agents/registry.js';
import { issueAgentToken } from './agents/tokens.js';
import { createAdmin, type Admin, type AdminRole } from './auth/admins.js';
import { createApiKey, importApiKey } from './auth/api-keys.js';
import { defaultOperatorKeyFile, ensureOperatorKey } from './auth/operator-key.js';
import { configWarnings, loadConfig, type CloudConfig, type CloudConfigInput } from './config.js';
import { defaultLogger } from './log-sink.js';
import { createHttpApp } from './http/app.js';
import { createMailerFromConfig, createSmsFromConfig, type Mailer, type SmsProvider } from './mail/index.js';
import type { Services } from './services.js';
import { loadOrCreateCloudKey } from './keys/cloud-key.js';
import { resolveMasterKey } from './keys/master-key.js';
import { createRateLimiter, type RateLimit } from './rate-limit/limiter.js';
import { sweepExpiredIdempotencyKeys } from './idempotency/idempotency.js';
import { sweepAttempts } from './store/attempts.js';
import { openStore, type Db } from './store/index.js';
import { createTenant, findTenant, type Tenant } from './tenants/tenants.js';
import { createAgentGateway, type AgentGateway } from './gateway/gateway.js';
import { createSyncEngine, type SyncEngine } from './sync/engine.js';
import { startExpiryReminders, type ExpiryReminderJob } from './usecases/expiry-reminders.js';
import { createUserResolver } from './users/resolve.js';
import { defaultOutboxFile } from './audit/completions.js';
import { createWritebackService, type WritebackService } from './writeback/service.js';

export interface CloudDeps {
  /** Use this relay client instead of creating a hub or a NATS client (tests, custom transports). */
  relayClient?: RelayClient;
  /** Extra options for the embedded hub (heartbeats, limits). */
  relayHub?: Partial<Omit<RelayHubOptions, 'cloudVerifyKey' | 'gate'>>;
  /** Clock for tokens, sessions, deadlines and rate limits (tests freeze it). */
  now?: () => number;
  log?: Logger;
  /** Use this mailer instead of the configured one (tests). */
  mailer?: Mailer;
  /** Use this SMS provider instead of the configured one (tests). */
  sms?: SmsProvider;
  /** A known operator key (`wbk_<id>.<secret>`) to install at start-up, for demos and tests. */
  operatorKey?: string;
  /**
   * Receives the first generated operator key, once, instead of the key file (tests, demos).
   * Default: written to `config.operatorKeyFile` (0600); only the path is logged.
   */
  printOperatorKey?: (key: string) => void;
  /** Password-expiry reminders: how often the job runs on this node (default hourly; tests shorten it). */
  expiryReminderIntervalMs?: number;
}

export interface BootstrapOptions {
  /** Create the tenant, or reuse the one with this slug. */
  tenant?: { slug: string; name?: string };
  /** A tenant API key for that tenant. */
  apiKey?: boolean | { name?: string };
  admin?: { login: string; password: string; role?: AdminRole };
  agentToken?: boolean | { ttlSeconds?: number };
  /** An extra operator key. */
  operatorKey?: boolean;
}

export interface BootstrapResult {
  tenant?: Tenant;
  apiKey?: string;
  admin?: Admin;
  agentToken?: { token: string; expiresAt: number };
  operatorKey?: string;
}

export interface Cloud {
  app: FastifyInstance;
  server: HttpServer | HttpsServer;
  relayClient: RelayClient;
  /** The embedded hub, when relayMode is embedded and no relay client was injected. */
  relayHub: RelayHub | null;
  store: Db;
  config: CloudConfig;
  /** Where this instance listens, e.g. http://127.0.0.1:43121 */
  url: string;
  /** The WebSocket URL agents are given at registration. */
  relayUrl: string;
  /** base64url Ed25519 public key agents verify requests with. */
  cloudPublicKey: string;
  writeback: WritebackService;
  /** Sends operations to the tenant's agents (under the writeback service and sync). */
  gateway: AgentGateway;
  /** Directory sync: `runOnce(tenantId)` when `syncEnabled` is off (tests). */
  sync: SyncEngine;
  /** Password-expiry reminders (usecases/expiry-reminders.ts): `runOnce()` runs them now. */
  expiryReminders: ExpiryReminderJob;
  /** Outgoing mail and SMS (the in-memory development ones expose `messages`). */
  mailer: Mailer;
  sms: SmsProvider;
  /** The operator key created by this start (first start only), else null. */
  initialOperatorKey: string | null;
  /** Demo/test set-up in one call: tenant, tenant API key, admin, agent token, operator key. */
  bootstrap(opts: BootstrapOptions): Promise<BootstrapResult>;
  close(): Promise<void>;
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Create, start and return the cloud service. `config` is parsed (and frozen) here if it was not already. */
export async function createCloud(
  configInput: CloudConfig | CloudConfigInput = {},
  deps: CloudDeps = {},
): Promise<Cloud> {
  const config = loadConfig({ overrides: configInput });
  const now = deps.now ?? Date.now;
  const log = deps.log ?? defaultLogger('cloud');
  for (const w of configWarnings(config)) log.warn(`INSECURE CONFIGURATION: ${w}`);

  const https = config.tls ? { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } : undefined;
  const masterKey = resolveMasterKey(config, log);
  const db = await openStore({
    url: config.databaseUrl,
    ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
    poolSize: config.databasePoolSize,
    log: log.child({ component: 'store' }),
  });
  const cleanup: (() => Promise<void>)[] = [() => db.close()];
  const unwind = async () => {
    for (const fn of cleanup.reverse()) await fn().catch((err: unknown) => log.error('shutdown step failed', { err }));
  };

  try {
    const cloudKey = await loadOrCreateCloudKey(db, masterKey.key, now());
    masterKey.key.fill(0);

    let initialOperatorKey: string | null = null;
    if (deps.operatorKey)
      await importApiKey(
        db,
        { scope: 'operator', tenantId: null, name: 'preset operator key', token: deps.operatorKey },
        now(),
      );
    else {
      // Written to a 0600 file, never to stdout or the log (log lines are kept; this secret must not be).
      const file = config.operatorKeyFile ?? defaultOperatorKeyFile(config.databaseUrl, config.databaseSchema);
      const first = await ensureOperatorKey(db, { now: now(), deliver: deps.printOperatorKey ?? file });
      if (first.created) {
        initialOperatorKey = first.token;
        // A caller's hook took it (tests, demos); else only the file's path is logged.
        if (!deps.printOperatorKey && file)
          log.warn('first operator API key written to a file (0600): move it to your secret store', { file });
        else if (!deps.printOperatorKey)
          log.warn('first operator API key created but kept nowhere (in-memory store): set OPERATOR_KEY_FILE');
      }
    }

    const gate = agentGate(db);
    let relayHub: RelayHub | null = null;
    let relayClient: RelayClient;
    if (deps.relayClient) relayClient = deps.relayClient;
    else if (config.relayMode === 'embedded') {
      relayHub = createRelayHub({
        ...deps.relayHub,
        cloudVerifyKey: cloudKey.verifyKey,
        gate,
        log: log.child({ component: 'relay' }),
        now,
      });
      relayClient = relayHub.client();
    } else {
      // Reconnect forever (nats.js gives up after 10 attempts by default, and the node with it);
      // while the link is down requests fail at once and /healthz is red. The first connection is
      // made in the background too: a node starts while NATS is down (systemd would otherwise
      // restart it in a loop), answers agent_unavailable at once and is not ready until it connects.
      const natsLink = createNatsLink({
        log: log.child({ component: 'nats' }),
        now,
        reconnectBaseMs: Math.min(250, config.natsReconnectMaxMs),
        reconnectCapMs: config.natsReconnectMaxMs,
      });
      const dialer = natsLink.connect({ servers: config.natsUrl, name: 'writeback-cloud' });
      let gateServer: { stop(): Promise<void> } | null = null;
      relayClient = createDeferredRelayClient(
        dialer.connected.then((nc) => {
          if (!nc) return null;
          gateServer = serveAgentGate(nc, gate, {
            prefix: config.natsPrefix,
            log: log.child({ component: 'relay-gate' }),
          });
          return createNatsRelayClient(nc, {
            prefix: config.natsPrefix,
            log: log.child({ component: 'relay' }),
            now,
            link: natsLink,
          });
        }),
        { link: natsLink, log: log.child({ component: 'relay' }) },
      );
      cleanup.push(async () => {
        dialer.stop();
        const conn = dialer.connection();
        if (!conn) return;
        if (!natsLink.isUp()) return conn.close();
        await gateServer?.stop();
        await conn.drain();
      });
    }

    // Layering: the gateway sends to agents; sync and the writeback service both sit on it; the
    // resolver is given the sync engine's two questions. No late binding is needed.
    const gateway = createAgentGateway({
      db,
      relay: relayClient,
      cloudKey,
      deadlineMs: config.writebackDeadlineMs,
      now,
      log: log.child({ component: 'gateway' }),
    });
    const sync = createSyncEngine({
      db,
      gateway,
      relay: relayClient,
      now,
      log: log.child({ component: 'sync' }),
      anchorsIntervalMs: config.syncAnchorsIntervalMs,
      leaseMs: config.syncLeaseMs,
    });
    const users = createUserResolver({ db, now, log: log.child({ component: 'users' }), sync });
    cleanup.push(() => users.drain());
    const writeback = createWritebackService({
      db,
      gateway,
      deadlineMs: config.writebackDeadlineMs,
      now,
      log: log.child({ component: 'writeback' }),
      pendingGraceMs: config.pendingGraceMs,
      users,
      outboxFile: config.auditOutboxFile ?? defaultOutboxFile(config.databaseUrl, config.databaseSchema),
    });
    // Runs after the HTTP server and the relay closed (reverse order): the last answers are recorded.
    cleanup.push(() => writeback.close());

    const mailer = deps.mailer ?? createMailerFromConfig(config, log.child({ component: 'mail' }), now);
    const sms = deps.sms ?? createSmsFromConfig(config, log.child({ component: 'sms' }), now);
    cleanup.push(() => mailer.close());
    if (mailer.kind === 'memory')
      log.info('mail is kept in memory (development): nothing is delivered; set SMTP_HOST to send');

    let url = '';
    let relayUrl = '';
    let relayUrls: string[] = [];
    const rl = config.rateLimits;
    /** A step's budgets: per account and address (and known browser), per account, per address. */
    const accountLimiters = (name: string, perAccountIp: RateLimit, perAccount: RateLimit, perIp: RateLimit) => ({
      perAccountIp: createRateLimiter(db, `${name}-account-ip`, perAccountIp, now),
      perAccount: createRateLimiter(db, `${name}-account`, perAccount, now),
      perDevice: createRateLimiter(db, `${name}-device`, perAccountIp, now),
      perIp: createRateLimiter(db, `${name}-ip`, perIp, now),
    });
    const services: Services = {
      config,
      db,
      relay: relayClient,
      writeback,
      cloudKey,
      now,
      log,
      mailer,
      sms,
      limiters: {
        change: accountLimiters(
          'change',
          rl.passwordChangePerUser,
          rl.passwordChangePerAccount,
          rl.passwordChangePerIp,
        ),
        adminSignIn: accountLimiters(
          'admin-sign-in',
          rl.adminSignInPerLogin,
          rl.adminSignInPerAccount,
          rl.adminSignInPerIp,
        ),
        userSignIn: accountLimiters('sign-in', rl.userSignInPerLogin, rl.userSignInPerAccount, rl.userSignInPerIp),
        apiAuthFailuresPerIp: createRateLimiter(db, 'api-auth-ip', rl.apiAuthFailuresPerIp, now),
      },
      sync,
      relayUrl: () => relayUrl,
      relayUrls: () => relayUrls,
    };
    const app = createHttpApp(services, https ? { https } : {});
    if (relayHub) relayHub.attach(app.server, '/agent');
    // Shutdown runs these in reverse: the relay closes before the HTTP server, because agents'
    // upgraded sockets would keep server.close() waiting; requests still in flight then resolve
    // `lost` and are answered truthfully (outcome_unknown for writes).
    cleanup.push(() => app.close());
    const relayForClose = relayClient;
    cleanup.push(() => relayForClose.close());

    await app.listen({ port: config.port, host: config.host });
    const addr = app.server.address();
    const port = addr !== null && typeof addr === 'object' ? (addr satisfies AddressInfo).port : config.port;
    url = `${https ? 'https' : 'http'}://${hostForUrl(config.host)}:${port}`;
    relayUrl =
      config.relayUrl ??
      config.relayUrls?.[0] ??
      `${(config.publicUrl ?? url).replace(/^http/, 'ws').replace(/\/+$/, '')}/agent`;
    relayUrls = [...new Set([relayUrl, ...(config.relayUrls ?? [])])];
    if (config.relayMode === 'nats' && !config.relayUrl && !config.relayUrls && !deps.relayClient)
      log.warn('RELAY_URL is not set in nats mode: agents are told to dial this node, which runs no hub');

    // Records left pending by a previous process are closed now, then periodically.
    await writeback.sweepPending();
    const timer = setInterval(() => {
      void (async () => {
        try {
          await writeback.sweepPending();
          // Attempt budgets: nothing older than the longest window (the self-service one is an hour).
          const longestMs = Math.max(3600, ...Object.values(config.rateLimits).map((l) => l.windowSeconds)) * 1000;
          await sweepAttempts(db, now() - longestMs);
          await sweepExpiredIdempotencyKeys(db, now()); // Idempotency-Key answers: kept 24 h
          const seen = await relayClient.allAgents();
          await touchAgents(
            db,
            seen.map((a) => ({ agentId: a.agentId, lastSeenAt: a.lastSeenAt, agentVersion: a.agentVersion })),
          );
        } catch (err) {
          log.error('periodic maintenance failed', { err });
        }
      })();
    }, config.pendingSweepIntervalMs);
    timer.unref();
    cleanup.push(async () => clearInterval(timer));
    // Stops before the relay closes (cleanup runs in reverse), so a run in flight ends cleanly.
    cleanup.push(() => sync.stop());
    if (config.syncEnabled) sync.start();
    // On every node: a reminder is claimed in the store before it is sent, so nodes never double up.
    const expiryReminders = startExpiryReminders(services, {
      ...(deps.expiryReminderIntervalMs ? { intervalMs: deps.expiryReminderIntervalMs } : {}),
    });
    cleanup.push(() => expiryReminders.stop());

    log.info('cloud started', {
      url,
      relayMode: deps.relayClient ? 'injected' : config.relayMode,
      relayUrl,
      store: db.engine,
      cloudKeyId: cloudKey.id,
    });

    let closing: Promise<void> | null = null;
    return {
      app,
      server: app.server,
      relayClient,
      relayHub,
      store: db,
      config,
      url,
      relayUrl,
      cloudPublicKey: cloudKey.publicKey,
      writeback,
      gateway,
      sync,
      expiryReminders,
      mailer,
      sms,
      initialOperatorKey,
      async bootstrap(opts) {
        const out: BootstrapResult = {};
        const t = now();
        if (opts.operatorKey)
          out.operatorKey = (
            await createApiKey(db, { scope: 'operator', tenantId: null, name: 'bootstrap operator key' }, t)
          ).token;
        if (opts.tenant) {
          out.tenant =
            (await findTenant(db, opts.tenant.slug)) ??
            (await createTenant(db, { slug: opts.tenant.slug, name: opts.tenant.name ?? opts.tenant.slug }, t));
        }
        const tenant = out.tenant;
        if ((opts.apiKey || opts.admin || opts.agentToken) && !tenant)
          throw new TypeError('bootstrap: apiKey, admin and agentToken need a tenant');
        if (tenant && opts.apiKey) {
          const name = typeof opts.apiKey === 'object' && opts.apiKey.name ? opts.apiKey.name : 'bootstrap key';
          out.apiKey = (await createApiKey(db, { scope: 'tenant', tenantId: tenant.id, name }, t)).token;
        }
        if (tenant && opts.admin)
          out.admin = await createAdmin(
            db,
            {
              tenantId: tenant.id,
              login: opts.admin.login,
              password: opts.admin.password,
              role: opts.admin.role ?? 'admin',
            },
            t,
          );
        if (tenant && opts.agentToken) {
          const ttl =
            typeof opts.agentToken === 'object' && opts.agentToken.ttlSeconds
              ? opts.agentToken.ttlSeconds
              : config.agentTokenTtlSeconds;
          const tok = await issueAgentToken(
            db,
            { tenantId: tenant.id, createdBy: 'system:bootstrap', ttlMs: ttl * 1000 },
            t,
          );
          out.agentToken = { token: tok.token, expiresAt: tok.expiresAt };
        }
        return out;
      },
      close() {
        closing ??= (async () => {
          log.info('cloud stopping');
          await unwind();
        })();
        return closing;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
