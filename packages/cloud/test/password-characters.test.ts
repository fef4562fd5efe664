/**
 * Issue 10 (Low): passwords with a NUL or an unpaired UTF-16 surrogate were accepted, and two
 * different unpaired surrogates compared equal (UTF-8 turns each into U+FFFD), so `Pass-\uD800`
 * set as a password also let `Pass-\uDBFF` sign in. Every door refuses them now with one code:
 * the API as 400 `invalid_request` with `issue: 'invalid_password_characters'` in its details, the
 * pages as a 400 page whose code is `invalid_password_characters`. Nothing is created or written.
 * (The agent refuses such a sealed secret too: protocol's test.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar } from '@writeback/testkit';
import { api, errorCode, field, startCloud, str, type ApiResponse, type Started } from './helpers.js';

const T = '/api/v1/tenants/acme';
const BAD = ['Lone-Surrogate-\uD800-2030', 'Trailing-Low-2030-\uDC00', 'Nul-In\0-The-Middle-2030'];
const GOOD = 'Cloud-Only-Pass-2030';
const dataCode = (html: string): string | null => /data-code="([a-z_]+)"/.exec(html)?.[1] ?? null;

function refusedForCharacters(r: ApiResponse, path: string): void {
  assert.equal(r.status, 400, path);
  assert.equal(errorCode(r), 'invalid_request', path);
  const details = field(r.json, 'error', 'details');
  assert.ok(Array.isArray(details), path);
  assert.ok(
    details.some((d: unknown) => field(d, 'issue') === 'invalid_password_characters' && field(d, 'path') === path),
    `${path}: ${JSON.stringify(details)}`,
  );
}

/** A cookie-keeping form client for the pages (no browser); posts with the last page's CSRF token. */
class Browser {
  readonly cookies = new CookieJar();
  csrf = '';
  constructor(readonly base: string) {}
  async request(method: 'GET' | 'POST', path: string, form?: Record<string, string>) {
    const headers: Record<string, string> = { cookie: this.cookies.header() };
    let body: string | undefined;
    if (form) {
      body = Object.entries({ _csrf: this.csrf, ...form })
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
        .join('&');
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(`${this.base}${path}`, { method, headers, redirect: 'manual', ...(body ? { body } : {}) });
    this.cookies.keep(res);
    const text = await res.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m?.[1]) this.csrf = m[1];
    return { status: res.status, text, location: res.headers.get('location') };
  }
}

describe('issue 10: passwords with a NUL or an unpaired surrogate', () => {
  let s: Started;
  let base: string;
  let apiKey: string;

  before(async () => {
    s = await startCloud();
    base = s.cloud.url;
    const boot = await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true });
    apiKey = boot.apiKey ?? '';
    const made = await api(base, 'POST', `${T}/users`, { token: apiKey, body: { login: 'carol', password: GOOD } });
    assert.equal(made.status, 201);
  });
  after(() => s.stop());

  test('two different unpaired surrogates would compare equal: such a password is never set', async () => {
    const made = await api(base, 'POST', `${T}/users`, {
      token: apiKey,
      body: { login: 'surrogate', password: 'Surrogate-Pass-\uD800' },
    });
    refusedForCharacters(made, 'body.password');
    const other = await api(base, 'POST', `${T}/sign-in`, {
      body: { login: 'surrogate', password: 'Surrogate-Pass-\uDBFF' },
    });
    refusedForCharacters(other, 'body.password');
    // A paired surrogate (an emoji) is a character like any other.
    const emoji = await api(base, 'POST', `${T}/users`, {
      token: apiKey,
      body: { login: 'emoji', password: 'Emoji-Pass-2030-\u{1F511}' },
    });
    assert.equal(emoji.status, 201);
  });

  test('every API door answers 400 invalid_request with issue invalid_password_characters', async () => {
    for (const bad of BAD) {
      refusedForCharacters(
        await api(base, 'POST', `${T}/users`, { token: apiKey, body: { login: 'never', password: bad } }),
        'body.password',
      );
      refusedForCharacters(
        await api(base, 'POST', `${T}/users/carol/password/reset`, { token: apiKey, body: { newPassword: bad } }),
        'body.newPassword',
      );
      refusedForCharacters(
        await api(base, 'POST', `${T}/password/change`, {
          body: { username: 'carol', currentPassword: GOOD, newPassword: bad },
        }),
        'body.newPassword',
      );
      refusedForCharacters(
        await api(base, 'POST', `${T}/password/change`, {
          body: { username: 'carol', currentPassword: bad, newPassword: 'Another-Pass-2030!' },
        }),
        'body.currentPassword',
      );
      refusedForCharacters(
        await api(base, 'POST', `${T}/sign-in`, { body: { login: 'carol', password: bad } }),
        'body.password',
      );
      refusedForCharacters(
        await api(base, 'POST', `${T}/admin/sessions`, { body: { login: 'root', password: bad } }),
        'body.password',
      );
    }
    assert.equal(field((await api(base, 'GET', `${T}/users?search=never`, { token: apiKey })).json, 'total'), 0);
    // The good password still signs in: nothing was changed.
    const ok = await api(base, 'POST', `${T}/sign-in`, { body: { login: 'carol', password: GOOD } });
    assert.equal(ok.status, 200, ok.text);
  });

  test('the pages answer a 400 page with the code invalid_password_characters', async () => {
    const b = new Browser(base);
    await b.request('GET', '/t/acme/signin');
    const signIn = await b.request('POST', '/t/acme/signin', { login: 'carol', password: 'Nul\0-2030-Pass' });
    assert.equal(signIn.status, 400);
    assert.equal(dataCode(signIn.text), 'invalid_password_characters');

    await b.request('GET', '/t/acme/signin');
    const good = await b.request('POST', '/t/acme/signin', { login: 'carol', password: GOOD });
    assert.equal(good.status, 303, good.text);
    // A page with a form of the session (My Account itself needs the directory's policy, and this
    // user has no directory account): its CSRF token is the session's.
    const anon = b.csrf;
    const form = await b.request('GET', '/t/acme/account/methods/email');
    if (form.location) await b.request('GET', form.location);
    assert.notEqual(b.csrf, anon, 'the session token');
    // A form cannot carry an unpaired surrogate (browsers send U+FFFD, a hand-made %ED%A0%80 is no
    // UTF-8): a NUL is what reaches the pages.
    const bad = 'Nul-In\0-The-Middle-2030';
    const change = await b.request('POST', '/t/acme/account/password', {
      currentPassword: GOOD,
      newPassword: bad,
      confirmPassword: bad,
    });
    assert.equal(change.status, 400);
    assert.equal(dataCode(change.text), 'invalid_password_characters');

    const adm = new Browser(base);
    await adm.request('GET', '/t/acme/admin/signin');
    const admin = await adm.request('POST', '/t/acme/admin/signin', { login: 'root', password: 'Root\0-Pass-2030' });
    assert.equal(admin.status, 400);
    assert.equal(dataCode(admin.text), 'invalid_password_characters');
    assert.equal(
      str((await api(base, 'POST', `${T}/sign-in`, { body: { login: 'carol', password: GOOD } })).json, 'outcome'),
      'succeeded',
    );
  });
});
