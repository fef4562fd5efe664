/**
 * Issue 10, lockout as denial of service, over the sign-in page (real HTTP; the client address set
 * through X-Forwarded-For to a cloud that trusts its proxy): a stranger cannot lock the owner out,
 * and guessing stays bounded.
 * - One address that fails ten times is refused for that account; the owner, elsewhere, signs in.
 * - Many addresses together use up the slower account-wide budget: a new address is refused even
 *   with the right password, but the owner's browser (its device cookie, given at an earlier
 *   sign-in) still gets in; a device cookie of another account does not help.
 * - The known browser has a budget of its own: guessing from it is bounded too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar } from '@writeback/testkit';
import { api, startCloud, type Started } from './helpers.js';

const OWNER = { login: 'olivia', password: 'Olivia-Cloud-Pass-2030!' };
const OTHER = { login: 'oscar', password: 'Oscar-Cloud-Pass-2030!' };

/** A browser: its cookies, the form's CSRF token, and the address it comes from. */
class Browser {
  private readonly cookies = new CookieJar();
  private csrf = '';
  constructor(
    private readonly base: string,
    public ip: string,
  ) {}
  async signIn(login: string, password: string): Promise<string> {
    const page = await fetch(`${this.base}/t/acme/signin`, {
      headers: { cookie: this.cookies.header(), 'x-forwarded-for': this.ip },
    });
    this.cookies.keep(page);
    this.csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
    const res = await fetch(`${this.base}/t/acme/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: this.cookies.header(),
        'x-forwarded-for': this.ip,
      },
      body: new URLSearchParams({ _csrf: this.csrf, login, password }).toString(),
    });
    this.cookies.keep(res);
    if (res.status === 303) {
      // Signed in: forget the session so the next attempt is a fresh one (the device cookie stays).
      await res.arrayBuffer();
      for (const name of [...this.cookies.keys()]) if (name !== 'wb-device') this.cookies.delete(name);
      return 'succeeded';
    }
    return /data-code="([a-z_]+)"/.exec(await res.text())?.[1] ?? String(res.status);
  }
  hasDeviceCookie(): boolean {
    return this.cookies.has('wb-device');
  }
  deviceCookie(): string | undefined {
    return this.cookies.get('wb-device');
  }
  setDeviceCookie(v: string): void {
    this.cookies.set('wb-device', v);
  }
}

describe('lockout as denial of service', () => {
  let s: Started;
  let base: string;
  let n = 0;
  let apiKey = '';
  const address = () => `203.0.113.${++n}`;

  before(async () => {
    s = await startCloud({
      config: {
        trustProxy: true,
        rateLimits: {
          userSignInPerLogin: { limit: 10, windowSeconds: 900 },
          userSignInPerAccount: { limit: 30, windowSeconds: 3600 },
          userSignInPerIp: { limit: 1000, windowSeconds: 900 },
          apiAuthFailuresPerIp: { limit: 3, windowSeconds: 900 },
        },
      },
    });
    base = s.cloud.url;
    const boot = await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true });
    apiKey = boot.apiKey ?? '';
    for (const u of [OWNER, OTHER]) {
      const r = await api(base, 'POST', '/api/v1/tenants/acme/users', { token: boot.apiKey ?? '', body: u });
      assert.equal(r.status, 201);
    }
  });
  after(() => s.stop());

  test('the owner keeps signing in while strangers guess', async () => {
    // The owner's own browser, signed in once before: it now holds a device cookie for the account.
    const owners = new Browser(base, address());
    assert.equal(await owners.signIn(OWNER.login, OWNER.password), 'succeeded');
    assert.ok(owners.hasDeviceCookie());
    const othersCookie = new Browser(base, address());
    assert.equal(await othersCookie.signIn(OTHER.login, OTHER.password), 'succeeded');

    // One address: ten failures, then refused for this account even with the right password…
    const one = new Browser(base, address());
    for (let i = 0; i < 10; i++) assert.equal(await one.signIn(OWNER.login, `wrong-${i}`), 'invalid_credentials');
    assert.equal(await one.signIn(OWNER.login, OWNER.password), 'rate_limited');
    // …which does not lock the owner out anywhere else.
    assert.equal(await new Browser(base, address()).signIn(OWNER.login, OWNER.password), 'succeeded');

    // Many addresses: the account-wide budget (30 an hour) runs out…
    for (let i = 0; i < 20; i++)
      assert.equal(await new Browser(base, address()).signIn(OWNER.login, `wrong-many-${i}`), 'invalid_credentials');
    const fresh = new Browser(base, address());
    assert.equal(await fresh.signIn(OWNER.login, OWNER.password), 'rate_limited');
    // …but not for the owner's known browser, wherever it is now,
    owners.ip = address();
    assert.equal(await owners.signIn(OWNER.login, OWNER.password), 'succeeded');
    // and a device cookie made for another account opens nothing.
    const borrowed = new Browser(base, address());
    borrowed.setDeviceCookie(othersCookie.deviceCookie() ?? '');
    assert.equal(await borrowed.signIn(OWNER.login, OWNER.password), 'rate_limited');
  });

  test('guessing from a known browser is bounded by its own budget', async () => {
    const b = new Browser(base, address());
    assert.equal(await b.signIn(OTHER.login, OTHER.password), 'succeeded');
    const answers: string[] = [];
    for (let i = 0; i < 12; i++) {
      b.ip = address(); // a new address each time: only the device budget is shared
      answers.push(await b.signIn(OTHER.login, `wrong-${i}`));
    }
    assert.deepEqual(answers.slice(0, 10), Array(10).fill('invalid_credentials'));
    assert.deepEqual(answers.slice(10), ['rate_limited', 'rate_limited']);
  });

  test('failed API credentials count per address in the store: then 429, while a valid key still works', async () => {
    const from = address();
    const call = (token: string) =>
      api(base, 'GET', '/api/v1/tenants/acme/settings', { token, headers: { 'x-forwarded-for': from } });
    const forged = `wbk_${'0'.repeat(16)}.${'A'.repeat(43)}`;
    for (let i = 0; i < 3; i++) assert.equal((await call(forged)).status, 401);
    const limited = await call(forged);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await call(apiKey)).status, 200, 'a valid key from the same address is not refused');
    assert.equal(
      (
        await api(base, 'GET', '/api/v1/tenants/acme/settings', {
          token: forged,
          headers: { 'x-forwarded-for': address() },
        })
      ).status,
      401,
      'another address has its own budget',
    );
  });
});
