/**
 * Agents: each registered agent's status (connected, connections, last heartbeat, round-trip
 * latency, requests in flight), version, directory kind; the tenant's sync state (from the sync
 * engine's `sync_state` row, when there is one); outstanding registration tokens. Admins issue a
 * token (shown once, on the answer to the POST, never stored in clear), revoke an unused token,
 * and revoke an agent (cut off by the relay gate at once). The help desk sees the page read-only.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../services.js';
import { getSyncState } from '../../store/sync-state.js';
import {
  issueRegistrationToken,
  listAgents,
  listOpenRegistrationTokens,
  type AgentView,
  revokeAgent,
  revokeRegistrationToken,
} from '../../usecases/agents.js';
import { csrfField, html, notice, raw, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import { parseForm, redirect, sendPage } from '../page.js';
import { ago, utc } from './format.js';
import { adminRoutes, type AdminContext } from './guard.js';
import { adminPage } from './layout.js';

const TTL_CHOICES = [3600, 86400, 604800] as const;

/**
 * The registration command shown with a new token. The token is not on it: argv is visible to every
 * user of the host in the process list, and a pasted command line stays in the shell's history. The
 * agent reads WRITEBACK_AGENT_TOKEN instead (docs/agent.md); `read -rs` takes it without echo.
 */
const REGISTER_COMMAND = (cloudUrl: string): SafeHtml =>
  html`read -rs WRITEBACK_AGENT_TOKEN &amp;&amp; export WRITEBACK_AGENT_TOKEN   # paste the token, then Enter
writeback-agent register --cloud ${cloudUrl} --name &lt;name&gt; --state /var/lib/writeback/agent.json --directory @directory.json`;

const Done = z.object({ done: z.enum(['agent_revoked', 'token_revoked']).optional() });
const AgentParams = z.object({ tenant: z.string(), agentId: z.string().min(1).max(64) });
const TokenParams = z.object({ tenant: z.string(), tokenId: z.string().min(1).max(64) });
const IssueForm = z.object({
  ttlSeconds: z.coerce
    .number()
    .int()
    .refine((v) => (TTL_CHOICES as readonly number[]).includes(v)),
});

/** The admin acting, in their tenant, from where. */
const by = (ctx: AdminContext, clientIp: string) => ({
  tenantId: ctx.tenant.id,
  actor: { kind: 'admin' as const, id: ctx.admin.id },
  clientIp,
});

/** "directory unreachable since …" under a connected agent that said so (issue 12); nothing otherwise. */
function directoryDown(a: AgentView, now: number): SafeHtml | '' {
  const h = a.directoryHealth;
  if (!h || h.ok) return '';
  return html` <span class="badge bad" data-directory="unreachable" data-since="${new Date(h.since).toISOString()}">${t('admin.agents.directoryDown', { since: `${utc(h.since)} (${ago(h.since, now)})` })}</span><span class="sub">${h.detail ? `${h.detail}. ` : ''}${t('admin.agents.directoryDownHint')}</span>`;
}

