/**
 * Password-expiry reminders and the expiring-passwords report (issue 12), for the API, the admin
 * report page and the daily job alike.
 *
 * When a password expires is worked out from what the cloud holds: the synced copy's
 * `passwordLastSetAt` plus the user's maximum password age. The sync carries no policy, so the
 * maximum age is learnt per user from the directory (`policy.get`, as the change page reads it:
 * domain policy, fine-grained PSO or ppolicy entry; a password that never expires counts as 0) and
 * kept in the store (store/password-expiry.ts). One node per tenant and hour (claimed in the store)
 * learns it for at most LEARN_PER_RUN users that have none or one older than RELEARN_AFTER_MS, so a
 * large directory is learnt over a few hours and the agent sees a trickle. This happens also while
 * the tenant's reminders are off, so that the report can show expiry. A user whose expiry is not known (never learnt, or no password set
 * yet) is skipped by the reminders and listed with the reason in the report.
 *
 * The job (startExpiryReminders) runs on a timer on every cloud node; a reminder is claimed in the
 * store per user and expiry date before it is mailed, so however many nodes run it, a user gets one
 * reminder per expiry date (a claim whose mail then fails is logged, not retried: at most once).
 */
import type { OutcomeCode } from '@writeback/protocol';
import type { Services } from '../services.js';
import { passwordExpiryRepository, reminderKey } from '../store/password-expiry.js';
import { getTenantSettings } from '../tenants/settings.js';
import { listTenants, type Tenant } from '../tenants/tenants.js';
import { listUsers, type CloudUser } from '../users/directory-users.js';
import { sendExpiryReminder } from './notify.js';
import { policyForPerson } from './policy.js';

const DAY_MS = 86_400_000;
/** At most this many `policy.get` reads per tenant and run. */
export const LEARN_PER_RUN = 100;
/** A learnt maximum age is read again after a week (a PSO or the domain policy may change). */
export const RELEARN_AFTER_MS = 7 * DAY_MS;
/** The job's default period: hourly, so a node that was down catches up within the hour. */
export const DEFAULT_INTERVAL_MS = 3_600_000;
/** The report's window when the tenant's reminders are off. */
export const DEFAULT_REPORT_DAYS = 14;
const PAGE = 500;

/** Why a user's expiry is not known. */
export type UnknownReason = 'no_password_set' | 'max_age_unknown';

export interface ExpiringUser {
  userId: string;
  login: string;
  displayName: string | null;
  mail: string | null;
  /** ms since the epoch. */
  expiresAt: number;
  /** The expiry date (UTC) a reminder is kept under. */
  expiresOn: string;
  /** A reminder for this expiry date was sent (claimed). */
  reminded: boolean;
}

export interface ExpiryReport {
  days: number;
  /** The tenant's reminder setting (0: off). */
  remindDays: number;
  /** Expiring within `days`, soonest first. */
  expiring: ExpiringUser[];
  /** Already expired (the directory asks them to change at the next sign-in), most recent first. */
  expired: ExpiringUser[];
  /** Users whose expiry is not known: skipped by the reminders. */
  unknown: { userId: string; login: string; displayName: string | null; reason: UnknownReason }[];
  /** Users whose password never expires. */
  neverExpires: number;
  /** Enabled synced users looked at. */
  checked: number;
}

const dayText = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Every enabled synced user of the tenant (cloud-only passwords do not expire; disabled users cannot sign in). */
async function syncedUsers(services: Services, tenantId: string): Promise<CloudUser[]> {
  const out: CloudUser[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const { users } = await listUsers(services.db, tenantId, { source: 'onprem', limit: PAGE, offset });
    out.push(...users.filter((u) => u.enabled));
    if (users.length < PAGE) return out;
  }
}

