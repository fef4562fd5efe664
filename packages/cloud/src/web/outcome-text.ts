/**
 * An operation's outcome in plain words for the person at the page (i18n/en.ts), with the rule
 * that failed stated with the policy's own values ("at least 12 characters", "after 14:05").
 */
import type { EffectivePolicy, OperationResult, PolicyReason } from '@writeback/protocol';
import { html, notice, type SafeHtml } from './html.js';
import { t } from '../i18n/index.js';
import { whenText } from '../i18n/time.js';
import { waitText } from './time-text.js';

export function reasonText(reason: PolicyReason, policy: EffectivePolicy | undefined): string {
  switch (reason) {
    case 'too_short':
      return policy ? t('reason.too_short', { minLength: policy.minLength }) : t('reason.too_short.plain');
    case 'too_long':
      return policy?.maxLength ? t('reason.too_long', { maxLength: policy.maxLength }) : t('reason.too_long.plain');
    case 'complexity':
      return t('reason.complexity');
    case 'history':
      return policy && policy.historyLength > 0
        ? t('reason.history', { historyLength: policy.historyLength })
        : t('reason.history.plain');
    case 'min_age': {
      const at = policy?.nextChangeAllowedAt ? Date.parse(policy.nextChangeAllowedAt) : Number.NaN;
      return Number.isFinite(at) ? t('reason.min_age', { at: whenText(at) }) : t('reason.min_age.plain');
    }
    case 'contains_user_name':
      return t('reason.contains_user_name');
    case 'banned':
      return t('reason.banned');
    case 'filter_rejected':
      return t('reason.filter_rejected');
    case 'unspecified':
      return t('reason.unspecified');
  }
}

export type WriteKind = 'change' | 'reset' | 'unlock';

/**
 * The notice shown BEFORE the person tried anything (the forgot page's start, above My Account's
 * form) when no agent can take the request: the same code, but no "nothing was changed".
 */
export function unavailableNotice(): SafeHtml {
  return notice('error', html`<p>${t('outcome.agent_unavailable.before')}</p>`, 'agent_unavailable');
}

/** The notice for one result of a change, reset or unlock. */
export function outcomeNotice(result: OperationResult, kind: WriteKind): SafeHtml {
  const o = result.outcome;
  switch (o) {
    case 'succeeded': {
      const main = t(
        kind === 'change'
          ? 'outcome.succeeded.change'
          : kind === 'reset'
            ? 'outcome.succeeded.reset'
            : 'outcome.succeeded.unlock',
      );
      const extra = result.historyEnforced === false ? html`<p>${t('outcome.succeeded.historyNotEnforced')}</p>` : '';
      return notice('success', html`<p>${main}</p>${extra}`, o);
    }
    case 'policy_violation': {
      const reasons = [...new Set(result.reasons?.length ? result.reasons : (['unspecified'] as const))];
      return notice(
        'error',
        html`<p>${t('outcome.policy_violation')}</p><ul>${reasons.map((r) => html`<li data-reason="${r}">${reasonText(r, result.policy)}</li>`)}</ul>`,
        o,
      );
    }
    case 'account_locked': {
      // When the directory said when the lockout ends, say it (issue 12); else the policy's duration.
      const until = result.policy?.lockedUntil;
      const at = typeof until === 'string' ? Date.parse(until) : Number.NaN;
      const d = result.policy?.lockoutDurationSeconds;
      const text = Number.isFinite(at)
        ? t('outcome.account_locked.until', { at: whenText(at) })
        : until === null
          ? t('outcome.account_locked.admin')
          : d && d > 0
            ? t('outcome.account_locked.wait', { wait: waitText(d) })
            : t('outcome.account_locked');
      return notice('error', html`<p>${text}</p>`, o);
    }
    case 'timeout':
    case 'outcome_unknown':
      return notice('warning', html`<p>${t(`outcome.${o}`)}</p>`, o);
    default:
      return notice('error', html`<p>${t(`outcome.${o}`)}</p>`, o);
  }
}
