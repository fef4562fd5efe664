/**
 * Tenant settings (tenants/settings.ts): self-service on/off, who may use it (groups), which
 * verification methods and how many are required, registration, unlock, the per-user attempt
 * limit, admins told of every reset, password-expiry reminders (days before; 0 = off), and the
 * sign-in mode. Admins change them; the help desk sees
 * them read-only (a POST from a help-desk session is refused with 403 `forbidden`). Invalid input
 * re-renders the form with an error summary that links to each field.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../services.js';
import {
  readSettings,
  SSPR_METHODS as METHODS,
  type SettingsProblem,
  type TenantSettings,
  updateSettings,
} from '../../usecases/settings.js';
import { csrfField, html, notice, raw, type SafeHtml } from '../html.js';
import { t } from '../../i18n/index.js';
import { parseForm, redirect, sendPage } from '../page.js';
import { adminRoutes, type AdminContext } from './guard.js';
import { adminPage } from './layout.js';

const OneOrMany = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));
const Checkbox = z
  .string()
  .optional()
  .transform((v) => v !== undefined);
/** Non-empty trimmed entries split at `separator` (group DNs contain commas: groups split at line ends only). */
const listOf = (separator: RegExp) =>
  z
    .string()
    .max(20_000)
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(separator)
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    );

const SettingsForm = z.object({
  ssprEnabled: Checkbox,
  groups: listOf(/[\r\n]+/),
  methods: OneOrMany,
  required: z.coerce.number().int().min(1).max(2),
  requireRegistration: Checkbox,
  unlockEnabled: Checkbox,
  attemptsPerHour: z.string().trim().max(6),
  notifyAdmins: listOf(/[\r\n,;]+/),
  /** Absent (a form from before the field existed): the setting stays as it is. */
  remindDays: z.string().trim().max(6).optional(),
  signInMode: z.enum(['cloud_hash', 'pass_through']),
});

type FieldError = { field: string; message: string };

/** The form's fields in page order (the error summary follows it). */
const FIELD_ORDER = [
  'ssprEnabled',
  'groups',
  'method-email',
  'required',
  'attemptsPerHour',
  'notifyAdmins',
  'remindDays',
];

/** One of the use case's problems as the form's field error. */
function fieldError(p: SettingsProblem, offered: number): FieldError {
  const [section, name] = p.path.split('.');
  if (section === 'expiry') return { field: 'remindDays', message: t('admin.settings.err.remindDays') };
  switch (section === 'sspr' ? name : undefined) {
    case 'methods':
      return {
        field: 'method-email',
        message: t(p.issue === 'no_method' ? 'admin.settings.err.noMethod' : 'admin.settings.err.methodUnknown'),
      };
    case 'required':
      return { field: 'required', message: t('admin.settings.err.required', { n: offered }) };
    case 'attemptsPerHour':
      return { field: 'attemptsPerHour', message: t('admin.settings.err.attempts') };
    case 'groups':
      return { field: 'groups', message: t('admin.settings.err.groups') };
    case 'notifyAdmins':
      return { field: 'notifyAdmins', message: t('admin.settings.err.notify') };
    default:
      return { field: 'ssprEnabled', message: t('error.invalid_request') };
  }
}

/** The use case's problems as the form's field errors, each message once, in page order. */
function fieldErrors(problems: readonly SettingsProblem[], offered: number): FieldError[] {
  const errors: FieldError[] = [];
  for (const e of problems.map((p) => fieldError(p, offered)))
    if (!errors.some((x) => x.field === e.field && x.message === e.message)) errors.push(e);
  return errors.sort((a, b) => FIELD_ORDER.indexOf(a.field) - FIELD_ORDER.indexOf(b.field));
}

interface Shown {
  ssprEnabled: boolean;
  groups: string[];
  methods: readonly string[];
  required: number;
  requireRegistration: boolean;
  unlockEnabled: boolean;
  attemptsPerHour: string;
  notifyAdmins: string[];
  remindDays: string;
  signInMode: 'cloud_hash' | 'pass_through';
}

