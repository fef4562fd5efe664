/**
 * `@writeback/testkit/nats`: a nats-server of the test's own (on a free loopback port, stopped and
 * started again on the same port to cut NATS under running parts) and the standalone relay as its
 * own OS process (`@writeback/relay/main`), the way a cluster runs them. Starts return once the
 * process says it is ready; nothing waits for an amount of time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@writeback/protocol';
import { mkdtemp, rm } from 'node:fs/promises';
import type { RunningAgent } from '@writeback/agent';
import type { EmbeddedDirectory } from '@writeback/directory';
import { agentConnected } from './agent.js';
import { startCloud, type StartedCloud } from './cloud.js';
import { startAcmeWithAgent, type StartEmbeddedAgentOptions } from './embedded-agent.js';
import { fetchJson, type JsonAnswer } from './http.js';
import { collectLines, quietLog } from './logs.js';
import { freePort } from './process.js';
import { waitFor } from './wait.js';

/** The nats-server binary on PATH, or null when there is none (tests skip then). */
export const NATS_SERVER_BIN: string | null = (() => {
  const found = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : null;
})();

/** The standalone relay's entry point (src/main.ts of @writeback/relay). */
export const RELAY_MAIN = createRequire(import.meta.url).resolve('@writeback/relay/main');

/** Until `proc` has written `text` (its output collected in `lines`); fails if it exits first. */
function untilLine(proc: ChildProcess, lines: string[], text: string, what: string, timeoutMs = 30_000): Promise<void> {
  let exited = false;
  proc.once('exit', () => {
    exited = true;
  });
  return waitFor(
    () => {
      if (lines.some((l) => l.includes(text))) return true;
      if (exited) throw new Error(`${what} exited before it was ready:\n${lines.join('\n')}`);
      return false;
    },
    { timeoutMs, what },
  );
}

async function kill(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill(signal);
  await exited;
}

export interface NatsServer {
  port: number;
  /** nats://127.0.0.1:<port> */
  url: string;
  /** Whether the server process runs now. */
  running(): boolean;
  /** Kill the server (SIGKILL unless told): every client loses its connection. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again on the same port (after stop). */
  start(): Promise<void>;
  /** Everything the server wrote. */
  lines: string[];
}

/** A nats-server on a free port of 127.0.0.1 (core NATS, no JetStream), ready when this resolves. */
export async function startNatsServer(
  o: {
    port?: number;
    /** The server's max_payload in bytes (NATS's default: 1 MiB), e.g. small to meet the limit with few agents. */
    maxPayload?: number;
  } = {},
): Promise<NatsServer> {
  if (!NATS_SERVER_BIN) throw new Error('nats-server is not on PATH');
  const bin = NATS_SERVER_BIN;
  const port = o.port ?? (await freePort());
  const args = ['-a', '127.0.0.1', '-p', String(port)];
  if (o.maxPayload !== undefined) {
    // Not a command-line flag of nats-server: a one-line configuration file.
    const conf = join(tmpdir(), `wb-nats-${port}-${process.pid}.conf`);
    writeFileSync(conf, `max_payload: ${Math.floor(o.maxPayload)}\n`);
    args.push('-c', conf);
  }
  const lines: string[] = [];
  let proc: ChildProcess | null = null;
  const start = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) return;
    const from = lines.length;
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    collectLines(child.stdout, lines);
    collectLines(child.stderr, lines);
    await untilLine(child, lines, 'Server is ready', `nats-server on ${port}`).catch(async (err: unknown) => {
      await kill(child, 'SIGKILL');
      throw err;
    });
    lines.splice(0, from);
  };
  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    lines,
    running: () => proc !== null && proc.exitCode === null && proc.signalCode === null,
    async stop(signal = 'SIGKILL') {
      if (proc) await kill(proc, signal);
    },
    start,
  };
}

export interface RelayProcess {
  child: ChildProcess;
  port: number;
  /** ws://127.0.0.1:<port>/agent, what agents dial. */
  url: string;
  /** http://127.0.0.1:<port>/healthz */
  healthUrl: string;
  /** Its log, a JSON line each (stderr). */
  lines: string[];
  /** SIGTERM (a clean stop) unless told; resolves once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartRelayProcessOptions {
  natsUrl: string;
  natsPrefix: string;
  /** base64url Ed25519 public key of the cloud (`cloud.cloudPublicKey`). */
  cloudPublicKey: string;
  relayId?: string;
  /** More environment (NATS_RECONNECT_MAX_MS, RELAY_HEARTBEAT_MS, …). */
  env?: Record<string, string>;
}

