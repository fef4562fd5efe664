/**
 * Agent test fixtures: a way to mint an agent state as registration would, a small in-memory
 * Directory (the real adapters are tested in @writeback/directory), and a real HTTP server playing
 * the cloud's register endpoint. The cloud's keys, the real relay hub on a real port and `waitFor`
 * come from @writeback/testkit (re-exported here for the tests of this folder).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  publicKeyObject,
  sealRequest,
  verifyResponse,
  type Logger,
  type OperationRequest,
  type OperationResult,
  type RequestEnvelope,
  type UserRef,
} from '@writeback/protocol';
import type {
  Directory,
  DirectoryCapabilities,
  DirectoryHealth,
  DirectoryUser,
  ResetOptions,
} from '@writeback/directory';
import { createRelayHub, type RelayAnswer, type RelayHub } from '@writeback/relay';
import { effectivePolicy, makeAgentIdentity, type CloudKeys as Cloud } from '@writeback/testkit';
import { selfSignedCertificate, signedCertificate } from '@writeback/testkit/lab';
import type { AgentState } from '../src/index.js';

export type { Cloud };
export { makeCloudKeys as makeCloud, startHub, waitFor, type HubFixture } from '@writeback/testkit';

/** An agent state as a successful registration would leave it. */
export function makeState(
  cloud: Cloud,
  o: { agentId?: string; tenantId?: string; relayUrl?: string } = {},
): AgentState {
  const id = makeAgentIdentity(cloud, o.tenantId ?? 'tenant-1', o.agentId ?? 'agent-1');
  return {
    version: 1,
    cloudUrl: 'http://127.0.0.1:1/',
    relayUrl: o.relayUrl ?? 'ws://127.0.0.1:1/agent',
    agentId: id.agentId,
    tenantId: id.tenantId,
    name: id.certificate.name,
    certificate: id.certificate,
    cloudSigningKey: cloud.publicKey,
    signing: id.signing,
    encryption: id.encryption,
    directory: { kind: 'embedded' },
  };
}

/** A request from the cloud to the agent of `state`. */
export function request(
  cloud: Cloud,
  state: AgentState,
  req: OperationRequest,
  o: { deadlineInMs?: number; now?: number; requestId?: string } = {},
): RequestEnvelope {
  const now = o.now ?? Date.now();
  return sealRequest({
    request: req,
    tenantId: state.tenantId,
    agentId: state.agentId,
    agentEncryptionKey: state.encryption.publicKey,
    cloudSigningKey: cloud.signingKey,
    deadline: now + (o.deadlineInMs ?? 5_000),
    now,
    ...(o.requestId ? { requestId: o.requestId } : {}),
  });
}

export const alice: UserRef = { by: 'login', value: 'alice' };

/** A reset of alice (a fresh password) sent through `client` to the agent of `state`: the verified outcome. */
export async function resetOutcome(
  cloud: Cloud,
  client: { send(e: RequestEnvelope): Promise<RelayAnswer> },
  state: AgentState,
): Promise<string> {
  const env = request(cloud, state, {
    op: 'password.reset',
    params: { user: alice, forceChange: false, unlock: false, enforceHistory: true },
    secret: { newPassword: `Tulip-${randomBytes(6).toString('hex')}-2025!` },
  });
  const answer = await client.send(env);
  assert.equal(answer.kind, 'response', JSON.stringify(answer));
  if (answer.kind !== 'response') return '';
  return verifyResponse(answer.envelope, {
    ...env,
    agentVerifyKey: publicKeyObject('Ed25519', state.signing.publicKey),
  }).result.outcome;
}

const POLICY = effectivePolicy({
  source: 'embedded',
  minLength: 8,
  historyLength: 3,
  minAgeSeconds: 0,
  lockoutDurationSeconds: 900,
});

type Method = 'resetPassword' | 'changePassword' | 'unlock' | 'getPolicy' | 'verifyCredentials' | 'health';

/** An in-memory directory with one user per login; records which methods ran (never passwords). */
export class FakeDirectory implements Directory {
  readonly kind = 'embedded' as const;
  readonly capabilities: DirectoryCapabilities = {
    enforcesHistoryOnReset: true,
    exactPolicyReasons: true,
    forceChangeOnReset: true,
    unlock: true,
    fineGrainedPolicies: false,
    verifyCredentials: true,
  };
  readonly calls: Array<{ method: Method; user?: string; options?: ResetOptions }> = [];
  readonly passwords = new Map<string, string>([['alice', 'Initial-Passw0rd']]);
  readonly locked = new Set<string>(['alice']);
  /** Methods that throw (after "reaching the directory"). */
  readonly failing = new Set<Method>();
  /** Delay of every call, ms. */
  delayMs = 0;
  /** A diagnostic to append to results (to test that secrets are scrubbed). */
  echo: ((secret: string) => string) | null = null;