const fromSettings = (s: TenantSettings): Shown => ({
  ssprEnabled: s.sspr.enabled,
  groups: s.sspr.groups,
  methods: s.sspr.methods,
  required: s.sspr.required,
  requireRegistration: s.sspr.requireRegistration,
  unlockEnabled: s.sspr.unlockEnabled,
  attemptsPerHour: String(s.sspr.attemptsPerHour),
  notifyAdmins: s.sspr.notifyAdmins,
  remindDays: String(s.expiry.remindDays),
  signInMode: s.signIn.mode,
});

function settingsForm(ctx: AdminContext, v: Shown, errors: readonly FieldError[]): SafeHtml {
  const editable = ctx.admin.role === 'admin';
  const err = (field: string) => errors.find((e) => e.field === field);
  const invalid = (field: string) => (err(field) ? raw(' aria-invalid="true"') : '');
  const errText = (field: string) => {
    const e = err(field);
    return e ? html`<span class="field-error" id="${field}-error">${e.message}</span>` : '';
  };
  const checked = (b: boolean) => (b ? raw(' checked') : '');
  const summary = errors.length
    ? notice(
        'error',
        html`<p>${t('admin.settings.err.summary')}</p><ul>${errors.map((e) => html`<li><a href="#${e.field}">${e.message}</a></li>`)}</ul>`,
        'invalid_request',
      )
    : '';
  return html`${summary}${editable ? '' : notice('info', t('admin.settings.readOnly'))}
<form method="post" action="${ctx.base}/settings" class="settings" novalidate>
${csrfField(ctx.session.csrfToken)}
<fieldset class="card"${editable ? '' : raw(' disabled')}>
<legend>${t('admin.settings.ssprTitle')}</legend>
<div class="choice"><input id="ssprEnabled" name="ssprEnabled" type="checkbox" value="1"${checked(v.ssprEnabled)}><label for="ssprEnabled">${t('admin.settings.ssprEnabled')}</label></div>
<div class="choice"><input id="unlockEnabled" name="unlockEnabled" type="checkbox" value="1"${checked(v.unlockEnabled)}><label for="unlockEnabled">${t('admin.settings.unlockEnabled')}</label></div>
<div class="field"><label for="groups">${t('admin.settings.groups')}</label><span class="hint" id="groups-hint">${t('admin.settings.groupsHint')}</span>
<textarea id="groups" name="groups" rows="3" aria-describedby="groups-hint"${invalid('groups')}>${v.groups.join('\n')}</textarea>${errText('groups')}</div>
<fieldset class="inner"><legend>${t('admin.settings.methods')}</legend>
${METHODS.map((m) => html`<div class="choice"><input id="method-${m}" name="methods" type="checkbox" value="${m}"${checked(v.methods.includes(m))}${invalid(m === 'email' ? 'method-email' : '')}><label for="method-${m}">${t(`admin.settings.method.${m}`)}</label></div>`)}
${errText('method-email')}</fieldset>
<div class="field"><label for="required">${t('admin.settings.required')}</label><select id="required" name="required"${invalid('required')}>${[1, 2].map((n) => html`<option value="${n}"${v.required === n ? raw(' selected') : ''}>${t(n === 1 ? 'admin.settings.required.1' : 'admin.settings.required.2')}</option>`)}</select>${errText('required')}</div>
<div class="choice"><input id="requireRegistration" name="requireRegistration" type="checkbox" value="1"${checked(v.requireRegistration)}><label for="requireRegistration">${t('admin.settings.requireRegistration')}</label></div>
<div class="field"><label for="attemptsPerHour">${t('admin.settings.attempts')}</label><span class="hint" id="attempts-hint">${t('admin.settings.attemptsHint')}</span>
<input id="attemptsPerHour" name="attemptsPerHour" type="text" inputmode="numeric" value="${v.attemptsPerHour}" aria-describedby="attempts-hint"${invalid('attemptsPerHour')}>${errText('attemptsPerHour')}</div>
<div class="field"><label for="notifyAdmins">${t('admin.settings.notify')}</label><span class="hint" id="notify-hint">${t('admin.settings.notifyHint')}</span>
<textarea id="notifyAdmins" name="notifyAdmins" rows="2" aria-describedby="notify-hint"${invalid('notifyAdmins')}>${v.notifyAdmins.join('\n')}</textarea>${errText('notifyAdmins')}</div>
</fieldset>
<fieldset class="card"${editable ? '' : raw(' disabled')}>
<legend>${t('admin.settings.expiryTitle')}</legend>
<div class="field"><label for="remindDays">${t('admin.settings.remindDays')}</label><span class="hint" id="remind-hint">${t('admin.settings.remindDaysHint')}</span>
<input id="remindDays" name="remindDays" type="text" inputmode="numeric" value="${v.remindDays}" aria-describedby="remind-hint"${invalid('remindDays')}>${errText('remindDays')}</div>
</fieldset>
<fieldset class="card"${editable ? '' : raw(' disabled')}>
<legend>${t('admin.settings.signInTitle')}</legend>
${(['cloud_hash', 'pass_through'] as const).map(
  (m) =>
    html`<div class="choice"><input id="signin-${m}" name="signInMode" type="radio" value="${m}"${checked(v.signInMode === m)}><label for="signin-${m}">${t(`admin.settings.signIn.${m}`)}</label></div>`,
)}
</fieldset>
${editable ? html`<div class="actions"><button type="submit" id="settings-save">${t('admin.settings.save')}</button></div>` : ''}
</form>`;
}

