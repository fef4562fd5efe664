/**
 * The tenants and tenant_settings repositories. A tenant row is written once and never renamed or
 * deleted (tenants/tenants.ts caches found tenants on that promise). Settings are one JSON document
 * per tenant, stored as text; their schema, defaults and merging are tenants/settings.ts's.
 */
import { z } from 'zod';
import { parseRow, parseRows, type Db } from './db.js';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  createdAt: number;
}

const TenantRow = z
  .object({ id: z.string(), slug: z.string(), name: z.string(), created_at: z.coerce.number() })
  .transform((r): Tenant => ({ id: r.id, slug: r.slug, name: r.name, createdAt: r.created_at }));

/** Insert a tenant; a slug taken already is a `conflict`. */
export async function insertTenant(db: Db, t: Tenant): Promise<void> {
  await db.exec('INSERT INTO tenants (id, slug, name, created_at) VALUES (?, ?, ?, ?)', [
    t.id,
    t.slug,
    t.name,
    t.createdAt,
  ]);
}

/** Every tenant, by slug. */
export async function listAllTenants(db: Db): Promise<Tenant[]> {
  return parseRows(TenantRow, await db.query('SELECT id, slug, name, created_at FROM tenants ORDER BY slug'));
}

export async function getTenantRow(db: Db, by: 'id' | 'slug', value: string): Promise<Tenant | undefined> {
  const row = await db.one(`SELECT id, slug, name, created_at FROM tenants WHERE ${by === 'id' ? 'id' : 'slug'} = ?`, [
    value,
  ]);
  return row ? parseRow(TenantRow, row) : undefined;
}

// ---- settings ------------------------------------------------------------------------------

/** The tenant's stored settings document (JSON text), or null when it has none. */
export async function getSettingsDocument(db: Db, tenantId: string): Promise<string | null> {
  const row = await db.one('SELECT settings FROM tenant_settings WHERE tenant_id = ?', [tenantId]);
  return row && typeof row.settings === 'string' ? row.settings : null;
}

/** Store the tenant's settings document, replacing any; run it in the transaction that read the old one. */
export async function putSettingsDocument(db: Db, tenantId: string, json: string, now: number): Promise<void> {
  const { changes } = await db.exec('UPDATE tenant_settings SET settings = ?, updated_at = ? WHERE tenant_id = ?', [
    json,
    now,
    tenantId,
  ]);
  if (changes === 0)
    await db.exec('INSERT INTO tenant_settings (tenant_id, settings, updated_at) VALUES (?, ?, ?)', [
      tenantId,
      json,
      now,
    ]);
}