  async #enter(method: Method, user?: UserRef, options?: ResetOptions) {
    this.calls.push({ method, ...(user ? { user: user.value } : {}), ...(options ? { options } : {}) });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failing.has(method)) throw new Error(`connection reset during ${method}`);
  }

  async resetPassword(user: UserRef, newPassword: string, options: ResetOptions): Promise<OperationResult> {
    await this.#enter('resetPassword', user, options);
    if (!this.passwords.has(user.value)) return { outcome: 'user_not_found' };
    if (newPassword.length < POLICY.minLength)
      return { outcome: 'policy_violation', reasons: ['too_short'], policy: POLICY };
    this.passwords.set(user.value, newPassword);
    if (options.unlock) this.locked.delete(user.value);
    return {
      outcome: 'succeeded',
      historyEnforced: options.enforceHistory,
      ...(this.echo ? { detail: this.echo(newPassword) } : {}),
    };
  }

  async changePassword(user: UserRef, currentPassword: string, newPassword: string): Promise<OperationResult> {
    await this.#enter('changePassword', user);
    const stored = this.passwords.get(user.value);
    if (stored === undefined) return { outcome: 'user_not_found' };
    if (stored !== currentPassword) return { outcome: 'wrong_current_password' };
    if (newPassword.length < POLICY.minLength)
      return { outcome: 'policy_violation', reasons: ['too_short'], policy: POLICY };
    this.passwords.set(user.value, newPassword);
    return { outcome: 'succeeded' };
  }

  async unlock(user: UserRef): Promise<OperationResult> {
    await this.#enter('unlock', user);
    if (!this.passwords.has(user.value)) return { outcome: 'user_not_found' };
    this.locked.delete(user.value);
    return { outcome: 'succeeded' };
  }

  async getPolicy(user?: UserRef): Promise<OperationResult> {
    await this.#enter('getPolicy', user);
    return { outcome: 'succeeded', policy: POLICY };
  }

  async verifyCredentials(user: UserRef, password: string): Promise<OperationResult> {
    await this.#enter('verifyCredentials', user);
    const stored = this.passwords.get(user.value);
    if (stored === undefined) return { outcome: 'user_not_found' };
    return { outcome: stored === password ? 'succeeded' : 'wrong_current_password' };
  }

  async findUser(user: UserRef): Promise<DirectoryUser | null> {
    if (!this.passwords.has(user.value)) return null;
    return {
      anchor: `id-${user.value}`,
      login: user.value,
      enabled: true,
      locked: this.locked.has(user.value),
      mustChange: false,
      protected: false,
      passwordLastSetAt: null,
    };
  }

  async health(): Promise<DirectoryHealth> {
    await this.#enter('health');
    return { ok: true, kind: 'embedded', latencyMs: 1 };
  }

  async close(): Promise<void> {}
}

/** A logger that drops everything; `lines` keeps what would have been written (to check redaction). */
export function captureLog() {
  const lines: string[] = [];
  const make = (fields: Record<string, unknown>): Logger => {
    const write = (level: string) => (msg: string, f?: Record<string, unknown>) => {
      lines.push(
        JSON.stringify({ level, msg, ...fields, ...f }, (_k, v: unknown) =>
          v instanceof Error ? { name: v.name, message: v.message } : v,
        ),
      );
    };
    const log = {
      debug: write('debug'),
      info: write('info'),
      warn: write('warn'),
      error: write('error'),
      child: (more: Record<string, unknown>) => make({ ...fields, ...more }),
    };
    return log;
  };
  return { log: make({}), lines };
}

/** A real HTTP server playing the cloud's register endpoint. */
export async function startFakeCloud(
  handler: (body: unknown, req: IncomingMessage) => { status: number; body: unknown },
) {
  const received: unknown[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
    let body: unknown = null;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = null;
    }
    if (req.method !== 'POST' || req.url !== '/api/v1/agents/register') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found' } }));
      return;
    }
    received.push(body);
    const out = handler(body, req);
    res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'wb-agent-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A throwaway CA and a server certificate for localhost/127.0.0.1, made with the openssl CLI; null without it. */
export async function makeTestPki(dir: string): Promise<{ caFile: string; cert: Buffer; key: Buffer } | null> {
  try {
    const ca = await selfSignedCertificate(
      { cert: join(dir, 'ca.pem'), key: join(dir, 'ca.key') },
      { subject: '/CN=writeback test CA', days: 1 },
    );
    const server = await signedCertificate({ cert: join(dir, 'srv.pem'), key: join(dir, 'srv.key') }, ca, {
      subject: '/CN=localhost',
      days: 1,
      extensions: ['subjectAltName=DNS:localhost,IP:127.0.0.1'],
    });
    return { caFile: ca.cert, cert: await readFile(server.cert), key: await readFile(server.key) };
  } catch {
    return null;
  }
}

/**
 * A real relay hub behind HTTPS on a loopback port, its certificate from a throwaway CA
 * (makeTestPki, `caFile` for the agent's --ca); null when openssl is not available.
 */
export async function startTlsHub(
  cloud: Cloud,
  dir: string,
): Promise<{ hub: RelayHub; port: number; caFile: string; close(): Promise<void> } | null> {
  const pki = await makeTestPki(dir);
  if (!pki) return null;
  const hub = createRelayHub({ cloudVerifyKey: cloud.verifyKey, gate: () => true, log: captureLog().log });
  const server = createHttpsServer({ cert: pki.cert, key: pki.key });
  hub.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    hub,
    port: (server.address() as AddressInfo).port,
    caFile: pki.caFile,
    close: async () => {
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** CLI streams that keep what the command writes (`out`, `err`), with the environment it sees. */
export function captureCliIo(env: Record<string, string> = {}) {
  const cap = {
    out: '',
    err: '',
    io: {
      stdout: (t: string) => {
        cap.out += t;
      },
      stderr: (t: string) => {
        cap.err += t;
      },
      env,
    },
  };
  return cap;
}
