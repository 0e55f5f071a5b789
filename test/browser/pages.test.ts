// Every page and state in a real browser (Debian's Chromium, headless), at phone widths (320
// and 375 px) and a laptop's (1280 px): the document must never be wider than the window, no
// text may be squeezed into a column a few letters wide, and axe-core must find nothing
// serious or critical. Screenshots of each state are left for a
// person to look at (not compared). Also the behaviour of the forms after an error: the error
// summary takes focus and links to the fields, and "Show password" shows the password.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { strongPassword, uniqueEmail } from '../support/app.js';
import {
  browserForTests,
  confirmPasswordInBrowser,
  latestCode,
  screenshotFolder,
  seriousAxeViolations,
  signUpInBrowser,
  withoutChromium,
} from '../support/browser.js';

const screenshots = screenshotFolder('pages');
// 320 px is the narrowest phone still sold; 375 px the commonest; 1280 px a laptop.
const WIDTHS = [320, 375, 1280] as const;
const SUPPORT_CONTACT = 'help@example.com';

// Text boxes too narrow to read: a column a few letters wide wraps a sentence one character or
// word-fragment per line, which no overflow check sees.
const SQUEEZED_TEXT = `[...document.querySelectorAll('main dt, main dd, main td, main th, main p, main li, main label, main h1, main h2')]
  .filter((element) => element.offsetParent !== null && element.textContent.trim().length >= 8 && element.clientWidth < 64)
  .map((element) => element.textContent.trim().slice(0, 40))`;

/** What is wrong with the page as it stands, at each width: overflow and axe's serious findings. */
async function problemsOf(page: Page, state: string): Promise<string[]> {
  const problems: string[] = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    // Strings, not functions: this project's TypeScript knows no DOM.
    const sizes = await page.evaluate<{ document: number; window: number }>(
      '({ document: document.documentElement.scrollWidth, window: window.innerWidth })',
    );
    if (sizes.document > sizes.window)
      problems.push(`${state} at ${width} px: the document is ${sizes.document} px wide`);
    const squeezed = await page.evaluate<string[]>(SQUEEZED_TEXT);
    for (const text of squeezed)
      problems.push(`${state} at ${width} px: "${text}" is squeezed into a column a few letters wide`);
    await page.screenshot({ path: path.join(screenshots, `${state}-${width}.png`), fullPage: true });
    for (const violation of await seriousAxeViolations(page)) problems.push(`${state} at ${width} px: ${violation}`);
  }
  return problems;
}

