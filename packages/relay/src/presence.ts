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
 * The more recent of two directory reports of one agent (two connections, or two relay nodes):
 * the one whose state began later is the newer news; on a tie "down" wins (routing then prefers
 * another agent, and still tries this one when no other is left).
 */
export function newerDirectoryHealth(
  a: AgentPresence['directoryHealth'],
  b: AgentPresence['directoryHealth'],
): AgentPresence['directoryHealth'] {
  if (!a || !b) return a ?? b;
  if (a.since !== b.since) return a.since > b.since ? a : b;
  return a.ok ? b : a;
}

/**
 * One agent seen twice (two connections, or two relay nodes) as one presence: counts and load
 * summed, the earliest connection, the latest sign of life, the best round trip, the newer
 * directory report; the descriptive fields come from the healthier side.
 */
export function mergePresence(a: AgentPresence, b: AgentPresence): AgentPresence {
  const best =
    b.inFlight < a.inFlight || (b.inFlight === a.inFlight && (b.rttMs ?? Infinity) < (a.rttMs ?? Infinity)) ? b : a;
  const rtts = [a.rttMs, b.rttMs].filter((r): r is number => r !== null);
  const directoryHealth = newerDirectoryHealth(a.directoryHealth, b.directoryHealth);
  const { directoryHealth: _d, ...rest } = best;
  return {
    ...rest,
    ...(directoryHealth ? { directoryHealth } : {}),
    connections: a.connections + b.connections,
    connectedAt: Math.min(a.connectedAt, b.connectedAt),
    lastSeenAt: Math.max(a.lastSeenAt, b.lastSeenAt),
    rttMs: rtts.length ? Math.min(...rtts) : null,
    inFlight: a.inFlight + b.inFlight,
  };
}

/**
 * One presence answer cut into messages of at most about `budgetBytes` each, so an answer never
 * grows with the fleet in one NATS message (issue 11 item 2: one message listing every agent
 * exceeded NATS's max_payload at ~2,600 agents, and the relay stopped being heard). Each message
 * is `header` plus `part`, `parts` and its `agents`; an empty list is one message. An agent whose
 * own entry exceeds the budget still gets a message of its own (its publish may then fail, and
 * is counted).
 */
export function presenceParts(
  header: Record<string, unknown>,
  agents: readonly AgentPresence[],
  budgetBytes: number,
): string[] {
  const groups: string[][] = [[]];
  let size = 0;
  for (const p of agents) {
    const one = JSON.stringify(p);
    const n = Buffer.byteLength(one) + 1;
    const current = groups[groups.length - 1] ?? [];
    if (current.length > 0 && size + n > budgetBytes) {
      groups.push([one]);
      size = n;
    } else {
      current.push(one);
      size += n;
    }
  }
  const parts = groups.length;
  return groups.map((items, part) => {
    const head = JSON.stringify({ ...header, part, parts });
    return `${head.slice(0, -1)},"agents":[${items.join(',')}]}`;
  });
}
