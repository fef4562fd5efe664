/**
 * Who is told after a password write through the cloud succeeded:
 * - a self-service change, reset or unlock: the user (their registered address, else the
 *   directory's mail) and the tenant's listed admins (settings.sspr.notifyAdmins);
 * - an admin's reset or unlock: the user, at the directory's mail.
 * Sent in the background: the answer carries the directory's outcome without waiting for SMTP; a
 * failure is logged (redacted), never reported as a failed write. Nothing secret is in a mail.
 */
import { t } from '../i18n/index.js';
import { whenText } from '../i18n/time.js';
import type { Services } from '../services.js';
import { getTenantSettings } from '../tenants/settings.js';
import { getMethods } from './methods/registered.js';
import type { Person } from './person.js';

export type SelfServiceWrite = 'change' | 'reset' | 'unlock';

function sendAll(services: Services, tenantId: string, sends: () => Promise<Promise<void>[]>): void {
  void (async () => {
    const results = await Promise.allSettled(await sends());
    for (const r of results)
      if (r.status === 'rejected') services.log.warn('notification mail failed', { tenantId, err: r.reason });
  })().catch((err: unknown) => services.log.error('notification failed', { tenantId, err }));
}

/** After a self-service write: the user and the listed admins. */
export function notifySelfServiceWrite(
  services: Services,
  o: { tenantId: string; person: Person },
  kind: SelfServiceWrite,
): void {
  const { tenantId, person } = o;
  sendAll(services, tenantId, async () => {
    const settings = await getTenantSettings(services.db, tenantId);
    const methods = await getMethods(services.db, tenantId, person.key);
    const to = methods.email ?? person.mail;
    const at = whenText(services.now());
    const vars = { name: person.displayName ?? person.login, login: person.login, at };
    const [subject, text] =
      kind === 'change'
        ? [t('mail.changed.subject'), t('mail.changed.text', vars)]
        : kind === 'reset'
          ? [t('mail.reset.subject'), t('mail.reset.text', vars)]
          : [t('mail.unlocked.subject'), t('mail.unlocked.text', vars)];
    const sends: Promise<void>[] = [];
    if (to) sends.push(services.mailer.send({ to, subject, text }));
    const what = kind === 'change' ? 'changed' : kind === 'reset' ? 'reset' : 'unlocked';
    for (const admin of settings.sspr.notifyAdmins)
      sends.push(
        services.mailer.send({
          to: admin,
          subject: t('mail.admin.subject', { what, login: person.login }),
          text: t('mail.admin.text', { what, login: person.login, at }),
        }),
      );
    return sends;
  });
}

/** After an admin's reset or unlock: the user, at the directory's mail (when the cloud knows it). */
export function notifyAdminWrite(
  services: Services,
  o: { tenant: { id: string; name: string }; login: string; mail: string | null },
  kind: 'reset' | 'unlock',
): void {
  const { tenant, login, mail } = o;
  if (!mail) return;
  sendAll(services, tenant.id, async () => {
    const vars = { login, at: whenText(services.now()), tenant: tenant.name };
    return [
      services.mailer.send({
        to: mail,
        subject: t(kind === 'reset' ? 'admin.mail.reset.subject' : 'admin.mail.unlock.subject', vars),
        text: t(kind === 'reset' ? 'admin.mail.reset.text' : 'admin.mail.unlock.text', vars),
      }),
    ];
  });
}
