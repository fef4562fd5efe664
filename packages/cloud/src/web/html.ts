/**
 * HTML for the server-rendered pages: a tagged template that escapes every interpolation, `raw()`
 * for fragments that are already safe (other templates, trusted constants), and the page layout
 * (lang attribute, skip link, header, main landmark). There is no inline script or style anywhere:
 * the Content-Security-Policy (csp.ts) forbids both.
 */
import { t } from '../i18n/index.js';

/** A fragment known to be safe HTML. Only `html` and `raw` make one. */
export class SafeHtml {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  toString(): string {
    return this.#value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escape text for element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

/**
 * Characters that change how the text around them reads, or show nothing at all: controls (tab
 * and line ends excepted), the bidi marks, embeddings, overrides and isolates (U+061C, U+200E/F,
 * U+202A–E, U+2066–9), line and paragraph separators, zero-width space, word joiner and invisible
 * operators, the byte-order mark and the interlinear annotation marks. A directory name holding
 * U+202E (right-to-left override) would otherwise show the help desk `Invoice\u202Egnp.exe` as
 * "Invoiceexe.png" (issue 10). Zero-width (non-)joiners stay: scripts and emoji need them.
 */
const INVISIBLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's purpose
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200B\u200E\u200F\u2028-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\uFFF9-\uFFFB]/g;

/**
 * Every such character as a visible marker, `⟨U+202E⟩` (plain text: safe in element content and
 * in quoted attributes alike). Applied to each page as it is sent (page.ts `sendPage`), so no name
 * from the directory, on any page, can reach the browser with one.
 */
export function revealInvisible(s: string): string {
  return s.replace(INVISIBLE, (c) => `⟨U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** Trusted HTML, inserted as is. Never pass user input. */
export const raw = (s: string): SafeHtml => new SafeHtml(s);

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.toString();
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

/** Tagged template: every `${value}` is escaped unless it is a SafeHtml; arrays are joined. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

export interface NavLink {
  href: string;
  label: string;
  current?: boolean;
}

export interface Page {
  title: string;
  body: SafeHtml;
  /** The tenant's display name, shown in the header. */
  tenantName?: string;
  /** Links in the header (sign out is a form: pass `signOut`). */
  nav?: readonly NavLink[];
  /** A POST form for signing out (action URL + CSRF token). */
  signOut?: { action: string; csrf: string };
  /** Extra scripts (same-origin URLs only). */
  scripts?: readonly string[];
  lang?: string;
}

/**
 * The document skeleton every page shares, the end-user pages' (layout below) and the admin
 * pages' (admin/layout.ts): head, skip link, header, the main column under its heading, footer.
 */
export interface PageDocument {
  lang: string;
  /** The `<title>` text. */
  title: string;
  /** More of the head after the stylesheet every page has (scripts, a stylesheet). */
  head: HtmlValue;
  bodyClass?: string;
  /** The header's brand, then what follows it (navigation, sign-out). */
  brand: HtmlValue;
  header: HtmlValue;
  heading: string;
  body: SafeHtml;
  footer: string;
}

export function pageDocument(d: PageDocument): string {
  return html`<!doctype html>
<html lang="${d.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${d.title}</title>
<link rel="stylesheet" href="/assets/app.css">
${d.head}
</head>
<body${d.bodyClass ? html` class="${d.bodyClass}"` : ''}>
<a class="skip" href="#main">${t('layout.skip')}</a>
<header class="top"><div class="wrap"><span class="brand">${d.brand}</span>${d.header}</div></header>
<main id="main" tabindex="-1"><div class="wrap">
<h1>${d.heading}</h1>
${d.body}
</div></main>
<footer class="foot"><div class="wrap">${d.footer}</div></footer>
</body>
</html>
`.toString();
}

/** The whole document for one end-user page. */
export function layout(p: Page): string {
  const nav = p.nav?.length
    ? html`<nav aria-label="${t('layout.nav')}"><ul>${p.nav.map((l) => html`<li><a href="${l.href}"${l.current ? raw(' aria-current="page"') : ''}>${l.label}</a></li>`)}</ul></nav>`
    : '';
  const signOut = p.signOut
    ? html`<form method="post" action="${p.signOut.action}" class="signout"><input type="hidden" name="_csrf" value="${p.signOut.csrf}"><button type="submit" class="link">${t('layout.signOut')}</button></form>`
    : '';
  const brand = p.tenantName ?? t('layout.product');
  return pageDocument({
    lang: p.lang ?? 'en',
    title: `${p.title} · ${brand}`,
    head: (p.scripts ?? []).map((s) => html`<script src="${s}" defer></script>`),
    brand,
    header: html`${nav}${signOut}`,
    heading: p.title,
    body: p.body,
    footer: t('layout.footer'),
  });
}

/**
 * A notice box: `role=alert` for errors (read out at once), `status` for the rest. A notice with a
 * code carries it twice: `data-code` for scripts and tests, and a last line "Reference: <code>" for
 * the person to quote to the help desk (docs/self-service.md), followed by `refExtra` if given.
 */
export function notice(
  kind: 'error' | 'success' | 'info' | 'warning',
  text: HtmlValue,
  code?: string,
  refExtra?: HtmlValue,
): SafeHtml {
  const role = kind === 'error' ? 'alert' : 'status';
  const ref = code ? html`<p class="ref">${t('outcome.code', { code })}${refExtra ?? ''}</p>` : '';
  return html`<div class="notice ${kind}" role="${role}"${code ? html` data-code="${code}"` : ''}>${text}${ref}</div>`;
}

/** Hidden CSRF field for a form. */
export const csrfField = (token: string): SafeHtml => html`<input type="hidden" name="_csrf" value="${token}">`;