describe('every page in a browser, at 320, 375 and 1280 px', { skip: withoutChromium }, () => {
  const running = browserForTests({ env: { SUPPORT_CONTACT } });

  it('fits the window and passes axe on every page and state, for visitors, people and admins', async () => {
    const { app, browser } = running;
    const problems: string[] = [];
    const check = async (page: Page, state: string) => {
      problems.push(...(await problemsOf(page, state)));
    };
    const context = await browser.newContext();
    const page = await context.newPage();

    await page.goto(`${app.url}/`);
    await check(page, 'home');
    await page.goto(`${app.url}/signup`);
    await check(page, 'signup');
    await page.getByLabel('Email').fill('not an email');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'signup-errors');
    await page.goto(`${app.url}/login`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'login-errors');
    await page.goto(`${app.url}/no-such-page`);
    await check(page, 'not-found');
    await page.goto(`${app.url}/forgot-password`);
    await check(page, 'forgot-password');

    // A person: 2FA off, then on through the phone form and the enrolment code step.
    const email = uniqueEmail('pages');
    await signUpInBrowser(page, app, email);
    await check(page, 'account-2fa-off');
    await page.goto(`${app.url}/admin`);
    await check(page, 'forbidden');
    await page.goto(`${app.url}/account/2fa`);
    await page.getByRole('heading', { name: 'Confirm your password' }).waitFor();
    await check(page, 'confirm-password');
    await page.getByLabel('Password', { exact: true }).fill('not my password');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'confirm-password-errors');
    await confirmPasswordInBrowser(page);
    await page.waitForURL(`${app.url}/account/2fa`);
    await check(page, 'phone-form');
    await page.getByLabel('Phone number', { exact: true }).fill('12');
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'phone-form-errors');
    await page.getByLabel('Phone number', { exact: true }).fill('+33 6 12 34 56 78');
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.waitForURL(`${app.url}/account/2fa/verify`);
    await check(page, 'enrolment-code');
    await page.getByLabel('Code').fill('000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'enrolment-code-wrong');
    await page.getByLabel('Code').fill(await latestCode(context, app));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${app.url}/account/recovery-codes`);
    await check(page, 'recovery-codes');
    await page.getByRole('button', { name: 'I have saved these codes' }).click();
    await page.waitForURL(`${app.url}/account`);
    await check(page, 'account-2fa-on');
    await page.goto(`${app.url}/account/recovery-codes/new`);
    await check(page, 'recovery-codes-new');
    await page.goto(`${app.url}/account/2fa/disable`);
    await check(page, 'disable');
    await page.goto(`${app.url}/account/delete`);
    await check(page, 'delete-account');
    await page.getByRole('button', { name: 'Delete account' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'delete-account-errors');
    await page.goto(`${app.url}/account/password`);
    await check(page, 'change-password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'change-password-errors');
    await page.goto(`${app.url}/account/email`);
    await check(page, 'change-email');
    await page.getByLabel('New email').fill('not an email');
    await page.getByRole('button', { name: 'Send confirmation link' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'change-email-errors');

    // The code step at sign-in, before and after a wrong code.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${app.url}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(strongPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${app.url}/login/2fa`);
    await check(page, 'sign-in-code');
    await page.getByLabel('Code').fill('000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'sign-in-code-wrong');
    await page.getByRole('link', { name: 'Use a recovery code' }).click();
    await page.waitForURL(`${app.url}/login/2fa/recovery`);
    await check(page, 'sign-in-recovery-code');
    await page.getByLabel('Recovery code').fill('zzzzz-zzzzz');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'sign-in-recovery-code-wrong');
    await page.goto(`${app.url}/dev/outbox`);
    await check(page, 'outbox');

    // An admin, with other users to list and audit events to show.
    const admin = await app.services.database.prisma.user.update({ where: { email }, data: { role: 'ADMIN' } });
    await page.goto(`${app.url}/login/2fa`);
    await page.getByLabel('Code').fill(await latestCode(context, app));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${app.url}/account`);
    // Admin actions ask for the password first.
    await page.goto(`${app.url}/account/confirm-password?next=%2Fadmin`);
    await confirmPasswordInBrowser(page);
    await page.waitForURL(`${app.url}/admin`);
    for (const [state, url] of [
      ['admin-overview', '/admin'],
      ['admin-verify', '/admin/verify'],
      ['admin-users', '/admin/users'],
      ['admin-confirm', `/admin/users/${admin.id}/sign-out-everywhere`],
      ['admin-audit', '/admin/audit'],
    ] as const) {
      await page.goto(`${app.url}${url}`);
      await check(page, state);
    }
    await page.getByRole('link', { name: 'Test delivery' }).click();
    await page.getByLabel('Phone number', { exact: true }).fill('12');
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.getByText('There is a problem').waitFor();
    await check(page, 'admin-verify-errors');
    await page.getByLabel('Phone number', { exact: true }).fill('+33 6 12 34 56 79');
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.getByLabel('Code').waitFor();
    await check(page, 'admin-verify-sent');
    await context.close();

    assert.deepEqual(problems, []);
  });

  it('after an error, focuses a summary that links to each field, and keeps what was typed', async () => {
    const { app, browser } = running;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/signup`);
    await page.getByLabel('Email').fill('not an email');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Sign up' }).click();
    const summary = page.locator('.error-summary');
    await summary.waitFor();
    assert.equal(
      await page.evaluate<boolean>("document.activeElement.classList.contains('error-summary')"),
      true,
      'the summary has focus',
    );
    const links = summary.getByRole('link');
    const targets = await Promise.all((await links.all()).map((link) => link.getAttribute('href')));
    assert.deepEqual(targets, ['#email', '#password', '#passwordConfirmation']);
    assert.equal(await page.getByLabel('Email').inputValue(), 'not an email');
    assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '');
    await links.nth(1).click();
    assert.equal(await page.evaluate<string>('document.activeElement.id'), 'password');
    await context.close();
  });

  it('shows and hides the password with a toggle button, by keyboard', async () => {
    const { app, browser } = running;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/login`);
    const password = page.getByLabel('Password', { exact: true });
    await password.fill(strongPassword);
    const toggle = page.getByRole('button', { name: 'Show password' });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.focus();
    await page.keyboard.press('Enter');
    assert.equal(await password.getAttribute('type'), 'text');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    await page.keyboard.press('Space');
    assert.equal(await password.getAttribute('type'), 'password');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await context.close();

    // Without JavaScript there is no toggle, and the form still works.
    const noScript = await browser.newContext({ javaScriptEnabled: false });
    const plain = await noScript.newPage();
    await plain.goto(`${app.url}/login`);
    assert.equal(await plain.getByRole('button', { name: 'Show password' }).count(), 0);
    await noScript.close();
  });
});
