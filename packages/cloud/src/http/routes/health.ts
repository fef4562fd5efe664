/** Liveness and readiness: the store answers, and how many agents are connected across tenants. */
import { z } from 'zod';
import { pingStore } from '../../store/health.js';
import { defineRoute } from '../route.js';

const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  agentsConnected: z.number().int(),
  store: z.enum(['ok', 'error']),
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
    503: { description: 'The store does not answer', schema: HealthSchema },
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
    try {
      agentsConnected = (await services.relay.allAgents()).filter((a) => a.connections > 0).length;
    } catch (err) {
      services.log.error('health: relay presence failed', { err });
    }
    return {
      status: store === 'ok' ? 200 : 503,
      body: { status: store === 'ok' ? 'ok' : 'degraded', agentsConnected, store },
    };
  },
});