async function agentsPage(services: Services, ctx: AdminContext, top: SafeHtml | ''): Promise<string> {
  const now = services.now();
  const isAdmin = ctx.admin.role === 'admin';
  const [{ agents: registered, presenceKnown }, sync, tokens] = await Promise.all([
    listAgents(services, ctx.tenant.id),
    getSyncState(services.db, ctx.tenant.id),
    listOpenRegistrationTokens(services, ctx.tenant.id),
  ]);
  const csrf = ctx.session.csrfToken;
  const rows = registered.map((a) => {
    const lastSeen = a.lastSeenAt;
    return html`<tr data-agent-id="${a.agentId}"><td data-label="${t('admin.agents.col.agent')}"><strong>${a.name}</strong><span class="sub mono">${a.agentId}</span></td>
<td data-label="${t('admin.agents.col.status')}">${a.connected ? html`<span class="badge on" data-status="connected">${t('admin.agents.connected', { n: a.connections })}</span>${directoryDown(a, now)}` : html`<span class="badge bad" data-status="disconnected">${t('admin.agents.disconnected')}</span>`}</td>
<td data-label="${t('admin.agents.col.version')}">${a.agentVersion}</td>
<td data-label="${t('admin.agents.col.directory')}">${a.directory}</td>
<td data-label="${t('admin.agents.col.heartbeat')}">${lastSeen ? html`<time datetime="${new Date(lastSeen).toISOString()}" title="${utc(lastSeen)}">${ago(lastSeen, now)}</time>` : t('admin.never')}</td>
<td data-label="${t('admin.agents.col.latency')}">${a.rttMs === null ? '—' : `${Math.round(a.rttMs)} ms`}${a.inFlight > 0 ? html`<span class="sub">${t('admin.agents.inFlight', { n: a.inFlight })}</span>` : ''}</td>
<td data-label="${t('admin.agents.col.registered')}">${utc(a.registeredAt)}</td>
${isAdmin ? html`<td><form method="post" action="${ctx.base}/agents/${encodeURIComponent(a.agentId)}/revoke">${csrfField(csrf)}<button type="submit" class="secondary danger" aria-label="${t('admin.agents.revokeAria', { name: a.name })}">${t('admin.agents.revoke')}</button></form></td>` : ''}</tr>`;
  });
  const agentsTable = registered.length
    ? html`<div class="table-wrap"><table class="data"><caption class="visually-hidden">${t('admin.agents.caption')}</caption>
<thead><tr><th scope="col">${t('admin.agents.col.agent')}</th><th scope="col">${t('admin.agents.col.status')}</th><th scope="col">${t('admin.agents.col.version')}</th><th scope="col">${t('admin.agents.col.directory')}</th><th scope="col">${t('admin.agents.col.heartbeat')}</th><th scope="col">${t('admin.agents.col.latency')}</th><th scope="col">${t('admin.agents.col.registered')}</th>${isAdmin ? html`<th scope="col"><span class="visually-hidden">${t('admin.agents.col.actions')}</span></th>` : ''}</tr></thead>
<tbody>${rows}</tbody></table></div>`
    : notice('warning', t('admin.agents.none'));
  const relayNote = !presenceKnown ? notice('warning', t('admin.agents.relayDown')) : '';
  const syncBlock = sync
    ? html`<dl class="attrs">
<dt>${t('admin.sync.phase')}</dt><dd>${sync.phase}</dd>
<dt>${t('admin.sync.lastSuccess')}</dt><dd>${sync.lastSuccessAt ? html`${utc(sync.lastSuccessAt)} (${ago(sync.lastSuccessAt, now)})` : t('admin.never')}</dd>
<dt>${t('admin.sync.lastRun')}</dt><dd>${utc(sync.lastRunAt)}</dd>
<dt>${t('admin.sync.lastFull')}</dt><dd>${utc(sync.lastFullAt)}</dd>
<dt>${t('admin.sync.total')}</dt><dd>${sync.total}</dd>
<dt>${t('admin.sync.lastError')}</dt><dd>${sync.lastError ?? t('admin.sync.noError')}</dd>
${sync.pendingDeletes.length > 0 ? html`<dt>${t('admin.sync.held')}</dt><dd>${t('admin.sync.heldText')}</dd>` : ''}
</dl>`
    : html`<p class="empty">${t('admin.sync.none')}</p>`;
  const tokenRows = tokens.map(
    (
      k,
    ) => html`<li><span><span class="mono">${k.id}</span> · ${t('admin.tokens.expires', { at: utc(k.expiresAt) })} · ${k.createdBy}</span>
${isAdmin ? html`<form method="post" action="${ctx.base}/agents/tokens/${encodeURIComponent(k.id)}/revoke">${csrfField(csrf)}<button type="submit" class="secondary">${t('admin.tokens.revoke')}</button></form>` : ''}</li>`,
  );
  const issueForm = isAdmin
    ? html`<form method="post" action="${ctx.base}/agents/tokens" class="inline-form">${csrfField(csrf)}
<div class="field"><label for="ttlSeconds">${t('admin.tokens.ttl')}</label><select id="ttlSeconds" name="ttlSeconds">${TTL_CHOICES.map((s) => html`<option value="${s}"${s === 3600 ? raw(' selected') : ''}>${t(`admin.tokens.ttl.${s}`)}</option>`)}</select></div>
<div class="field"><button type="submit" id="issue-token">${t('admin.tokens.issue')}</button></div></form>`
    : html`<p class="hint">${t('admin.readOnly')}</p>`;
  const body = html`${top}${relayNote}
<section aria-labelledby="agents-h"><h2 id="agents-h">${t('admin.agents.registered')}</h2>${agentsTable}</section>
<div class="layout-admin">
<section class="card" aria-labelledby="sync-h"><h2 id="sync-h">${t('admin.sync.title')}</h2>${syncBlock}</section>
<section class="card" aria-labelledby="tokens-h"><h2 id="tokens-h">${t('admin.tokens.title')}</h2>
<p>${t('admin.tokens.intro')}</p>
${tokens.length ? html`<ul class="methods tokens">${tokenRows}</ul>` : html`<p class="empty">${t('admin.tokens.none')}</p>`}
${issueForm}</section></div>`;
  return adminPage(ctx, { title: t('admin.agents.title'), body, section: 'agents' });
}

