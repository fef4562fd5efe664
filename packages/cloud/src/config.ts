/**
 * Cloud configuration: read once at start-up from the environment and/or an object, parsed with a
 * schema into a frozen object. Bad configuration is a programming/deployment error, so it throws a
 * TypeError naming the dotted option (and its environment variable); insecure but legal choices
 * are returned as warnings that the caller logs loudly.
 */
import { z } from 'zod';
import { MAX_REQUEST_LIFETIME_MS } from '@writeback/protocol';

const Port = z.coerce.number().int().min(0).max(65_535);
const PositiveInt = z.coerce.number().int().positive();

const Bool = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes'),
]);

const DatabaseUrl = z
  .string()
  .min(1)
  .refine(
    (v) => v.startsWith('sqlite:') || v.startsWith('postgres://') || v.startsWith('postgresql://'),
    'must be sqlite:<path>, sqlite::memory: or postgres://...',
  );

const HttpUrl = z
  .string()
  .url()
  .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL');
const WsUrl = z
  .string()
  .url()
  .refine((v) => /^wss?:\/\//.test(v), 'must be a ws(s) URL');

/**
 * A rate limit with its defaults. Either half may be given alone (only a limit from the
 * environment, say): the other is its default.
 */
const NATS_SERVERS_HINT = 'a comma-separated list of NATS servers: nats://, tls://, ws:// or wss:// URLs, or host:port';

/** NATS_URL as nats.js reads it: servers separated by commas, each a URL or host:port. */
function natsServersParse(value: string): boolean {
  return value.split(',').every((raw) => {
    const server = raw.trim();
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(server)) {
      try {
        const u = new URL(server);
        return ['nats:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== '';
      } catch {
        return false;
      }
    }
    return /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):\d{1,5}$/i.test(server);
  });
}

const rateLimit = (d: { limit: number; windowSeconds: number }) =>
  z
    .object({
      /** Attempts allowed per window; 0 disables the limit (warned about). */
      limit: z.coerce.number().int().min(0).default(d.limit),
      windowSeconds: PositiveInt.default(d.windowSeconds),
    })
    .prefault({});

