/**
 * Per-tenant settings: sign-in mode, sync cadence and mass-delete guard, self-service options,
 * password-expiry reminders.
 * Stored as one JSON document per tenant (tenant_settings), always read back through the schema,
 * so a field added later with a default appears for every tenant without a migration. A tenant
 * without a row has the defaults.
 */
import { z } from 'zod';
import { CloudError } from '../errors.js';
import type { Db } from '../store/index.js';
import { getSettingsDocument, putSettingsDocument } from '../store/tenants.js';

export const TenantSettingsSchema = z.object({
  signIn: z.object({ mode: z.enum(['cloud_hash', 'pass_through']).default('cloud_hash') }).prefault({}),
  sync: z
    .object({
      intervalMs: z.number().int().min(250).default(1000),
      massDeleteThresholdPercent: z.number().min(0).max(100).default(10),
      massDeleteMinUsers: z.number().int().default(10),
    })
    .prefault({}),
  sspr: z
    .object({
      enabled: z.boolean().default(true),
      /** Empty: everyone in scope. */
      groups: z.array(z.string()).default([]),
      methods: z.array(z.enum(['email', 'totp', 'questions', 'sms'])).default(['email']),
      required: z.number().int().min(1).max(2).default(1),
      requireRegistration: z.boolean().default(false),
      unlockEnabled: z.boolean().default(true),
      attemptsPerHour: z.number().int().min(1).default(5),
      /** Admin emails told of every reset. */
      notifyAdmins: z.array(z.string()).default([]),
      /** Codes sent per day (usecases/methods/sends.ts; docs/self-service.md "Send limits"). */
      sends: z
        .object({
          perUser: z.number().int().min(1).max(1000).default(10),
          perDestination: z.number().int().min(1).max(1000).default(3),
          perTenant: z.number().int().min(1).max(1_000_000).default(2000),
          smsPerTenant: z.number().int().min(1).max(1_000_000).default(200),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * Password-expiry reminders (usecases/expiry-reminders.ts): mail users this many days before
   * their password expires; 0 = off (the default: turning it on starts mail to every user, which
   * the tenant should choose; docs/admin.md "Password expiry").
   */
  expiry: z.object({ remindDays: z.number().int().min(0).max(90).default(0) }).prefault({}),
});
export type TenantSettings = z.infer<typeof TenantSettingsSchema>;

/** Objects partial at every depth; arrays and scalars are replaced whole. */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

const Json = z.string().transform((s, ctx) => {
  try {
    const v: unknown = JSON.parse(s);
    return v;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not JSON' });
    return z.NEVER;
  }
});

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Merge `patch` into `base`: nested objects merge, everything else (arrays included) replaces. */
export function mergeSettings(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch === undefined ? base : patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    out[k] = mergeSettings(base[k], v);
  }
  return out;
}

export async function getTenantSettings(db: Db, tenantId: string): Promise<TenantSettings> {
  const doc = await getSettingsDocument(db, tenantId);
  if (doc === null) return TenantSettingsSchema.parse({});
  const stored = Json.safeParse(doc);
  // A stored document that no longer parses (a field narrowed since) falls back field by field to the defaults.
  const parsed = TenantSettingsSchema.safeParse(stored.success ? stored.data : {});
  if (parsed.success) return parsed.data;
  throw new CloudError('internal_error', 'stored tenant settings do not match their schema');
}

/**
 * Apply a partial update and store the result. An invalid result is refused with `invalid_request`
 * naming the paths (never the values); nothing is stored then.
 */
export async function updateTenantSettings(
  db: Db,
  tenantId: string,
  patch: DeepPartial<TenantSettings> | Record<string, unknown>,
  now: number = Date.now(),
): Promise<TenantSettings> {
  return db.tx(async (t) => {
    const current = await getTenantSettings(t, tenantId);
    const parsed = TenantSettingsSchema.safeParse(mergeSettings(current, patch));
    if (!parsed.success) {
      throw new CloudError('invalid_request', 'invalid tenant settings', {
        details: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), issue: i.code })),
      });
    }
    await putSettingsDocument(t, tenantId, JSON.stringify(parsed.data), now);
    return parsed.data;
  });
}
