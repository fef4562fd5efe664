/**
 * Tenant settings, for the API (GET / PATCH) and the admin settings page alike: reading them, and
 * changing them with ONE set of checks and one admin audit record (`admin.settings.update`).
 *
 * A change is a partial document merged into the current settings (nested objects merge, arrays
 * are replaced; tenants/settings.ts). The merged result must parse with the settings schema AND
 * pass the rules the schema cannot say: at least one known verification method and no more
 * required than offered, 1–100 attempts per hour, at most 100 groups of at most 256 characters,
 * at most 20 admin addresses, each a plain e-mail address. Every problem is named by its dotted
 * path (never the value), all at once; nothing is stored then.
 */
import type { IssueDetail } from '../errors.js';
import { isPlainEmail } from '../mail/mailer.js';
import type { Services } from '../services.js';
import {
  type DeepPartial,
  getTenantSettings,
  mergeSettings,
  type TenantSettings,
  TenantSettingsSchema,
  updateTenantSettings,
} from '../tenants/settings.js';
import { type AdminActionInput, recordAdminAction } from './admin-audit.js';

export type { TenantSettings };

/** The verification methods self-service offers, in the order the pages show them. */
export const SSPR_METHODS = ['email', 'totp', 'questions', 'sms'] as const;
export type SsprMethod = (typeof SSPR_METHODS)[number];

/** A refused value: its dotted path and what is wrong (a zod issue code or one of the rules'). */
export type SettingsProblem = IssueDetail;

export type SettingsPatch = DeepPartial<TenantSettings> | Record<string, unknown>;

export type SettingsUpdate = { ok: true; settings: TenantSettings } | { ok: false; problems: SettingsProblem[] };

export async function readSettings(services: Services, tenantId: string): Promise<TenantSettings> {
  return getTenantSettings(services.db, tenantId);
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The rules beyond the schema, read leniently so that they still run when the schema refuses. */
function ruleProblems(candidate: unknown): SettingsProblem[] {
  const sspr = isRecord(candidate) && isRecord(candidate.sspr) ? candidate.sspr : {};
  const problems: SettingsProblem[] = [];
  const { methods, required, attemptsPerHour, groups, notifyAdmins } = sspr;
  if (Array.isArray(methods)) {
    if (methods.some((m) => !(SSPR_METHODS as readonly unknown[]).includes(m)))
      problems.push({ path: 'sspr.methods', issue: 'unknown_method' });
    const offered = SSPR_METHODS.filter((m) => methods.includes(m)).length;
    if (offered === 0) problems.push({ path: 'sspr.methods', issue: 'no_method' });
    else if (typeof required === 'number' && required > offered)
      problems.push({ path: 'sspr.required', issue: 'more_than_methods' });
  }
  if (
    typeof attemptsPerHour !== 'number' ||
    !Number.isInteger(attemptsPerHour) ||
    attemptsPerHour < 1 ||
    attemptsPerHour > 100
  )
    problems.push({ path: 'sspr.attemptsPerHour', issue: 'out_of_range' });
  if (Array.isArray(groups) && (groups.length > 100 || groups.some((g) => typeof g === 'string' && g.length > 256)))
    problems.push({ path: 'sspr.groups', issue: 'too_big' });
  if (Array.isArray(notifyAdmins)) {
    if (notifyAdmins.some((m) => typeof m !== 'string' || !isPlainEmail(m)))
      problems.push({ path: 'sspr.notifyAdmins', issue: 'invalid_email' });
    else if (notifyAdmins.length > 20) problems.push({ path: 'sspr.notifyAdmins', issue: 'too_big' });
  }
  return problems;
}

/**
 * Every problem of a candidate settings document: the schema's issues first, then each rule's
 * for a path the schema has not already named.
 */
export function settingsProblems(candidate: unknown): SettingsProblem[] {
  const parsed = TenantSettingsSchema.safeParse(candidate);
  const schema: SettingsProblem[] = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), issue: i.code }));
  const named = (path: string) => schema.some((s) => s.path === path || s.path.startsWith(`${path}.`));
  return [...schema, ...ruleProblems(candidate).filter((r) => !named(r.path))];
}

/** Change some settings; refused with every problem named, or stored, logged and audited. */
export async function updateSettings(
  services: Services,
  input: AdminActionInput & { patch: SettingsPatch },
): Promise<SettingsUpdate> {
  const current = await getTenantSettings(services.db, input.tenantId);
  const problems = settingsProblems(mergeSettings(current, input.patch));
  if (problems.length > 0) return { ok: false, problems };
  const settings = await updateTenantSettings(services.db, input.tenantId, input.patch, services.now());
  services.log.info('tenant settings changed', {
    tenantId: input.tenantId,
    actor: `${input.actor.kind}:${input.actor.id}`,
  });
  await recordAdminAction(services, {
    tenantId: input.tenantId,
    actor: input.actor,
    clientIp: input.clientIp,
    action: 'admin.settings.update',
    target: 'settings',
  });
  return { ok: true, settings };
}
