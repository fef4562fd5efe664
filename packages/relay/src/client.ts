/**
 * The contract between the cloud and the relay: how the cloud learns which agents of a tenant are
 * connected and sends one sealed request to one of them. Two implementations: in-process (the hub
 * runs inside the cloud process, the default) and over NATS (relay nodes as separate processes).
 */
import type { DirectoryHealthReport, RequestEnvelope, ResponseEnvelope, ProtocolErrorCode } from '@writeback/protocol';

/** A connected, authenticated agent as the relay sees it. */
export interface AgentPresence {
  agentId: string;
  tenantId: string;
  name: string;
  agentVersion: string;
  directory: string;
  capabilities: Record<string, boolean>;
  relayId: string;
  /** Open authenticated connections of this agent (an agent may hold several). */
  connections: number;
  connectedAt: number;
  lastSeenAt: number;
  /** Last heartbeat round trip, ms. */
  rttMs: number | null;
  /** Requests sent and not yet answered. */
  inFlight: number;
  /**
   * Whether the agent can reach its directory, as it last reported (with its heartbeat, and at
   * once on a change). Absent when it never said (an agent or relay older than issue 12): unknown,
   * routed to like a healthy one.
   */
  directoryHealth?: DirectoryHealthReport;
  /**
   * When the client last heard this presence from its relay (epoch ms), for a client that keeps
   * what relays told it (over NATS); absent when the presence is live (in-process hub).
   */
  reportedAt?: number;
}

/** What a relay client knows of its own link and of the relays it hears from (for health and logs). */
export interface RelayClientHealth {
  /** `down`: the client cannot reach the relays now (requests fail fast as `unavailable`). */
  link: 'up' | 'down' | 'closed';
  /** Since when the link is in that state (epoch ms). */
  linkSince: number;
  /** Reconnect attempts since the link went down (0 when up). */
  reconnectAttempts: number;
  /** Each relay heard from: when it last answered a presence question, and how many agents it held. */
  relays: { relayId: string; answeredAt: number; agents: number }[];
}

/**
 * What became of one request:
 * - `response`: the agent answered (signed envelope; the cloud verifies it);
 * - `rejected`: the agent refused it before acting (nothing written);
 * - `unavailable`: no connection to that agent; the request was NOT sent;
 * - `timeout`: sent, no answer by the deadline (the write may have happened);
 * - `lost`: sent, then the connection died before an answer (the write may have happened).
 */
export type RelayAnswer =
  | { kind: 'response'; envelope: ResponseEnvelope }
  | { kind: 'rejected'; code: ProtocolErrorCode; message: string }
  | { kind: 'unavailable' }
  | { kind: 'timeout' }
  | { kind: 'lost' };

export interface RelayClient {
  /** Connected agents of a tenant, healthiest first. */
  listAgents(tenantId: string): Promise<AgentPresence[]>;
  /** All connected agents (for /healthz and the agents page). */
  allAgents(): Promise<AgentPresence[]>;
  /** Send a sealed request to one agent and wait for its answer or the envelope's deadline. */
  send(envelope: RequestEnvelope): Promise<RelayAnswer>;
  /** Cut a revoked agent off at once, on every relay node. */
  revoke(agentId: string): Promise<void>;
  /** The link and the relays heard from. Absent for the in-process hub, whose link cannot be down. */
  health?(): RelayClientHealth;
  close(): Promise<void>;
}

/**
 * Decides, at connection time, whether an agent's certificate is still honoured (not revoked):
 * `false` only for a real refusal. When it cannot tell right now (its store or NATS failed, or no
 * answer in time) it throws, and the agent is told `auth_unavailable` (retry soon), not revoked.
 */
export type AgentGate = (agentId: string, tenantId: string) => Promise<boolean> | boolean;
