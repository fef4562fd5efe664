/**
 * Registering an email address or a mobile number: the address is checked, a code is sent to it
 * (purpose `register_email` / `register_sms`, owned by the web session asking), and the address is
 * stored once that code comes back: an address is never a method, and nothing is sent to it for a
 * recovery, before it was confirmed. The pending address itself is kept by the caller (the web
 * session), so a code only confirms the address it was sent to. Both steps need a recent proof of
 * the password and no pending change (reauth.ts); each send counts on the daily send limits
 * (sends.ts); the person is told at every address known before the change (notify.ts).
 */
import { isPlainEmail } from '../../mail/mailer.js';
import type { Services } from '../../services.js';
import { userMethodRepository } from '../../store/user-methods.js';
import { getTenantSettings } from '../../tenants/settings.js';
import { notifyMethodChange } from '../notify.js';
import { CodeInputSchema, checkCode, issueCode, sendCode } from './codes.js';
import { methodChangeRefusalFor, type MethodChange, type MethodChangeRefusal } from './reauth.js';
import { getMethods } from './registered.js';
import { holdRegistrationSend } from './sends.js';

export type ContactKind = 'email' | 'sms';

const PHONE = /^\+?[0-9][0-9 ()-]{6,19}$/;
const purposeOf = (kind: ContactKind) => (kind === 'email' ? 'register_email' : 'register_sms');

export type SendRegistrationResult =
  | { ok: true }
  | { ok: false; problem: 'invalid_address' | 'send_failed' | MethodChangeRefusal };

/**
 * Check the address and send it a code (waits for the send: the person is told if it failed). Over
 * a daily send limit: `rate_limited` (thrown, with the wait), before a code is made.
 */
export async function sendRegistrationCode(
  services: Services,
  o: MethodChange & { kind: ContactKind; owner: string; address: string },
): Promise<SendRegistrationResult> {
  const refused = await methodChangeRefusalFor(services, o.tenantId, o.kind, o.session);
  if (refused) return { ok: false, problem: refused };
  const valid = o.kind === 'email' ? isPlainEmail(o.address) : PHONE.test(o.address);
  if (!valid) return { ok: false, problem: 'invalid_address' };
  const { sspr } = await getTenantSettings(services.db, o.tenantId);
  // Counted before the code is made; a send that failed stays counted (it may have left).
  await holdRegistrationSend(services, sspr.sends, {
    tenantId: o.tenantId,
    userKey: o.user.key,
    channel: o.kind,
    to: o.address,
  });
  const code = await issueCode(services, {
    tenantId: o.tenantId,
    purpose: purposeOf(o.kind),
    owner: o.owner,
    channel: o.kind,
  });
  try {
    await sendCode(services, o.kind, o.address, code);
  } catch (err) {
    services.log.warn('could not send a registration code', { tenantId: o.tenantId, channel: o.kind, err });
    return { ok: false, problem: 'send_failed' };
  }
  return { ok: true };
}

export type ConfirmRegistrationResult =
  | { ok: true }
  | { ok: false; problem: 'code_invalid' | 'code_wrong' | MethodChangeRefusal };

/** The code sent to `address` came back: store the address as the user's method. */
export async function confirmRegistrationCode(
  services: Services,
  o: MethodChange & { kind: ContactKind; owner: string; address: string; code: string },
): Promise<ConfirmRegistrationResult> {
  const refused = await methodChangeRefusalFor(services, o.tenantId, o.kind, o.session);
  if (refused) return { ok: false, problem: refused };
  const code = CodeInputSchema.safeParse(o.code);
  if (!code.success) return { ok: false, problem: 'code_invalid' };
  const check = await checkCode(services, {
    tenantId: o.tenantId,
    purpose: purposeOf(o.kind),
    owner: o.owner,
    code: code.data,
  });
  if (check !== 'ok') return { ok: false, problem: 'code_wrong' };
  const before = await getMethods(services.db, o.tenantId, o.user.key);
  await userMethodRepository(services.db).put(
    o.tenantId,
    o.user.key,
    { kind: o.kind, value: o.address, lastStep: null },
    services.now(),
  );
  notifyMethodChange(services, { tenantId: o.tenantId, person: o.user, kind: o.kind, before });
  return { ok: true };
}
