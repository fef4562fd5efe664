/**
 * Issue 12 (b), notices, in Chromium against the whole system (cloud + agent + embedded directory):
 * - every notice with a code ends in "Reference: <code>" (docs/self-service.md), checked on every
 *   page the test visits: a wrong sign-in, a refused new password, a success, agent_unavailable;
 * - the change mail (memory mailer) says when, once, with its time zone;
 * - before anything was tried (My Account with the agent gone, the forgot page's start) the notice
 *   is agent_unavailable without "nothing was changed".
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { MemoryMailer } from '@writeback/cloud/testing';
import { startSystem, type System } from '../harness.js';
import { changeOnAccountPage, chromiumAvailable, launchChromium, newContext, screenshot } from './browser.js';

const T = '/t/acme';
const MONA = { login: 'mona', mail: 'mona@example.test', password: 'Quartz-Initial-2030!' };

/** Every notice with a code on the page, and the text of its last `p.ref` line. */
async function noticeRefs(page: Page): Promise<{ code: string; ref: string | null }[]> {
  return page.$$eval('[data-code]', (els) =>
    els.map((el) => {
      const refs = el.querySelectorAll(':scope > p.ref');
      return { code: el.getAttribute('data-code') ?? '', ref: refs[refs.length - 1]?.textContent?.trim() ?? null };
    }),
  );
}

describe('notices in Chromium', {
  skip: chromiumAvailable() ? false : 'chromium is not installed (npm test installs it)',
}, () => {
  let sys: System;
  let browser: Browser;
  let page: Page;
  const seen = new Set<string>();

  /** Every notice on the page carries its reference; returns the codes shown. */
  async function checkNotices(): Promise<string[]> {
    const notices = await noticeRefs(page);
    for (const n of notices) {
      assert.equal(n.ref?.split(' · ')[0], `Reference: ${n.code}`, `the ${n.code} notice on ${page.url()}`);
      seen.add(n.code);
    }
    return notices.map((n) => n.code);
  }

  before(async () => {
    sys = await startSystem({ seed: async (d) => void (await d.createUser(MONA)) });
    await sys.cloud.sync.runOnce(sys.tenantId, { full: true });
    browser = await launchChromium();
    page = await (await newContext(browser)).newPage();
  });
  after(async () => {
    await browser?.close();
    await sys?.stop();
  });

  test('a wrong sign-in, a refused password and a success each carry their reference', async () => {
    await page.goto(`${sys.url}${T}/signin`);
    await page.fill('#login', MONA.login);
    await page.fill('#password', 'Not-Monas-Password-1!');
    await page.click('button[type="submit"]:has-text("Sign in")');
    await page.waitForSelector('[data-code="invalid_credentials"]');
    assert.deepEqual(await checkNotices(), ['invalid_credentials']);

    await page.fill('#login', MONA.login);
    await page.fill('#password', MONA.password);
    await Promise.all([page.waitForURL(/\/account$/), page.click('button[type="submit"]:has-text("Sign in")')]);
    await changeOnAccountPage(page, MONA.password, 'short', 'policy_violation');
    assert.ok((await checkNotices()).includes('policy_violation'));
    await screenshot(page, 'issue12-notice-policy');

    const mailer = sys.cloud.mailer as MemoryMailer;
    const since = Date.now();
    await changeOnAccountPage(page, MONA.password, 'Garnet-Second-2030!', 'succeeded');
    assert.ok((await checkNotices()).includes('succeeded'));
    await screenshot(page, 'issue12-notice-succeeded');

    // The change mail: the time once, with its zone (it said "… 14:05 UTC (UTC)").
    const mail = await mailer.waitFor(MONA.mail, { since });
    assert.match(mail.text, /\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    assert.equal(mail.text.match(/UTC/g)?.length, 1, mail.text);
  });

  test('before anything was tried, agent_unavailable does not say that nothing was changed', async () => {
    await sys.agent?.stop();
    sys.agent = null;
    await page.goto(`${sys.url}${T}/account`);
    await page.waitForSelector('[data-code="agent_unavailable"]');
    assert.ok((await checkNotices()).includes('agent_unavailable'));
    assert.doesNotMatch((await page.textContent('[data-code="agent_unavailable"]')) ?? '', /nothing was changed/i);
    assert.equal(await page.locator('#currentPassword').count(), 1, 'the form is still there, nothing tried yet');
    await screenshot(page, 'issue12-notice-account-agent-gone');

    const anon = await (await newContext(browser)).newPage();
    await anon.goto(`${sys.url}${T}/forgot`);
    await anon.waitForSelector('[data-code="agent_unavailable"]');
    assert.doesNotMatch((await anon.textContent('[data-code="agent_unavailable"]')) ?? '', /nothing was changed/i);
    assert.equal(
      (await anon.textContent('[data-code="agent_unavailable"] p.ref'))?.trim(),
      'Reference: agent_unavailable',
    );
    assert.deepEqual([...seen].sort(), ['agent_unavailable', 'invalid_credentials', 'policy_violation', 'succeeded']);
  });
});
