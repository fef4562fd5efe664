/**
 * Who is told, after a password write through the cloud succeeded or a way to prove it's you
 * changed: the person at EVERY address the cloud knows for them (issue 10: a notice that went only
 * to a newly added address told the attacker, not the owner): the registered email address and the
 * directory's mail (each once, however spelled), and the registered mobile number by a short text
 * (on the tenant's text budget: usecases/methods/sends.ts). For a method change these are the
 * addresses from before the change. A self-service write also tells the tenant's listed admins
 * (settings.sspr.notifyAdmins).
 * Sent in the background: the answer carries the directory's outcome without waiting for SMTP; a
 * failure is logged (redacted), never reported as a failed write. Nothing secret is in a message.
 * Password-expiry reminders (usecases/expiry-reminders.ts) are sent from here too, by mail only and
 * awaited by their job; they are the one message with a link (the change page, no token).
 */
import { t, type MessageKey } from '../i18n/index.js';
import { whenText } from '../i18n/time.js';
import type { Services } from '../services.js';
import { getTenantSettings } from '../tenants/settings.js';
import { lookupKey, type CloudUser } from '../users/directory-users.js';
import { getMethods, type MethodKind, type RegisteredMethods } from './methods/registered.js';
import { takeNoticeText } from './methods/sends.js';
import { personOf, type Person } from './person.js';

export type SelfServiceWrite = 'change' | 'reset' | 'unlock';

function sendAll(services: Services, tenantId: string, sends: () => Promise<Promise<void>[]>): void {
  void (async () => {
    const results = await Promise.allSettled(await sends());
    for (const r of results)
      if (r.status === 'rejected') services.log.warn('notification mail failed', { tenantId, err: r.reason });
  })().catch((err: unknown) => services.log.error('notification failed', { tenantId, err }));
}

/** Every address the person is known by: emails deduplicated (case-insensitive), and the mobile. */
export function knownAddresses(
  methods: Pick<RegisteredMethods, 'email' | 'sms'>,
  directoryMail: string | null,
): { emails: string[]; mobile: string | null } {
  const emails = new Map<string, string>();
  for (const a of [methods.email, directoryMail])
    if (a && !emails.has(lookupKey(a.trim()))) emails.set(lookupKey(a.trim()), a.trim());
  return { emails: [...emails.values()], mobile: methods.sms };
}

/** Mail to every email address, and a text to the mobile number when the tenant's budget allows. */
async function tellPerson(
  services: Services,
  tenantId: string,
  to: { emails: string[]; mobile: string | null },
  mail: { subject: string; text: string },
  sms: string,
): Promise<Promise<void>[]> {
  const sends = to.emails.map((address) => services.mailer.send({ to: address, ...mail }));
  if (to.mobile) {
    const { sspr } = await getTenantSettings(services.db, tenantId);
    if (await takeNoticeText(services, sspr.sends, tenantId))
      sends.push(services.sms.send({ to: to.mobile, text: sms }));
    else services.log.warn("security notice not texted: the tenant's text budget for today is spent", { tenantId });
  }
  return sends;
}

