/**
 * Browser tests drive Debian's Chromium (/usr/bin/chromium, installed by scripts/test.sh) through
 * playwright-core: headless, no sandbox (tests run as root), and with every background network
 * feature off, because this machine's network is closed and Chromium would otherwise keep trying
 * to reach its vendor's hosts. Playwright gives each launch a fresh, empty user-data-dir.
 */
import { mkdirSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** Desktop and phone (375 px) viewports for screenshots and layout checks. */
export const DESKTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 375, height: 740 } as const;

/** Whether Chromium is installed (tests skip with a reason when it is not, e.g. outside `npm test`). */
export const chromiumAvailable = (): boolean => existsSync(CHROMIUM_PATH);

/** Launches headless Chromium; close it in an `after` hook. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS] });
}

/** A fresh context (own cookie jar) with a viewport, English locale and UTC time zone. */
export function newContext(
  browser: Browser,
  viewport: { width: number; height: number } = DESKTOP,
): Promise<BrowserContext> {
  return browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'UTC', acceptDownloads: true });
}

export const SCREENSHOT_DIR = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));

/** Saves a full-page PNG as test-output/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = `${SCREENSHOT_DIR}${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** My Account's change form: the current password, the new one twice, submitted; done when the page shows `code`. */
export async function changeOnAccountPage(page: Page, current: string, next: string, code: string): Promise<void> {
  await page.fill('#currentPassword', current);
  await page.fill('#newPassword', next);
  await page.fill('#confirmPassword', next);
  await page.click('button:has-text("Change password")');
  await page.waitForSelector(`[data-code="${code}"]`);
}