function page(ctx: AdminContext, body: SafeHtml): string {
  return adminPage(ctx, { title: t('admin.settings.title'), body, section: 'settings' });
}

export function registerAdminSettings(web: FastifyInstance, services: Services): void {
  const pages = adminRoutes(web, services);
  const adminOnly = adminRoutes(web, services, { role: 'admin' });
  pages.get('/t/:tenant/admin/settings', async (ctx, req, reply) => {
    const saved = z.object({ saved: z.string().optional() }).safeParse(req.query);
    const current = await readSettings(services, ctx.tenant.id);
    const top = saved.success && saved.data.saved ? notice('success', t('admin.settings.saved')) : '';
    return sendPage(reply, page(ctx, html`${top}${settingsForm(ctx, fromSettings(current), [])}`));
  });

  adminOnly.post('/t/:tenant/admin/settings', async (ctx, req, reply) => {
    const form = parseForm(SettingsForm, req.body);
    const r = await updateSettings(services, {
      tenantId: ctx.tenant.id,
      actor: { kind: 'admin', id: ctx.admin.id },
      clientIp: req.ip,
      patch: {
        signIn: { mode: form.signInMode },
        sspr: {
          enabled: form.ssprEnabled,
          groups: form.groups,
          methods: form.methods,
          required: form.required,
          requireRegistration: form.requireRegistration,
          unlockEnabled: form.unlockEnabled,
          // Digits become a number; anything else goes as typed, for the use case to refuse.
          attemptsPerHour: /^\d+$/.test(form.attemptsPerHour) ? Number(form.attemptsPerHour) : form.attemptsPerHour,
          notifyAdmins: form.notifyAdmins,
        },
        ...(form.remindDays === undefined
          ? {}
          : { expiry: { remindDays: /^\d+$/.test(form.remindDays) ? Number(form.remindDays) : form.remindDays } }),
      },
    });
    if (!r.ok) {
      const offered = METHODS.filter((m) => form.methods.includes(m)).length;
      const remindDays = form.remindDays ?? String((await readSettings(services, ctx.tenant.id)).expiry.remindDays);
      return sendPage(
        reply,
        page(ctx, settingsForm(ctx, { ...form, remindDays }, fieldErrors(r.problems, offered))),
        400,
      );
    }
    return redirect(reply, `${ctx.base}/settings?saved=1`);
  });
}