/** After a self-service write: the person at every known address, and the listed admins. */
export function notifySelfServiceWrite(
  services: Services,
  o: { tenantId: string; person: Person },
  kind: SelfServiceWrite,
): void {
  const { tenantId, person } = o;
  sendAll(services, tenantId, async () => {
    const settings = await getTenantSettings(services.db, tenantId);
    const methods = await getMethods(services.db, tenantId, person.key);
    const at = whenText(services.now());
    const vars = { name: person.displayName ?? person.login, login: person.login, at };
    const [subject, text] =
      kind === 'change'
        ? [t('mail.changed.subject'), t('mail.changed.text', vars)]
        : kind === 'reset'
          ? [t('mail.reset.subject'), t('mail.reset.text', vars)]
          : [t('mail.unlocked.subject'), t('mail.unlocked.text', vars)];
    const what = kind === 'change' ? 'changed' : kind === 'reset' ? 'reset' : 'unlocked';
    const sends = await tellPerson(
      services,
      tenantId,
      knownAddresses(methods, person.mail),
      { subject, text },
      t('sms.notice.password', { login: person.login, what, at }),
    );
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

const METHOD_NAME: Record<MethodKind, MessageKey> = {
  email: 'account.method.email',
  sms: 'account.method.sms',
  totp: 'account.method.totp',
  questions: 'account.method.questions',
};

/**
 * After a way to prove it's you was set up or replaced: the person at every address known BEFORE
 * the change (a replaced address is told that it was replaced), and the directory's mail.
 */
export function notifyMethodChange(
  services: Services,
  o: { tenantId: string; person: Person; kind: MethodKind; before: RegisteredMethods },
): void {
  const { tenantId, person } = o;
  sendAll(services, tenantId, async () => {
    const at = whenText(services.now());
    const vars = { name: person.displayName ?? person.login, login: person.login, at, method: t(METHOD_NAME[o.kind]) };
    return tellPerson(
      services,
      tenantId,
      knownAddresses(o.before, person.mail),
      { subject: t('mail.methodSet.subject'), text: t('mail.methodSet.text', vars) },
      t('sms.notice.method', vars),
    );
  });
}

/**
 * After an admin's reset or unlock: the user at every known address (the directory's mail and the
 * registered ones).
 */
export function notifyAdminWrite(
  services: Services,
  o: { tenant: { id: string; name: string }; login: string; user: CloudUser | null },
  kind: 'reset' | 'unlock',
): void {
  const { tenant, login } = o;
  // The target was looked up already: no second lookup for the notice.
  const person = personOf(o.user, login);
  sendAll(services, tenant.id, async () => {
    const methods = await getMethods(services.db, tenant.id, person.key);
    const at = whenText(services.now());
    const vars = { login, at, tenant: tenant.name };
    return tellPerson(
      services,
      tenant.id,
      knownAddresses(methods, person.mail),
      {
        subject: t(kind === 'reset' ? 'admin.mail.reset.subject' : 'admin.mail.unlock.subject', vars),
        text: t(kind === 'reset' ? 'admin.mail.reset.text' : 'admin.mail.unlock.text', vars),
      },
      t('sms.notice.password', { login, what: kind === 'reset' ? 'reset' : 'unlocked', at }),
    );
  });
}

/** What a password-expiry reminder says: whose password, when it expires, where to change it. */
export interface ExpiryReminderInput {
  tenantId: string;
  user: { login: string; displayName: string | null; mail: string | null; expiresAt: number };
  /** The change page (My Account). */
  link: string;
}

/**
 * A password-expiry reminder (usecases/expiry-reminders.ts), by mail only, to every email address
 * the person is known by. `claim` runs once there is an address and decides whether this caller
 * sends it (the store's one-per-expiry-date claim). Awaited by the job, unlike the notices above; a
 * mail that fails after the claim is logged and not sent again.
 */
export async function sendExpiryReminder(
  services: Services,
  o: ExpiryReminderInput,
  claim: () => Promise<boolean>,
): Promise<'sent' | 'no_address' | 'claimed_elsewhere'> {
  const { tenantId, user } = o;
  const methods = await getMethods(services.db, tenantId, lookupKey(user.login));
  const { emails } = knownAddresses(methods, user.mail);
  if (emails.length === 0) return 'no_address';
  if (!(await claim())) return 'claimed_elsewhere';
  const vars = {
    name: user.displayName ?? user.login,
    login: user.login,
    at: whenText(user.expiresAt),
    link: o.link,
  };
  const mail = { subject: t('mail.expiry.subject', vars), text: t('mail.expiry.text', vars) };
  const results = await Promise.allSettled(emails.map((to) => services.mailer.send({ to, ...mail })));
  for (const r of results)
    if (r.status === 'rejected') services.log.warn('expiry reminder mail failed', { tenantId, err: r.reason });
  return 'sent';
}
