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
  const principal = await authenticate(services.db, token, services.now());
  if (!principal) throw new CloudError('unauthorized', 'the credential is not valid');
  principals.set(req, principal);
}

export function principalOf(req: FastifyRequest): Principal | null {
  return principals.get(req) ?? null;
}

/** check-operator: the operator's own routes (tenant management). */
export function checkOperator(p: Principal | null): void {
  if (!p) throw new CloudError('unauthorized', 'a Bearer API key is required');
  if (p.kind !== 'operator') throw new CloudError('forbidden', 'this needs an operator key');
}
