/**
 * Registering an authenticator app (TOTP, RFC 6238): a new key is offered, kept sealed by the
 * caller (the web session) until a code from the app confirms it; the confirmed key is stored
 * sealed (AES-256-GCM, bound to tenant and user) with the step of the confirming code, so that code
 * cannot be used again in a reset. Also opens a stored key for the recovery strategy.
 */
import { generateTotpSecret, totpUri, verifyTotp } from '../../auth/totp.js';
import { seal, unseal } from '../../keys/sealing.js';
import type { Services } from '../../services.js';
import { userMethodRepository } from '../../store/user-methods.js';
import { notifyMethodChange } from '../notify.js';
import type { Person } from '../person.js';
import { methodChangeRefusal, type MethodSession } from './reauth.js';
import { assertOffered, getMethods } from './registered.js';

const storedContext = (tenantId: string, userKey: string): string => `totp|${tenantId}|${userKey}`;
const pendingContext = (owner: string): string => `pending-totp|${owner}`;

/** The user's stored TOTP key in clear, or null when it does not open. */
export function openTotpSecret(services: Services, tenantId: string, userKey: string, sealed: string): string | null {
  return unseal(services.cloudKey.privateKey, sealed, storedContext(tenantId, userKey));
}

export interface PendingTotp {
  /** The key to show (QR code and text). */
  secret: string;
  /** otpauth:// URI for the QR code. */
  uri: string;
  /** What the caller keeps until the confirmation (sealed to `owner`). */
  sealed: string;
  /** True when a new key was made (the caller must keep `sealed`). */
  created: boolean;
}

/** The key being set up: the pending one the caller kept, or a new one. */
export async function beginTotpRegistration(
  services: Services,
  o: { tenantId: string; owner: string; pending: string | undefined; issuer: string; account: string },
): Promise<PendingTotp> {
  await assertOffered(services, o.tenantId, 'totp');
  const kept = o.pending ? unseal(services.cloudKey.privateKey, o.pending, pendingContext(o.owner)) : null;
  const secret = kept ?? generateTotpSecret();
  const sealed = kept && o.pending ? o.pending : seal(services.cloudKey.privateKey, secret, pendingContext(o.owner));
  return { secret, sealed, created: kept === null, uri: totpUri({ secret, issuer: o.issuer, account: o.account }) };
}

export type ConfirmTotpResult =
  | { ok: true }
  | { ok: false; problem: 'no_pending' }
  | { ok: false; problem: 'change_pending' }
  | { ok: false; problem: 'reauth_required' }
  | { ok: false; problem: 'code_wrong'; pending: PendingTotp };

/**
 * A code from the app confirms the pending key: it is stored (sealed) with the code's step (a
 * recent proof of the password needed: reauth.ts).
 */
export async function confirmTotpRegistration(
  services: Services,
  o: {
    tenantId: string;
    user: Person;
    session: MethodSession;
    owner: string;
    pending: string | undefined;
    code: string;
    issuer: string;
    account: string;
  },
): Promise<ConfirmTotpResult> {
  await assertOffered(services, o.tenantId, 'totp');
  const refused = methodChangeRefusal(services, o.session);
  if (refused) return { ok: false, problem: refused };
  const secret = o.pending ? unseal(services.cloudKey.privateKey, o.pending, pendingContext(o.owner)) : null;
  if (!secret || !o.pending) return { ok: false, problem: 'no_pending' };
  const step = verifyTotp(secret, o.code, services.now(), 1);
  if (step === null)
    return {
      ok: false,
      problem: 'code_wrong',
      pending: {
        secret,
        sealed: o.pending,
        created: false,
        uri: totpUri({ secret, issuer: o.issuer, account: o.account }),
      },
    };
  const before = await getMethods(services.db, o.tenantId, o.user.key);
  await userMethodRepository(services.db).put(
    o.tenantId,
    o.user.key,
    {
      kind: 'totp',
      value: seal(services.cloudKey.privateKey, secret, storedContext(o.tenantId, o.user.key)),
      lastStep: step,
    },
    services.now(),
  );
  notifyMethodChange(services, { tenantId: o.tenantId, person: o.user, kind: 'totp', before });
  return { ok: true };
}
