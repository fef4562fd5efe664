/**
 * The benchmarks' agent, set up as in production: registered with the cloud's one-time token into
 * `<dir>/agent.json`, then `writeback-agent run` as its own OS process on that state.
 */
import { join } from 'node:path';
import type { Logger } from '@writeback/protocol';
import {
  registerTestAgent,
  startAgentProcess,
  type AgentProcess,
  type RegisterTestAgentOptions,
  type StartAgentProcessOptions,
} from '@writeback/testkit';

/** Registers `bench-agent` with `cloud` (its adapter configuration: `directory`) and starts it. */
export async function startBenchAgent(
  setup: {
    cloud: RegisterTestAgentOptions['cloud'] & StartAgentProcessOptions['cloud'];
    token: string;
    dir: string;
    directory: Record<string, unknown>;
    log: Logger;
  },
  run: Omit<StartAgentProcessOptions, 'statePath' | 'cloud'>,
): Promise<AgentProcess> {
  const statePath = join(setup.dir, 'agent.json');
  await registerTestAgent({
    cloud: setup.cloud,
    token: setup.token,
    name: 'bench-agent',
    statePath,
    directory: setup.directory,
    log: setup.log,
  });
  return startAgentProcess({ ...run, statePath, cloud: setup.cloud });
}
