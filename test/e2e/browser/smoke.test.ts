/** Browser smoke test: Debian's Chromium, driven by playwright-core, opens the cloud's /healthz. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { createCloud, type Cloud } from '@writeback/cloud';
import { chromiumAvailable, launchChromium, newContext, screenshot } from './browser.js';

describe('browser smoke', {
  skip: chromiumAvailable() ? false : 'chromium is not installed (npm test installs it)',
}, () => {
  let cloud: Cloud;
  let browser: Browser;
  before(async () => {
    cloud = await createCloud(
      { port: 0, databaseUrl: 'sqlite::memory:', masterKey: 'A'.repeat(43) },
      { printOperatorKey: () => {} },
    );
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await cloud?.close();
  });

  test('chromium opens /healthz', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const res = await page.goto(`${cloud.url}/healthz`);
    assert.equal(res?.status(), 200);
    const body = await page.textContent('body');
    assert.ok(body && body.length > 0);
    await screenshot(page, 'smoke-healthz');
    await ctx.close();
  });
});
