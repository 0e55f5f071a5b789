// Passkeys in a real browser (Debian's Chromium, headless) with a CDP virtual authenticator
// (CTAP2, internal transport, resident keys, user verification on): add a passkey from the
// account page, sign out, sign in with the password and the passkey, then remove it. The app
// is reached at http://localhost:PORT, a secure context whose host can be an RP ID (an IP
// address cannot), with PASSKEY_RP_ID and PASSKEY_ORIGINS set to match. Without JavaScript the
// pages say passkeys need it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort, strongPassword, uniqueEmail } from '../support/app.js';
import {
  browserForTests,
  confirmPasswordInBrowser,
  screenshotFolder,
  seriousAxeViolations,
  signUpInBrowser,
  withoutChromium,
} from '../support/browser.js';

const screenshots = screenshotFolder('passkeys');

describe('passkeys in a browser', { skip: withoutChromium }, () => {
  let port = 0;
  const running = browserForTests(async () => {
    port = await freePort();
    return { port, env: { PASSKEY_RP_ID: 'localhost', PASSKEY_ORIGINS: `http://localhost:${port}` } };
  });
  const site = () => `http://localhost:${port}`;

  it('adds a passkey, signs in with the password and the passkey, and removes it', async () => {
    const { browser } = running;
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    });

    const email = uniqueEmail('browser-passkey');
    await signUpInBrowser(page, running.app, email, site());

    await page.getByRole('link', { name: 'Add a passkey' }).click();
    await confirmPasswordInBrowser(page);
    await page.waitForURL(`${site()}/account/passkeys/new`);
    await page.getByRole('heading', { name: 'Add a passkey' }).waitFor();
    // With JavaScript and WebAuthn, nothing says they are missing.
    assert.equal(await page.getByText('This browser cannot use passkeys').isVisible(), false);
    assert.deepEqual(await seriousAxeViolations(page), []);
    await page.getByLabel('Passkey name').fill('Chromium');
    await page.screenshot({ path: path.join(screenshots, 'add.png'), fullPage: true });
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    // The first passkey turned 2FA on: its recovery codes are shown once, then the account page.
    await page.waitForURL(`${site()}/account/recovery-codes`);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]!.isResidentCredential, true, 'a discoverable credential (resident key preferred)');
    await page.goto(`${site()}/account`);
    await page.getByText('Two-factor authentication: On').waitFor();
    await page.getByText(/Chromium, added/).waitFor();
    await page.getByText(/never used yet/).waitFor();
    await page.screenshot({ path: path.join(screenshots, 'account-with-passkey.png'), fullPage: true });

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${site()}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(strongPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${site()}/login/2fa`);
    await page.getByRole('heading', { name: 'Use your passkey' }).waitFor();
    assert.deepEqual(await seriousAxeViolations(page), []);
    await page.screenshot({ path: path.join(screenshots, 'sign-in-step.png'), fullPage: true });
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.waitForURL(`${site()}/account`);
    await page.getByText(/Chromium, added/).waitFor();
    await page.getByText(/last used/).waitFor();
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(after.credentials[0]!.signCount >= 1, 'the authenticator signed');

    await page.getByRole('link', { name: 'Remove the passkey Chromium' }).click();
    // The sign-in's password does not count as a confirmation: asked again.
    await confirmPasswordInBrowser(page);
    await page.getByRole('heading', { name: 'Remove the passkey “Chromium”' }).waitFor();
    await page.getByRole('button', { name: 'Remove the passkey Chromium' }).click();
    await page.waitForURL(`${site()}/account`);
    await page.getByText('Two-factor authentication: Off').waitFor();
    assert.equal(await page.getByText(/Chromium, added/).count(), 0);
    assert.deepEqual(problems, [], 'no errors in the browser console (CSP, scripts), no failed requests');
    await context.close();
  });

  it('says passkeys need JavaScript when it is off', async () => {
    const { browser } = running;
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const email = uniqueEmail('browser-passkey-nojs');
    await signUpInBrowser(page, running.app, email, site());
    await page.goto(`${site()}/account/passkeys/new`);
    await confirmPasswordInBrowser(page);
    await page.waitForURL(`${site()}/account/passkeys/new`);
    await page.getByText(/Passkeys need JavaScript.*authenticator app or a phone instead/).waitFor();
    // Sent anyway, the form says so again and adds nothing.
    await page.getByLabel('Passkey name').fill('No JavaScript');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page
      .getByText(/Your browser did not use a passkey/)
      .first()
      .waitFor();
    await context.close();
  });
});
