/**
 * The audit page: filters (outcome, action, user, UTC date range), paging, CSV export of the
 * filtered records (csv.ts: RFC 4180 quoting, formula cells neutralised), and two charts drawn on
 * the server (chart.ts): password writes per day by result, and the outcome mix. Read-only for
 * both roles. Records never hold a password, so neither does the export.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { OUTCOME_CODES, OutcomeCodeSchema } from '@writeback/protocol';
import type { Services } from '../../services.js';
import { html, raw, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import { parseForm, sendPage } from '../page.js';
import {
  adminLogins,
  auditActions,
  chartPoints,
  queryAudit,
  type AuditFilter,
  type AuditRecord,
} from './audit-query.js';
import { classOf, mixChart, outcomeMix, perDay, perDayChart } from './chart.js';
import { csvLine } from './csv.js';
import { dayOf, utc } from './format.js';
import { adminRoutes, type AdminContext } from './guard.js';
import { adminPage } from './layout.js';

const PAGE_SIZE = 50;
const CSV_MAX_ROWS = 10_000;
const CHART_DEFAULT_DAYS = 14;
const DAY_MS = 86_400_000;

const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .refine((s) => Number.isFinite(Date.parse(`${s}T00:00:00Z`)))
  .transform((s) => Date.parse(`${s}T00:00:00Z`));
const Empty = z.literal('').transform(() => undefined);

const AuditQuery = z.object({
  outcome: z.union([OutcomeCodeSchema, z.literal('pending'), Empty]).optional(),
  action: z.union([z.string().regex(/^[a-z][a-z0-9._-]{0,63}$/), Empty]).optional(),
  user: z.string().trim().max(256).optional(),
  from: z.union([Day, Empty]).optional(),
  /** Inclusive day. */
  to: z.union([Day, Empty]).optional(),
  page: z.coerce.number().int().min(1).max(100_000).optional(),
});
type AuditQuery = z.infer<typeof AuditQuery>;

function filterOf(q: AuditQuery): AuditFilter {
  return {
    ...(q.outcome ? { outcome: q.outcome } : {}),
    ...(q.action ? { action: q.action } : {}),
    ...(q.user ? { user: q.user } : {}),
    ...(q.from !== undefined ? { from: q.from } : {}),
    ...(q.to !== undefined ? { to: q.to + DAY_MS } : {}),
  };
}

function queryString(q: AuditQuery, page?: number): string {
  const p = new URLSearchParams();
  if (q.outcome) p.set('outcome', q.outcome);
  if (q.action) p.set('action', q.action);
  if (q.user) p.set('user', q.user);
  if (q.from !== undefined) p.set('from', dayOf(q.from));
  if (q.to !== undefined) p.set('to', dayOf(q.to));
  if (page !== undefined && page > 1) p.set('page', String(page));
  const s = p.toString();
  return s ? `?${s}` : '';
}

function actorCell(r: AuditRecord, admins: ReadonlyMap<string, string>): SafeHtml {
  const name = r.actor.kind === 'admin' ? (admins.get(r.actor.id) ?? r.actor.id) : r.actor.id;
  return html`${name}<span class="sub">${t(`admin.audit.actor.${r.actor.kind === 'admin' || r.actor.kind === 'user' || r.actor.kind === 'api_key' ? r.actor.kind : 'system'}`)}</span>`;
}

/** The records table (also used on a user's page). */
export function auditTable(
  rows: readonly AuditRecord[],
  ctx: AdminContext,
  admins: ReadonlyMap<string, string>,
  o: { showTarget: boolean } = { showTarget: true },
): SafeHtml {
  return html`<div class="table-wrap"><table class="data audit">
<caption class="visually-hidden">${t('admin.audit.caption')}</caption>
<thead><tr><th scope="col">${t('admin.audit.col.time')}</th><th scope="col">${t('admin.audit.col.action')}</th>${o.showTarget ? html`<th scope="col">${t('admin.audit.col.user')}</th>` : ''}<th scope="col">${t('admin.audit.col.outcome')}</th><th scope="col">${t('admin.audit.col.actor')}</th><th scope="col">${t('admin.audit.col.latency')}</th></tr></thead>
<tbody>${rows.map(
    (
      r,
    ) => html`<tr data-request-id="${r.requestId}"><td data-label="${t('admin.audit.col.time')}"><time datetime="${new Date(r.startedAt).toISOString()}">${utc(r.startedAt)}</time></td>
<td data-label="${t('admin.audit.col.action')}">${r.action}${r.action.startsWith('admin.') && r.detail ? html`<span class="sub">${r.detail}</span>` : ''}</td>
${o.showTarget ? html`<td data-label="${t('admin.audit.col.user')}">${r.targetUser ? html`<a href="${ctx.base}/audit?user=${encodeURIComponent(r.targetUser)}">${r.targetUser}</a>` : '—'}</td>` : ''}
<td data-label="${t('admin.audit.col.outcome')}"><span class="badge ${r.state === 'pending' ? 'warn' : classOf(r.outcome) === 'succeeded' ? 'on' : classOf(r.outcome) === 'failed' ? 'bad' : 'warn'}" data-outcome="${r.outcome ?? 'pending'}">${r.outcome ?? t('admin.audit.pending')}</span>${r.reasons?.length ? html`<span class="sub">${r.reasons.join(', ')}</span>` : ''}</td>
<td data-label="${t('admin.audit.col.actor')}">${actorCell(r, admins)}</td>
<td data-label="${t('admin.audit.col.latency')}">${r.latencyMs === null ? '—' : `${r.latencyMs} ms`}</td></tr>`,
  )}</tbody></table></div>`;
}

