/**
 * Readiness: the store answers and the link to the relays is up (NATS mode: this node's NATS
 * connection; the in-process hub is always reachable), and how many agents are connected across
 * tenants. Either one down answers 503, so a load balancer stops sending work this node cannot do.
 * A node started while NATS was down is not ready until its first connection is made. Liveness
 * (the process answers at all, nothing checked) is `GET /livez` (livez.ts).
 */
import { z } from 'zod';
import { pingStore } from '../../store/health.js';
import { defineRoute } from '../route.js';

const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  agentsConnected: z.number().int(),
  /**
   * Connected agents that report they cannot reach their directory (requests go to the others).
   * Information, not readiness: it never turns this answer 503.
   */
  agentsDirectoryDown: z.number().int(),
  store: z.enum(['ok', 'error']),
  /**
   * The link to the relays: `down` while NATS is unreachable, including before the first connection
   * of a node started without it (requests answer agent_unavailable at once).
   */
  relay: z.enum(['ok', 'down']),
});

export const healthRoute = defineRoute({
  method: 'GET',
  url: '/healthz',
  operationId: 'health',
  summary: 'Service health',
  tag: 'service',
  auth: 'none',
  responses: {
    200: { description: 'Healthy', schema: HealthSchema },
    503: { description: 'The store does not answer, or the link to the relays (NATS) is down', schema: HealthSchema },
  },
  errors: [],
  async handle({ services }) {
    let store: 'ok' | 'error' = 'ok';
    try {
      await pingStore(services.db);
    } catch (err) {
      services.log.error('health: store check failed', { err });
      store = 'error';
    }
    let agentsConnected = 0;
    let agentsDirectoryDown = 0;
    try {
      const connected = (await services.relay.allAgents()).filter((a) => a.connections > 0);
      agentsConnected = connected.length;
      agentsDirectoryDown = connected.filter((a) => a.directoryHealth?.ok === false).length;
    } catch (err) {
      services.log.error('health: relay presence failed', { err });
    }
    const relay = (services.relay.health?.().link ?? 'up') === 'up' ? 'ok' : 'down';
    const ready = store === 'ok' && relay === 'ok';
    return {
      status: ready ? 200 : 503,
      body: { status: ready ? 'ok' : 'degraded', agentsConnected, agentsDirectoryDown, store, relay },
    };
  },
});
