/**
 * The most common system under a cloud test: an embedded directory in a folder of the test's,
 * holding a few users, served by an agent registered with a one-time token and running in this
 * process. The test keeps the directory (to create users, read passwords, or wrap it to hold
 * writes) and stops both at the end.
 */
import { join } from 'node:path';
import type { AgentState, RunningAgent } from '@writeback/agent';
import type { Cloud } from '@writeback/cloud';
import {
  HASH_COST,
  openEmbeddedDirectory,
  type Directory,
  type EmbeddedConfig,
  type EmbeddedCreateUserInput,
  type EmbeddedDirectory,
} from '@writeback/directory';
import type { Logger } from '@writeback/protocol';
import { registerTestAgent, startTestAgent } from './agent.js';

/** A policy to write against: 10 characters with complexity, no history or ages, locked after 3 wrong passwords for 15 minutes. */
export const TEST_POLICY = {
  minLength: 10,
  complexity: true,
  historyLength: 0,
  minAgeSeconds: 0,
  maxAgeSeconds: 0,
  lockoutThreshold: 3,
  lockoutDurationSeconds: 900,
} as const satisfies EmbeddedConfig['policy'];

/** alice, whose password the tests that use her know. */
export const ALICE = { login: 'alice', displayName: 'Alice', password: 'Tulip-Initial-2024!' } as const;

export interface StartEmbeddedAgentOptions {
  cloud: Pick<Cloud, 'url'>;
  /** The one-time registration token (e.g. `bootstrap({ agentToken: true })`). */
  token: string;
  /** A folder of the test's: the directory's files and the agent's state go in it. */
  dir: string;
  /** Created before the agent starts (default: ALICE). */
  users?: readonly EmbeddedCreateUserInput[];
  /** The directory's password policy (default: the embedded adapter's own). */
  policy?: EmbeddedConfig['policy'];
  /** The agent's name (default agent-1). */
  name?: string;
  /** For the agent (the directory logs as it does by default). */
  log?: Logger;
  /** The relay the agent dials, when not the one its registration named (a relay node of a cluster). */
  relayUrl?: string;
  /** What the agent serves: the directory, or a wrapper of it (e.g. one that holds writes). */
  serve?: (directory: EmbeddedDirectory) => Directory;
}

/** Open the directory, create its users, register the agent and run it; ready when this resolves. */
export async function startEmbeddedAgent(
  o: StartEmbeddedAgentOptions,
): Promise<{ directory: EmbeddedDirectory; agent: RunningAgent; state: AgentState }> {
  const config: EmbeddedConfig = {
    kind: 'embedded',
    path: join(o.dir, 'directory'),
    hash: { ...HASH_COST.fast },
    ...(o.policy ? { policy: o.policy } : {}),
  };
  const directory = await openEmbeddedDirectory(config);
  for (const user of o.users ?? [ALICE]) await directory.createUser(user);
  const state = await registerTestAgent({
    cloud: o.cloud,
    token: o.token,
    statePath: join(o.dir, 'agent.json'),
    directory: config,
    ...(o.name ? { name: o.name } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  const agent = await startTestAgent({
    state: o.relayUrl ? { ...state, relayUrl: o.relayUrl } : state,
    directory: o.serve ? o.serve(directory) : directory,
    ...(o.log ? { log: o.log } : {}),
  });
  return { directory, agent, state };
}

/**
 * Tenant `acme` bootstrapped on `cloud` with an API key and a registration token, and the directory
 * and agent of `startEmbeddedAgent` registered with that token: the API key and tenant id to call
 * the cloud with, the directory and agent to stop at the end.
 */
export async function startAcmeWithAgent(
  cloud: Pick<Cloud, 'url' | 'bootstrap'>,
  o: Omit<StartEmbeddedAgentOptions, 'cloud' | 'token'>,
): Promise<{ apiKey: string; tenantId: string; directory: EmbeddedDirectory; agent: RunningAgent; state: AgentState }> {
  const boot = await cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true, agentToken: true });
  const started = await startEmbeddedAgent({ ...o, cloud, token: boot.agentToken?.token ?? '' });
  return { apiKey: boot.apiKey ?? '', tenantId: boot.tenant?.id ?? '', ...started };
}
