/** Durations in words for "wait ..." texts. */
import { t } from '../i18n/index.js';

/** Whole units, rounded up to at least one: "40 seconds", "15 minutes", "2 hours". */
export function waitText(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return t(s === 1 ? 'duration.second' : 'duration.seconds', { n: s });
  const m = Math.ceil(s / 60);
  if (m < 60) return t(m === 1 ? 'duration.minute' : 'duration.minutes', { n: m });
  const h = Math.ceil(m / 60);
  if (h < 48) return t(h === 1 ? 'duration.hour' : 'duration.hours', { n: h });
  return t('duration.days', { n: Math.round(h / 24) });
}
