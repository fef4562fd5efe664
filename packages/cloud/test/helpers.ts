/**
 * Test fixtures for the cloud: an agent that holds real keys and answers sealed requests with
 * signed responses (protocol helpers), an in-test RelayClient that routes to such agents, and small
 * HTTP helpers. A started cloud with a store of its own, the log capture, the frozen clock,
 * `waitFor` and an admin's full API session (`adminApiSession`: enrols the authenticator first when
 * the admin has none) come from @writeback/testkit (re-exported here for the tests of this folder).
 * `describeOnEveryStore` runs a repository's conformance tests on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { WebSocket } from 'ws';
import {
  RelayToAgentFrameSchema,
  encodeFrame,
  parseFrame,
  signAuthProof,
  type AgentCertificate,
  type RelayToAgentFrame,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  openRequest,
  privateKeyObject,
  publicKeyObject,
  ReplayCache,
  signResponse,
  type KeyPair,
  type OpenedRequest,
  type OperationResult,
  type RequestEnvelope,
  type ResponseEnvelope,
} from '@writeback/protocol';
import type { AgentPresence, RelayAnswer, RelayClient } from '@writeback/relay';
import {
  Clock,
  ENGINES,
  startCloud,
  tempStore,
  type EngineName,
  type StartCloudOptions,
  type StartedCloud,
  type TempStore,
} from '@writeback/testkit';
import { registerAgent } from '../src/agents/registry.js';
import { issueAgentToken } from '../src/agents/tokens.js';
import { CloudError } from '../src/errors.js';
import type { CloudSigningKey } from '../src/keys/cloud-key.js';
import { openStore, type Db } from '../src/store/index.js';

export {
  adminApiSession,
  Clock,
  captureLogs,
  effectivePolicy,
  ENGINES,
  newMasterKey,
  newOperatorKey,
  PG_URL,
  runEntry,
  spawnEntry,
  startCloud,
  tempDirs,
  tempStore,
  thrownCode,
  waitFor,
  type EngineName,
  type TempStore,
} from '@writeback/testkit';
/** A started cloud (`startCloud`). */
export type Started = StartedCloud;

/** Open a temporary store as a Db; migrated unless `migrate: false`. */
export function openTempStore(ts: TempStore, o: { migrate?: boolean } = {}): Promise<Db> {
  return openStore({ url: String(ts.config.databaseUrl), ...(ts.schema ? { schema: ts.schema } : {}), ...o });
}

/** What a store conformance block gets. `db` and `temp` exist once its `before` ran: read them in hooks and tests. */
export interface StoreUnderTest {
  readonly engine: EngineName;
  /** The opened store (one of its own per engine, for the whole block). */
  readonly db: Db;
  /** The temporary store behind `db` (to open a second pool on it, as another node would). */
  readonly temp: TempStore;
}

/**
 * `describe(`${name} on ${engine}`)` for SQLite and PostgreSQL, same body: a store of its own is
 * opened before the block's own hooks and tests, closed and dropped after them.
 */
export function describeOnEveryStore(
  name: string,
  body: (store: StoreUnderTest) => void,
  o: { migrate?: boolean } = {},
): void {
  for (const engine of ENGINES) {
    describe(`${name} on ${engine}`, () => {
      let temp: TempStore | undefined;
      let db: Db | undefined;
      const opened = <T>(v: T | undefined): T => {
        if (v === undefined) throw new Error('the store opens in before(): read it in hooks and tests');
        return v;
      };
      before(async () => {
        temp = tempStore(engine);
        db = await openTempStore(temp, o);
      });
      after(async () => {
        await db?.close();
        await temp?.drop();
      });
      body({
        engine,
        get db() {
          return opened(db);
        },
        get temp() {
          return opened(temp);
        },
      });
    });
  }
}

/** The code of the CloudError a promise rejects with, or 'no error'; any other error is thrown on. */
export async function cloudErrorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CloudError) return e.code;
    throw e;
  }
  return 'no error';
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** A small fetch wrapper: JSON in, parsed JSON out. */
export async function api(
  base: string,
  method: string,
  path: string,
  o: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.rawBody !== undefined) body = o.rawBody;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Pull a field out of an untyped JSON body (tests only: a missing field fails the test). */
export function field(json: unknown, ...path: (string | number)[]): unknown {
  let at: unknown = json;
  for (const p of path) {
    if (at === null || typeof at !== 'object') throw new Error(`no ${path.join('.')} in ${JSON.stringify(json)}`);
    at = Reflect.get(at, p);
  }
  return at;
}
export const str = (json: unknown, ...path: (string | number)[]): string => {
  const v = field(json, ...path);
  if (typeof v !== 'string') throw new Error(`${path.join('.')} is not a string in ${JSON.stringify(json)}`);
  return v;
};
export const errorCode = (r: ApiResponse): unknown =>
  r.json && typeof r.json === 'object' && 'error' in r.json ? field(r.json, 'error', 'code') : undefined;

