// Setting up an authenticator app in a real browser (Debian's Chromium, headless): read the
// key from the page as a person typing it into their app would, compute its code here, finish
// the setup, then sign out and sign in with the app's next code.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { strongPassword, uniqueEmail } from '../support/app.js';
import {
  browserForTests,
  confirmPasswordInBrowser,
  problemsOn,
  screenshotFolder,
  seriousAxeViolations,
  signUpInBrowser,
  withoutChromium,
} from '../support/browser.js';
import { codeFor, roomInStep } from '../totp/support.js';

const screenshots = screenshotFolder('totp');

describe('an authenticator app in a browser', { skip: withoutChromium }, () => {
  const running = browserForTests();

  it('sets the app up from the key shown, and signs in with its codes', async () => {
    const { app, browser } = running;
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = problemsOn(page);
    const email = uniqueEmail('browser-totp');
    await signUpInBrowser(page, app, email);

    await page.getByRole('link', { name: 'Set up an authenticator app' }).click();
    await confirmPasswordInBrowser(page);
    await page.waitForURL(`${app.url}/account/totp`);
    await page.getByRole('heading', { name: 'Set up an authenticator app' }).waitFor();
    const qr = page.getByRole('img', { name: /QR code/ });
    await qr.waitFor();
    // The QR code loaded (the CSP allows data: images) and has a size.
    const loaded = await qr.evaluate((img) => {
      // These tests are compiled without the DOM's types.
      const image = img as unknown as { complete: boolean; naturalWidth: number };
      return image.complete && image.naturalWidth > 100;
    });
    assert.ok(loaded, 'the QR code image loaded');
    await page.getByText("Can't scan? Enter this key").waitFor();
    const key = (await page.locator('[data-totp-key]').innerText()).replace(/\s/g, '');
    assert.match(key, /^[A-Z2-7]{32}$/);
    assert.deepEqual(await seriousAxeViolations(page), []);
    await page.screenshot({ path: path.join(screenshots, 'setup.png'), fullPage: true });

    const step = await roomInStep();
    const code = page.getByLabel('Code');
    assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await code.getAttribute('inputmode'), 'numeric');
    await code.fill(codeFor(key, step));
    await page.getByRole('button', { name: 'Verify' }).click();
    // The app turned 2FA on: its recovery codes are shown once, then the account page.
    await page.waitForURL(`${app.url}/account/recovery-codes`);
    await page.goto(`${app.url}/account`);
    await page.getByText('Two-factor authentication: On').waitFor();
    await page.getByText(/Authenticator app, added/).waitFor();
    await page.screenshot({ path: path.join(screenshots, 'account-with-app.png'), fullPage: true });

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${app.url}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(strongPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${app.url}/login/2fa`);
    await page.getByRole('heading', { name: 'Enter the 6-digit code from your authenticator app' }).waitFor();
    assert.deepEqual(await seriousAxeViolations(page), []);
    await page.screenshot({ path: path.join(screenshots, 'code-step.png'), fullPage: true });
    // The setup's code was used; the app's next one signs in.
    await page.getByLabel('Code').fill(codeFor(key, step + 1));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${app.url}/account`);
    await page.getByText('Two-factor authentication: On').waitFor();
    assert.deepEqual(problems, [], 'no errors in the browser console (CSP, scripts), no failed requests');
    await context.close();
  });
});
