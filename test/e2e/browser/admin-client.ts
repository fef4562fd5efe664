/**
 * A cookie-keeping HTTP client for the admin pages (no browser): follows nothing by itself,
 * reads the CSRF token from the last page, and signs an admin in through both steps (password,
 * then a TOTP code computed from the enrolment key shown on the page); and the cloud the admin
 * pages' tests start, with tenant acme and its admins.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCloud, type Cloud } from '@writeback/cloud';
import { totpCode } from '@writeback/cloud/testing';
import { CookieJar, newMasterKey } from '@writeback/testkit';

export interface PageResponse {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

export class AdminClient {
  readonly cookies = new CookieJar();
  lastCsrf: string | null = null;
  /** The enrolment key seen at the admin's first sign-in (to compute later codes). */
  secret: string | null = null;

  constructor(readonly baseUrl: string) {}

  async request(method: 'GET' | 'POST', path: string, form?: Record<string, string | string[]>): Promise<PageResponse> {
    const headers: Record<string, string> = { cookie: this.cookies.header() };
    let body: string | undefined;
    if (form) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(form)) for (const one of Array.isArray(v) ? v : [v]) p.append(k, one);
      body = p.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      redirect: 'manual',
      ...(body !== undefined ? { body } : {}),
    });
    this.cookies.keep(res);
    const text = await res.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m?.[1]) this.lastCsrf = m[1];
    return { status: res.status, headers: res.headers, text, location: res.headers.get('location') };
  }

  get(path: string): Promise<PageResponse> {
    return this.request('GET', path);
  }

  /** POST a form with the CSRF token of the last page (unless `_csrf` is given). */
  post(path: string, form: Record<string, string | string[]> = {}): Promise<PageResponse> {
    return this.request('POST', path, { _csrf: this.lastCsrf ?? '', ...form });
  }

  /** Both steps; enrols on first use. Returns the final response (303 to users). */
  async signIn(tenant: string, login: string, password: string, now: () => number = Date.now): Promise<PageResponse> {
    await this.get(`/t/${tenant}/admin/signin`);
    const r1 = await this.post(`/t/${tenant}/admin/signin`, { login, password });
    if (r1.status !== 303) return r1;
    const page = await this.get(`/t/${tenant}/admin/signin/totp`);
    const m = /data-secret="([A-Z2-7]+)"/.exec(page.text);
    if (m?.[1]) this.secret = m[1];
    if (!this.secret) throw new Error('no TOTP key known for this admin');
    // The next step's code: never the one accepted last time (replay), still inside the window.
    return this.post(`/t/${tenant}/admin/signin/totp`, { code: totpCode(this.secret, now() + (m?.[1] ? 0 : 30_000)) });
  }
}

/** The `data-code` of the first notice on a page, or null. */
export const dataCode = (html: string): string | null => /data-code="([a-z_]+)"/.exec(html)?.[1] ?? null;

/** Parse CSV (RFC 4180) into rows of cells. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

/** The first admin of the admin pages' tests, and a help desk member. */
export const ROOT_ADMIN = { login: 'root', password: 'Root-Admin-Pass-2030!' } as const;
export const HELPDESK_ADMIN = { login: 'helper', password: 'Help-Desk-Pass-2030!' } as const;

export interface AdminCloud {
  cloud: Cloud;
  tenantId: string;
  /** The admins' ids by login. */
  ids: Map<string, string>;
  /** Stop the cloud and remove its store. */
  close(): Promise<void>;
}

/**
 * A cloud on a SQLite file of its own (a fresh master key, otherwise the defaults) with tenant
 * acme (Acme) and these admins, bootstrapped in this order.
 */
export async function startAdminCloud(
  admins: ReadonlyArray<readonly [{ login: string; password: string }, 'admin' | 'helpdesk']>,
): Promise<AdminCloud> {
  const dir = await mkdtemp(join(tmpdir(), 'wb-admin-pages-'));
  const cloud = await createCloud(
    { port: 0, databaseUrl: `sqlite:${join(dir, 'wb.db')}`, masterKey: newMasterKey() },
    { printOperatorKey: () => {} },
  );
  const ids = new Map<string, string>();
  let tenantId = '';
  for (const [who, role] of admins) {
    const boot = await cloud.bootstrap({ tenant: { slug: 'acme', name: 'Acme' }, admin: { ...who, role } });
    tenantId = boot.tenant?.id ?? tenantId;
    ids.set(who.login, boot.admin?.id ?? '');
  }
  return {
    cloud,
    tenantId,
    ids,
    close: async () => {
      await cloud.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
