/**
 * The tenants and tenant_settings repositories. A tenant row is written once and never renamed or
 * deleted (tenants/tenants.ts caches found tenants on that promise). Settings are one JSON document
 * per tenant, stored as text; their schema, defaults and merging are tenants/settings.ts's.
 */
import { z } from 'zod';
import { rowOf, selectAll, selectOne, type Db } from './db.js';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  createdAt: number;
}

const Tenants = rowOf({ id: z.string(), slug: z.string(), name: z.string(), created_at: z.coerce.number() });

/** Insert a tenant; a slug taken already is a `conflict`. */
export async function insertTenant(db: Db, t: Tenant): Promise<void> {
  await db.exec(`INSERT INTO tenants (${Tenants.columns}) VALUES (?, ?, ?, ?)`, [t.id, t.slug, t.name, t.createdAt]);
}

/** Every tenant, by slug. */
export async function listAllTenants(db: Db): Promise<Tenant[]> {
  return selectAll(db, Tenants.schema, `SELECT ${Tenants.columns} FROM tenants ORDER BY slug`);
}

export async function getTenantRow(db: Db, by: 'id' | 'slug', value: string): Promise<Tenant | undefined> {
  const sql = `SELECT ${Tenants.columns} FROM tenants WHERE ${by === 'id' ? 'id' : 'slug'} = ?`;
  return selectOne(db, Tenants.schema, sql, [value]);
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
