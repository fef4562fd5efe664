/**
 * Which agents this hub holds right now: their authenticated connections, indexed by agent and by
 * tenant (a tenant's lookups never walk every agent), the presence events announcing changes, and
 * the revocations this hub remembers. One owner for this state, so "connected", "present" and
 * "routable" cannot drift apart.
 *
 * The registry knows a connection only as a `Member` (liveness and load), not its socket or
 * protocol; the connection module builds on it, never the other way round.
 */
import type { DirectoryHealthReport, Logger } from '@writeback/protocol';
import type { AgentPresence } from './client.js';
import type { AgentIdentity } from './handshake.js';
import { mergePresence, newerDirectoryHealth, sortPresence } from './presence.js';

/** Revoked agent ids remembered locally, so a reconnect racing a stale gate is still refused. */
const MAX_REMEMBERED_REVOCATIONS = 10_000;

export interface PresenceEvent {
  /** `directory`: the agent's directory went down or came back (its report changed `ok`). */
  type: 'connected' | 'disconnected' | 'directory';
  agentId: string;
  tenantId: string;
  connectionId: string;
  /** Authenticated connections of this agent on this hub after the event. */
  connections: number;
}

/** What the registry needs of an authenticated connection. */
export interface Member {
  readonly id: string;
  readonly lastSeenAt: number;
  readonly rttMs: number | null;
  readonly inFlight: { readonly size: number };
  /** Whether its socket can take a frame now. */
  isOpen(): boolean;
}

interface Entry<T> {
  conn: T;
  identity: AgentIdentity;
  connectedAt: number;
  /** What the agent last said of its directory on this connection (absent: never said). */
  directoryHealth?: DirectoryHealthReport;
}

/** Where a newly authenticated connection of an agent may go. */
export type Slot<T> = { kind: 'free' } | { kind: 'evict'; stale: T } | { kind: 'full'; held: number };

export interface RegistryOptions {
  relayId: string;
  /** A connection silent for longer than this may give its slot to a newcomer. */
  heartbeatMs: number;
  maxConnectionsPerAgent: number;
  now: () => number;
  log: Logger;
}

export class Registry<T extends Member> {
  readonly #options: RegistryOptions;
  /** agentId → its authenticated connections. */
  readonly #byAgent = new Map<string, Map<T, Entry<T>>>();
  /** tenantId → ids of its agents with an authenticated connection. */
  readonly #byTenant = new Map<string, Set<string>>();
  readonly #revoked = new Set<string>();
  readonly #listeners = new Set<(event: PresenceEvent) => void>();

  constructor(options: RegistryOptions) {
    this.#options = options;
  }

  isRevoked(agentId: string): boolean {
    return this.#revoked.has(agentId);
  }