export function registerAdminAgents(web: FastifyInstance, services: Services): void {
  const pages = adminRoutes(web, services);
  const adminOnly = adminRoutes(web, services, { role: 'admin' });
  pages.get('/t/:tenant/admin/agents', async (ctx, req, reply) => {
    const d = Done.safeParse(req.query);
    const top =
      d.success && d.data.done
        ? notice('success', t(d.data.done === 'agent_revoked' ? 'admin.agents.revoked' : 'admin.tokens.revoked'))
        : '';
    return sendPage(reply, await agentsPage(services, ctx, top));
  });

  adminOnly.post('/t/:tenant/admin/agents/tokens', async (ctx, req, reply) => {
    const form = parseForm(IssueForm, req.body);
    const tok = await issueRegistrationToken(services, { ...by(ctx, req.ip), ttlSeconds: form.ttlSeconds });
    const cloudUrl =
      services.config.publicUrl ??
      services
        .relayUrl()
        .replace(/^ws/, 'http')
        .replace(/\/agent$/, '');
    const shown = html`<div class="card once" id="token-card"><h2>${t('admin.tokens.issuedTitle')}</h2>
<p>${t('admin.tokens.issuedIntro', { at: utc(tok.expiresAt) })}</p>
<p><output class="secret big" id="agent-token">${tok.token}</output></p>
<p class="label">${t('admin.tokens.command')}</p>
<pre class="cmd">${REGISTER_COMMAND(cloudUrl)}</pre></div>`;
    return sendPage(reply, await agentsPage(services, ctx, shown), 201);
  });

  /** Revoke a token or an agent (admins only), then back to the page, which says which. */
  function revokeAction<P>(
    url: string,
    params: z.ZodType<P>,
    done: NonNullable<z.infer<typeof Done>['done']>,
    revoke: (who: ReturnType<typeof by>, p: P) => Promise<unknown>,
  ): void {
    adminOnly.post(url, async (ctx, req, reply) => {
      await revoke(by(ctx, req.ip), parseForm(params, req.params));
      return redirect(reply, `${ctx.base}/agents?done=${done}`);
    });
  }
  revokeAction('/t/:tenant/admin/agents/tokens/:tokenId/revoke', TokenParams, 'token_revoked', (who, p) =>
    revokeRegistrationToken(services, { ...who, tokenId: p.tokenId }),
  );
  revokeAction('/t/:tenant/admin/agents/:agentId/revoke', AgentParams, 'agent_revoked', (who, p) =>
    revokeAgent(services, { ...who, agentId: p.agentId }),
  );
}
