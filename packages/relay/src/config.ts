/**
 * Configuration of a standalone relay process, read once from the environment into a frozen
 * object. Bad configuration throws TypeError naming the variable; insecure choices are returned
 * as warnings for the caller to log loudly.
 */
import { z } from 'zod';
import { PublicKeySchema } from '@writeback/protocol';

/** Every variable the relay reads (docs/operations.md lists each: packages/relay/test/operations-doc.test.ts). */
export const EnvSchema = z.object({
  RELAY_PORT: z.coerce.number().int().min(0).max(65_535).default(8443),
  RELAY_HOST: z.string().min(1).default('127.0.0.1'),
  RELAY_PATH: z
    .string()
    .regex(/^\/[A-Za-z0-9/_.-]*$/)
    .default('/agent'),
  RELAY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/)
    .optional(),
  RELAY_HEARTBEAT_MS: z.coerce.number().int().positive().default(10_000),
  RELAY_MAX_PENDING_AUTH: z.coerce.number().int().positive().default(1_024),
  RELAY_MAX_PENDING_AUTH_PER_IP: z.coerce.number().int().positive().default(64),
  TLS_CERT: z.string().min(1).optional(),
  TLS_KEY: z.string().min(1).optional(),
  NATS_URL: z.string().regex(/^(nats|tls|wss?):\/\/\S+$/, 'a nats:// or tls:// URL'),
  NATS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
    .default('wb'),
  NATS_RECONNECT_MAX_MS: z.coerce.number().int().positive().max(60_000).default(4_000),
  WRITEBACK_CLOUD_PUBLIC_KEY: PublicKeySchema,
});

export interface RelayConfig {
  readonly port: number;
  readonly host: string;
  readonly path: string;
  readonly relayId: string | undefined;
  readonly heartbeatMs: number;
  /** Connections still authenticating, in total and from one address (IPv6: one /64). */
  readonly maxPendingAuth: number;
  readonly maxPendingAuthPerIp: number;
  /** File paths of the PEM certificate chain and key; null serves plain HTTP/WS. */
  readonly tls: Readonly<{ certFile: string; keyFile: string }> | null;
  readonly natsUrl: string;
  readonly natsPrefix: string;
  /** Longest wait between two reconnect attempts to NATS (it reconnects forever, backing off up to this). */
  readonly natsReconnectMaxMs: number;
  /** base64url Ed25519 public key of the cloud. */
  readonly cloudPublicKey: string;
  /** Insecure choices the process must log loudly at start. */
  readonly warnings: readonly string[];
}

/** Parse the relay's environment. Throws TypeError naming the offending variable. */
export function loadRelayConfig(env: Record<string, string | undefined> = process.env): RelayConfig {
  const blank = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.keys(EnvSchema.shape).map((k) => [k, blank(env[k])])));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue?.path.join('.') ?? 'environment';
    throw new TypeError(`relay config: ${name} is invalid (${issue?.message ?? 'bad value'})`);
  }
  const e = parsed.data;
  if ((e.TLS_CERT === undefined) !== (e.TLS_KEY === undefined)) {
    throw new TypeError(
      `relay config: ${e.TLS_CERT === undefined ? 'TLS_CERT' : 'TLS_KEY'} is required when the other TLS variable is set`,
    );
  }
  const warnings: string[] = [];
  const tls =
    e.TLS_CERT !== undefined && e.TLS_KEY !== undefined
      ? Object.freeze({ certFile: e.TLS_CERT, keyFile: e.TLS_KEY })
      : null;
  if (!tls) {
    warnings.push(
      'TLS_CERT/TLS_KEY not set: serving agents over plain ws://. Only acceptable behind a TLS-terminating proxy or on loopback.',
    );
  }
  return Object.freeze({
    port: e.RELAY_PORT,
    host: e.RELAY_HOST,
    path: e.RELAY_PATH,
    relayId: e.RELAY_ID,
    heartbeatMs: e.RELAY_HEARTBEAT_MS,
    maxPendingAuth: e.RELAY_MAX_PENDING_AUTH,
    maxPendingAuthPerIp: e.RELAY_MAX_PENDING_AUTH_PER_IP,
    tls,
    natsUrl: e.NATS_URL,
    natsPrefix: e.NATS_PREFIX,
    natsReconnectMaxMs: e.NATS_RECONNECT_MAX_MS,
    cloudPublicKey: e.WRITEBACK_CLOUD_PUBLIC_KEY,
    warnings: Object.freeze(warnings),
  });
}
