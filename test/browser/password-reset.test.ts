// "Forgot password?" as a person does it in Chromium: from the sign-in page, the mail (over a
// real SMTP relay on loopback), the link, the new password, and signing in with it; at a phone's
// width, by keyboard where it counts, with nothing serious for axe-core.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { strongPassword, uniqueEmail } from '../support/app.js';
import {
  browserForTests,
  screenshotFolder,
  seriousAxeViolations,
  signUpInBrowser,
  withoutChromium,
} from '../support/browser.js';
import { linkIn, startMailCatcher, type MailCatcher } from '../support/mail.js';

const screenshots = screenshotFolder('password-reset');
const newPassword = 'lantern orchard velvet compass';

describe('a forgotten password, reset from the email link in a browser', { skip: withoutChromium }, () => {
  let mail: MailCatcher;
  before(async () => {
    mail = await startMailCatcher();
  });
  const running = browserForTests(() => ({ env: { SMTP_URL: mail.url } }));
  after(async () => {
    await mail?.close();
  });

  it('asks for the link, follows it from the mail, chooses a new password and signs in with it', async () => {
    const { app, browser } = running;
    const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const page = await context.newPage();
    const email = uniqueEmail('forgetful');
    await signUpInBrowser(page, app, email);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${app.url}/login`);

    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.waitForURL(`${app.url}/forgot-password`);
    assert.deepEqual(await seriousAxeViolations(page), []);
    await page.screenshot({ path: path.join(screenshots, 'request-375.png'), fullPage: true });
    await page.getByLabel('Email').fill(email);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    assert.deepEqual(await seriousAxeViolations(page), []);

    const link = linkIn(await mail.waitFor(email, 'Reset your password'), '/reset-password/');
    await page.goto(`${app.url}${link}`);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    assert.deepEqual(await seriousAxeViolations(page), []);
    const width = await page.evaluate<number>('document.documentElement.scrollWidth');
    assert.ok(width <= 375, `the page fits a phone (${width} px)`);
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Confirm new password').fill(newPassword);
    await page.screenshot({ path: path.join(screenshots, 'new-password-375.png'), fullPage: true });
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.waitForURL(`${app.url}/login`);
    assert.match(await page.locator('main').innerText(), /Your password is changed/);

    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(strongPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    assert.match(await page.locator('main').innerText(), /Incorrect email or password/);
    await page.getByLabel('Password', { exact: true }).fill(newPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${app.url}/account`);
    assert.match(await page.locator('main').innerText(), /Email: verified/);

    // The link was used: it says so, with the way to ask again.
    await page.goto(`${app.url}${link}`);
    assert.match(await page.locator('main').innerText(), /This link no longer works/);
    await context.close();
  });
});
