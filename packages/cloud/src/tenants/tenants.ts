/** Tenants: one organisation, its directory, agents, admins and audit trail. */
import { z } from 'zod';
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import type { Db } from '../store/index.js';
import { getTenantRow, insertTenant, listAllTenants, type Tenant } from '../store/tenants.js';

export type { Tenant } from '../store/tenants.js';

const TENANT_ID = /^t-[0-9a-f]{16}$/;

/** Lower-case slug used in URLs; it may not look like a tenant id, so `:tenant` accepts either unambiguously. */
export const TenantSlugSchema = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and inner hyphens, at most 63')
  .refine((s) => !TENANT_ID.test(s), 'reserved form');

export async function createTenant(db: Db, input: { slug: string; name: string }, now: number): Promise<Tenant> {
  const tenant: Tenant = { id: newId('t'), slug: input.slug, name: input.name, createdAt: now };
  try {
    await insertTenant(db, tenant);
  } catch (err) {
    if (err instanceof CloudError && err.code === 'conflict')
      throw new CloudError('conflict', 'a tenant with this slug exists', { cause: err });
    throw err;
  }
  return tenant;
}

export async function listTenants(db: Db): Promise<Tenant[]> {
  return listAllTenants(db);
}

export async function getTenantById(db: Db, id: string): Promise<Tenant | undefined> {
  return getTenantRow(db, 'id', id);
}

/**
 * Tenants found by findTenant, per store. A tenant is never renamed or deleted (nothing updates or
 * deletes a tenants row), so a found one stays right and every request can skip the read; a miss
 * is asked again (another node may have created it). Whoever adds renaming or deleting must drop
 * this cache.
 */
const foundTenants = new WeakMap<Db, Map<string, Tenant>>();
const FOUND_TENANTS_MAX = 10_000;

/** Find a tenant by the `:tenant` path segment: its id or its slug. */
export async function findTenant(db: Db, ref: string): Promise<Tenant | undefined> {
  const known = foundTenants.get(db)?.get(ref);
  if (known) return known;
  const found = await getTenantRow(db, TENANT_ID.test(ref) ? 'id' : 'slug', ref);
  if (!found) return undefined;
  const tenant = Object.freeze(found);
  let cache = foundTenants.get(db);
  if (!cache) {
    cache = new Map();
    foundTenants.set(db, cache);
  }
  if (cache.size >= FOUND_TENANTS_MAX) cache.clear();
  cache.set(ref, tenant);
  return tenant;
}