/** Every option (docs/operations.md lists each one: packages/cloud/test/operations-doc.test.ts). */
export const ConfigSchema = z.object({
  port: Port.default(8080),
  host: z.string().min(1).default('127.0.0.1'),
  databaseUrl: DatabaseUrl.default('sqlite:.data/writeback.db'),
  /** PostgreSQL only: schema to use (created if missing); lets tests and tenants of a shared server stay apart. */
  databaseSchema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _')
    .optional(),
  /** PostgreSQL only: connections this node keeps in its pool (every node has its own; mind the server's max_connections). */
  databasePoolSize: PositiveInt.max(1_000).default(10),
  relayMode: z.enum(['embedded', 'nats']).default('embedded'),
  natsUrl: z.string().min(1).refine(natsServersParse, NATS_SERVERS_HINT).optional(),
  /** Subject prefix shared with the relay nodes (lets deployments, or test runs, share one NATS). */
  natsPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/, 'dot-separated tokens of letters, digits, _ and -')
    .default('wb'),
  /** Longest wait between two reconnect attempts to NATS (the node reconnects forever, backing off up to this). */
  natsReconnectMaxMs: PositiveInt.max(60_000).default(4_000),
  /** Where browsers and agents reach this service (behind a proxy, it differs from host:port). */
  publicUrl: HttpUrl.optional(),
  /** Override for the relay URL handed to agents (NATS mode: the relay nodes' public address). */
  relayUrl: WsUrl.optional(),
  /**
   * Several relays for agents to spread over (comma-separated in RELAY_URLS): handed to agents at
   * registration with RELAY_URL (the first when RELAY_URL is not set).
   */
  relayUrls: z
    .preprocess(
      (v) =>
        typeof v === 'string'
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : v,
      z.array(WsUrl).min(1).max(16),
    )
    .optional(),
  tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /** How long one writeback request may take end to end. */
  writebackDeadlineMs: PositiveInt.max(MAX_REQUEST_LIFETIME_MS).default(10_000),
  rateLimits: z
    .object({
      /** Per account and client IP (also per account and known browser: the device cookie). */
      passwordChangePerUser: rateLimit({ limit: 5, windowSeconds: 900 }),
      passwordChangePerIp: rateLimit({ limit: 30, windowSeconds: 900 }),
      /** Per account from every address but the account's known browsers (slower, so one address cannot lock the owner out). */
      passwordChangePerAccount: rateLimit({ limit: 20, windowSeconds: 3600 }),
      adminSignInPerLogin: rateLimit({ limit: 10, windowSeconds: 900 }),
      adminSignInPerIp: rateLimit({ limit: 50, windowSeconds: 900 }),
      adminSignInPerAccount: rateLimit({ limit: 30, windowSeconds: 3600 }),
      userSignInPerLogin: rateLimit({ limit: 10, windowSeconds: 900 }),
      userSignInPerIp: rateLimit({ limit: 50, windowSeconds: 900 }),
      userSignInPerAccount: rateLimit({ limit: 30, windowSeconds: 3600 }),
      /** Failed Bearer credentials per client address (then 429 before any lookup). */
      apiAuthFailuresPerIp: rateLimit({ limit: 200, windowSeconds: 900 }),
    })
    .prefault({}),
  /** base64url 32-byte key that encrypts the cloud's private signing key at rest. */
  masterKey: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, 'a base64url-encoded 32-byte key')
    .optional(),
  bodyLimitBytes: PositiveInt.max(1024 * 1024).default(16 * 1024),
  sessionTtlSeconds: PositiveInt.max(24 * 3600).default(30 * 60),
  agentTokenTtlSeconds: PositiveInt.max(7 * 24 * 3600).default(3600),
  /** How often pending audit records whose deadline passed are closed as outcome_unknown. */
  pendingSweepIntervalMs: PositiveInt.default(60_000),
  /** Grace after a deadline before a pending record counts as abandoned (another node may still be finishing). */
  pendingGraceMs: z.coerce.number().int().min(0).default(30_000),
  /**
   * Where audit completions the store refused are kept until written (append-only JSON lines).
   * Default: next to a SQLite file, `.data/audit-outbox-<schema>.jsonl` with PostgreSQL.
   */
  auditOutboxFile: z.string().min(1).optional(),
  /**
   * Where the first operator API key is written (0600) when the store has none; only this path is
   * logged. Default: `operator.key` next to a SQLite file, `.data/operator.key` with PostgreSQL.
   */
  operatorKeyFile: z.string().min(1).optional(),
  /** Trust X-Forwarded-For (only behind a proxy you control: it decides the per-IP rate limit key). */
  trustProxy: Bool.default(false),
  /** Outgoing mail. `memory` keeps messages in this process (development); `smtp` sends them (default when an SMTP host is set). */
  mail: z
    .object({
      transport: z.enum(['memory', 'smtp']).optional(),
      from: z.string().min(3).default('writeback <no-reply@localhost>'),
      smtp: z
        .object({
          host: z.string().min(1),
          port: Port.default(587),
          /** tls: implicit TLS (465); starttls: upgrade required; none: plain text (local relay only). */
          security: z.enum(['tls', 'starttls', 'none']).default('starttls'),
          user: z.string().min(1).optional(),
          password: z.string().min(1).optional(),
          passwordFile: z.string().min(1).optional(),
          caFile: z.string().min(1).optional(),
          rejectUnauthorized: Bool.default(true),
        })
        .optional(),
    })
    .prefault({})
    .transform((m) => ({ ...m, transport: m.transport ?? (m.smtp ? ('smtp' as const) : ('memory' as const)) })),
  /** Text messages: `console` is the development provider (kept in memory, logged without the text). */
  sms: z.object({ provider: z.enum(['console']).default('console') }).prefault({}),
  /** Run directory sync for every tenant with a connected agent (tests turn it off and call cloud.sync.runOnce). */
  syncEnabled: Bool.default(true),
  /** How often deletions are also looked for by listing every anchor (directories without tombstones). */
  syncAnchorsIntervalMs: PositiveInt.default(600_000),
  /** How long one node's claim on a tenant's sync lasts without renewal (several cloud nodes). */
  syncLeaseMs: PositiveInt.min(1_000).default(30_000),
});

