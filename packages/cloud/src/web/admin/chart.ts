/**
 * Server-rendered inline SVG charts (no script; the CSP allows none inline and none is needed):
 * password writes per UTC day stacked by result, and the mix of outcomes. Colours come from
 * presentation attributes, each bar has a <title> (read by screen readers and shown on hover),
 * and a text table follows each chart for anyone who cannot see it.
 */
import type { OutcomeCode } from '@writeback/protocol';
import { html, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import type { ChartPoint } from './audit-query.js';
import { dayOf } from './format.js';

export type ResultClass = 'succeeded' | 'failed' | 'uncertain';
const CLASS_COLOUR: Record<ResultClass, string> = { succeeded: '#1d6b34', failed: '#a4161a', uncertain: '#b36b00' };

export const classOf = (o: OutcomeCode | null): ResultClass =>
  o === 'succeeded' ? 'succeeded' : o === null || o === 'timeout' || o === 'outcome_unknown' ? 'uncertain' : 'failed';

const WRITES = new Set(['password.reset', 'password.change']);

export interface DayBucket {
  day: string;
  counts: Record<ResultClass, number>;
}

/** Password writes (reset + change) per UTC day over [from, to), every day present. */
export function perDay(points: readonly ChartPoint[], from: number, to: number): DayBucket[] {
  const days: DayBucket[] = [];
  const index = new Map<string, DayBucket>();
  const start = Date.parse(`${dayOf(from)}T00:00:00Z`);
  for (let d = start; d < to && days.length < 400; d += 86_400_000) {
    const b: DayBucket = { day: dayOf(d), counts: { succeeded: 0, failed: 0, uncertain: 0 } };
    days.push(b);
    index.set(b.day, b);
  }
  for (const p of points) {
    if (!WRITES.has(p.action)) continue;
    const b = index.get(dayOf(p.startedAt));
    if (b) b.counts[classOf(p.outcome)] += 1;
  }
  return days;
}

/** Outcome → count, largest first. */
export function outcomeMix(points: readonly ChartPoint[]): [OutcomeCode | 'pending', number][] {
  const m = new Map<OutcomeCode | 'pending', number>();
  for (const p of points) m.set(p.outcome ?? 'pending', (m.get(p.outcome ?? 'pending') ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

const CLASSES: readonly ResultClass[] = ['succeeded', 'failed', 'uncertain'];

export function perDayChart(days: readonly DayBucket[]): SafeHtml {
  const W = 420;
  const H = 180;
  const padL = 30;
  const padB = 28;
  const plotH = H - padB - 10;
  const max = Math.max(1, ...days.map((d) => d.counts.succeeded + d.counts.failed + d.counts.uncertain));
  const slot = (W - padL - 8) / Math.max(1, days.length);
  const bw = Math.max(2, Math.min(28, slot * 0.7));
  const y = (v: number) => 10 + plotH - (v / max) * plotH;
  const labelEvery = Math.max(1, Math.ceil(days.length / 6));
  const bars = days.map((d, i) => {
    let acc = 0;
    const x = padL + i * slot + (slot - bw) / 2;
    const parts = CLASSES.map((c) => {
      const n = d.counts[c];
      if (n === 0) return '';
      const top = y(acc + n);
      const hgt = y(acc) - top;
      acc += n;
      return html`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(0.5, hgt).toFixed(1)}" fill="${CLASS_COLOUR[c]}"><title>${d.day}: ${n} ${t(`admin.chart.${c}`)}</title></rect>`;
    });
    const label =
      (days.length - 1 - i) % labelEvery === 0
        ? html`<text x="${(x + bw / 2).toFixed(1)}" y="${H - 8}" text-anchor="middle" font-size="11" fill="#4a5360">${d.day.slice(5)}</text>`
        : '';
    return html`${parts}${label}`;
  });
  const ticks = [0, Math.round(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
  const grid = ticks.map(
    (v) =>
      html`<line x1="${padL}" x2="${W - 4}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#c9ced6" stroke-width="1"/><text x="${padL - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#4a5360">${v}</text>`,
  );
  const legend = html`<ul class="legend">${CLASSES.map((c) => html`<li><span class="swatch ${c}" aria-hidden="true"></span>${t(`admin.chart.${c}`)}</li>`)}</ul>`;
  return html`<figure class="chart"><svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="perday-title" preserveAspectRatio="xMidYMid meet"><title id="perday-title">${t('admin.chart.perDayTitle')}</title>${grid}${bars}</svg>
<figcaption>${t('admin.chart.perDayTitle')}</figcaption>${legend}</figure>`;
}

export function mixChart(mix: readonly [OutcomeCode | 'pending', number][]): SafeHtml {
  const total = mix.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return html`<p class="empty">${t('admin.chart.none')}</p>`;
  const W = 420;
  const rowH = 24;
  const labelW = 168;
  const H = mix.length * rowH + 4;
  const max = Math.max(...mix.map(([, n]) => n));
  const rows = mix.map(([o, n], i) => {
    const w = ((W - labelW - 70) * n) / max;
    const colour = CLASS_COLOUR[o === 'pending' ? 'uncertain' : classOf(o)];
    const yy = i * rowH + 2;
    return html`<text x="${labelW - 8}" y="${yy + 15}" text-anchor="end" font-size="12" fill="#1b1f24">${o}</text><rect x="${labelW}" y="${yy + 3}" width="${Math.max(1, w).toFixed(1)}" height="${rowH - 8}" fill="${colour}"><title>${o}: ${n}</title></rect><text x="${(labelW + w + 6).toFixed(1)}" y="${yy + 15}" font-size="12" fill="#1b1f24">${n} (${Math.round((n * 100) / total)}%)</text>`;
  });
  return html`<figure class="chart"><svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="mix-title" preserveAspectRatio="xMinYMin meet"><title id="mix-title">${t('admin.chart.mixTitle')}</title>${rows}</svg>
<figcaption>${t('admin.chart.mixTitle')}</figcaption></figure>`;
}