/** The answer is an error with this status and this code (`what` names the case in a loop). */
export function assertError(r: ApiResponse, status: number, code: string, what?: string): void {
  assert.equal(r.status, status, what);
  assert.equal(errorCode(r), code, what);
}

export type Script = (req: OpenedRequest) => OperationResult | Promise<OperationResult>;

/** An agent with real keys: registers over HTTP, opens sealed requests, signs its answers. */
export class TestAgent {
  readonly signing: KeyPair = generateSigningKeyPair();
  readonly encryption: KeyPair = generateEncryptionKeyPair();
  readonly replay = new ReplayCache();
  agentId = '';
  tenantId = '';
  cloudSigningKey = '';
  certificate: unknown = null;
  relayUrl = '';
  opened: OpenedRequest[] = [];
  script: Script = () => ({ outcome: 'succeeded' });
  constructor(readonly name = 'agent-1') {}

  async register(base: string, token: string): Promise<ApiResponse> {
    const r = await api(base, 'POST', '/api/v1/agents/register', {
      body: {
        token,
        name: this.name,
        signingKey: this.signing.publicKey,
        encryptionKey: this.encryption.publicKey,
        agentVersion: '0.1.0-test',
        directory: 'embedded',
      },
    });
    if (r.status === 201) {
      this.agentId = str(r.json, 'agentId');
      this.tenantId = str(r.json, 'tenantId');
      this.cloudSigningKey = str(r.json, 'cloudSigningKey');
      this.relayUrl = str(r.json, 'relayUrl');
      this.certificate = field(r.json, 'certificate');
    }
    return r;
  }

  open(env: RequestEnvelope, now?: number): OpenedRequest {
    const req = openRequest(JSON.parse(JSON.stringify(env)), {
      cloudVerifyKey: publicKeyObject('Ed25519', this.cloudSigningKey),
      agentDecryptionKey: privateKeyObject(this.encryption.privateJwk),
      agentEncryptionPublicKey: this.encryption.publicKey,
      agentId: this.agentId,
      tenantId: this.tenantId,
      replay: this.replay,
      ...(now !== undefined ? { now } : {}),
    });
    this.opened.push(req);
    return req;
  }

  /** Open, run the script, sign the result (optionally with another key, to forge). */
  async answer(env: RequestEnvelope, o: { now?: number; signWith?: KeyPair } = {}): Promise<ResponseEnvelope> {
    const req = this.open(env, o.now);
    const result = await this.script(req);
    return signResponse({
      request: { requestId: env.requestId, tenantId: env.tenantId, agentId: env.agentId, op: env.op },
      result,
      agentSigningKey: privateKeyObject((o.signWith ?? this.signing).privateJwk),
      ...(o.now !== undefined ? { now: o.now } : {}),
    });
  }

  presence(over: Partial<AgentPresence> = {}): AgentPresence {
    return {
      agentId: this.agentId,
      tenantId: this.tenantId,
      name: this.name,
      agentVersion: '0.1.0-test',
      directory: 'embedded',
      capabilities: {},
      relayId: 'fake-relay',
      connections: 1,
      connectedAt: 0,
      lastSeenAt: 0,
      rttMs: 3,
      inFlight: 0,
      ...over,
    };
  }
}

/**
 * A TestAgent registered straight in the store, as the register endpoint would: a registration
 * token issued for `tenantId` and used at once with the agent's keys.
 */
export async function registerInStore(
  db: Db,
  cloudKey: CloudSigningKey,
  o: { tenantId: string; name: string; now: number },
): Promise<TestAgent> {
  const agent = new TestAgent(o.name);
  const tok = await issueAgentToken(db, { tenantId: o.tenantId, createdBy: 'test', ttlMs: 60_000 }, o.now);
  const reg = await registerAgent(
    db,
    {
      token: tok.token,
      name: o.name,
      signingKey: agent.signing.publicKey,
      encryptionKey: agent.encryption.publicKey,
      agentVersion: '1',
      directory: 'embedded',
    },
    cloudKey,
    o.now,
  );
  agent.agentId = reg.agentId;
  agent.tenantId = reg.tenantId;
  agent.cloudSigningKey = reg.cloudSigningKey;
  return agent;
}

export type Behaviour = (env: RequestEnvelope, agent: TestAgent) => Promise<RelayAnswer>;

/** Answer with the agent's script; `now` is the agent's clock (a number, or a function read per request). */
export const respond =
  (o: { now?: number | (() => number) } = {}): Behaviour =>
  async (env, agent) => ({
    kind: 'response',
    envelope: await agent.answer(
      env,
      o.now === undefined ? {} : { now: typeof o.now === 'function' ? o.now() : o.now },
    ),
  });

/**
 * An in-test RelayClient: the relay itself is the relay engineer's (tested there, and end to end by
 * the lead); this one lets a test decide what each agent's connection does with a request.
 */
