/**
 * The cluster `npm run chaos` runs on loopback, every part a real process that can be killed and
 * started again on the same port: a nats-server, a PostgreSQL database of its own (created here,
 * dropped at the end: terminating "every connection of the database" then touches only this
 * cluster's), two cloud nodes (`@writeback/cloud/main`, RELAY_MODE=nats), two standalone relays,
 * a lab slapd holding the test users, and two agent processes of one tenant writing to that slapd,
 * each dialing its own relay. Every process writes its log to `<runDir>/<name>.log`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeState } from '@writeback/agent';
import { createLogger } from '@writeback/protocol';
import { AGENT_BIN, freePort, newMasterKey, registerTestAgent, waitFor } from '@writeback/testkit';
import { type SlapdLab, slapdDirectoryConfig, startSlapd } from '@writeback/testkit/lab';
import { type NatsServer, RELAY_MAIN, startNatsServer } from '@writeback/testkit/nats';

const run = promisify(execFile);
const CLOUD_MAIN = createRequire(import.meta.url).resolve('@writeback/cloud/main');
const PG_BASE = process.env.TEST_POSTGRES_URL ?? 'postgres://127.0.0.1:5432/test';
export const TENANT = 'chaos';

/** A process of the cluster: started (and started again) the same way, killed by signal. */
export class Managed {
  child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  starts = 0;

  constructor(
    readonly name: string,
    readonly logFile: string,
    private readonly command: () => { file: string; args: string[]; env: NodeJS.ProcessEnv },
    private readonly ready: () => Promise<boolean>,
    private readonly readyTimeoutMs = 120_000,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawn it; resolves once `ready()` holds (fails if it exits first). */
  async start(): Promise<void> {
    if (this.running) return;
    const { file, args, env } = this.command();
    const fd = openSync(this.logFile, 'a');
    const child = spawn(file, args, { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child = child;
    this.starts += 1;
    this.#exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`${this.name} exited at start (${child.exitCode ?? child.signalCode}); see ${this.logFile}`);
        return this.ready().catch(() => false);
      },
      { what: `${this.name} to be ready`, timeoutMs: this.readyTimeoutMs },
    );
  }

  /** Send `signal` (SIGKILL unless told) and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGCONT');
    this.child?.kill(signal);
    await this.#exited;
  }

  /** A signal that does not end it (SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child?.kill(signal);
  }
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  await res.arrayBuffer();
  return res.status === 200;
}

export interface ChaosUser {
  uid: string;
  dn: string;
  /** The password set at creation. */
  initial: string;
}

/** {SSHA} as slapd writes it (the users are loaded in one ldapadd). */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

/** Whether `password` hashes to `stored` ({SSHA} only, what this slapd writes). */
export function sshaMatches(stored: string, password: string): boolean {
  if (!stored.startsWith('{SSHA}')) return false;
  const raw = Buffer.from(stored.slice(6), 'base64');
  const digest = raw.subarray(0, 20);
  const salt = raw.subarray(20);
  return createHash('sha1').update(password, 'utf8').update(salt).digest().equals(digest);
}

export function chaosPassword(): string {
  return `Cx-${randomBytes(9).toString('base64url')}-7a!`;
}

export interface ClusterOptions {
  runDir: string;
  users: number;
  say: (line: string) => void;
}

export interface Cluster {
  nats: NatsServer;
  clouds: [Managed, Managed];
  cloudUrls: [string, string];
  relays: [Managed, Managed];
  relayUrls: [string, string];
  agents: [Managed, Managed];
  agentIds: [string, string];
  lab: SlapdLab;
  users: ChaosUser[];
  apiKey: string;
  /** `SELECT pg_terminate_backend(pid)` for every other connection of the cluster's database: how many. */
  terminateDbConnections(): Promise<number>;
  /** The tenant's agents the cloud at `url` sees connected (their ids). */
  connectedAgents(url: string): Promise<string[]>;
  /** The stored userPassword of every test user (read as the rootDN), by uid. */
  storedPasswords(): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

async function psql(db: string, sql: string): Promise<string> {
  const url = new URL(PG_BASE);
  url.pathname = `/${db}`;
  const { stdout } = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url.href, '-c', sql]);
  return stdout.trim();
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    return await build(o, cleanups, stop);
  } catch (err) {
    await stop();
    throw err;
  }
}