  /** Refuse the agent from now on. Returns its connections, for the caller to close. */
  revoke(agentId: string): T[] {
    if (this.#revoked.size >= MAX_REMEMBERED_REVOCATIONS) this.#revoked.clear();
    this.#revoked.add(agentId);
    return this.connections(agentId);
  }

  /**
   * Whether the agent may hold one more connection. At the limit, after a network blip the agent
   * redials before its old sockets are declared dead: the slot of one already silent for a
   * heartbeat goes to the proven-live newcomer.
   */
  slot(agentId: string): Slot<T> {
    const held = this.#byAgent.get(agentId);
    if (!held || held.size < this.#options.maxConnectionsPerAgent) return { kind: 'free' };
    const t = this.#options.now();
    const stale = [...held.keys()]
      .filter((c) => t - c.lastSeenAt > this.#options.heartbeatMs)
      .sort((a, b) => a.lastSeenAt - b.lastSeenAt)[0];
    return stale ? { kind: 'evict', stale } : { kind: 'full', held: held.size };
  }

  /** Record an authenticated connection and announce it. Returns the agent's connections now. */
  add(conn: T, identity: AgentIdentity): number {
    const { agentId, tenantId } = identity;
    const held = this.#byAgent.get(agentId) ?? new Map<T, Entry<T>>();
    held.set(conn, { conn, identity, connectedAt: this.#options.now() });
    this.#byAgent.set(agentId, held);
    const agents = this.#byTenant.get(tenantId) ?? new Set<string>();
    agents.add(agentId);
    this.#byTenant.set(tenantId, agents);
    this.#emit({ type: 'connected', agentId, tenantId, connectionId: conn.id, connections: held.size });
    return held.size;
  }

  /**
   * Forget a connection and announce it. Returns its identity and the agent's connections left,
   * or null when it was not registered.
   */
  remove(conn: T, agentId: string): { identity: AgentIdentity; remaining: number } | null {
    const held = this.#byAgent.get(agentId);
    const entry = held?.get(conn);
    if (!held || !entry) return null;
    held.delete(conn);
    if (held.size === 0) this.#byAgent.delete(agentId);
    const { tenantId } = entry.identity;
    if (![...held.values()].some((e) => e.identity.tenantId === tenantId)) {
      const agents = this.#byTenant.get(tenantId);
      agents?.delete(agentId);
      if (agents?.size === 0) this.#byTenant.delete(tenantId);
    }
    this.#emit({ type: 'disconnected', agentId, tenantId, connectionId: conn.id, connections: held.size });
    return { identity: entry.identity, remaining: held.size };
  }

  /**
   * The agent said how its directory is (on connection `conn`). Announced as a `directory` event
   * when the agent's state changes (first report, or `ok` flipped), not on every heartbeat.
   */
  reportDirectory(conn: T, agentId: string, report: DirectoryHealthReport): void {
    const held = this.#byAgent.get(agentId);
    const entry = held?.get(conn);
    if (!held || !entry) return;
    const before = this.#directoryOf(held);
    entry.directoryHealth = report;
    const after = this.#directoryOf(held);
    if (before?.ok === after?.ok && before !== undefined) return;
    const { tenantId } = entry.identity;
    this.#emit({ type: 'directory', agentId, tenantId, connectionId: conn.id, connections: held.size });
  }

  #directoryOf(held: Map<T, Entry<T>>): DirectoryHealthReport | undefined {
    let out: DirectoryHealthReport | undefined;
    for (const e of held.values()) out = newerDirectoryHealth(out, e.directoryHealth);
    return out;
  }

  /** How many agents hold at least one authenticated connection here (no list built). */
  agentCount(): number {
    return this.#byAgent.size;
  }

  /** Every authenticated connection on this hub. */
  members(): T[] {
    return [...this.#byAgent.values()].flatMap((held) => [...held.keys()]);
  }

  /** The agent's authenticated connections. */
  connections(agentId: string): T[] {
    return [...(this.#byAgent.get(agentId)?.keys() ?? [])];
  }

  /** The agent's open connections in this tenant: where a request for it may go. */
  routes(agentId: string, tenantId: string): T[] {
    return [...(this.#byAgent.get(agentId)?.values() ?? [])]
      .filter((e) => e.identity.tenantId === tenantId && e.conn.isOpen())
      .map((e) => e.conn);
  }

  /** Whether the agent has at least one open connection here. */
  holds(agentId: string): boolean {
    return this.connections(agentId).some((c) => c.isOpen());
  }

  /** Connected agents (of one tenant when given), healthiest first. */
  presence(tenantId?: string): AgentPresence[] {
    const out: AgentPresence[] = [];
    const ids = tenantId === undefined ? this.#byAgent.keys() : (this.#byTenant.get(tenantId) ?? []).values();
    for (const agentId of ids) {
      let merged: AgentPresence | null = null;
      for (const entry of this.#byAgent.get(agentId)?.values() ?? []) {
        if (tenantId !== undefined && entry.identity.tenantId !== tenantId) continue;
        const one = this.#presenceOf(entry);
        merged = merged ? mergePresence(merged, one) : one;
      }
      if (merged) out.push(merged);
    }
    return sortPresence(out);
  }

  /** Listen to agents connecting and disconnecting. Returns an unsubscribe function. */
  onPresence(listener: (event: PresenceEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #presenceOf({ conn, identity, connectedAt, directoryHealth }: Entry<T>): AgentPresence {
    return {
      ...(directoryHealth ? { directoryHealth } : {}),
      ...identity,
      relayId: this.#options.relayId,
      connections: 1,
      connectedAt,
      lastSeenAt: conn.lastSeenAt,
      rttMs: conn.rttMs,
      inFlight: conn.inFlight.size,
    };
  }

  #emit(event: PresenceEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#options.log.error('presence listener threw', { err });
      }
    }
  }
}
