/** Small formatting helpers of the admin pages: waits, UTC times, relative ages. */
import { t } from '../../i18n/index.js';

/** "3 minutes", "1 hour" (rounded up to whole units) for rate-limit waits. */
export function waitText(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return t(s === 1 ? 'duration.second' : 'duration.seconds', { n: s });
  const m = Math.ceil(s / 60);
  if (m < 120) return t(m === 1 ? 'duration.minute' : 'duration.minutes', { n: m });
  const h = Math.round(m / 60);
  if (h < 48) return t('duration.hours', { n: h });
  return t('duration.days', { n: Math.round(h / 24) });
}

/** `2030-01-15 12:00:05 UTC` */
export function utc(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return t('admin.never');
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return t('admin.ago.seconds', { n: s });
  if (s < 90 * 60) return t('admin.ago.minutes', { n: Math.round(s / 60) });
  if (s < 36 * 3600) return t('admin.ago.hours', { n: Math.round(s / 3600) });
  return t('admin.ago.days', { n: Math.round(s / 86_400) });
}

/** `YYYY-MM-DD` of a UTC day. */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
