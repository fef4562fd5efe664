/** Small formatting helpers of the admin pages: UTC times, relative ages (waits: ../time-text.ts). */
import { t } from '../../i18n/index.js';

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
