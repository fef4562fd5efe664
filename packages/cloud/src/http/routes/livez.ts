/**
 * Liveness: 200 whenever this process's event loop answers, whatever its dependencies say. A
 * process that cannot answer this is stuck and may be restarted; one whose store or NATS is down
 * answers it (and 503 on `/healthz`, readiness): restarting it would not bring them back.
 */
import { z } from 'zod';
import { defineRoute } from '../route.js';

const LivenessSchema = z.object({ status: z.literal('ok') });

export const livenessRoute = defineRoute({
  method: 'GET',
  url: '/livez',
  operationId: 'liveness',
  summary: 'Process liveness',
  description:
    'Answers 200 whenever the process runs and its event loop answers; no dependency is checked. ' +
    'Readiness (store and relay link) is `GET /healthz`.',
  tag: 'service',
  auth: 'none',
  responses: { 200: { description: 'The process answers', schema: LivenessSchema } },
  errors: [],
  async handle() {
    return { status: 200, body: { status: 'ok' } };
  },
});
