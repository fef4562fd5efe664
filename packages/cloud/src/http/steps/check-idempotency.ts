/**
 * check-idempotency: the `Idempotency-Key` header of a write route declared `idempotency: 'keyed'`
 * (http/route.ts). Runs after authentication and parsing (a request refused there was never
 * started: its key stays free), around the route's handler. The rules are idempotency/'s; this
 * step reads the header, names the caller, and turns the handler's answer or refusal into what is
 * kept: an answer (any status below 500, refusals included) is replayed as given, with
 * `Idempotent-Replayed: true`; a refusal that says "try again later" (Retry-After: rate limits)
 * frees the key; a 5xx keeps no answer (replays then answer from the audit record of the request's
 * directory write, see idempotency/idempotency.ts).
 */
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.js';
import { CloudError } from '../../errors.js';
import {
  beginIdempotent,
  IdempotencyKeySchema,
  type IdempotencyScope,
  type KeptAnswer,
} from '../../idempotency/idempotency.js';
import type { Services } from '../../services.js';
import { errorBody } from '../error-body.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Set on an answer that is a replay of the first request's. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** The key sent with the request, or null; a malformed one is a 400. */
export function idempotencyKeyOf(req: FastifyRequest): string | null {
  const raw = req.headers[IDEMPOTENCY_HEADER.toLowerCase()];
  if (raw === undefined) return null;
  const parsed = IdempotencyKeySchema.safeParse(raw);
  if (!parsed.success)
    throw new CloudError(
      'invalid_request',
      'the Idempotency-Key header must be one value of 1-255 visible ASCII characters',
      {
        details: [{ path: 'headers.idempotency-key', issue: Array.isArray(raw) ? 'too_many' : 'invalid_format' }],
      },
    );
  return parsed.data;
}

/**
 * Whose key it is: the caller's tenant and identity (an API key, an admin rather than one of its
 * sessions); unauthenticated routes share one caller per tenant reference and rely on the
 * fingerprint, which covers the credentials their body carries.
 */
export function idempotencyScope(p: Principal | null, params: unknown, key: string): IdempotencyScope {
  if (p?.kind === 'operator') return { tenantId: '', caller: `operator:${p.keyId}`, key };
  if (p?.kind === 'tenant_key') return { tenantId: p.tenantId, caller: `api_key:${p.keyId}`, key };
  if (p?.kind === 'admin') return { tenantId: p.tenantId, caller: `admin:${p.adminId}`, key };
  const tenant =
    params !== null && typeof params === 'object' && 'tenant' in params && typeof params.tenant === 'string'
      ? params.tenant
      : '';
  return { tenantId: `ref:${tenant}`, caller: 'anonymous', key };
}

export interface KeyedRequest {
  route: string;
  principal: Principal | null;
  params: unknown;
  query: unknown;
  body: unknown;
}

/** Run `handle` under the request's Idempotency-Key (as is without one). */
export async function runIdempotently(
  services: Services,
  req: FastifyRequest,
  r: KeyedRequest,
  handle: () => Promise<KeptAnswer>,
): Promise<KeptAnswer> {
  const key = idempotencyKeyOf(req);
  if (key === null) return handle();
  const begun = await beginIdempotent(
    {
      db: services.db,
      cloudKey: services.cloudKey,
      now: services.now,
      log: services.log,
      // Long enough for a directory write to answer; a slower first request is answered 409 + Retry-After.
      waitMs: Math.min(services.config.writebackDeadlineMs + 5_000, 30_000),
    },
    {
      scope: idempotencyScope(r.principal, r.params, key),
      route: r.route,
      request: { params: r.params, query: r.query, body: r.body },
    },
  );
  if (begun.kind === 'replay')
    return { ...begun.answer, headers: { ...begun.answer.headers, [REPLAYED_HEADER]: 'true' } };
  const { claim } = begun;
  let answer: KeptAnswer;
  try {
    answer = await claim.run(handle);
  } catch (err) {
    if (err instanceof CloudError && err.status < 500) {
      if (err.retryAfterSeconds !== undefined) await claim.release();
      else await claim.finish({ status: err.status, body: errorBody(err) });
    } else await claim.abandon();
    throw err;
  }
  await claim.finish(answer);
  return answer;
}