export function registerAdminAudit(web: FastifyInstance, services: Services): void {
  const pages = adminRoutes(web, services);
  pages.get('/t/:tenant/admin/audit', async (ctx, req, reply) => {
    const q = parseForm(AuditQuery, req.query);
    const page = q.page ?? 1;
    const filter = filterOf(q);
    const now = services.now();
    // The chart covers the chosen dates, or the last two weeks.
    const chartTo = filter.to ?? Date.parse(`${dayOf(now)}T00:00:00Z`) + DAY_MS;
    const chartFrom = filter.from ?? chartTo - CHART_DEFAULT_DAYS * DAY_MS;
    const [list, actions, chart, admins] = await Promise.all([
      queryAudit(services.db, ctx.tenant.id, filter, { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }),
      auditActions(services.db, ctx.tenant.id),
      chartPoints(services.db, ctx.tenant.id, { ...filter, from: chartFrom, to: chartTo }),
      adminLogins(services.db, ctx.tenant.id),
    ]);
    const sel = (v: string | undefined, cur: string | undefined) => (v === cur ? raw(' selected') : '');
    const form = html`<form method="get" action="${ctx.base}/audit" class="filters card" aria-label="${t('admin.audit.filters')}">
<div class="field"><label for="f-outcome">${t('admin.audit.outcome')}</label><select id="f-outcome" name="outcome"><option value="">${t('admin.audit.any')}</option>${OUTCOME_CODES.map((o) => html`<option value="${o}"${sel(o, q.outcome)}>${o}</option>`)}<option value="pending"${sel('pending', q.outcome)}>${t('admin.audit.pending')}</option></select></div>
<div class="field"><label for="f-action">${t('admin.audit.action')}</label><select id="f-action" name="action"><option value="">${t('admin.audit.any')}</option>${actions.map((a) => html`<option value="${a}"${sel(a, q.action)}>${a}</option>`)}</select></div>
<div class="field grow"><label for="f-user">${t('admin.audit.user')}</label><input id="f-user" name="user" type="text" value="${q.user ?? ''}" autocomplete="off" spellcheck="false"></div>
<div class="field"><label for="f-from">${t('admin.audit.from')}</label><input id="f-from" name="from" type="date" value="${q.from !== undefined ? dayOf(q.from) : ''}"></div>
<div class="field"><label for="f-to">${t('admin.audit.to')}</label><input id="f-to" name="to" type="date" value="${q.to !== undefined ? dayOf(q.to) : ''}"></div>
<div class="field"><button type="submit">${t('admin.audit.apply')}</button></div>
</form>`;
    const days = perDay(chart.points, chartFrom, chartTo);
    const charts = html`<section class="charts" aria-labelledby="charts-h"><h2 id="charts-h">${t('admin.audit.charts', { from: dayOf(chartFrom), to: dayOf(chartTo - DAY_MS) })}</h2>
${chart.capped ? html`<p class="hint">${t('admin.audit.chartCapped')}</p>` : ''}
<div class="chart-grid"><div class="card">${perDayChart(days)}</div><div class="card">${mixChart(outcomeMix(chart.points))}</div></div></section>`;
    const pages = Math.max(1, Math.ceil(list.total / PAGE_SIZE));
    const first = list.total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
    const last = Math.min(list.total, page * PAGE_SIZE);
    const pager = html`<nav class="pager" aria-label="${t('admin.pager.label')}"><span>${t('admin.pager.showing', { first, last, total: list.total })}</span>
${page > 1 ? html`<a href="${ctx.base}/audit${queryString(q, page - 1)}" rel="prev">${t('admin.pager.prev')}</a>` : ''}
${page < pages ? html`<a href="${ctx.base}/audit${queryString(q, page + 1)}" rel="next">${t('admin.pager.next')}</a>` : ''}</nav>`;
    const body = html`${form}
<p class="actions-line"><a class="button secondary" id="csv-export" href="${ctx.base}/audit.csv${queryString(q)}" download>${t('admin.audit.csv')}</a></p>
${charts}
<section aria-labelledby="records-h"><h2 id="records-h">${t('admin.audit.records')}</h2>
${list.rows.length ? auditTable(list.rows, ctx, admins) : html`<p class="empty">${t('admin.audit.none')}</p>`}
${pager}</section>`;
    return sendPage(reply, adminPage(ctx, { title: t('admin.audit.title'), body, section: 'audit' }));
  });

  pages.get('/t/:tenant/admin/audit.csv', async (ctx, req, reply) => {
    const q = parseForm(AuditQuery, req.query);
    const { rows } = await queryAudit(services.db, ctx.tenant.id, filterOf(q), { limit: CSV_MAX_ROWS, offset: 0 });
    let out = csvLine([
      'started_at',
      'finished_at',
      'request_id',
      'action',
      'target_user',
      'outcome',
      'reasons',
      'detail',
      'actor_kind',
      'actor_id',
      'agent_id',
      'latency_ms',
      'client_ip',
      'state',
    ]);
    for (const r of rows) {
      out += csvLine([
        new Date(r.startedAt).toISOString(),
        r.finishedAt === null ? '' : new Date(r.finishedAt).toISOString(),
        r.requestId,
        r.action,
        r.targetUser,
        r.outcome,
        (r.reasons ?? []).join(';'),
        r.detail,
        r.actor.kind,
        r.actor.id,
        r.agentId,
        r.latencyMs,
        r.clientIp,
        r.state,
      ]);
    }
    services.log.info('audit exported', { tenantId: ctx.tenant.id, adminId: ctx.admin.id, rows: rows.length });
    const name = `audit-${ctx.tenant.slug}-${dayOf(services.now())}.csv`;
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${name}"`)
      .send(out);
  });
}
