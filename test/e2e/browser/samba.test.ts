/**
 * The self-service change page in Chromium against a real Samba AD DC (lab) through the whole path
 * (agent process, LDAPS): sign in (the DC checks the password), the domain's rules on the page, a
 * password the DC refuses for complexity shown with that rule, then a change the DC accepts;
 * `kinit` against the DC's KDC proves the new password works and the old one does not. No password
 * in any URL the browser visited or in any log line. Screenshots go to test-output/screenshots/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Directory } from '@writeback/directory';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startSambaDc, type SambaDc } from '@writeback/testkit/lab';
import {
  capturedLogs,
  findSecrets,
  missingPrograms,
  startSystemOnSamba,
  type System,
  labPassword,
} from '../harness.js';
import { changeOnAccountPage, chromiumAvailable, launchChromium, newContext, screenshot } from './browser.js';

const T = '/t/acme';

function skipReason(): string | false {
  if (!chromiumAvailable()) return 'chromium is not installed (npm test installs it)';
  return missingPrograms(['samba', 'samba-tool', 'kinit']) ?? false;
}

describe('self-service change page in Chromium against Samba AD', { skip: skipReason() }, () => {
  let dc: SambaDc;
  let sys: System<Directory>;
  let stopSystem: (() => Promise<void>) | undefined;
  let browser: Browser;
  let ctx: BrowserContext;
  const secrets = new Set<string>();
  const visited: string[] = [];
  const pw = (tag: string): string => labPassword(tag, secrets);
  const codes = (page: Page): Promise<string[]> =>
    page.locator('[data-code]').evaluateAll((els) => els.map((e) => e.getAttribute('data-code') ?? ''));

  before(async () => {
    dc = await startSambaDc();
    secrets.add(dc.servicePassword);
    secrets.add(dc.adminPassword);
    ({ sys, stop: stopSystem } = await startSystemOnSamba(dc));
    browser = await launchChromium();
    ctx = await newContext(browser);
    // Generous: the machine running the suite may be busy; nothing here asserts on time.
    ctx.setDefaultTimeout(90_000);
  });
  after(async () => {
    await ctx?.close().catch(() => {});
    await browser?.close();
    await stopSystem?.();
    await dc?.stop();
    assert.deepEqual(findSecrets(capturedLogs, secrets), [], 'a password appeared in a log line');
    assert.deepEqual(findSecrets(visited, secrets), [], 'a password appeared in a URL');
  });

  test('sign in, the domain rules, a complexity refusal named, then a change the DC accepts (kinit proves it)', async () => {
    const initial = pw('Init');
    const u = await dc.createUser({ login: `brw${process.pid % 1000}`, password: initial });
    const page = await ctx.newPage();
    page.on('request', (r) => visited.push(r.url()));

    await page.goto(`${sys.url}${T}/signin`);
    await page.fill('#login', u.login);
    await page.fill('#password', initial);
    await Promise.all([page.waitForURL(/\/account$/), page.click('button[type="submit"]:has-text("Sign in")')]);
    // The domain's rules (lab template: at least 7 characters, complexity on, history 24).
    assert.match((await page.locator('[data-rule="minLength"]').textContent()) ?? '', /7/);
    assert.equal(await page.locator('[data-rule="complexity"]').count(), 1);

    // One character group only: Samba refuses it, and the page names the rule.
    const weak = 'lowercaseonlyletters';
    secrets.add(weak);
    await changeOnAccountPage(page, initial, weak, 'policy_violation');
    assert.equal((await page.locator('[data-reason="complexity"]').count()) > 0, true);
    await screenshot(page, 'sspr-samba-refused-desktop');
    assert.equal((await dc.kinit(`${u.login}@${dc.realm}`, initial)).code, 0, 'nothing was written');

    const next = pw('Next');
    await changeOnAccountPage(page, initial, next, 'succeeded');
    assert.deepEqual(await codes(page), ['succeeded']);
    await screenshot(page, 'sspr-samba-changed-desktop');

    // Tools nobody here wrote: the KDC takes the new password and refuses the old one.
    assert.equal((await dc.kinit(`${u.login}@${dc.realm}`, next)).code, 0, 'the new password works');
    assert.notEqual((await dc.kinit(`${u.login}@${dc.realm}`, initial)).code, 0, 'the old password no longer works');
  });
});
