// A person's whole journey in a real browser (Debian's Chromium, headless), found by labels
// and roles the way a screen reader would: sign up, confirm the password, turn 2FA on with the
// code from /dev/outbox, sign out, sign in with a code, confirm the password again, turn 2FA off.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { strongPassword, uniqueEmail } from '../support/app.js';
import {
  browserForTests,
  latestCode,
  problemsOn,
  screenshotFolder,
  signUpInBrowser,
  withoutChromium,
} from '../support/browser.js';

const screenshots = screenshotFolder();

describe('a person in a browser', { skip: withoutChromium }, () => {
  const running = browserForTests();

  it('signs up, turns two-factor on, signs out and in with a code, and turns it off', async () => {
    const { app, browser } = running;
    const context = await browser.newContext();
    const page = await context.newPage();
    const consoleErrors = problemsOn(page);
    const email = uniqueEmail('browser');

    await signUpInBrowser(page, app, email);
    await page.getByText('Two-factor authentication: Off').waitFor();

    await page.getByRole('link', { name: 'Turn on two-factor authentication' }).click();
    await page.waitForURL(`${app.url}/account/confirm-password?next=%2Faccount%2F2fa`);
    await page.getByRole('heading', { name: 'Confirm your password' }).waitFor();
    await page.screenshot({ path: path.join(screenshots, 'confirm-password.png'), fullPage: true });
    await page.getByLabel('Password').fill(strongPassword);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(`${app.url}/account/2fa`);
    await page.getByLabel('Phone number', { exact: true }).fill('+33 6 12 34 56 78');
    await page.screenshot({ path: path.join(screenshots, 'phone-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.waitForURL(`${app.url}/account/2fa/verify`);
    await page.getByText('We sent a 6-digit code by text message').waitFor();
    const code = page.getByLabel('Code');
    assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await code.getAttribute('inputmode'), 'numeric');
    await code.fill(await latestCode(context, app));
    await page.getByRole('button', { name: 'Verify' }).click();
    // The recovery codes, shown once: Copy and Print come with JavaScript, Download is a link.
    await page.waitForURL(`${app.url}/account/recovery-codes`);
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    assert.equal(await page.locator('[data-recovery-codes] code').count(), 10);
    assert.ok(await page.getByRole('button', { name: 'Copy' }).isVisible());
    assert.ok(await page.getByRole('button', { name: 'Print' }).isVisible());
    assert.ok(await page.getByRole('link', { name: 'Download' }).isVisible());
    await page.screenshot({ path: path.join(screenshots, 'recovery-codes.png'), fullPage: true });
    await page.getByRole('button', { name: 'I have saved these codes' }).click();
    await page.waitForURL(`${app.url}/account`);
    await page.getByText('Two-factor authentication: On').waitFor();
    assert.match(await page.locator('main').innerText(), /\+33 • •• •• •• 78/);
    await page.screenshot({ path: path.join(screenshots, 'account-2fa-on.png'), fullPage: true });

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${app.url}/login`);
    await page.goto(`${app.url}/account`);
    await page.waitForURL(/\/login\?next=%2Faccount$/);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(strongPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${app.url}/login/2fa`);
    await page.screenshot({ path: path.join(screenshots, 'code-step.png'), fullPage: true });
    await page.getByLabel('Code').fill(await latestCode(context, app));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${app.url}/account`);

    await page.getByRole('link', { name: 'Turn off two-factor authentication' }).click();
    await page.getByRole('heading', { name: 'Confirm your password' }).waitFor();
    await page.getByLabel('Password').fill(strongPassword);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(`${app.url}/account/2fa/disable`);
    await page.getByRole('button', { name: 'Turn off two-factor authentication' }).click();
    await page.waitForURL(`${app.url}/account`);
    await page.getByText('Two-factor authentication: Off').waitFor();
    assert.deepEqual(consoleErrors, [], 'no errors in the browser console (CSP, scripts)');
  });
});