/** The report: who expires within `days` (from now), who expired, whose expiry is not known. */
export async function expiryReport(services: Services, tenantId: string, days?: number): Promise<ExpiryReport> {
  const { expiry } = await getTenantSettings(services.db, tenantId);
  const window = days ?? (expiry.remindDays > 0 ? expiry.remindDays : DEFAULT_REPORT_DAYS);
  const repo = passwordExpiryRepository(services.db);
  const [users, ages, reminded] = await Promise.all([
    syncedUsers(services, tenantId),
    repo.maxAges(tenantId),
    repo.reminded(tenantId),
  ]);
  const now = services.now();
  const report: ExpiryReport = {
    days: window,
    remindDays: expiry.remindDays,
    expiring: [],
    expired: [],
    unknown: [],
    neverExpires: 0,
    checked: users.length,
  };
  for (const u of users) {
    const who = { userId: u.id, login: u.login, displayName: u.displayName };
    const setAt = u.passwordLastSetAt === null ? Number.NaN : Date.parse(u.passwordLastSetAt);
    if (!Number.isFinite(setAt)) {
      report.unknown.push({ ...who, reason: 'no_password_set' });
      continue;
    }
    const age = ages.get(u.id);
    if (!age) {
      report.unknown.push({ ...who, reason: 'max_age_unknown' });
      continue;
    }
    if (age.maxAgeSeconds === 0) {
      report.neverExpires++;
      continue;
    }
    const expiresAt = setAt + age.maxAgeSeconds * 1000;
    const row: ExpiringUser = {
      ...who,
      mail: u.mail,
      expiresAt,
      expiresOn: dayText(expiresAt),
      reminded: reminded.has(reminderKey(u.id, dayText(expiresAt))),
    };
    if (expiresAt <= now) report.expired.push(row);
    else if (expiresAt <= now + window * DAY_MS) report.expiring.push(row);
  }
  report.expiring.sort((a, b) => a.expiresAt - b.expiresAt);
  report.expired.sort((a, b) => b.expiresAt - a.expiresAt);
  return report;
}

/** The maximum age a policy answer stands for: 0 never expires, null when it cannot say. */
function maxAgeOf(policy: NonNullable<Awaited<ReturnType<typeof policyForPerson>>['policy']>): number | null {
  if (policy.maxAgeSeconds <= 0) return 0;
  if (typeof policy.expiresAt === 'string' || policy.expiresAt === undefined) return policy.maxAgeSeconds;
  // expiresAt null with a password set: the account's password never expires (AD's flag).
  return policy.passwordLastSetAt ? 0 : null;
}

const STOP_LEARNING: ReadonlySet<OutcomeCode> = new Set([
  'agent_unavailable',
  'directory_unavailable',
  'timeout',
  'request_rejected',
  'access_denied',
]);

/** The directory reads of a tenant are taken by one node per hour. */
const LEARN_SLOT_MS = 3_600_000;

/**
 * Learn the maximum age of up to LEARN_PER_RUN users that have none or a stale one, when this node
 * claims the tenant's reads for the current hour (another node may have them). Returns how many.
 */
export async function learnMaxAges(services: Services, tenantId: string): Promise<number> {
  const repo = passwordExpiryRepository(services.db);
  if (!(await repo.claimLearning(tenantId, Math.floor(services.now() / LEARN_SLOT_MS), services.now()))) return 0;
  const [users, ages] = await Promise.all([syncedUsers(services, tenantId), repo.maxAges(tenantId)]);
  const now = services.now();
  const due = users
    .filter((u) => u.passwordLastSetAt !== null)
    .filter((u) => (ages.get(u.id)?.learnedAt ?? Number.NEGATIVE_INFINITY) < now - RELEARN_AFTER_MS)
    .slice(0, LEARN_PER_RUN);
  let learnt = 0;
  for (const u of due) {
    const p = await policyForPerson(services, tenantId, u.login, null);
    // The agent or directory is away, or refuses the cloud's requests: the rest of the run would
    // only get the same answer. A value learnt before stays as it is.
    if (STOP_LEARNING.has(p.outcome)) {
      services.log.info('expiry: maximum password ages not read this hour', { tenantId, outcome: p.outcome });
      break;
    }
    const maxAge = p.policy ? maxAgeOf(p.policy) : null;
    if (maxAge === null) continue;
    await repo.putMaxAge(tenantId, u.id, maxAge, now);
    learnt++;
  }
  return learnt;
}

