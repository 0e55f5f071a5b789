// Debian's Chromium (headless) for the browser tests, driven by playwright-core: where it is,
// why a test is skipped without it, one browser and one app per describe block, screenshots for
// a person to look at, and axe-core's serious findings on a page.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestApp, strongPassword, type TestApp, type TestAppOptions } from './app.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** For `describe(..., { skip: withoutChromium })`: false, or why the browser tests cannot run. */
export const withoutChromium = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;

// Without the networking flags Chromium tries to reach Google's hosts, which this machine refuses.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * For a describe block: an app and a browser started before its tests and closed after them.
 * Read `.app` and `.browser` inside the tests. `options` may be worked out when the block
 * starts (after something the app talks to, such as a mail relay, is up).
 */
export function browserForTests(options: TestAppOptions | (() => TestAppOptions | Promise<TestAppOptions>) = {}): {
  app: TestApp;
  browser: Browser;
} {
  const running = {} as { app: TestApp; browser: Browser };
  before(async () => {
    running.app = await startTestApp(typeof options === 'function' ? await options() : options);
    running.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await running.browser?.close();
    await running.app?.close();
  });
  return running;
}

/** A folder for screenshots a person looks at (never compared by a test). */
export function screenshotFolder(...parts: string[]): string {
  const folder = path.join(tmpdir(), 'tfa-browser-screenshots', ...parts);
  mkdirSync(folder, { recursive: true });
  return folder;
}

/**
 * Signs a new person up through the form, as a person would, and waits for their account page;
 * at `site` when the app is reached by another name than its URL (http://localhost:PORT).
 */
export async function signUpInBrowser(page: Page, app: TestApp, email: string, site = app.url): Promise<void> {
  await page.goto(`${site}/signup`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(strongPassword);
  await page.getByLabel('Confirm password').fill(strongPassword);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(`${site}/account`);
}

/** Answers the "Confirm your password" page the browser was sent to. */
export async function confirmPasswordInBrowser(page: Page): Promise<void> {
  await page.getByRole('heading', { name: 'Confirm your password' }).waitFor();
  await page.getByLabel('Password', { exact: true }).fill(strongPassword);
  await page.getByRole('button', { name: 'Confirm' }).click();
}

/** The newest code in the development outbox, read in a tab of its own. */
export async function latestCode(context: BrowserContext, app: TestApp): Promise<string> {
  const outbox = await context.newPage();
  await outbox.goto(`${app.url}/dev/outbox`);
  const code = await outbox.locator('tbody tr').first().locator('code').innerText();
  await outbox.close();
  return code.trim();
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/**
 * What goes wrong on `page` from now on, as a person would never see it: errors in the browser
 * console (a script, the CSP) and failed requests (any answer of 400 or more).
 */
export function problemsOn(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  return problems;
}

/**
 * axe-core's serious and critical findings on the page as it is now. The script is evaluated
 * by Playwright, outside the page's Content Security Policy, so no CSP bypass is needed.
 */
export async function seriousAxeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate<boolean>("'axe' in window"))) await page.evaluate(axeSource);
  // A string, as these tests are compiled without the DOM's types.
  const violations = await page.evaluate<AxeViolation[]>(
    "axe.run(document, { resultTypes: ['violations'] }).then((results) => results.violations)",
  );
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.impact} ${violation.id} (${violation.help}) at ${violation.nodes.map((node) => JSON.stringify(node.target)).join(', ')}`,
    );
}
