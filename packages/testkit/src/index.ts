/**
 * `@writeback/testkit`: the test machinery the packages' tests, the whole-system tests (test/e2e)
 * and the bench share, built only on the packages' public exports:
 * - an agent's keys and certificate as a registration leaves them (agent-identity.ts);
 * - start a relay hub (hub.ts), a cloud with a store of its own (cloud.ts), an agent in this
 *   process or as its own OS process (agent.ts);
 * - sign an admin in through the API, enrolling its authenticator when it has none (admin-api.ts);
 * - capture log lines (logs.ts), wait for an event or a condition, never for time (wait.ts), and
 *   a clock the test moves by hand (clock.ts);
 * - the cookie jar of an HTTP client for the pages (cookies.ts);
 * - a free port, and a package's `src/main.ts` run as its own process with its output kept (process.ts);
 *   temporary folders removed when the test file ends (temp-dirs.ts);
 * - an embedded directory with its users, served by a registered agent (embedded-agent.ts);
 * - an effective password policy as a directory reports it (policy.ts), and the code an error
 *   thrown carries (errors.ts);
 * - a directory whose resets the test can hold mid-write (holding.ts), and a JSON call over HTTP (http.ts).
 * The lab's real directory servers are `@writeback/testkit/lab`; an SMTP listener that keeps
 * what it receives is `@writeback/testkit/smtp`.
 */
export {
  AGENT_BIN,
  agentConnected,
  registerTestAgent,
  startAgentProcess,
  startTestAgent,
  type AgentProcess,
  type RegisterTestAgentOptions,
  type StartAgentProcessOptions,
} from './agent.js';
export { makeAgentIdentity, type AgentIdentity } from './agent-identity.js';
export { adminApiSession, type AdminApiSession, type AdminApiSignIn } from './admin-api.js';
export { Clock } from './clock.js';
export { reachable } from './graph.js';
export { CookieJar } from './cookies.js';
export {
  ALICE,
  startAcmeWithAgent,
  startEmbeddedAgent,
  TEST_POLICY,
  type StartEmbeddedAgentOptions,
} from './embedded-agent.js';
export {
  ENGINES,
  newMasterKey,
  newOperatorKey,
  PG_URL,
  startCloud,
  tempStore,
  type EngineName,
  type StartCloudOptions,
  type StartedCloud,
  type TempStore,
} from './cloud.js';
export { makeCloudKeys, presenceEvents, startHub, type CloudKeys, type HubFixture } from './hub.js';
export { thrownCode } from './errors.js';
export { holdingResets, type HeldResets } from './holding.js';
export { fetchJson, type JsonAnswer } from './http.js';
export { effectivePolicy } from './policy.js';
export { freePort, runEntry, spawnEntry, type EntryProcess } from './process.js';
export { tempDirs } from './temp-dirs.js';
export { captureLogs, capturingLogger, collectLines, findSecrets, quietLog, type LogCapture } from './logs.js';
export { DEFAULT_WAIT_MS, emitterEvents, eventsOf, waitFor, type EventSource, type WaitOptions } from './wait.js';
