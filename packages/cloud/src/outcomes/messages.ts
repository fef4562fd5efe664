/**
 * Plain-English messages for outcomes, built from the outcome, the policy reasons and the
 * effective policy, so a person reads *what* the rule is ("at least 12 characters"), not a code.
 * The same texts serve the API (`message`) and, later, the pages. Never includes a password.
 */
import {
  resultData,
  type EffectivePolicy,
  type OperationName,
  type OperationResult,
  type OutcomeCode,
  type PolicyReason,
} from '@writeback/protocol';

export interface MessageContext {
  op?: OperationName;
  /** For "try again in ..." phrasing. */
  now?: number;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const units: [number, string][] = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, name] of units) {
    if (s >= size) {
      const n = Math.round(s / size);
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  return `${s} second${s === 1 ? '' : 's'}`;
}

function minAgeSentence(policy: EffectivePolicy | undefined, now: number): string {
  const at = policy?.nextChangeAllowedAt ? Date.parse(policy.nextChangeAllowedAt) : Number.NaN;
  if (Number.isFinite(at)) {
    const iso = new Date(at).toISOString();
    return at > now
      ? `You can change your password again after ${iso} (in about ${duration((at - now) / 1000)}).`
      : `You can change your password again after ${iso}.`;
  }
  if (policy && policy.minAgeSeconds > 0)
    return `The password was changed too recently: it can be changed only once every ${duration(policy.minAgeSeconds)}.`;
  return 'The password was changed too recently; try again later.';
}

/** One sentence per policy reason. */
export function reasonMessage(
  reason: PolicyReason,
  policy: EffectivePolicy | undefined,
  now: number = Date.now(),
): string {
  switch (reason) {
    case 'too_short':
      return policy
        ? `The password must be at least ${policy.minLength} characters long.`
        : 'The password is too short.';
    case 'too_long':
      return policy?.maxLength
        ? `The password must be at most ${policy.maxLength} characters long.`
        : 'The password is too long.';
    case 'complexity':
      return 'The password must contain characters from at least three of these four groups: upper-case letters, lower-case letters, digits, and symbols.';
    case 'history':
      return policy && policy.historyLength > 0
        ? `The password must not be one of your last ${policy.historyLength} password${policy.historyLength === 1 ? '' : 's'}.`
        : 'The password was used before; choose one you have not used recently.';
    case 'min_age':
      return minAgeSentence(policy, now);
    case 'contains_user_name':
      return 'The password must not contain your user name or parts of your full name.';
    case 'banned':
      return 'The password is on the list of banned passwords; choose a less common one.';
    case 'filter_rejected':
      return "The directory's password filter rejected the password; choose a different one.";
    case 'unspecified':
      return "The password does not meet the directory's password policy.";
  }
}

function succeeded(op: OperationName | undefined): string {
  switch (op) {
    case 'password.reset':
      return 'The password was reset.';
    case 'password.change':
      return 'The password was changed.';
    case 'account.unlock':
      return 'The account was unlocked.';
    case 'policy.get':
      return 'This is the password policy that applies to the account.';
    case 'credentials.verify':
      return 'The credentials are valid.';
    case 'health':
      return 'The on-premises password service is healthy.';
    default:
      return 'The operation succeeded.';
  }
}

const changeWord = (op: OperationName | undefined): string => (op === 'account.unlock' ? 'unlocked' : 'changed');

/**
 * A reset that left the account locked (it was not asked to unlock): the password is set, but the
 * user still cannot sign in (issue 12: the answer said only "The password was reset.").
 */
export function resetLeftLocked(
  result: Pick<OperationResult, 'outcome' | 'data'>,
  op: OperationName | undefined,
): boolean {
  return (
    op === 'password.reset' && result.outcome === 'succeeded' && resultData('password.reset', result)?.locked === true
  );
}

/** When a lockout ends, from what the directory said (issue 12: say it, rather than "ask an administrator"). */
function lockedMessage(policy: EffectivePolicy | undefined, now: number): string {
  const until = policy?.lockedUntil;
  const at = typeof until === 'string' ? Date.parse(until) : Number.NaN;
  if (Number.isFinite(at)) {
    const iso = new Date(at).toISOString();
    return at > now
      ? `The account is locked until ${iso} (about ${duration((at - now) / 1000)} from now); an administrator can unlock it sooner.`
      : `The account was locked until ${iso}; try again.`;
  }
  if (until === null) return 'The account is locked until an administrator unlocks it.';
  const d = policy?.lockoutDurationSeconds;
  return d && d > 0
    ? `The account is locked. Try again in ${duration(d)} or ask an administrator to unlock it.`
    : 'The account is locked. Ask an administrator to unlock it.';
}

/** The message for one result. */
export function outcomeMessage(
  result: Pick<OperationResult, 'outcome' | 'reasons' | 'policy' | 'missingRight' | 'historyEnforced' | 'data'>,
  ctx: MessageContext = {},
): string {
  const now = ctx.now ?? Date.now();
  const o: OutcomeCode = result.outcome;
  switch (o) {
    case 'succeeded': {
      const base = resetLeftLocked(result, ctx.op)
        ? 'The password was reset, but the account is still locked: the user cannot sign in until it is unlocked.'
        : succeeded(ctx.op);
      return result.historyEnforced === false
        ? `${base} Password history could not be enforced by this directory.`
        : base;
    }
    case 'policy_violation': {
      const reasons = result.reasons?.length ? result.reasons : (['unspecified'] as const);
      return [...new Set(reasons)].map((r) => reasonMessage(r, result.policy, now)).join(' ');
    }
    case 'wrong_current_password':
      return 'The current password is not correct.';
    case 'invalid_credentials':
      return 'The login or the password is not correct.';
    case 'user_not_found':
      return 'No such user was found in the directory.';
    case 'ambiguous_user':
      return 'More than one account matches this name; ask an administrator.';
    case 'account_disabled':
      return 'The account is disabled.';
    case 'account_locked':
      return lockedMessage(result.policy, now);
    case 'protected_account':
      return 'This account is protected: its password cannot be managed through this service.';
    case 'access_denied':
      return `The on-premises service account is not allowed to do this${result.missingRight ? ` (missing right: ${result.missingRight})` : ''}; nothing was ${changeWord(ctx.op)}.`;
    case 'directory_unavailable':
      return `The directory could not be reached; nothing was ${changeWord(ctx.op)}.`;
    case 'agent_unavailable':
      return `The on-premises password service is unreachable; nothing was ${changeWord(ctx.op)}.`;
    case 'request_rejected':
      return `The on-premises password service refused the request; nothing was ${changeWord(ctx.op)}.`;
    case 'timeout':
      return ctx.op && ctx.op !== 'policy.get' && ctx.op !== 'credentials.verify' && ctx.op !== 'health'
        ? `The on-premises password service did not answer in time. The account may or may not have been ${changeWord(ctx.op)}; this is not reported as a success. Check before trying again.`
        : 'The on-premises password service did not answer in time.';
    case 'outcome_unknown':
      return `It is not known whether the account was ${changeWord(ctx.op)}: the answer was lost or could not be verified. This is not reported as a success; check before trying again.`;
  }
}
