/**
 * The admin portal in a real browser (Debian's Chromium via playwright-core) against the whole
 * system: cloud + relay + agent + embedded directory (test/e2e/harness.ts). Covers admin sign-in
 * with TOTP enrolment and a later TOTP sign-in, a reset with a generated temporary password and
 * forced change (the user signing in with it lands on My Account told to change it, the
 * directory demands the change, and the old password no longer works), a refused common password, unlock, the audit page with its CSV download, a CSRF
 * refusal, and the help desk's read-only settings. Screenshots of every admin page, desktop and
 * 375 px wide, go to test-output/screenshots/.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { listUsers } from '@writeback/cloud';
import { totpCode } from '@writeback/cloud/testing';
import { changeOwnPassword, PASSWORDS, startSystem, waitFor, type System } from '../harness.js';
import { parseCsv } from './admin-client.js';
import { chromiumAvailable, launchChromium, newContext, PHONE, screenshot } from './browser.js';

const ADMIN = { login: 'root', password: 'Root-Admin-Pass-2030!' };
const HELPDESK = { login: 'helper', password: 'Help-Desk-Pass-2030!' };

describe('admin portal in Chromium', {
  skip: chromiumAvailable() ? false : 'chromium is not installed (npm test installs it)',
}, () => {
  let sys: System;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  let secret = '';
  let base = '';

  const code = async (p: Page) => (await p.getAttribute('[data-code]', 'data-code')) ?? '';

  /** Password step, then the TOTP step (enrolling when the page shows a key). Returns the key. */
  async function signIn(
    p: Page,
    who: { login: string; password: string },
    key: string | null,
    shots?: string,
  ): Promise<string> {
    await p.goto(`${base}/signin`);
    if (shots) await screenshot(p, `${shots}-signin`);
    await p.fill('#login', who.login);
    await p.fill('#password', who.password);
    await p.click('button[type=submit]');
    await p.waitForURL(/\/admin\/signin\/totp$/);
    const shown = (await p.locator('#totp-secret').count())
      ? await p.getAttribute('#totp-secret', 'data-secret')
      : null;
    if (shots) await screenshot(p, `${shots}-totp${shown ? '-enrol' : ''}`);
    const k = shown ?? key;
    if (!k) throw new Error('no TOTP key');
    // A fresh key: the current code; a known key: the next step's (the current one may be used).
    await p.fill('#code', totpCode(k, Date.now() + (shown ? 0 : 30_000)));
    await p.click('button[type=submit]');
    await p.waitForURL(/\/admin\/users$/);
    return k;
  }

  before(async () => {
    sys = await startSystem();
    await sys.cloud.bootstrap({ tenant: { slug: 'acme' }, admin: { ...ADMIN, role: 'admin' } });
    await sys.cloud.bootstrap({ tenant: { slug: 'acme' }, admin: { ...HELPDESK, role: 'helpdesk' } });
    await sys.directory.createUser({
      login: 'gina',
      displayName: 'Gina Mail',
      mail: 'gina@example.test',
      password: 'Juniper-Initial-2024!',
    });
    await sys.cloud.sync.runOnce(sys.tenantId, { full: true });
    await waitFor(async () => (await listUsers(sys.cloud.store, sys.tenantId, { limit: 1, offset: 0 })).total > 0, {
      timeoutMs: 20_000,
      what: 'users to sync',
    });
    base = `${sys.url}/t/acme/admin`;
    browser = await launchChromium();
    ctx = await newContext(browser);
    page = await ctx.newPage();
  });
  after(async () => {
    await browser?.close();
    await sys?.stop();
  });

  test('admin signs in: password, TOTP enrolment with QR code, later sign-ins with a code', async () => {
    secret = await signIn(page, ADMIN, null, 'admin-01');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.equal(await page.textContent('h1'), 'Users');
    await page.click('header form.signout button');
    await page.waitForURL(/\/admin\/signin\?signedOut=1$/);
    assert.equal(await page.getAttribute('[role=status]', 'class'), 'notice success');
    const again = await signIn(page, ADMIN, secret);
    assert.equal(again, secret);
    assert.ok(!(await page.content()).includes('data-secret'));
  });

  test('users list: search and filters; every admin page looks right on desktop and phone', async () => {
    await page.goto(`${base}/users?q=ali`);
    assert.equal(await page.locator('table.data tbody tr').count(), 1);
    assert.equal((await page.textContent('table.data tbody tr td a'))?.trim(), 'alice');
    await page.goto(`${base}/users`);
    assert.ok((await page.locator('table.data tbody tr').count()) >= 5);
    await page.selectOption('#source', 'cloud');
    await page.click('form.filters button[type=submit]');
    await page.waitForURL(/source=cloud/);
    assert.equal(await page.locator('table.data tbody tr').count(), 0);
    const phone = await newContext(browser, PHONE);
    await phone.addCookies(await ctx.cookies());
    const pp = await phone.newPage();
    for (const p of ['users', 'users/alice', 'agents', 'settings', 'admins', 'audit']) {
      await page.goto(`${base}/${p}`);
      await screenshot(page, `admin-02-${p.replace('/', '-')}-desktop`);
      await pp.goto(`${base}/${p}`);
      await screenshot(pp, `admin-02-${p.replace('/', '-')}-phone`);
      // Nothing wider than the phone's screen.
      const overflow = Number(
        await pp.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'),
      );
      assert.ok(overflow <= 1, `${p} overflows by ${overflow}px at 375px`);
    }
    await phone.close();
  });

  test('reset with a generated temporary password and forced change: shown once, the directory demands a change', async () => {
    await page.goto(`${base}/users/alice`);
    assert.ok(await page.isChecked('#forceChange'));
    await page.click('#reset-submit');
    await page.waitForSelector('#temporary-password');
    assert.equal(await code(page), 'succeeded');
    const temp = (await page.textContent('#temporary-password')) ?? '';
    assert.ok(temp.length >= 10);
    await screenshot(page, 'admin-03-reset-result');
    // Shown once: not on the user's page, not in any log line.
    await page.goto(`${base}/users/alice`);
    assert.ok(!(await page.content()).includes(temp));
    assert.ok(!sys.logs.some((l) => l.includes(temp)));
    // The directory demands a change at next logon; the cloud's copy says so too.
    assert.equal(sys.directory.getUser('alice')?.mustChange, true);
    await page.goto(`${base}/users?mustChange=1`);
    assert.ok((await page.locator('table.data tbody tr td a', { hasText: 'alice' }).count()) === 1);
    // Signing in with the temporary password lands on My Account, told to change it first.
    const uctx = await newContext(browser);
    const up = await uctx.newPage();
    await up.goto(`${sys.url}/t/acme/signin`);
    await up.fill('#login', 'alice');
    await up.fill('#password', temp);
    await up.click('button[type=submit]');
    await up.waitForURL(/\/t\/acme\/account$/);
    assert.equal(await up.getAttribute('[data-code="must_change"]', 'data-code'), 'must_change');
    await screenshot(up, 'admin-03-user-must-change');
    await uctx.close();
    // The old password is gone; the temporary one works for the change the user must make.
    const old = await changeOwnPassword(sys, 'alice', PASSWORDS.alice, 'Tulip-Chosen-2031!');
    assert.equal(old.body.outcome, 'wrong_current_password');
    const change = await changeOwnPassword(sys, 'alice', temp, 'Tulip-Chosen-2031!');
    assert.equal(change.body.outcome, 'succeeded');
  });

  test('a user with an email address is told of the reset, without the password', async () => {
    await page.goto(`${base}/users/gina`);
    await page.click('#reset-submit');
    await page.waitForSelector('#temporary-password');
    const temp = (await page.textContent('#temporary-password')) ?? '';
    const mailer = sys.cloud.mailer;
    assert.ok('messages' in mailer && Array.isArray(mailer.messages), 'the development mailer keeps messages');
    const sent = mailer.messages.filter((m: { to: string }) => m.to === 'gina@example.test');
    assert.equal(sent.length, 1);
    assert.ok(!JSON.stringify(sent).includes(temp));
  });

  test('a common password set by an admin is refused with reason banned, before anything is sent', async () => {
    await page.goto(`${base}/users/bob`);
    await page.check('#mode-set');
    await page.fill('#newPassword', 'Summer2031!');
    await page.click('#reset-submit');
    await page.waitForSelector('[data-reason="banned"]');
    assert.equal(await code(page), 'policy_violation');
    await screenshot(page, 'admin-04-banned');
    // A set password the directory refuses shows the rule.
    await page.check('#mode-set');
    await page.fill('#newPassword', 'Xq7#short');
    await page.click('#reset-submit');
    await page.waitForSelector('[data-reason="too_short"]');
    assert.match((await page.textContent('[data-reason="too_short"]')) ?? '', /10/);
  });

  test('unlock alone clears a lockout', async () => {
    for (let i = 0; i < 3; i++) await changeOwnPassword(sys, 'erin', `Wrong-${i}-Password!`, 'Aspen-Next-2031!!');
    assert.equal(sys.directory.getUser('erin')?.locked, true);
    await page.goto(`${base}/users/erin`);
    await page.click('#unlock-submit');
    await page.waitForSelector('[data-code]');
    assert.equal(await code(page), 'succeeded');
    await screenshot(page, 'admin-05-unlock-result');
    assert.equal(sys.directory.getUser('erin')?.locked, false);
  });

  test('audit page shows the events, filters them, draws the charts, and the CSV downloads', async () => {
    await page.goto(`${base}/audit`);
    const rows = page.locator('table.audit tbody tr');
    assert.ok((await rows.count()) >= 3);
    assert.ok(
      (await page
        .locator('table.audit tbody tr', { hasText: 'password.reset' })
        .filter({ hasText: 'alice' })
        .count()) >= 1,
    );
    assert.ok(
      (await page.locator('table.audit tbody tr', { hasText: 'account.unlock' }).filter({ hasText: 'erin' }).count()) >=
        1,
    );
    assert.ok((await page.locator('figure.chart svg rect').count()) >= 2);
    await screenshot(page, 'admin-06-audit');
    await page.selectOption('#f-action', 'account.unlock');
    await page.click('form.filters button[type=submit]');
    await page.waitForURL(/action=account.unlock/);
    assert.equal(await page.locator('table.audit tbody tr', { hasText: 'password.reset' }).count(), 0);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv-export')]);
    assert.match(download.suggestedFilename(), /^audit-acme-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = parseCsv(await readFile((await download.path()) ?? '', 'utf8'));
    const action = csv[0]?.indexOf('action') ?? -1;
    assert.ok(csv.length >= 2 && csv.slice(1).every((r) => r[action] === 'account.unlock'));
    // The user's page lists the user's own events.
    await page.goto(`${base}/users/alice`);
    assert.ok((await page.locator('table.audit tbody tr', { hasText: 'password.reset' }).count()) >= 1);
  });

  test('an admin POST with a forged CSRF token is refused', async () => {
    const res = await ctx.request.post(`${base}/users/bob/unlock`, {
      form: { _csrf: 'forged-token' },
      maxRedirects: 0,
    });
    assert.equal(res.status(), 403);
    assert.match(await res.text(), /data-code="csrf_failed"/);
  });

  test('agents page: the agent is connected; a registration token is shown once', async () => {
    await page.goto(`${base}/agents`);
    assert.equal(await page.getAttribute('[data-status]', 'data-status'), 'connected');
    await page.click('#issue-token');
    await page.waitForSelector('#agent-token');
    assert.match((await page.textContent('#agent-token')) ?? '', /^wbt_/);
    await screenshot(page, 'admin-07-agent-token');
  });

  test('the help desk cannot change settings or agents, but can reset', async () => {
    const hctx = await newContext(browser);
    const hp = await hctx.newPage();
    await signIn(hp, HELPDESK, null);
    await hp.goto(`${base}/settings`);
    assert.equal(await hp.locator('#settings-save').count(), 0);
    // Every section is read-only (self-service, expiry reminders (issue 12), sign-in).
    assert.equal(await hp.locator('fieldset.card[disabled]').count(), 3);
    assert.equal(await hp.locator('fieldset.card:not([disabled])').count(), 0);
    await screenshot(hp, 'admin-08-helpdesk-settings');
    const csrf = (await hp.getAttribute('input[name=_csrf]', 'value')) ?? '';
    const res = await hctx.request.post(`${base}/settings`, {
      form: { _csrf: csrf, methods: 'email', required: '1', attemptsPerHour: '9', signInMode: 'cloud_hash' },
      maxRedirects: 0,
    });
    assert.equal(res.status(), 403);
    assert.match(await res.text(), /data-code="forbidden"/);
    await hp.goto(`${base}/agents`);
    assert.equal(await hp.locator('#issue-token').count(), 0);
    await hp.goto(`${base}/users/bob`);
    await hp.click('#unlock-submit');
    await hp.waitForSelector('[data-code]');
    assert.equal(await code(hp), 'succeeded');
    await hctx.close();
  });
});
