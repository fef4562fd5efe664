/**
 * Small steps shared by every page handler (end-user and admin): find the tenant of the path,
 * send a rendered document, redirect after a POST (303, so a reload never re-posts), and parse a
 * form body with its zod schema (an invalid form is `invalid_request`, never a crash; a password
 * with a NUL or an unpaired surrogate is `invalid_password_characters`, as the API says it).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { INVALID_PASSWORD_CHARACTERS } from '@writeback/protocol';
import type { Services } from '../services.js';
import { findTenant, type Tenant } from '../tenants/tenants.js';
import { WebError } from './errors.js';
import { revealInvisible } from './html.js';

/** The raw `:tenant` path parameter. */
export function tenantParam(req: FastifyRequest): string {
  const p = req.params;
  if (p !== null && typeof p === 'object' && 'tenant' in p && typeof p.tenant === 'string') return p.tenant;
  throw new WebError('not_found');
}

/** The tenant of the request's `:tenant` parameter. */
export const pageTenant = (services: Services, req: FastifyRequest): Promise<Tenant> =>
  loadPageTenant(services, tenantParam(req));

/** The tenant named by `:tenant` (slug or id), or a 404 page. */
export async function loadPageTenant(services: Services, ref: unknown): Promise<Tenant> {
  if (typeof ref !== 'string' || ref.length > 100) throw new WebError('not_found');
  const tenant = await findTenant(services.db, ref);
  if (!tenant) throw new WebError('not_found');
  return tenant;
}

/** Send a rendered document; invisible and direction-changing characters are shown as markers (html.ts). */
export function sendPage(reply: FastifyReply, doc: string, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(revealInvisible(doc));
}

/** See-other redirect to a same-site path (never an absolute URL from input). */
export function redirect(reply: FastifyReply, path: string): FastifyReply {
  if (!path.startsWith('/') || path.startsWith('//')) throw new TypeError('redirect: only same-site paths');
  return reply.code(303).header('location', path).send();
}

/** Parse a form (or query) with its schema; `invalid_request` when it does not fit. */
export function parseForm<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const badPassword = r.error.issues.some(
      (i) => i.code === 'custom' && i.params?.code === INVALID_PASSWORD_CHARACTERS,
    );
    throw new WebError(badPassword ? 'invalid_password_characters' : 'invalid_request', { cause: r.error });
  }
  return r.data;
}

/** Base path of a tenant's pages. */
export const tenantBase = (tenant: Pick<Tenant, 'slug'>): string => `/t/${encodeURIComponent(tenant.slug)}`;
