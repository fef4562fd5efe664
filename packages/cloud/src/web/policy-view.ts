/**
 * The effective password rules for one user (read by usecases/policy.ts: the directory's own
 * policy), shown next to the new-password field as a checklist that assets/policy-check.js ticks
 * while the person types. The directory still decides; the use case's common-password check
 * (policy/banned.ts) runs before anything is sent to the agent.
 */
import type { EffectivePolicy } from '@writeback/protocol';
import { html, type SafeHtml } from './html.js';
import { t, type MessageKey } from '../i18n/index.js';
import { nameParts } from '../usecases/person.js';
import { whenText } from '../i18n/time.js';
import { waitText } from './time-text.js';

function item(rule: string | null, key: MessageKey, vars?: Record<string, string | number>): SafeHtml {
  return html`<li${rule ? html` data-rule="${rule}" data-met="false"` : ''}><span class="mark" aria-hidden="true"></span><span class="text">${t(key, vars)}</span>${rule ? html`<span class="state visually-hidden"> — ${t('policy.notMet')}</span>` : ''}</li>`;
}

/**
 * The rules panel. `forReset`: a reset is not bound by the minimum age, so it is not shown —
 * unless `resetHonoursMinAge`: the directory said its resets are (AD with policy hints, issue 12).
 * The list carries the numbers the script needs; names are the ones the password may not contain.
 */
export function policyPanel(
  policy: EffectivePolicy | null,
  user: { login: string; displayName: string | null },
  o: { now: number; forReset: boolean; resetHonoursMinAge?: boolean },
): SafeHtml {
  if (!policy) {
    return html`<aside class="policy" aria-labelledby="policy-h"><h2 id="policy-h">${t('policy.heading')}</h2>
<ul class="checklist" data-policy-checklist data-met-text="${t('policy.met')}" data-unmet-text="${t('policy.notMet')}" aria-live="polite">${item('match', 'policy.match')}</ul>
<p class="note">${t('policy.unavailable')}</p></aside>`;
  }
  const names = policy.complexity ? nameParts(user) : [];
  const next = policy.nextChangeAllowedAt ? Date.parse(policy.nextChangeAllowedAt) : Number.NaN;
  const ageApplies = !o.forReset || o.resetHonoursMinAge === true;
  const minAge =
    ageApplies && Number.isFinite(next) && next > o.now
      ? html`<p class="note" data-min-age="${new Date(next).toISOString()}">${t('policy.minAge', { at: whenText(next) })}</p>`
      : '';
  const minAgeOk =
    ageApplies && !minAge && policy.minAgeSeconds > 0
      ? item(null, 'policy.minAgeOk', { wait: waitText(policy.minAgeSeconds) })
      : '';
  return html`<aside class="policy" aria-labelledby="policy-h"><h2 id="policy-h">${t('policy.heading')}</h2>
<ul class="checklist" data-policy-checklist data-min-length="${policy.minLength}" data-max-length="${policy.maxLength ?? 0}" data-names="${names.join('\n')}" data-met-text="${t('policy.met')}" data-unmet-text="${t('policy.notMet')}" aria-live="polite">
${policy.minLength > 0 ? item('minLength', 'policy.minLength', { minLength: policy.minLength }) : ''}
${policy.maxLength && policy.maxLength < 128 ? item('maxLength', 'policy.maxLength', { maxLength: policy.maxLength }) : ''}
${policy.complexity ? item('complexity', 'policy.complexity') : ''}
${policy.complexity ? item('noName', 'policy.noName') : ''}
${policy.historyLength > 0 ? item(null, 'policy.history', { historyLength: policy.historyLength }) : ''}
${item(null, 'policy.notCommon')}
${minAgeOk}
${item('match', 'policy.match')}
</ul>${minAge}</aside>`;
}

/** The new-password and confirm fields the checklist watches. */
export function newPasswordFields(): SafeHtml {
  return html`<div class="field"><label for="newPassword">${t('account.new')}</label>
<input type="password" id="newPassword" name="newPassword" autocomplete="new-password" required maxlength="256" data-policy-input aria-describedby="policy-h"></div>
<div class="field"><label for="confirmPassword">${t('account.confirm')}</label>
<input type="password" id="confirmPassword" name="confirmPassword" autocomplete="new-password" required maxlength="256" data-policy-confirm></div>`;
}