export class FakeRelay implements RelayClient {
  readonly conns = new Map<string, { agent: TestAgent; behaviour: Behaviour; presence: Partial<AgentPresence> }>();
  readonly sent: RequestEnvelope[] = [];
  readonly revoked: string[] = [];
  /** Extra presence entries (e.g. an agent the store does not know). */
  extra: AgentPresence[] = [];
  connect(agent: TestAgent, behaviour: Behaviour = respond(), presence: Partial<AgentPresence> = {}): void {
    this.conns.set(agent.agentId, { agent, behaviour, presence });
  }
  disconnect(agent: TestAgent): void {
    this.conns.delete(agent.agentId);
  }
  async listAgents(tenantId: string): Promise<AgentPresence[]> {
    return (await this.allAgents()).filter((p) => p.tenantId === tenantId);
  }
  async allAgents(): Promise<AgentPresence[]> {
    return [...[...this.conns.values()].map((c) => c.agent.presence(c.presence)), ...this.extra];
  }
  async send(envelope: RequestEnvelope): Promise<RelayAnswer> {
    this.sent.push(envelope);
    const c = this.conns.get(envelope.agentId);
    if (!c) return { kind: 'unavailable' };
    return c.behaviour(envelope, c.agent);
  }
  async revoke(agentId: string): Promise<void> {
    this.revoked.push(agentId);
    this.conns.delete(agentId);
  }
  async close(): Promise<void> {}
}

/** A tenant with a tenant API key and a registered agent connected through a FakeRelay. */
export async function tenantWithAgent(
  started: Started,
  relay: FakeRelay,
  slug = 'acme',
  agentName = 'agent-1',
): Promise<{ tenantId: string; slug: string; apiKey: string; agent: TestAgent }> {
  const b = await started.cloud.bootstrap({ tenant: { slug }, apiKey: true, agentToken: true });
  if (!b.tenant || !b.apiKey || !b.agentToken) throw new Error('bootstrap failed');
  const agent = new TestAgent(agentName);
  const r = await agent.register(started.cloud.url, b.agentToken.token);
  if (r.status !== 201) throw new Error(`register failed: ${r.status} ${r.text}`);
  relay.connect(agent);
  return { tenantId: b.tenant.id, slug, apiKey: b.apiKey, agent };
}

export interface AcmeCloud {
  s: Started;
  /** The cloud's URL. */
  base: string;
  /** Tenant acme's API key, and its id. */
  apiKey: string;
  tenantId: string;
  relay: FakeRelay;
  clock: Clock;
}

/** A cloud whose relay is a FakeRelay, on a hand-moved clock, with tenant `acme` and its API key. */
export async function startAcmeCloud(config: StartCloudOptions['config'] = {}): Promise<AcmeCloud> {
  const clock = new Clock();
  const relay = new FakeRelay();
  const s = await startCloud({ deps: { relayClient: relay, now: clock.now }, config });
  const boot = await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true });
  return { s, base: s.cloud.url, apiKey: boot.apiKey ?? '', tenantId: boot.tenant?.id ?? '', relay, clock };
}

/**
 * A cloud whose relay is a FakeRelay, on a hand-moved clock, with tenant `acme`, its API key and
 * one scripted agent connected (answering with `respond`): the set-up of the HTTP writeback tests.
 */
export async function startScriptedCloud(config: StartCloudOptions['config'] = {}): Promise<{
  s: Started;
  base: string;
  apiKey: string;
  agent: TestAgent;
  relay: FakeRelay;
  clock: Clock;
}> {
  const clock = new Clock();
  const relay = new FakeRelay();
  const s = await startCloud({ deps: { relayClient: relay, now: clock.now }, config });
  const { apiKey, agent } = await tenantWithAgent(s, relay);
  relay.connect(agent, respond({ now: clock.now }));
  return { s, base: s.cloud.url, apiKey, agent, relay, clock };
}

/** Connects to the relay as `agent`, authenticates, answers requests with the agent's script. */
export class WireAgent {
  readonly frames: RelayToAgentFrame[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number }>;
  constructor(
    url: string,
    readonly agent: TestAgent,
    cert: AgentCertificate,
  ) {
    this.ws = new WebSocket(url);
    this.closed = new Promise((resolve) => this.ws.on('close', (code) => resolve({ code })));
    this.ws.on('message', (data) => {
      const frame = parseFrame(data.toString(), RelayToAgentFrameSchema);
      this.frames.push(frame);
      if (frame.t === 'challenge') {
        const sig = signAuthProof(frame.nonce, frame.relayId, cert, privateKeyObject(agent.signing.privateJwk));
        this.ws.send(
          encodeFrame({ v: 1, t: 'auth', certificate: cert, sig, agentVersion: '0.1.0-test', directory: 'embedded' }),
        );
      } else if (frame.t === 'ping') {
        this.ws.send(encodeFrame({ v: 1, t: 'pong', ts: frame.ts }));
      } else if (frame.t === 'request') {
        void agent
          .answer(frame.envelope)
          .then((envelope) => this.ws.send(encodeFrame({ v: 1, t: 'response', envelope })));
      }
    });
  }
  welcomed = (): boolean => this.frames.some((f) => f.t === 'welcome');
  errorCodes = (): string[] => this.frames.flatMap((f) => (f.t === 'error' ? [f.code] : []));
}
