/**
 * Issue 12 in the admin portal, in Chromium against the whole system (cloud + agent + embedded
 * directory):
 * (a) a protected account's page offers no reset or unlock, and says why; groups show by name (not
 *     DNs), and a long mail address wraps only after `@` or before a dot, never inside a word, at
 *     375 px (checked on the rendered line boxes, not on the markup);
 * (c) the expiry-reminder setting through the settings page (saved; 120 refused with the field
 *     named); a reminder run mails the users whose password expires within 14 days, with a link to
 *     the change page that opens in the browser; the report page lists them as reminded, and a user
 *     whose expiry is not known with the reason.
 * Screenshots go to test-output/screenshots/issue12-*.png.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { getTenantSettings, listUsers } from '@writeback/cloud';
import { totpCode, type MemoryMailer } from '@writeback/cloud/testing';
import { startSystem, waitFor, type System } from '../harness.js';
import { chromiumAvailable, launchChromium, newContext, PHONE, screenshot } from './browser.js';

const ADMIN = { login: 'root', password: 'Root-Admin-Pass-2030!' };
const PASSWORD = 'Quartz-Initial-2030!';
const LONG_MAIL = 'maximilian.bartholomew-longname@subdivision.department.example-corporation.test';
const GROUPS = [
  'CN=Domain Users,CN=Users,DC=example,DC=test',
  'CN=Helpdesk Operators\\, EMEA,OU=Security Groups,OU=Corporate,DC=example,DC=test',
];

/**
 * Where the rendered text of the located element wraps: for each line after the first, the
 * characters either side of the break. Read from the line boxes of each character.
 */
/** The little of the DOM lineBreaks uses (this project's TypeScript has no DOM types). */
interface PageDocument {
  createTreeWalker(root: unknown, what: number): { nextNode(): { textContent: string | null } | null };
  createRange(): {
    setStart(node: unknown, offset: number): void;
    setEnd(node: unknown, offset: number): void;
    getClientRects(): ArrayLike<{ top: number }>;
  };
}

async function lineBreaks(loc: Locator): Promise<{ before: string; after: string }[]> {
  return loc.evaluate((el) => {
    const doc = (globalThis as unknown as { document: PageDocument }).document;
    const chars: { ch: string; top: number }[] = [];
    const walker = doc.createTreeWalker(el, 4 /* NodeFilter.SHOW_TEXT */);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.textContent ?? '';
      for (let i = 0; i < text.length; i++) {
        const r = doc.createRange();
        r.setStart(n, i);
        r.setEnd(n, i + 1);
        const rect = r.getClientRects()[0];
        if (rect) chars.push({ ch: text[i] ?? '', top: Math.round(rect.top) });
      }
    }
    const breaks: { before: string; after: string }[] = [];
    for (let i = 1; i < chars.length; i++) {
      const a = chars[i - 1];
      const b = chars[i];
      if (a && b && b.top > a.top + 2) breaks.push({ before: a.ch, after: b.ch });
    }
    return breaks;
  });
}

