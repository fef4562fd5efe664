/** The expiring-passwords report (usecases/expiry-reminders.ts, shared with the admin report page). */
import { z } from 'zod';
import { expiryReport } from '../../usecases/expiry-reminders.js';
import { defineTenantRoute } from '../tenant-route.js';

const Expiring = z.object({
  userId: z.string(),
  login: z.string(),
  displayName: z.string().nullable(),
  mail: z.string().nullable(),
  expiresAt: z.string(),
  /** Whether the reminder for this expiry date was sent. */
  reminded: z.boolean(),
});

const ReportBody = z.object({
  days: z.number().int(),
  /** The tenant's reminder setting (settings.expiry.remindDays; 0: off). */
  remindDays: z.number().int(),
  expiring: z.array(Expiring),
  expired: z.array(Expiring),
  unknown: z.array(
    z.object({
      userId: z.string(),
      login: z.string(),
      displayName: z.string().nullable(),
      reason: z.enum(['no_password_set', 'max_age_unknown']),
    }),
  ),
  neverExpires: z.number().int(),
  checked: z.number().int(),
});

export const passwordExpiryRoute = defineTenantRoute({
  method: 'GET',
  url: '/api/v1/tenants/:tenant/password-expiry',
  operationId: 'passwordExpiryReport',
  summary: 'Users whose password expires within `days` (default: the reminder setting, else 14)',
  description:
    'Expiry is when the password was last set (the sync) plus the maximum password age the directory reported for the user. Users whose expiry is not known are listed under `unknown` with the reason; reminders skip them.',
  tag: 'users',
  permission: 'users.read',
  query: z.object({ days: z.coerce.number().int().min(1).max(365).optional() }),
  responses: { 200: { description: 'The report', schema: ReportBody } },
  errors: ['invalid_request'],
  async handle({ tenant, query, services }) {
    const r = await expiryReport(services, tenant.id, query.days);
    const iso = (u: (typeof r.expiring)[number]) => ({
      userId: u.userId,
      login: u.login,
      displayName: u.displayName,
      mail: u.mail,
      expiresAt: new Date(u.expiresAt).toISOString(),
      reminded: u.reminded,
    });
    return {
      status: 200,
      body: { ...r, expiring: r.expiring.map(iso), expired: r.expired.map(iso) },
    };
  },
});
