// Passkeys in a real browser (Debian's Chromium, headless) with a CDP virtual authenticator
// (CTAP2, internal transport, resident keys, user verification on): add a passkey from the
// account page, sign out, sign in with the password and the passkey, then remove it; "Sign in
// with a passkey" on /login, with no password, on a phone's width and a desktop's. The app
// is reached at http://localhost:PORT, a secure context whose host can be an RP ID (an IP
// address cannot), with PASSKEY_RP_ID and PASSKEY_ORIGINS set to match. Without JavaScript the
// pages say passkeys need it. A passkey also proves it is the person before deleting the account.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort, strongPassword, uniqueEmail } from '../support/app.js';
import {
  browserForTests,
  confirmPasswordInBrowser,
  problemsOn,
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

  /**
   * A page in a new browser context with a CDP virtual authenticator (CTAP2, internal, resident
   * keys, user verification on), and the console errors and failed requests it meets.
   * `presence` turns the authenticator's automatic answers off and on.
   */
  async function withAuthenticator(viewport?: { width: number; height: number }) {
    const context = await running.browser.newContext(viewport ? { viewport } : {});
    const page = await context.newPage();
    const problems = problemsOn(page);
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
    const presence = (enabled: boolean) =>
      cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled });
    return { context, page, problems, cdp, authenticatorId, presence };
  }

  it('adds a passkey, signs in with the password and the passkey, and removes it', async () => {
    const { context, page, problems, cdp, authenticatorId, presence } = await withAuthenticator();

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

    // The virtual authenticator would answer /login's passkey autofill at once, as no person
    // would without picking it: it waits while the password is typed.
    await presence(false);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${site()}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(strongPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${site()}/login/2fa`);
    await presence(true);
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

  it('signs in with "Sign in with a passkey" alone, without a password, at 375 px and at 1280 px', async () => {
    const { context, page, problems, cdp, authenticatorId, presence } = await withAuthenticator({
      width: 375,
      height: 740,
    });

    const email = uniqueEmail('browser-passwordless');
    await signUpInBrowser(page, running.app, email, site());
    await page.getByRole('link', { name: 'Add a passkey' }).click();
    await confirmPasswordInBrowser(page);
    await page.getByLabel('Passkey name').fill('Phone');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(`${site()}/account/recovery-codes`);

    // The virtual authenticator answers a passkey autofill (conditional mediation) at once, as no
    // person would without picking it: off while /login loads, so the button's prompt is used.
    for (const width of [375, 1280]) {
      await page.setViewportSize({ width, height: width === 375 ? 740 : 800 });
      await page.goto(`${site()}/account`);
      await presence(false);
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${site()}/login`);
      const button = page.getByRole('button', { name: 'Sign in with a passkey', exact: true });
      await button.waitFor();
      assert.equal(await page.getByText('This browser cannot use passkeys').isVisible(), false);
      assert.equal(await page.getByLabel('Email').getAttribute('autocomplete'), 'username webauthn');
      assert.deepEqual(await seriousAxeViolations(page), [], `axe at ${width} px`);
      // Nothing is wider than the screen.
      assert.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'));
      await page.screenshot({ path: path.join(screenshots, `login-${width}.png`), fullPage: true });
      await presence(true);
      // The autofill still waits for a person: it is the button that signs in.
      await page.waitForTimeout(300);
      assert.equal(page.url(), `${site()}/login`);
      await button.click();
      await page.waitForURL(`${site()}/account`);
      await page.getByText(/Phone, added/).waitFor();
      await page.getByText(/last used/).waitFor();
      await page.screenshot({ path: path.join(screenshots, `signed-in-by-passkey-${width}.png`), fullPage: true });
    }
    // The passkey offered by autofill: answered (here at once) as the page loads, no button pressed.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${site()}/account`);
    await page.getByText(/Phone, added/).waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(credentials[0]!.signCount >= 3, 'the authenticator signed each time');
    const signIns = await running.app.services.database.prisma.auditEvent.count({
      where: { type: 'sign_in', outcome: 'ok', user: { email }, detail: { path: ['method'], equals: 'passkey' } },
    });
    assert.equal(signIns, 3);

    // The passkey proves it is the person before the account is deleted, chosen among the ways.
    await page.goto(`${site()}/account/delete`);
    await confirmPasswordInBrowser(page);
    await page.waitForURL(`${site()}/account/delete`);
    await page.getByLabel('One of your passkeys').check();
    await page.getByLabel('Type your email address to confirm').fill(email);
    assert.deepEqual(await seriousAxeViolations(page), []);
    await page.screenshot({ path: path.join(screenshots, 'delete-with-passkey.png'), fullPage: true });
    await page.getByRole('button', { name: 'Delete account' }).click();
    await page.waitForURL(`${site()}/account/deleted`);
    assert.equal(await running.app.services.database.prisma.user.count({ where: { email } }), 0);
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
    // On /login the page says signing in with a passkey needs JavaScript.
    await page.goto(`${site()}/account`);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${site()}/login`);
    await page.getByText(/Signing in with a passkey needs JavaScript/).waitFor();
    // A button that could only fail is not offered: the password form is the way.
    assert.equal(await page.getByRole('button', { name: 'Sign in with a passkey', exact: true }).count(), 0);
    await page.getByLabel('Password', { exact: true }).waitFor();
    await page.screenshot({ path: path.join(screenshots, 'login-passkey-without-javascript.png'), fullPage: true });
    await context.close();
  });
});