export interface ReminderRunSummary {
  tenants: number;
  learnt: number;
  /** Reminders claimed and handed to the mailer. */
  sent: number;
  /** Expiring users with no mail address to remind. */
  noAddress: number;
  /** Users skipped because their expiry is not known. */
  unknown: number;
}

/** The page a reminder links to: the tenant's My Account (sign in, then change the password). */
function changeLink(services: Services, tenant: Tenant): string {
  // PUBLIC_URL is where people reach the cloud; without it, the address agents are given says where this node is.
  const base = (
    services.config.publicUrl ??
    services
      .relayUrl()
      .replace(/^ws/, 'http')
      .replace(/\/agent$/, '')
  ).replace(/\/+$/, '');
  return `${base}/t/${encodeURIComponent(tenant.slug)}/account`;
}

/** One tenant's run: learn, then remind every user expiring within the tenant's days, once per expiry date. */
async function runTenant(services: Services, tenant: Tenant, sum: ReminderRunSummary): Promise<void> {
  sum.learnt += await learnMaxAges(services, tenant.id);
  const { expiry } = await getTenantSettings(services.db, tenant.id);
  if (expiry.remindDays === 0) return;
  sum.tenants++;
  const report = await expiryReport(services, tenant.id, expiry.remindDays);
  sum.unknown += report.unknown.length;
  const repo = passwordExpiryRepository(services.db);
  const link = changeLink(services, tenant);
  for (const u of report.expiring) {
    if (u.reminded) continue;
    const sent = await sendExpiryReminder(
      services,
      { tenantId: tenant.id, user: u, link },
      // Claimed only once there is someone to mail; a second node's claim fails and sends nothing.
      () => repo.claimReminder(tenant.id, u.userId, u.expiresOn, services.now()),
    );
    if (sent === 'no_address') sum.noAddress++;
    else if (sent === 'sent') sum.sent++;
  }
}

/** One run over every tenant. */
export async function runExpiryReminders(services: Services): Promise<ReminderRunSummary> {
  const sum: ReminderRunSummary = { tenants: 0, learnt: 0, sent: 0, noAddress: 0, unknown: 0 };
  for (const tenant of await listTenants(services.db)) {
    try {
      await runTenant(services, tenant, sum);
    } catch (err) {
      services.log.error('expiry reminders failed for a tenant', { tenantId: tenant.id, err });
    }
  }
  // Expiry dates more than 30 days past are never reminded again.
  const repo = passwordExpiryRepository(services.db);
  await repo.deleteRemindersBefore(dayText(services.now() - 30 * DAY_MS));
  await repo.deleteLearningBefore(Math.floor(services.now() / LEARN_SLOT_MS) - 24);
  if (sum.sent > 0 || sum.noAddress > 0) services.log.info('password expiry reminders', { ...sum });
  return sum;
}

export interface ExpiryReminderJob {
  /** One run now (waits for a run already under way first). */
  runOnce(): Promise<ReminderRunSummary>;
  stop(): Promise<void>;
}

/** Run the reminders every `intervalMs` (default hourly); runs never overlap on one node. */
export function startExpiryReminders(services: Services, o: { intervalMs?: number } = {}): ExpiryReminderJob {
  let running: Promise<ReminderRunSummary> | null = null;
  let stopped = false;
  const runOnce = async (): Promise<ReminderRunSummary> => {
    while (running) await running.catch(() => undefined);
    running = runExpiryReminders(services);
    try {
      return await running;
    } finally {
      running = null;
    }
  };
  const timer = setInterval(() => {
    if (stopped || running) return;
    runOnce().catch((err: unknown) => services.log.error('expiry reminders failed', { err }));
  }, o.intervalMs ?? DEFAULT_INTERVAL_MS);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
