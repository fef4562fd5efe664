/**
 * A real agent for a started cloud: registered with a one-time token, then run in this process
 * (`startAgent`, over a Directory the test holds) or as its own OS process (the `writeback-agent`
 * CLI on the state file, the way it runs in production). Either way the start returns once the
 * cloud's relay holds the agent's connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { registerAgent, startAgent, type AgentState, type RunningAgent } from '@writeback/agent';
import type { Cloud } from '@writeback/cloud';
import type { Directory } from '@writeback/directory';
import type { Logger } from '@writeback/protocol';
import { presenceEvents } from './hub.js';
import { collectLines } from './logs.js';
import { waitFor } from './wait.js';

/** The agent CLI's entry point (bin/writeback-agent.js of @writeback/agent). */
export const AGENT_BIN = createRequire(import.meta.url).resolve('@writeback/agent/bin');

export interface RegisterTestAgentOptions {
  cloud: Pick<Cloud, 'url'>;
  /** The one-time registration token (e.g. `bootstrap({ agentToken: true })`). */
  token: string;
  statePath: string;
  /** Adapter configuration written into the state (an agent process opens it from there). */
  directory: Record<string, unknown>;
  name?: string;
  log?: Logger;
}

/** Register an agent with the cloud as `writeback-agent register` would; returns its state (also written to `statePath`). */
export function registerTestAgent(o: RegisterTestAgentOptions): Promise<AgentState> {
  return registerAgent({
    cloudUrl: o.cloud.url,
    token: o.token,
    name: o.name ?? 'agent-1',
    statePath: o.statePath,
    directory: o.directory,
    ...(o.log ? { log: o.log } : {}),
  });
}

/** Until the cloud's relay lists an agent (of `tenantId` when given): on each presence event of its hub. */
export function agentConnected(
  cloud: Pick<Cloud, 'relayClient' | 'relayHub'>,
  o: { tenantId?: string; timeoutMs?: number } = {},
): Promise<void> {
  const listed = async () =>
    (o.tenantId !== undefined ? await cloud.relayClient.listAgents(o.tenantId) : await cloud.relayClient.allAgents())
      .length > 0;
  return waitFor(listed, {
    what: 'the agent to connect',
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    // A hub in this process announces connections; over NATS there is only the list to read.
    ...(cloud.relayHub ? { on: presenceEvents(cloud.relayHub) } : {}),
  });
}

/** Run an agent in this process over `directory` (the caller keeps it), ready when this resolves. */
export async function startTestAgent(o: {
  state: AgentState;
  directory: Directory;
  log?: Logger;
}): Promise<RunningAgent> {
  const agent = await startAgent({
    state: o.state,
    directory: o.directory,
    allowPlaintext: true,
    ...(o.log ? { log: o.log } : {}),
  });
  await agent.ready();
  return agent;
}

export interface AgentProcess {
  child: ChildProcess;
  pid: number;
  /** Kill the process (SIGKILL unless told) and wait for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartAgentProcessOptions {
  statePath: string;
  /** The cloud the agent registered with: the start waits until its relay holds the agent. */
  cloud: Pick<Cloud, 'relayClient' | 'relayHub'>;
  /** Wait for an agent of this tenant (any agent without it). */
  tenantId?: string;
  /** LOG_LEVEL of the process (default debug). */
  logLevel?: string;
  /** Node options before the script (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Its stdout and stderr: collected line by line into this array, or passed through ('inherit'). */
  output?: string[] | 'inherit';
  /** Safety net for the connection (default 30 s). */
  timeoutMs?: number;
}

/** `writeback-agent run --state <statePath>` as its own OS process, connected when this resolves. */
export async function startAgentProcess(o: StartAgentProcessOptions): Promise<AgentProcess> {
  const connected = agentConnected(o.cloud, {
    ...(o.tenantId !== undefined ? { tenantId: o.tenantId } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
  const inherit = o.output === 'inherit';
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), AGENT_BIN, 'run', '--state', o.statePath], {
    env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'debug' },
    stdio: ['ignore', inherit ? 'inherit' : 'pipe', inherit ? 'inherit' : 'pipe'],
  });
  if (Array.isArray(o.output)) {
    collectLines(child.stdout, o.output);
    collectLines(child.stderr, o.output);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: AgentProcess = {
    child,
    pid: child.pid ?? 0,
    async stop(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  // An agent that exits before it connects fails the start at once, not at the safety net.
  const early = exited.then(() => {
    throw new Error(`the agent process exited before it connected (${child.exitCode ?? child.signalCode})`);
  });
  try {
    await Promise.race([connected, early]);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  early.catch(() => {});
  return proc;
}
