/**
 * A browser-like HTTP client for the web pages in tests: keeps cookies, follows 303 redirects,
 * records every URL it visits, and posts forms with the CSRF token of the last page it read.
 */
import { CookieJar } from '@writeback/testkit';

export type Form = Record<string, string>;

export interface WebPage {
  status: number;
  url: string;
  text: string;
  headers: Headers;
  /** `data-code` values of the notices on the page. */
  codes: string[];
}

/** A browser-like client: keeps cookies, follows 303s, reads the CSRF field of the last page. */
export class WebClient {
  /** Every URL any client visited in this process (to check that no secret ever went into one). */
  static readonly everyUrl: string[] = [];
  cookies = new CookieJar();
  visited: string[] = [];
  last: WebPage | null = null;
  /** The client address sent as X-Forwarded-For (for a cloud that trusts its proxy), if any. */
  forwardedFor: string | null = null;
  constructor(readonly base: string) {}

  private async send(method: string, path: string, body?: string): Promise<WebPage> {
    let url = path;
    let m = method;
    let b = body;
    for (let hop = 0; hop < 5; hop++) {
      this.visited.push(url);
      WebClient.everyUrl.push(url);
      const headers: Record<string, string> = { cookie: this.cookies.header() };
      if (b !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      if (this.forwardedFor) headers['x-forwarded-for'] = this.forwardedFor;
      const res = await fetch(`${this.base}${url}`, {
        method: m,
        headers,
        redirect: 'manual',
        ...(b !== undefined ? { body: b } : {}),
      });
      this.cookies.keep(res);
      if (res.status === 303 || res.status === 302) {
        url = res.headers.get('location') ?? '/';
        m = 'GET';
        b = undefined;
        await res.arrayBuffer();
        continue;
      }
      const text = await res.text();
      const codes = [...text.matchAll(/data-code="([a-z_]+)"/g)].map((x) => x[1] ?? '');
      this.last = { status: res.status, url, text, headers: res.headers, codes };
      return this.last;
    }
    throw new Error('too many redirects');
  }

  get(path: string): Promise<WebPage> {
    return this.send('GET', path);
  }

  /** POST a form with the CSRF token of the last page (or `csrf` given explicitly, null for none). */
  post(path: string, form: Form, csrf?: string | null): Promise<WebPage> {
    const token = csrf === undefined ? this.csrf() : csrf;
    const body = new URLSearchParams({ ...form, ...(token !== null ? { _csrf: token } : {}) }).toString();
    return this.send('POST', path, body);
  }

  /** Sign in on the pages of tenant `t` (its path, e.g. `/t/acme`); the page it lands on. */
  async signIn(t: string, login: string, password: string): Promise<WebPage> {
    await this.get(`${t}/signin`);
    return this.post(`${t}/signin`, { login, password });
  }

  /** My Account's change form: the current password, and the new one typed twice. */
  changePassword(t: string, currentPassword: string, newPassword: string): Promise<WebPage> {
    return this.post(`${t}/account/password`, { currentPassword, newPassword, confirmPassword: newPassword });
  }

  csrf(): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(this.last?.text ?? '');
    if (!m?.[1]) throw new Error('no CSRF field on the last page');
    return m[1];
  }
}