async function build(
  o: ClusterOptions,
  cleanups: (() => Promise<void>)[],
  stop: () => Promise<void>,
): Promise<Cluster> {
  const { runDir, say } = o;
  const suffix = randomBytes(4).toString('hex');
  const dbName = `wbchaos_${suffix}`;
  const prefix = `wbchaos.${suffix}`;

  // PostgreSQL: a database of its own.
  const adminDb = new URL(PG_BASE).pathname.slice(1) || 'postgres';
  await psql(adminDb, `CREATE DATABASE ${dbName}`);
  cleanups.push(async () => {
    await psql(adminDb, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });
  const dbUrl = new URL(PG_BASE);
  dbUrl.pathname = `/${dbName}`;

  const [nats, lab] = await Promise.all([startNatsServer(), startSlapd({ tls: true })]);
  cleanups.push(() => nats.stop());
  cleanups.push(() => lab.stop());

  // The users, in one ldapadd.
  const users: ChaosUser[] = Array.from({ length: o.users }, (_, i) => {
    const uid = `chaos${String(i).padStart(4, '0')}`;
    return { uid, dn: `uid=${uid},ou=people,${lab.baseDn}`, initial: chaosPassword() };
  });
  await lab.ldapadd(
    `${users
      .map(
        (u) =>
          `dn: ${u.dn}\nobjectClass: inetOrgPerson\nuid: ${u.uid}\ncn: ${u.uid}\nsn: ${u.uid}\nuserPassword: ${ssha(u.initial)}`,
      )
      .join('\n\n')}\n`,
  );
  say(`slapd ${lab.url} with ${users.length} users; nats ${nats.url}; database ${dbName}`);

  const [cloudPorts, relayPorts] = [
    [await freePort(), await freePort()] as const,
    [await freePort(), await freePort()] as const,
  ];
  const relayUrls: [string, string] = [
    `ws://127.0.0.1:${relayPorts[0]}/agent`,
    `ws://127.0.0.1:${relayPorts[1]}/agent`,
  ];
  const cloudUrls: [string, string] = [`http://127.0.0.1:${cloudPorts[0]}`, `http://127.0.0.1:${cloudPorts[1]}`];
  const masterKey = newMasterKey();
  const baseEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    DATABASE_URL: dbUrl.href,
    DATABASE_POOL_SIZE: '5',
    WRITEBACK_MASTER_KEY: masterKey,
    RELAY_MODE: 'nats',
    NATS_URL: nats.url,
    NATS_PREFIX: prefix,
    NATS_RECONNECT_MAX_MS: '1000',
    RELAY_URL: relayUrls[0],
    SYNC_ENABLED: 'false',
    PENDING_SWEEP_INTERVAL_MS: '500',
    PENDING_GRACE_MS: '500',
    OPERATOR_KEY_FILE: join(runDir, 'operator.key'),
    LOG_LEVEL: 'info',
  };

  // The cloud's key pair (and the schema) before anything starts; the relays need the public key.
  // (Run first, not beside the nodes: it also fills tsx's compile cache, which the nodes then use.)
  const printed = await run(process.execPath, ['--import', 'tsx', CLOUD_MAIN, 'print-public-key'], {
    env: baseEnv,
  });
  const cloudPublicKey = printed.stdout.trim().split('\n').pop()?.trim() ?? '';
  if (!/^[A-Za-z0-9_-]{40,}$/.test(cloudPublicKey)) throw new Error('print-public-key printed no key');

  const clouds = [0, 1].map(
    (i) =>
      new Managed(
        `cloud${i + 1}`,
        join(runDir, `cloud${i + 1}.log`),
        () => ({
          file: process.execPath,
          args: ['--import', 'tsx', CLOUD_MAIN],
          env: {
            ...baseEnv,
            PORT: String(cloudPorts[i]),
            AUDIT_OUTBOX_FILE: join(runDir, `cloud${i + 1}-audit-outbox.jsonl`),
          },
        }),
        () => httpOk(`${cloudUrls[i]}/healthz`),
      ),
  ) as [Managed, Managed];
  const relays = [0, 1].map(
    (i) =>
      new Managed(
        `relay${i + 1}`,
        join(runDir, `relay${i + 1}.log`),
        () => ({
          file: process.execPath,
          args: ['--import', 'tsx', RELAY_MAIN],
          env: {
            ...process.env,
            RELAY_HOST: '127.0.0.1',
            RELAY_PORT: String(relayPorts[i]),
            RELAY_ID: `chaos-relay-${i + 1}`,
            NATS_URL: nats.url,
            NATS_PREFIX: prefix,
            NATS_RECONNECT_MAX_MS: '1000',
            WRITEBACK_CLOUD_PUBLIC_KEY: cloudPublicKey,
            LOG_LEVEL: 'info',
          },
        }),
        () => httpOk(`http://127.0.0.1:${relayPorts[i]}/healthz`),
      ),
  ) as [Managed, Managed];
  for (const p of [...clouds, ...relays]) cleanups.push(() => p.kill());
  await Promise.all([...clouds, ...relays].map((p) => p.start()));
  say(`clouds ${cloudUrls.join(' ')}; relays ${relayUrls.join(' ')}`);

  // Tenant, API key, two agents.
  const operatorKey = (await readFile(join(runDir, 'operator.key'), 'utf8')).match(
    /wbk_[0-9a-f]+\.[A-Za-z0-9_-]+/,
  )?.[0];
  if (!operatorKey) throw new Error('no operator key was written');
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${cloudUrls[0]}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  await call('POST', '/api/v1/tenants', operatorKey, { slug: TENANT, name: 'Chaos' });
  const T = `/api/v1/tenants/${TENANT}`;
  const apiKey = String((await call('POST', `${T}/api-keys`, operatorKey, {})).key);

  const connectedAgents = async (url: string): Promise<string[]> => {
    const res = await fetch(`${url}${T}/agents`, {
      headers: { authorization: `Bearer ${apiKey}` },
      signal: AbortSignal.timeout(5_000),
    });
    const json = (await res.json()) as { agents?: { agentId: string; connected: boolean }[] };
    return (json.agents ?? []).filter((a) => a.connected).map((a) => a.agentId);
  };

  const directory = await slapdDirectoryConfig(lab, runDir);
  const agentIds: string[] = [];
  const agents: Managed[] = [];
  for (const i of [0, 1]) {
    const token = String((await call('POST', `${T}/agent-tokens`, apiKey, {})).token);
    const statePath = join(runDir, `agent${i + 1}.json`);
    const state = await registerTestAgent({
      cloud: { url: cloudUrls[0] },
      token,
      statePath,
      directory,
      name: `chaos-agent-${i + 1}`,
      log: createLogger({ name: 'agent', level: 'error' }),
    });
    // One relay each, whatever list the cloud handed out.
    const { relayUrls: _list, ...single } = state;
    await writeState(statePath, { ...single, relayUrl: relayUrls[i] ?? '' });
    agentIds.push(state.agentId);
    const agent = new Managed(
      `agent${i + 1}`,
      join(runDir, `agent${i + 1}.log`),
      () => ({
        file: process.execPath,
        args: [AGENT_BIN, 'run', '--state', statePath],
        env: { ...process.env, LOG_LEVEL: 'info' },
      }),
      async () => (await connectedAgents(cloudUrls[0])).includes(state.agentId),
    );
    agents.push(agent);
    cleanups.push(() => agent.kill());
  }
  await Promise.all(agents.map((a) => a.start()));
  const held = await Promise.all(
    relayPorts.map(async (p) => {
      const res = await fetch(`http://127.0.0.1:${p}/healthz`);
      return ((await res.json()) as { agents?: number }).agents ?? 0;
    }),
  );
  say(`agents ${agentIds.join(' ')} connected; relay1 holds ${held[0]} agent(s), relay2 ${held[1]}`);

  return {
    nats,
    clouds,
    cloudUrls,
    relays,
    relayUrls,
    agents: agents as [Managed, Managed],
    agentIds: agentIds as [string, string],
    lab,
    users,
    apiKey,
    async terminateDbConnections() {
      const out = await psql(
        dbName,
        'SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      return Number(out);
    },
    connectedAgents,
    async storedPasswords() {
      const ldif = await lab.ldapsearch(`ou=people,${lab.baseDn}`, '(uid=chaos*)', ['uid', 'userPassword']);
      const out = new Map<string, string>();
      for (const block of ldif.split(/\n\n+/)) {
        const uid = /^uid: (.+)$/m.exec(block)?.[1];
        const b64 = /^userPassword:: (.+)$/m.exec(block)?.[1];
        const plain = /^userPassword: (.+)$/m.exec(block)?.[1];
        const value = b64 !== undefined ? Buffer.from(b64, 'base64').toString('utf8') : plain;
        if (uid && value) out.set(uid.trim(), value.trim());
      }
      return out;
    },
    stop,
  };
}
