/**
 * What an LDAP result code (plus the ppolicy response control) on a password write means, as an
 * outcome. Pure: the adapter logs the raw diagnostic and attaches the effective policy. An error
 * RESULT always means slapd did not apply the operation (RFC 4511 modifications are atomic), so
 * nothing here is outcome_unknown: that is only for a connection lost without a result.
 */
import type { OperationResult } from '@writeback/protocol';
import { reasonsForPpolicyError, type PasswordPolicyResponse } from './ppolicy-control.js';

export type WriteKind = 'reset' | 'change' | 'unlock';

/** The outcome for LDAP result `code`; `unexpected` asks the caller to log the diagnostic loudly. */
export function outcomeForWriteResult(
  code: number,
  resp: PasswordPolicyResponse | null,
  op: WriteKind,
): { result: OperationResult; unexpected: boolean } {
  const ok = (result: OperationResult) => ({ result, unexpected: false });
  const odd = (result: OperationResult) => ({ result, unexpected: true });
  switch (code) {
    case 19:
      return ok({ outcome: 'policy_violation', reasons: reasonsForPpolicyError(resp?.error) ?? ['unspecified'] });
    case 50:
      if (resp?.error === 'mustSupplyOldPassword')
        return ok({ outcome: 'access_denied', missingRight: 'pwdSafeModify: the current password is required' });
      if (resp?.error === 'passwordModNotAllowed')
        return ok({ outcome: 'access_denied', missingRight: 'pwdAllowUserChange is FALSE' });
      return ok({
        outcome: 'access_denied',
        missingRight:
          op === 'unlock'
            ? 'manage on pwdAccountLockedTime'
            : op === 'change'
              ? 'self write on userPassword'
              : 'write on userPassword',
      });
    case 53:
      if (resp?.error === 'passwordModNotAllowed')
        return ok({ outcome: 'access_denied', missingRight: 'pwdAllowUserChange is FALSE' });
      // slapd answers a wrong oldPasswd with 53 "unwilling to verify old password" and no control.
      if (op === 'change' && !resp?.error) return ok({ outcome: 'wrong_current_password' });
      return odd({ outcome: 'directory_unavailable', detail: 'the directory is unwilling to perform the write' });
    case 32:
      return ok({ outcome: 'user_not_found' });
    case 10:
      return odd({
        outcome: 'directory_unavailable',
        detail: 'the server referred the write elsewhere (read-only replica?)',
      });
    default:
      return odd({ outcome: 'directory_unavailable', detail: `the directory refused the write (LDAP result ${code})` });
  }
}
