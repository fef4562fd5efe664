/**
 * The directory writes the end-user pages make, each one synchronous writeback request through the
 * same service the API uses (one audit record each), with the common-password check first, and
 * the notification email after a success (to the user and to the tenant's listed admins).
 */
import type { OperationResult } from '@writeback/protocol';
import type { Services } from '../services.js';
import { getTenantSettings } from '../tenants/settings.js';
import { bannedReason } from './banned-check.js';
import { t } from '../i18n/index.js';
import type { PageUser } from './identity.js';
import { getMethods } from './methods.js';
import { whenText, type WriteKind } from './outcome-text.js';

export interface WriteInput {
  tenantId: string;
  user: PageUser;
  clientIp: string | null;
}

/** The pre-check's refusal, shaped like the directory's (nothing is sent to the agent). */
function preCheck(w: WriteInput, newPassword: string): OperationResult | null {
  const reason = bannedReason(newPassword, w.user);
  return reason ? { outcome: 'policy_violation', reasons: [reason] } : null;
}

export async function changePassword(
  services: Services,
  w: WriteInput,
  currentPassword: string,
  newPassword: string,
): Promise<OperationResult> {
  const refused = preCheck(w, newPassword);
  if (refused) return refused;
  const r = await services.writeback.executeOperation({
    tenantId: w.tenantId,
    request: {
      op: 'password.change',
      params: { user: { by: 'login', value: w.user.login } },
      secret: { currentPassword, newPassword },
    },
    actor: { kind: 'user', id: w.user.login },
    target: w.user.login,
    clientIp: w.clientIp,
  });
  return r.result;
}

/** Self-service reset after verification: history enforced, account unlocked, no forced change. */
export async function resetPassword(services: Services, w: WriteInput, newPassword: string): Promise<OperationResult> {
  const refused = preCheck(w, newPassword);
  if (refused) return refused;
  const r = await services.writeback.executeOperation({
    tenantId: w.tenantId,
    request: {
      op: 'password.reset',
      params: { user: { by: 'login', value: w.user.login }, forceChange: false, unlock: true, enforceHistory: true },
      secret: { newPassword },
    },
    actor: { kind: 'user', id: w.user.login },
    target: w.user.login,
    clientIp: w.clientIp,
  });
  return r.result;
}

export async function unlockAccount(services: Services, w: WriteInput): Promise<OperationResult> {
  const r = await services.writeback.executeOperation({
    tenantId: w.tenantId,
    request: { op: 'account.unlock', params: { user: { by: 'login', value: w.user.login } } },
    actor: { kind: 'user', id: w.user.login },
    target: w.user.login,
    clientIp: w.clientIp,
  });
  return r.result;
}

/**
 * Tell the user (registered address, else the directory's) and the listed admins. Sent in the
 * background: the page answers with the directory's outcome without waiting for SMTP; a failure
 * is logged (redacted), never shown as a failed change.
 */
export function notifyAfterWrite(services: Services, w: WriteInput, kind: WriteKind): void {
  void (async () => {
    const settings = await getTenantSettings(services.db, w.tenantId);
    const methods = await getMethods(services.db, w.tenantId, w.user.key);
    const to = methods.email ?? w.user.mail;
    const at = whenText(services.now());
    const name = w.user.displayName ?? w.user.login;
    const vars = { name, login: w.user.login, at };
    const [subject, text] =
      kind === 'change'
        ? [t('mail.changed.subject'), t('mail.changed.text', vars)]
        : kind === 'reset'
          ? [t('mail.reset.subject'), t('mail.reset.text', vars)]
          : [t('mail.unlocked.subject'), t('mail.unlocked.text', vars)];
    const sends: Promise<void>[] = [];
    if (to) sends.push(services.mailer.send({ to, subject, text }));
    const what = kind === 'change' ? 'changed' : kind === 'reset' ? 'reset' : 'unlocked';
    for (const admin of settings.sspr.notifyAdmins) {
      sends.push(
        services.mailer.send({
          to: admin,
          subject: t('mail.admin.subject', { what, login: w.user.login }),
          text: t('mail.admin.text', { what, login: w.user.login, at }),
        }),
      );
    }
    const results = await Promise.allSettled(sends);
    for (const r of results)
      if (r.status === 'rejected')
        services.log.warn('notification mail failed', { tenantId: w.tenantId, err: r.reason });
  })().catch((err: unknown) => services.log.error('notification failed', { tenantId: w.tenantId, err }));
}