/** The parsed, frozen configuration. */
export type CloudConfig = Readonly<z.infer<typeof ConfigSchema>>;
/** What callers may pass: every option optional, numbers may be strings (from the environment). */
export type CloudConfigInput = z.input<typeof ConfigSchema>;

/** Environment variable for each top-level option (nested rate limits use RATE_LIMIT_*); each is in docs/operations.md. */
export const ENV: Readonly<Record<string, string>> = {
  port: 'PORT',
  host: 'HOST',
  databaseUrl: 'DATABASE_URL',
  databaseSchema: 'DATABASE_SCHEMA',
  databasePoolSize: 'DATABASE_POOL_SIZE',
  relayMode: 'RELAY_MODE',
  natsUrl: 'NATS_URL',
  natsPrefix: 'NATS_PREFIX',
  natsReconnectMaxMs: 'NATS_RECONNECT_MAX_MS',
  publicUrl: 'PUBLIC_URL',
  relayUrl: 'RELAY_URL',
  relayUrls: 'RELAY_URLS',
  'tls.cert': 'TLS_CERT',
  'tls.key': 'TLS_KEY',
  writebackDeadlineMs: 'WRITEBACK_DEADLINE_MS',
  'rateLimits.passwordChangePerUser.limit': 'RATE_LIMIT_CHANGE_PER_USER',
  'rateLimits.passwordChangePerIp.limit': 'RATE_LIMIT_CHANGE_PER_IP',
  'rateLimits.passwordChangePerUser.windowSeconds': 'RATE_LIMIT_WINDOW_SECONDS',
  'rateLimits.passwordChangePerIp.windowSeconds': 'RATE_LIMIT_WINDOW_SECONDS',
  masterKey: 'WRITEBACK_MASTER_KEY',
  bodyLimitBytes: 'BODY_LIMIT_BYTES',
  sessionTtlSeconds: 'SESSION_TTL_SECONDS',
  agentTokenTtlSeconds: 'AGENT_TOKEN_TTL_SECONDS',
  pendingSweepIntervalMs: 'PENDING_SWEEP_INTERVAL_MS',
  pendingGraceMs: 'PENDING_GRACE_MS',
  auditOutboxFile: 'AUDIT_OUTBOX_FILE',
  operatorKeyFile: 'OPERATOR_KEY_FILE',
  trustProxy: 'TRUST_PROXY',
  'mail.transport': 'MAIL_TRANSPORT',
  'mail.from': 'MAIL_FROM',
  'mail.smtp.host': 'SMTP_HOST',
  'mail.smtp.port': 'SMTP_PORT',
  'mail.smtp.security': 'SMTP_SECURITY',
  'mail.smtp.user': 'SMTP_USER',
  'mail.smtp.password': 'SMTP_PASSWORD',
  'mail.smtp.passwordFile': 'SMTP_PASSWORD_FILE',
  'mail.smtp.caFile': 'SMTP_CA_FILE',
  'mail.smtp.rejectUnauthorized': 'SMTP_TLS_REJECT_UNAUTHORIZED',
  'sms.provider': 'SMS_PROVIDER',
  syncEnabled: 'SYNC_ENABLED',
  syncAnchorsIntervalMs: 'SYNC_ANCHORS_INTERVAL_MS',
  syncLeaseMs: 'SYNC_LEASE_MS',
  'rateLimits.userSignInPerLogin.limit': 'RATE_LIMIT_SIGNIN_PER_USER',
  'rateLimits.userSignInPerIp.limit': 'RATE_LIMIT_SIGNIN_PER_IP',
  'rateLimits.userSignInPerAccount.limit': 'RATE_LIMIT_SIGNIN_PER_ACCOUNT',
  'rateLimits.adminSignInPerAccount.limit': 'RATE_LIMIT_ADMIN_SIGNIN_PER_ACCOUNT',
  'rateLimits.passwordChangePerAccount.limit': 'RATE_LIMIT_CHANGE_PER_ACCOUNT',
  'rateLimits.apiAuthFailuresPerIp.limit': 'RATE_LIMIT_API_AUTH_FAILURES_PER_IP',
};

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => v !== null && typeof v === 'object' && !Array.isArray(v);

