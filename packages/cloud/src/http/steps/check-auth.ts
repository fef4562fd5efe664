/**
 * check-auth: resolve `Authorization: Bearer` into a Principal before the body is read, so an
 * unauthenticated caller cannot make the server parse anything. Missing, malformed, unknown,
 * expired and revoked credentials all get the same 401.
 */
import type { FastifyRequest } from 'fastify';
import { authenticate, bearerFrom, type Principal } from '../../auth/principal.js';
import { CloudError } from '../../errors.js';
import type { Services } from '../../services.js';

const principals = new WeakMap<FastifyRequest, Principal>();

export async function checkBearer(services: Services, req: FastifyRequest): Promise<void> {
  const token = bearerFrom(req.headers.authorization);
  if (!token) throw new CloudError('unauthorized', 'a Bearer API key or admin session is required');
  // Failed credentials count per client address in the store (issue 10), one atomic check-and-add
  // each; past the budget a failure is answered 429 instead of 401. A valid credential is never
  // refused (a caller behind a shared address is not locked out by a neighbour's mistakes), and
  // checking one is a keyed hash and one lookup, so nothing expensive runs before the count.
  const principal = await authenticate(services.db, token, services.now());
  if (!principal) {
    const counted = await services.limiters.apiAuthFailuresPerIp.reserve(req.ip);
    if (!counted.ok)
      throw new CloudError('rate_limited', 'too many failed credentials from this address; try again later', {
        retryAfterSeconds: counted.retryAfterSeconds,
      });
    throw new CloudError('unauthorized', 'the credential is not valid');
  }
  principals.set(req, principal);
}

export function principalOf(req: FastifyRequest): Principal | null {
  return principals.get(req) ?? null;
}

/** The caller of a bearer route: checkBearer refused the request without one, so this only narrows the type. */
export function requirePrincipal(p: Principal | null): Principal {
  if (!p) throw new CloudError('unauthorized', 'a Bearer API key or admin session is required');
  return p;
}

/**
 * check-enrolled: an admin session whose admin has not enrolled an authenticator yet may only
 * enrol (issue 10: a password alone must not be an admin session). Every bearer route runs this
 * after checkBearer (http/route.ts); only the routes declared `enrolOnlySessions: 'allowed'` (the
 * enrolment itself and sign-out) let such a session through.
 */
export function checkEnrolled(p: Principal | null, o: { enrolOnlyAllowed: boolean }): void {
  if (p?.kind === 'admin' && p.enrolOnly && !o.enrolOnlyAllowed)
    throw new CloudError(
      'second_factor_enrolment_required',
      'this admin has no authenticator yet: enrol one (POST /api/v1/tenants/:tenant/admin/second-factor, then .../confirm) first',
    );
}

/** check-operator: the operator's own routes (tenant management). */
export function checkOperator(p: Principal | null): void {
  if (!p) throw new CloudError('unauthorized', 'a Bearer API key is required');
  if (p.kind !== 'operator') throw new CloudError('forbidden', 'this needs an operator key');
}
