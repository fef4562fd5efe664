/**
 * The agent daemon: loads its state, gets a Directory, and keeps its links to the relay, executing
 * what arrives. Stopping is graceful: new requests are answered `agent_unavailable` (nothing
 * written, the cloud fails over), requests already at the directory get up to `stopTimeoutMs` to
 * finish and be answered, then the links close.
 */
import type { Logger } from '@writeback/protocol';
import type { Directory } from '@writeback/directory';
import {
  checkStateConsistency,
  loadState,
  writeFileAtomic0600,
  type AgentState,
  type DirectoryConfig,
} from './config.js';
import { connectToRelay, type BackoffPolicy, type ConnectionStatus, type RelayConnections } from './connection.js';
import { AgentError } from './errors.js';
import { watchDirectory } from './directory-watch.js';
import { createExecutor } from './executor.js';
import { defaultLogger } from './log-sink.js';
import type { ProxySettings } from './proxy.js';
import { relayUrlsOf } from './relays.js';
import { AGENT_VERSION } from './version.js';

/** Builds a Directory from the state file's `directory` config (the adapters' factory). */
export type DirectoryFactory = (config: DirectoryConfig, log: Logger) => Promise<Directory>;

export interface StartAgentOptions {
  /** The state itself, or… */
  state?: AgentState;
  /** …the path of the state file (loaded and checked: mode 0600). */
  statePath?: string;
  /** A ready Directory. The caller keeps ownership: stop() does not close it. */
  directory?: Directory;
  /** Otherwise, a factory for the state's directory config; the Directory it builds is closed by stop(). */
  openDirectory?: DirectoryFactory;
  log?: Logger;
  /** Parallel links, spread over the relays. Default: one per relay URL. */
  connections?: number;
  /** The relays to dial instead of the state's (`run --relays`, WRITEBACK_RELAY_URLS). */
  relayUrls?: readonly string[];
  /** The outbound proxy (`proxySettingsFromEnv`); default: none. */
  proxy?: ProxySettings;
  caFile?: string;
  allowPlaintext?: boolean;
  /** How long stop() waits for requests at the directory. Default 10 s. */
  stopTimeoutMs?: number;
  /** Between checks of the directory's health (reported to the relay; issue 12). Default 5 s. */
  directoryCheckMs?: number;
  /** Written (0600, atomically) on every link change and every few seconds, for `writeback-agent status`. */
  statusPath?: string;
  backoff?: Partial<BackoffPolicy>;
  /** Called on every link state change (after the status file is scheduled). */
  onStatus?: (links: ConnectionStatus[]) => void;
  now?: () => number;
  random?: () => number;
}

export interface RunningAgent {
  readonly agentId: string;
  readonly tenantId: string;
  status(): ConnectionStatus[];
  /** Resolves when at least one link is authenticated. */
  ready(): Promise<void>;
  /** Finish in-flight operations (bounded), then close. Idempotent. */
  stop(): Promise<void>;
}

/** Start the agent. Throws AgentError for a bad state file, URL or missing directory. */
export async function startAgent(o: StartAgentOptions): Promise<RunningAgent> {
  let state: AgentState;
  if (o.state) state = o.state;
  else if (o.statePath) state = await loadState(o.statePath);
  else throw new AgentError('invalid_config', 'startAgent needs state or statePath');
  const keys = checkStateConsistency(state);
  const log = (o.log ?? defaultLogger('agent')).child({ agentId: state.agentId });
  const now = o.now ?? Date.now;
  const startedAt = now();
  const relayUrls = relayUrlsOf(state, o.relayUrls);

  let directory: Directory;
  let ownsDirectory = false;
  if (o.directory) directory = o.directory;
  else if (o.openDirectory) {
    directory = await o.openDirectory(state.directory, log);
    ownsDirectory = true;
  } else throw new AgentError('directory_not_configured', 'no Directory given and no directory factory available');

  const executor = createExecutor({
    directory,
    identity: { agentId: state.agentId, tenantId: state.tenantId, ...keys },
    log,
    now,
    startedAt,
  });

  const capabilities: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(directory.capabilities)) if (typeof v === 'boolean') capabilities[k] = v;

  let statusWrite: Promise<void> = Promise.resolve();
  const writeStatus = (links: ConnectionStatus[]) => {
    const path = o.statusPath;
    if (!path) return;
    const body = JSON.stringify(
      {
        pid: process.pid,
        updatedAt: new Date(now()).toISOString(),
        agentId: state.agentId,
        tenantId: state.tenantId,
        agentVersion: AGENT_VERSION,
        links,
      },
      null,
      2,
    );
    // Serialised: a slow write must not land after a newer one.
    statusWrite = statusWrite
      .then(() => writeFileAtomic0600(path, `${body}\n`))
      .catch((err: unknown) => log.warn('status file could not be written', { err }));
  };

  // The cloud routes around this agent while its directory is down.
  const directoryHealth = watchDirectory({
    directory,
    log,
    now,
    ...(o.directoryCheckMs !== undefined ? { intervalMs: o.directoryCheckMs } : {}),
  });
  let relay: RelayConnections;
  try {
    relay = connectToRelay({
      directoryHealth,
      relayUrls,
      certificate: state.certificate,
      signingKey: keys.signingKey,
      executor,
      agentVersion: AGENT_VERSION,
      directoryKind: directory.kind,
      capabilities,
      log,
      now,
      onStatus: (links) => {
        writeStatus(links);
        o.onStatus?.(links);
      },
      ...(o.connections !== undefined ? { connections: o.connections } : {}),
      ...(o.caFile !== undefined ? { caFile: o.caFile } : {}),
      ...(o.proxy ? { proxy: o.proxy } : {}),
      ...(o.allowPlaintext !== undefined ? { allowPlaintext: o.allowPlaintext } : {}),
      ...(o.backoff ? { backoff: o.backoff } : {}),
      ...(o.random ? { random: o.random } : {}),
    });
  } catch (err) {
    directoryHealth.stop();
    if (ownsDirectory) await directory.close().catch(() => {});
    throw err;
  }
  const relayLinks = relay;
  const statusTimer = o.statusPath ? setInterval(() => writeStatus(relayLinks.status()), 5_000) : null;
  statusTimer?.unref();
  log.info('agent started', {
    tenantId: state.tenantId,
    relayUrls,
    directory: directory.kind,
    version: AGENT_VERSION,
  });

  let stopping: Promise<void> | null = null;
  return {
    agentId: state.agentId,
    tenantId: state.tenantId,
    status: () => relayLinks.status(),
    ready: () => relayLinks.ready(),
    stop() {
      stopping ??= (async () => {
        executor.stopAccepting();
        const drained = await executor.drain(o.stopTimeoutMs ?? 10_000);
        if (!drained)
          log.warn('stopping with requests still at the directory; their outcome is unknown to the cloud', {
            inFlight: executor.inFlight,
          });
        await relayLinks.close();
        directoryHealth.stop();
        if (statusTimer) clearInterval(statusTimer);
        writeStatus(relayLinks.status());
        await statusWrite;
        if (ownsDirectory) await directory.close().catch((err: unknown) => log.warn('directory close failed', { err }));
        log.info('agent stopped');
      })();
      return stopping;
    },
  };
}