describe('issue 12 admin pages in Chromium', {
  skip: chromiumAvailable() ? false : 'chromium is not installed (npm test installs it)',
}, () => {
  let sys: System;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  let base = '';

  before(async () => {
    sys = await startSystem({
      seed: async (d) => {
        await d.definePolicy('short', { maxAgeSeconds: 10 * 86_400 });
        await d.createUser({
          login: 'max',
          displayName: 'Max Longname',
          mail: LONG_MAIL,
          password: PASSWORD,
          policyName: 'short',
          groups: GROUPS,
        });
        await d.createUser({ login: 'paula', mail: 'paula@example.test', password: PASSWORD, policyName: 'short' });
        await d.createUser({ login: 'una', mail: 'una@example.test', password: PASSWORD, mustChange: true });
      },
    });
    await sys.cloud.bootstrap({ tenant: { slug: 'acme' }, admin: { ...ADMIN, role: 'admin' } });
    await sys.cloud.sync.runOnce(sys.tenantId, { full: true });
    await waitFor(async () => (await listUsers(sys.cloud.store, sys.tenantId, { limit: 1, offset: 0 })).total > 0, {
      timeoutMs: 20_000,
      what: 'users to sync',
    });
    base = `${sys.url}/t/acme/admin`;
    browser = await launchChromium();
    ctx = await newContext(browser);
    page = await ctx.newPage();
    await page.goto(`${base}/signin`);
    await page.fill('#login', ADMIN.login);
    await page.fill('#password', ADMIN.password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/admin\/signin\/totp$/);
    const key = (await page.getAttribute('#totp-secret', 'data-secret')) ?? '';
    await page.fill('#code', totpCode(key, Date.now()));
    await page.click('button[type=submit]');
    await page.waitForURL(/\/admin\/users$/);
  });
  after(async () => {
    await browser?.close();
    await sys?.stop();
  });

  test('(a) a protected account offers no reset or unlock, and says why', async () => {
    await page.goto(`${base}/users/dave`);
    assert.equal(await page.locator('#protected-account [data-code="protected_account"]').count(), 1);
    assert.equal(
      (await page.textContent('#protected-account [data-code="protected_account"] p.ref'))?.trim(),
      'Reference: protected_account',
    );
    assert.equal(await page.locator('#reset-submit').count(), 0);
    assert.equal(await page.locator('#unlock-submit').count(), 0);
    assert.equal(await page.locator('form[action$="/reset"], form[action$="/unlock"]').count(), 0);
    await screenshot(page, 'issue12-protected-desktop');
    // An ordinary account still has both.
    await page.goto(`${base}/users/alice`);
    assert.equal(await page.locator('#reset-submit').count(), 1);
    assert.equal(await page.locator('#unlock-submit').count(), 1);
  });

  test('(a) groups by name, and a long mail address wraps only after @ or before a dot at 375 px', async () => {
    const phone = await newContext(browser, PHONE);
    await phone.addCookies(await ctx.cookies());
    const pp = await phone.newPage();
    try {
      await pp.goto(`${base}/users/max`);
      const names = await pp.$$eval('ul.groups li', (lis) => lis.map((li) => li.textContent ?? ''));
      assert.deepEqual(names, ['Domain Users', 'Helpdesk Operators, EMEA']);
      assert.deepEqual(
        await pp.$$eval('ul.groups li', (lis) => lis.map((li) => li.getAttribute('title'))),
        [GROUPS[0], GROUPS[1]],
        'the DN is still there, as the tooltip',
      );
      assert.ok(!(await pp.textContent('dl.attrs'))?.includes('CN='), 'no raw DN in the text');
      const mail = pp.locator('dl.attrs .addr', { hasText: LONG_MAIL });
      assert.equal((await mail.textContent())?.trim(), LONG_MAIL, 'the address reads as one, unchanged');
      const breaks = await lineBreaks(mail);
      assert.ok(breaks.length >= 1, 'the address is long enough to wrap at 375 px');
      for (const b of breaks)
        assert.ok(b.before === '@' || b.after === '.', `a break inside a word: …${b.before}|${b.after}…`);
      for (let i = 0; i < names.length; i++)
        for (const b of await lineBreaks(pp.locator('ul.groups li').nth(i)))
          assert.ok(b.before === ' ' || b.after === ' ', `group ${names[i]} broken inside a word`);
      const overflow = Number(
        await pp.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'),
      );
      assert.ok(overflow <= 1, `the page overflows by ${overflow}px`);
      await screenshot(pp, 'issue12-user-groups-mail-phone');
      // The list's mail column follows the same rule.
      await pp.goto(`${base}/users?q=max`);
      for (const b of await lineBreaks(pp.locator('table.data td .addr').first()))
        assert.ok(b.before === '@' || b.after === '.', `list: a break inside a word: …${b.before}|${b.after}…`);
    } finally {
      await phone.close();
    }
  });

  test('(c) the reminder setting through the settings page', async () => {
    await page.goto(`${base}/settings`);
    assert.equal(await page.inputValue('#remindDays'), '0', 'off by default');
    await page.fill('#remindDays', '120');
    await page.click('#settings-save');
    await page.waitForSelector('[data-code="invalid_request"]');
    assert.equal(await page.getAttribute('#remindDays', 'aria-invalid'), 'true');
    assert.equal(await page.locator('[data-code="invalid_request"] a[href="#remindDays"]').count(), 1);
    assert.equal((await getTenantSettings(sys.cloud.store, sys.tenantId)).expiry.remindDays, 0, 'nothing stored');
    await page.fill('#remindDays', '14');
    await page.click('#settings-save');
    await page.waitForURL(/settings\?saved=1$/);
    assert.equal(await page.inputValue('#remindDays'), '14');
    assert.equal((await getTenantSettings(sys.cloud.store, sys.tenantId)).expiry.remindDays, 14);
  });

  test('(c) a run mails users expiring within 14 days; the report lists them as reminded', async () => {
    const mailer = sys.cloud.mailer as MemoryMailer;
    const sum = await sys.cloud.expiryReminders.runOnce();
    assert.equal(sum.sent, 2, 'max and paula (10-day maximum age)');
    const mail = await mailer.waitFor('paula@example.test');
    const link = /https?:\/\/\S+\/t\/acme\/account/.exec(mail.text)?.[0] ?? '';
    assert.ok(link.startsWith(sys.url), link);
    await mailer.waitFor(LONG_MAIL);
    assert.equal((await sys.cloud.expiryReminders.runOnce()).sent, 0, 'once per expiry date');

    await page.goto(`${base}/expiry`);
    assert.equal(await page.getAttribute('nav a[aria-current="page"]', 'href'), '/t/acme/admin/expiry');
    const expiring = await page.$$eval('#expiry-expiring tbody tr', (trs) =>
      trs.map((tr) => [
        tr.getAttribute('data-user'),
        tr.querySelector('[data-reminded]')?.getAttribute('data-reminded'),
      ]),
    );
    assert.deepEqual(expiring.sort(), [
      ['max', 'yes'],
      ['paula', 'yes'],
    ]);
    assert.equal(
      await page.getAttribute('#expiry-unknown tr[data-user="una"] td[data-reason]', 'data-reason'),
      'no_password_set',
    );
    await screenshot(page, 'issue12-expiry-report-desktop');
    const phone = await newContext(browser, PHONE);
    await phone.addCookies(await ctx.cookies());
    const pp = await phone.newPage();
    await pp.goto(`${base}/expiry`);
    const overflow = Number(
      await pp.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'),
    );
    assert.ok(overflow <= 1, `the report overflows by ${overflow}px at 375px`);
    await screenshot(pp, 'issue12-expiry-report-phone');
    // The reminder's link opens the change page (sign-in first).
    await pp.goto(link);
    assert.match(pp.url(), /\/t\/acme\/(signin|account)/);
    assert.equal(await pp.locator('#login').count(), 1);
    await phone.close();
  });
});
