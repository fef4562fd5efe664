/**
 * Whole-system harness: a real cloud (HTTP + in-process relay + SQLite store) on a real port, a
 * real agent registered with a one-time token (in this process or as its own OS process), and the
 * embedded directory on disk (seeded with the users below) or, with `directoryConfig`, a real
 * directory the test started (Samba AD, slapd) and its adapter. Every log line of the run is
 * captured so tests can look for secrets.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentState, RunningAgent } from '@writeback/agent';
import type { Cloud, CloudConfigInput } from '@writeback/cloud';
import {
  HASH_COST,
  openDirectory,
  openEmbeddedDirectory,
  type Directory,
  type EmbeddedDirectory,
  type EmbeddedHashCost,
} from '@writeback/directory';
import { createLogger, type Logger } from '@writeback/protocol';
import {
  captureLogs,
  registerTestAgent,
  startAgentProcess,
  startCloud,
  startTestAgent,
  type StartedCloud,
} from '@writeback/testkit';
import { sambaDirectoryConfig, slapdDirectoryConfig, type SambaDc, type SlapdLab } from '@writeback/testkit/lab';

export { findSecrets, waitFor } from '@writeback/testkit';
export { missingPrograms } from '@writeback/testkit/lab';

export const PASSWORDS = {
  alice: 'Tulip-Initial-2024!',
  bob: 'Maple-Initial-2024!',
  carol: 'Cedar-Initial-2024!',
  dave: 'Birch-Initial-2024!',
  erin: 'Aspen-Initial-2024!',
  frank: 'Hazel-Initial-2024!',
} as const;

export interface SystemOptions {
  deadlineMs?: number;
  heartbeatMs?: number;
  /** 'inprocess' (default), 'process' (the agent CLI as its own OS process) or 'none'. */
  agent?: 'inprocess' | 'process' | 'none';
  /** Rewrite the relay URL the agent dials (to put a proxy in between). */
  agentRelayUrl?: (relayUrl: string) => string;
  hash?: EmbeddedHashCost;
  /** More users for the embedded directory, added before any agent opens it (an agent process needs them there first). */
  seed?: (d: EmbeddedDirectory) => Promise<void>;
  /** Wrap the directory the in-process agent uses (e.g. to slow it down). */
  wrapDirectory?: (d: Directory) => Directory;
  port?: number;
  dir?: string;
  rateLimitPerUser?: number;
  /**
   * An adapter configuration (`ad`, `openldap`) for a directory the test started and seeded
   * itself, used instead of the embedded one: written into the agent's state (so an agent process
   * opens it too; any file it names must be an absolute path) and opened here as `directory`.
   */
  directoryConfig?: ExternalDirectoryConfig;
  /** Run the cloud's directory sync on its timer (default off: tests call cloud.sync.runOnce). */
  sync?: boolean;
  /** Extra cloud configuration. */
  cloudConfig?: CloudConfigInput;
}

/** An adapter configuration for a real directory; validated by the adapter when it is opened. */
export interface ExternalDirectoryConfig extends Record<string, unknown> {
  kind: 'ad' | 'openldap';
}