/** The standalone relay (`@writeback/relay/main`) as its own OS process on a free port, listening when this resolves. */
export async function startRelayProcess(o: StartRelayProcessOptions): Promise<RelayProcess> {
  const port = await freePort();
  const lines: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', RELAY_MAIN], {
    env: {
      ...process.env,
      RELAY_PORT: String(port),
      NATS_URL: o.natsUrl,
      NATS_PREFIX: o.natsPrefix,
      WRITEBACK_CLOUD_PUBLIC_KEY: o.cloudPublicKey,
      LOG_LEVEL: 'info',
      ...(o.relayId ? { RELAY_ID: o.relayId } : {}),
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  collectLines(child.stdout, lines);
  collectLines(child.stderr, lines);
  const relay: RelayProcess = {
    child,
    port,
    url: `ws://127.0.0.1:${port}/agent`,
    healthUrl: `http://127.0.0.1:${port}/healthz`,
    lines,
    stop: (signal = 'SIGTERM') => kill(child, signal),
  };
  try {
    await untilLine(child, lines, 'relay listening', 'the relay process');
  } catch (err) {
    await relay.stop('SIGKILL');
    throw err;
  }
  return relay;
}

export interface StartCloudOverNatsOptions {
  natsUrl: string;
  natsPrefix: string;
  relayId: string;
  /** Both sides' NATS_RECONNECT_MAX_MS (small, so a test does not wait for a reconnect). */
  reconnectMaxMs: number;
  /** The cloud's WRITEBACK_DEADLINE_MS. */
  deadlineMs: number;
  /** The cloud's log (default: the cloud's own, quiet in tests). */
  log?: Logger;
}

/**
 * A cloud node in RELAY_MODE=nats (in this process, its own store) and the standalone relay as its
 * own process on the same NATS and prefix: agents dial `relay.url`. NATS need not be up: both start
 * without it (issue 11) and connect when it comes.
 */
export async function startCloudOverNats(
  o: StartCloudOverNatsOptions,
): Promise<{ started: StartedCloud; relay: RelayProcess }> {
  const started = await startCloud({
    config: {
      relayMode: 'nats',
      natsUrl: o.natsUrl,
      natsPrefix: o.natsPrefix,
      natsReconnectMaxMs: o.reconnectMaxMs,
      writebackDeadlineMs: o.deadlineMs,
    },
    ...(o.log ? { deps: { log: o.log } } : {}),
  });
  try {
    const relay = await startRelayProcess({
      natsUrl: o.natsUrl,
      natsPrefix: o.natsPrefix,
      cloudPublicKey: started.cloud.cloudPublicKey,
      relayId: o.relayId,
      env: { NATS_RECONNECT_MAX_MS: String(o.reconnectMaxMs) },
    });
    return { started, relay };
  } catch (err) {
    await started.stop();
    throw err;
  }
}

export interface NatsSystem {
  nats: NatsServer;
  started: StartedCloud;
  relay: RelayProcess;
  agent: RunningAgent;
  directory: EmbeddedDirectory;
  apiKey: string;
  tenantId: string;
  /** An admin reset of alice through the API, with this password (no forced change). */
  reset(newPassword: string): Promise<JsonAnswer>;
  /** Everything stopped (the relay killed), the folder removed. */
  stop(): Promise<void>;
}

/**
 * A nats-server of its own, a cloud node and a relay process over it (startCloudOverNats), and
 * tenant acme with alice's agent (embedded directory) connected through the relay process: the
 * set-up of the tests that cut NATS under running parts.
 */
export async function startNatsSystem(
  o: Omit<StartCloudOverNatsOptions, 'natsUrl' | 'natsPrefix'> & Pick<StartEmbeddedAgentOptions, 'policy' | 'serve'>,
): Promise<NatsSystem> {
  const dir = await mkdtemp(join(tmpdir(), 'wb-nats-system-'));
  const stops: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    const nats = await startNatsServer();
    stops.push(() => nats.stop());
    const prefix = `wbsys.${Math.random().toString(16).slice(2, 10)}`;
    const { started, relay } = await startCloudOverNats({ ...o, natsUrl: nats.url, natsPrefix: prefix });
    stops.push(
      () => started.stop(),
      () => relay.stop('SIGKILL'),
    );
    // The relay process holds the agent here, not the cloud node.
    const acme = await startAcmeWithAgent(started.cloud, {
      dir,
      ...(o.policy ? { policy: o.policy } : {}),
      ...(o.serve ? { serve: o.serve } : {}),
      log: quietLog(),
      relayUrl: relay.url,
    });
    stops.push(
      () => acme.directory.close(),
      () => acme.agent.stop(),
    );
    await agentConnected(started.cloud, { tenantId: acme.tenantId });
    return {
      nats,
      started,
      relay,
      ...acme,
      reset: (newPassword) =>
        fetchJson(`${started.cloud.url}/api/v1/tenants/acme/users/alice/password/reset`, acme.apiKey, {
          newPassword,
          forceChange: false,
        }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
