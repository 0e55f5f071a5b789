// "Don't ask again on this browser for 30 days" in a real browser (Debian's Chromium, headless),
// at a phone's width and a laptop's: tick the box on the code step, sign out, sign in again and
// no code is asked; "Forget" this browser on the account page, and the code is asked again; a
// session that skipped the code signs in again with it before adding a passkey. axe-core finds
// nothing serious on the pages the feature touches.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { strongPassword, uniqueEmail } from '../support/app.js';
import {
  browserForTests,
  confirmPasswordInBrowser,
  latestCode,
  problemsOn,
  screenshotFolder,
  seriousAxeViolations,
  signUpInBrowser,
  withoutChromium,
} from '../support/browser.js';

const BOX = "Don't ask again on this browser for 30 days";

describe('a remembered browser', { skip: withoutChromium }, () => {
  const running = browserForTests();

  for (const [width, phone] of [
    [375, '+33 6 12 34 56 71'],
    [1280, '+33 6 12 34 56 72'],
  ] as const) {
    it(`at ${width} px: skips the code once ticked, asks again after "Forget", and before adding a passkey`, async () => {
      const { app, browser } = running;
      const screenshots = screenshotFolder('remembered-browser', String(width));
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      const problems = problemsOn(page);
      const email = uniqueEmail(`browser-remembered-${width}`);
      const shot = (name: string) => page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });

      await signUpInBrowser(page, app, email);
      await page.getByRole('link', { name: 'Turn on two-factor authentication' }).click();
      await confirmPasswordInBrowser(page);
      await page.getByLabel('Phone number', { exact: true }).fill(phone);
      await page.getByRole('button', { name: 'Send code' }).click();
      await page.getByLabel('Code').fill(await latestCode(context, app));
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('button', { name: 'I have saved these codes' }).click();
      await page.waitForURL(`${app.url}/account`);
      // Turning 2FA on is no sign-in: the enrolment's code step offers no box.
      const signOut = () => page.getByRole('button', { name: 'Sign out', exact: true }).click();

      async function password(p: Page) {
        await p.waitForURL(`${app.url}/login`);
        await p.getByLabel('Email').fill(email);
        await p.getByLabel('Password').fill(strongPassword);
        await p.getByRole('button', { name: 'Sign in', exact: true }).click();
      }

      await signOut();
      await password(page);
      await page.waitForURL(`${app.url}/login/2fa`);
      const box = page.getByRole('checkbox', { name: BOX });
      assert.equal(await box.isChecked(), false, 'never ticked for the person');
      assert.equal(
        await page.locator('#rememberBrowser-hint').innerText(),
        'Your password is still asked. Leave this unticked on a shared or public computer.',
      );
      await page.getByLabel('Code').fill(await latestCode(context, app));
      await box.check();
      assert.deepEqual(await seriousAxeViolations(page), []);
      await shot('code-step-ticked');
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.waitForURL(`${app.url}/account`);
      const cookie = (await context.cookies()).find((candidate) => candidate.name === 'tfa.remember');
      assert.ok(cookie, 'the browser keeps the cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Lax');

      const section = page.locator('table', { has: page.getByText('Browsers that skip your second factor') });
      await section.getByText('(This browser)').waitFor();
      assert.deepEqual(await seriousAxeViolations(page), []);
      await page.getByRole('heading', { name: 'Remembered browsers' }).scrollIntoViewIfNeeded();
      await shot('account-remembered');

      // Signed out and in again: the password, and no code.
      await signOut();
      await password(page);
      await page.waitForURL(`${app.url}/account`);
      await page.getByText('Signed in on a remembered browser (no second factor asked)').first().waitFor();

      // "Forget": the code is asked again.
      await page.getByRole('button', { name: /^Forget this browser, remembered / }).click();
      await page.waitForURL(`${app.url}/account`);
      await page.getByText('That browser is forgotten').waitFor();
      await page.getByText('No browser is remembered.').waitFor();
      assert.equal(
        (await context.cookies()).find((candidate) => candidate.name === 'tfa.remember'),
        undefined,
      );
      assert.deepEqual(await seriousAxeViolations(page), []);
      await shot('account-forgotten');
      await signOut();
      await password(page);
      await page.waitForURL(`${app.url}/login/2fa`);
      await page.getByLabel('Code').waitFor();
      await shot('code-asked-again');

      // Remembered again: a session that skipped the code signs in again with it before adding a passkey.
      await page.getByLabel('Code').fill(await latestCode(context, app));
      await page.getByRole('checkbox', { name: BOX }).check();
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.waitForURL(`${app.url}/account`);
      await signOut();
      await password(page);
      await page.waitForURL(`${app.url}/account`);
      await page.getByRole('link', { name: 'Add a passkey' }).click();
      await page.waitForURL(/\/account\/second-factor\?next=/);
      await page.getByRole('heading', { name: 'Sign in with your second factor' }).waitFor();
      assert.deepEqual(await seriousAxeViolations(page), []);
      assert.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'));
      await shot('second-factor-again');
      await page.getByRole('button', { name: 'Sign in again' }).click();
      await page.waitForURL(`${app.url}/login?next=${encodeURIComponent('/account/passkeys/new')}`);
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(strongPassword);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(`${app.url}/login/2fa`);
      await page.getByLabel('Code').fill(await latestCode(context, app));
      await page.getByRole('button', { name: 'Verify' }).click();
      await confirmPasswordInBrowser(page);
      await page.waitForURL(`${app.url}/account/passkeys/new`);
      await page.getByRole('heading', { name: 'Add a passkey' }).waitFor();
      assert.deepEqual(problems, []);
      await context.close();
    });
  }
});