function setPath(target: Plain, path: string, value: unknown): void {
  const parts = path.split('.');
  let at = target;
  for (const part of parts.slice(0, -1)) {
    const next = at[part];
    if (isPlain(next)) at = next;
    else {
      const fresh: Plain = {};
      at[part] = fresh;
      at = fresh;
    }
  }
  const last = parts[parts.length - 1];
  if (last !== undefined) at[last] = value;
}

function fromEnv(env: Record<string, string | undefined>): Plain {
  const out: Plain = {};
  for (const [path, name] of Object.entries(ENV)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(out, path, value);
  }
  return out;
}

function merge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] = isPlain(prev) && isPlain(v) ? merge(prev, v) : v;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (isPlain(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export interface LoadConfigOptions {
  /** Environment to read (default: none; pass process.env in main). */
  env?: Record<string, string | undefined>;
  /** Options given in code; they win over the environment. */
  overrides?: CloudConfigInput;
}

/**
 * Parse configuration once. Throws TypeError naming the first bad option, e.g.
 * `config.rateLimits.passwordChangePerUser.limit (RATE_LIMIT_CHANGE_PER_USER): ...`.
 */
export function loadConfig(opts: LoadConfigOptions = {}): CloudConfig {
  const raw = merge(fromEnv(opts.env ?? {}), isPlain(opts.overrides) ? opts.overrides : {});
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue ? issue.path.map(String).join('.') : '';
    const env = ENV[path];
    throw new TypeError(`config.${path}${env ? ` (${env})` : ''}: ${issue?.message ?? 'invalid'}`);
  }
  const config = parsed.data;
  if (config.relayMode === 'nats' && !config.natsUrl)
    throw new TypeError('config.natsUrl (NATS_URL): required when relayMode is nats');
  if (config.databaseSchema && !config.databaseUrl.startsWith('postgres')) {
    throw new TypeError('config.databaseSchema (DATABASE_SCHEMA): only applies to a postgres:// databaseUrl');
  }
  if (config.mail.transport === 'smtp' && !config.mail.smtp)
    throw new TypeError('config.mail.smtp.host (SMTP_HOST): required when mail.transport is smtp');
  if (config.mail.smtp?.password && config.mail.smtp.passwordFile)
    throw new TypeError(
      'config.mail.smtp.passwordFile (SMTP_PASSWORD_FILE): set either a password or a password file, not both',
    );
  return deepFreeze(config);
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Legal but insecure choices; the caller logs each at warn level at start-up. */
export function configWarnings(config: CloudConfig): string[] {
  const w: string[] = [];
  const publicHttps = config.publicUrl?.startsWith('https://') ?? false;
  if (!config.tls && !LOOPBACK.has(config.host) && !publicHttps) {
    w.push(
      `listening on ${config.host} without TLS and without an https PUBLIC_URL: passwords would cross the network in clear text unless a TLS proxy fronts this service`,
    );
  }
  if (config.publicUrl && !publicHttps) w.push('PUBLIC_URL is not https: agents and browsers will not use TLS');
  if (!config.masterKey)
    w.push(
      'WRITEBACK_MASTER_KEY is not set: a development key is generated and kept next to the database; set one in production',
    );
  if (config.trustProxy)
    w.push(
      'TRUST_PROXY is on: X-Forwarded-For decides client IPs (and per-IP rate limits); only enable behind your own proxy',
    );
  for (const [name, rl] of Object.entries(config.rateLimits))
    if (rl.limit === 0) w.push(`rate limit ${name} is disabled`);
  if (config.mail.smtp?.security === 'none' && !LOOPBACK.has(config.mail.smtp.host))
    w.push('SMTP_SECURITY is none towards a non-local host: mail and SMTP credentials cross the network in clear text');
  if (config.mail.smtp && !config.mail.smtp.rejectUnauthorized)
    w.push('SMTP_TLS_REJECT_UNAUTHORIZED is false: any SMTP server certificate is accepted');
  if (config.relayMode === 'nats' && config.natsUrl && !config.natsUrl.startsWith('tls://')) {
    w.push(
      'NATS_URL does not use tls://: relay traffic between nodes is not encrypted in transit (envelopes stay sealed end to end)',
    );
  }
  return w;
}
