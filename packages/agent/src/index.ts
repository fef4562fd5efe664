/** Public surface of @writeback/agent: registration, state file, executor, relay links, daemon, CLI. */
export * from './errors.js';
export {
  AgentStateSchema,
  DirectoryConfigSchema,
  checkStateConsistency,
  loadState,
  writeState,
  type AgentState,
  type AgentKeys,
  type DirectoryConfig,
} from './config.js';
export { registerAgent, type RegisterOptions } from './register.js';
export {
  createExecutor,
  type Executor,
  type ExecutorOptions,
  type ExecutorIdentity,
  type Execution,
} from './executor.js';
export {
  backoffDelay,
  connectToRelay,
  DEFAULT_BACKOFF,
  type BackoffPolicy,
  type ConnectionState,
  type ConnectionStatus,
  type RelayConnections,
  type RelayConnectionsOptions,
} from './connection.js';
export { startAgent, type StartAgentOptions, type RunningAgent, type DirectoryFactory } from './daemon.js';
export { runCli, type CliIo } from './cli.js';
export { runDoctor, doctorExitCode, type DoctorReport, type DoctorOptions } from './doctor.js';
export { isLoopbackHost } from './urls.js';
export { AGENT_VERSION } from './version.js';
