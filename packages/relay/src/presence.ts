/**
 * How several connections of one agent add up to one presence, and which agent is healthiest. One
 * rule for both places that need it: a hub summing an agent's connections, and a NATS client
 * summing the same agent seen on several relay nodes. Without it the two would rank agents
 * differently and the cloud would pick differently depending on the deployment. Pure; imports
 * only the contract's types.
 */
import type { AgentPresence } from './client.js';

/** Healthiest first: fewest requests in flight, then lowest round trip, then a stable order. */
export function sortPresence(list: AgentPresence[]): AgentPresence[] {
  return list.sort(
    (a, b) =>
      a.inFlight - b.inFlight || (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity) || a.agentId.localeCompare(b.agentId),
  );
}

/**
 * One agent seen twice (two connections, or two relay nodes) as one presence: counts and load
 * summed, the earliest connection, the latest sign of life, the best round trip; the descriptive
 * fields come from the healthier side.
 */
export function mergePresence(a: AgentPresence, b: AgentPresence): AgentPresence {
  const best =
    b.inFlight < a.inFlight || (b.inFlight === a.inFlight && (b.rttMs ?? Infinity) < (a.rttMs ?? Infinity)) ? b : a;
  const rtts = [a.rttMs, b.rttMs].filter((r): r is number => r !== null);
  return {
    ...best,
    connections: a.connections + b.connections,
    connectedAt: Math.min(a.connectedAt, b.connectedAt),
    lastSeenAt: Math.max(a.lastSeenAt, b.lastSeenAt),
    rttMs: rtts.length ? Math.min(...rtts) : null,
    inFlight: a.inFlight + b.inFlight,
  };
}
