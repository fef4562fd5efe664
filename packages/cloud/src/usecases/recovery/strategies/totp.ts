/**
 * Recovery by a code from the authenticator app (RFC 6238, ±1 step). The step of an accepted code
 * is claimed atomically and must be newer than the last one: a code is never accepted twice. An
 * unknown user's answer is checked against a dummy key (same work).
 */
import { verifyTotp } from '../../../auth/totp.js';
import { userMethodRepository } from '../../../store/user-methods.js';
import { getMethods } from '../../methods/registered.js';
import { openTotpSecret } from '../../methods/totp.js';
import type { RecoveryStrategy } from '../strategy.js';

const DUMMY_KEY = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export const totpStrategy: RecoveryStrategy = {
  kind: 'totp',
  async start() {
    return { state: 'verifying' };
  },
  async verify({ services, tenantId }, flow, input) {
    const code = typeof input.code === 'string' ? input.code.slice(0, 16) : '';
    const m = await getMethods(services.db, tenantId, flow.userKey ?? flow.login.toLowerCase());
    const secret = flow.userKey && m.totp ? openTotpSecret(services, tenantId, flow.userKey, m.totp.sealed) : null;
    const step = verifyTotp(secret ?? DUMMY_KEY, code, services.now(), 1);
    if (secret === null || step === null || flow.userKey === null) return false;
    // A code already used (same or earlier step) is refused: no replay within its window.
    return userMethodRepository(services.db).claimTotpStep(tenantId, flow.userKey, step);
  },
};