/** A running system; `D` is the embedded directory unless the test gave a `directoryConfig`. */
export interface System<D extends Directory = EmbeddedDirectory> {
  cloud: Cloud;
  url: string;
  tenant: string;
  apiKey: string;
  dir: string;
  statePath: string;
  state: AgentState | null;
  /** The directory the in-process agent uses (for an agent process: a second handle on the same directory). */
  directory: D;
  agent: RunningAgent | null;
  agentProcess: ChildProcess | null;
  logs: string[];
  log: Logger;
  api(
    method: string,
    path: string,
    body?: unknown,
    key?: string | null,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  startAgentProcess(): Promise<ChildProcess>;
  /** Stop the cloud (and its in-process relay) and start it again on the same port and store. */
  restartCloud(): Promise<void>;
  tenantId: string;
  stop(): Promise<void>;
}

/** Every log line written by any logger without its own sink, for the whole test file. */
export const capturedLogs: string[] = captureLogs().lines;

export const DIRECTORY_POLICY = {
  minLength: 10,
  complexity: true,
  historyLength: 5,
  minAgeSeconds: 0,
  maxAgeSeconds: 0,
  lockoutThreshold: 3,
  lockoutDurationSeconds: 900,
};

export async function seedUsers(directory: EmbeddedDirectory): Promise<void> {
  await directory.definePolicy('strict', { minLength: 14, minAgeSeconds: 86_400 });
  await directory.createUser({ login: 'alice', displayName: 'Alice Martin', password: PASSWORDS.alice });
  await directory.createUser({ login: 'bob', displayName: 'Bob Stone', password: PASSWORDS.bob });
  await directory.createUser({
    login: 'carol',
    displayName: 'Carol Disabled',
    password: PASSWORDS.carol,
    enabled: false,
  });
  await directory.createUser({ login: 'dave', displayName: 'Dave Admin', password: PASSWORDS.dave, protected: true });
  await directory.createUser({ login: 'erin', displayName: 'Erin Lock', password: PASSWORDS.erin });
  await directory.createUser({
    login: 'frank',
    displayName: 'Frank Strict',
    password: PASSWORDS.frank,
    policyName: 'strict',
  });
}

/** Start the whole system around the seeded embedded directory… */
export async function startSystem(o?: SystemOptions & { directoryConfig?: undefined }): Promise<System>;
/** …or around a real directory the test started. */
export async function startSystem(
  o: SystemOptions & { directoryConfig: ExternalDirectoryConfig },
): Promise<System<Directory>>;
export async function startSystem(o: SystemOptions = {}): Promise<System<Directory>> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'wb-e2e-')));
  const logs = capturedLogs;
  const log = createLogger({ name: 'e2e' });
  const started: StartedCloud = await startCloud({
    config: {
      databaseUrl: `sqlite:${join(dir, 'writeback.db')}`,
      ...(o.port !== undefined ? { port: o.port } : {}),
      writebackDeadlineMs: o.deadlineMs ?? 5_000,
      pendingGraceMs: 0,
      syncEnabled: o.sync ?? false,
      ...(o.rateLimitPerUser !== undefined
        ? {
            rateLimits: {
              passwordChangePerUser: { limit: o.rateLimitPerUser, windowSeconds: 900 },
              passwordChangePerIp: { limit: 1000, windowSeconds: 900 },
              adminSignInPerLogin: { limit: 10, windowSeconds: 900 },
              adminSignInPerIp: { limit: 50, windowSeconds: 900 },
            },
          }
        : {}),
      ...o.cloudConfig,
    },
    deps: {
      log: log.child({ part: 'cloud' }),
      ...(o.heartbeatMs ? { relayHub: { heartbeatMs: o.heartbeatMs } } : {}),
    },
  });
  const cloud = started.cloud;
  const boot = await cloud.bootstrap({ tenant: { slug: 'acme', name: 'Acme' }, apiKey: true, agentToken: true });
  const apiKey = boot.apiKey ?? '';
  let directoryConfig: Record<string, unknown>;
  let directory: Directory;
  // Only the embedded directory is single-writer: its files must be closed here before an agent process opens them.
  let embedded: EmbeddedDirectory | null = null;
  if (o.directoryConfig) {
    directoryConfig = o.directoryConfig;
    directory = await openDirectory(directoryConfig, { log: log.child({ part: 'directory' }) });
  } else {
    const config = {
      kind: 'embedded' as const,
      path: join(dir, 'directory'),
      hash: o.hash ?? { ...HASH_COST.fast },
      policy: DIRECTORY_POLICY,
    };
    directoryConfig = config;
    embedded = await openEmbeddedDirectory(config, { log: log.child({ part: 'directory' }) });
    await seedUsers(embedded);
    await o.seed?.(embedded);
    directory = embedded;
  }

  const statePath = join(dir, 'agent.json');
  let state: AgentState | null = null;
  let agent: RunningAgent | null = null;
  const agentProcess: ChildProcess | null = null;
  if ((o.agent ?? 'inprocess') !== 'none') {
    state = await registerTestAgent({
      cloud,
      token: boot.agentToken?.token ?? '',
      statePath,
      directory: directoryConfig,
      log: log.child({ part: 'agent' }),
    });
    if (o.agentRelayUrl) state = { ...state, relayUrl: o.agentRelayUrl(state.relayUrl) };
  }

  const sys: System<Directory> = {
    cloud,
    tenantId: boot.tenant?.id ?? '',
    url: cloud.url,
    tenant: 'acme',
    apiKey,
    dir,
    statePath,
    state,
    directory,
    agent,
    agentProcess,
    logs,
    log,
    async api(method, path, body, key = apiKey) {
      const headers: Record<string, string> = {};
      if (key) headers.authorization = `Bearer ${key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${sys.cloud.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        parsed = { raw: text };
      }
      return { status: res.status, body: parsed };
    },
    async startAgentProcess() {
      // The directory files are opened by the agent process: close ours first (single writer).
      await embedded?.close();
      const agent = await startAgentProcess({
        statePath,
        cloud: sys.cloud,
        tenantId: sys.tenantId,
        output: logs,
        timeoutMs: 20_000,
      });
      sys.agentProcess = agent.child;
      return agent.child;
    },
    async restartCloud() {
      sys.cloud = await started.restart();
    },
    async stop() {
      await sys.agent?.stop();
      if (sys.agentProcess && sys.agentProcess.exitCode === null) {
        sys.agentProcess.kill('SIGKILL');
      }
      await started.stop();
      await directory.close().catch(() => {});
      if (!o.dir) await rm(dir, { recursive: true, force: true });
    },
  };

  if (state && (o.agent ?? 'inprocess') === 'inprocess') {
    agent = await startTestAgent({
      state,
      directory: o.wrapDirectory ? o.wrapDirectory(directory) : directory,
      log: log.child({ part: 'agent' }),
    });
    sys.agent = agent;
  } else if (state && o.agent === 'process') {
    await sys.startAgentProcess();
  }
  return sys;
}

/** A system started around a real directory, with the scratch folder that holds its files. */
/** The public password change of tenant acme: no key, the user proves the current password. */
export function changeOwnPassword(
  sys: Pick<System<Directory>, 'api'>,
  username: string,
  currentPassword: string,
  newPassword: string,
): ReturnType<System['api']> {
  return sys.api('POST', '/api/v1/tenants/acme/password/change', { username, currentPassword, newPassword }, null);
}

export interface SystemAround {
  sys: System<Directory>;
  /** Removed by stop(). */
  scratch: string;
  /** Stops the system and removes the scratch folder (not the directory server). */
  stop(): Promise<void>;
}

/**
 * The whole system (agent as its own process) in front of a directory a test started: `configure`
 * gets a scratch folder for the service password file (0600) its configuration names, as an
 * administrator would give it.
 */
export async function startSystemAround(
  configure: (scratch: string) => Promise<ExternalDirectoryConfig>,
): Promise<SystemAround> {
  const scratch = await mkdtemp(join(tmpdir(), 'wb-e2e-dir-'));
  try {
    // Generous deadline: the machine is shared, and Samba's own write takes ~35 ms on an idle one.
    const sys = await startSystem({
      agent: 'process',
      deadlineMs: 20_000,
      rateLimitPerUser: 100,
      directoryConfig: await configure(scratch),
    });
    return {
      sys,
      scratch,
      async stop() {
        await sys.stop();
        await rm(scratch, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

/** In front of a lab Samba AD DC: LDAPS with the lab CA, the delegated service account. */
export function startSystemOnSamba(dc: SambaDc, o: { baseDn?: string } = {}): Promise<SystemAround> {
  return startSystemAround((scratch) => sambaDirectoryConfig(dc, scratch, o));
}

/**
 * The lab DC `starting` (awaited here) with the whole system in front of it; its service and
 * administrator passwords join `secrets`. `stop` stops the system, then the DC.
 */
export async function startSystemWithSamba(
  starting: Promise<SambaDc>,
  secrets: Set<string>,
): Promise<SystemAround & { dc: SambaDc }> {
  const dc = await starting;
  secrets.add(dc.servicePassword);
  secrets.add(dc.adminPassword);
  try {
    const around = await startSystemOnSamba(dc);
    return {
      ...around,
      dc,
      async stop() {
        await around.stop();
        await dc.stop();
      },
    };
  } catch (err) {
    await dc.stop();
    throw err;
  }
}

/**
 * In front of a lab slapd started with TLS: LDAPS with the lab CA, the account with `write` (not
 * `manage`) on userPassword, so slapd checks its policy on admin resets too.
 */
export function startSystemOnSlapd(lab: SlapdLab): Promise<SystemAround> {
  return startSystemAround((scratch) => slapdDirectoryConfig(lab, scratch));
}

/**
 * The passwords a test file uses (`secrets`: none may appear in any log line of the run) and `pw`,
 * a fresh lab password (labPassword) added to them.
 */
export function labSecrets(): { secrets: Set<string>; pw: (tag: string) => string } {
  const secrets = new Set<string>();
  return { secrets, pw: (tag) => labPassword(tag, secrets) };
}

/**
 * A fresh password meeting both lab policies (Samba: 3 of 4 classes, length 7; slapd: length 8),
 * added to `secrets` (the set the test checks every log line against).
 */
export function labPassword(tag: string, secrets: Set<string>): string {
  const p = `${tag}-${randomBytes(6).toString('base64url')}-7a!`;
  secrets.add(p);
  return p;
}
