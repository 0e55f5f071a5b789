// The phone field with JavaScript, in a real browser (Debian's Chromium, headless): numbers
// typed key by key or pasted reach the server whole, whatever country the picker shows, and
// axe-core finds nothing serious on the page with the country picker closed or open.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { uniqueEmail } from '../support/app.js';
import { eventually } from '../support/eventually.js';
import {
  browserForTests,
  confirmPasswordInBrowser,
  screenshotFolder,
  seriousAxeViolations,
  signUpInBrowser,
  withoutChromium,
} from '../support/browser.js';

const screenshots = screenshotFolder();

const UK_NUMBER = '+44 20 7946 0958';
const UK_E164 = '+442079460958';

describe('the phone field with JavaScript', { skip: withoutChromium }, () => {
  const running = browserForTests();

  /** A new person, signed up, password confirmed, on the phone form with the picker ready. */
  async function phoneForm(label: string, width = 1280): Promise<Page> {
    const { app, browser } = running;
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    context.setDefaultTimeout(10_000);
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const page = await context.newPage();
    await signUpInBrowser(page, app, uniqueEmail(label));
    await page.goto(`${app.url}/account/2fa`);
    await confirmPasswordInBrowser(page);
    await page.waitForURL(`${app.url}/account/2fa`);
    await page.locator('.iti').waitFor();
    return page;
  }

  const phoneField = (page: Page) => page.getByRole('textbox', { name: 'Phone number' });
  const countrySearch = (page: Page) => page.getByRole('combobox', { name: 'Search' });
  const countryButton = (page: Page) => page.getByRole('button', { name: /country/i });

  async function chooseCountry(page: Page, name: string): Promise<void> {
    await countryButton(page).click();
    const search = countrySearch(page);
    await search.fill(name);
    await page
      .getByRole('option', { name: new RegExp(`^${name}`) })
      .first()
      .click();
    // The picker updates its button once the list closes: wait for it rather than read it at once.
    await eventually(
      async () => new RegExp(name).test((await countryButton(page).getAttribute('aria-label')) ?? ''),
      `the country button says ${name}`,
      5_000,
    );
  }

  /** Sends the form and answers the number the code went to, as /dev/outbox lists it. */
  async function submitAndReadRecipient(page: Page): Promise<string> {
    const { app } = running;
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.waitForURL(`${app.url}/account/2fa/verify`);
    const outbox = await page.context().newPage();
    await outbox.goto(`${app.url}/dev/outbox`);
    const to = await outbox.locator('tbody tr').first().locator('td').first().innerText();
    await outbox.close();
    return to.trim();
  }

  it('puts the focus in the phone field, as other forms do with their first field', async () => {
    const page = await phoneForm('phone-focus');
    assert.equal(await page.evaluate("document.activeElement.getAttribute('name')"), 'phone');
    await page.context().close();
  });

  it('keeps a number typed key by key with its country code whole, without opening the country search', async () => {
    const page = await phoneForm('phone-typed');
    await phoneField(page).click();
    await phoneField(page).pressSequentially(UK_NUMBER);
    assert.equal(await countrySearch(page).isVisible(), false, 'the country search stayed closed');
    assert.equal(
      (await phoneField(page).inputValue()).replace(/\D/g, ''),
      UK_E164.slice(1),
      'every digit is in the field',
    );
    assert.match((await countryButton(page).getAttribute('aria-label')) ?? '', /United Kingdom/);
    await page.screenshot({ path: path.join(screenshots, 'phone-typed.png'), fullPage: true });
    assert.equal(await submitAndReadRecipient(page), UK_E164);
    await page.context().close();
  });

  it('keeps every digit of an international number pasted while another country is chosen', async () => {
    const page = await phoneForm('phone-pasted');
    await chooseCountry(page, 'France');
    await phoneField(page).click();
    await page.evaluate(`navigator.clipboard.writeText(${JSON.stringify(UK_NUMBER)})`);
    await page.keyboard.press('ControlOrMeta+V');
    assert.equal(
      (await phoneField(page).inputValue()).replace(/\D/g, ''),
      UK_E164.slice(1),
      'every digit is in the field',
    );
    assert.match((await countryButton(page).getAttribute('aria-label')) ?? '', /United Kingdom/);
    assert.equal(await submitAndReadRecipient(page), UK_E164);
    await page.context().close();
  });

  it('sends a national number in the chosen country', async () => {
    const page = await phoneForm('phone-national', 375);
    await chooseCountry(page, 'France');
    await phoneField(page).click();
    await phoneField(page).pressSequentially('06 12 34 56 78');
    await page.screenshot({ path: path.join(screenshots, 'phone-national-375.png'), fullPage: true });
    assert.equal(await submitAndReadRecipient(page), '+33612345678');
    await page.context().close();
  });

  it('has no serious or critical axe-core findings with the country picker closed or open', async () => {
    for (const width of [375, 1280]) {
      const page = await phoneForm(`phone-axe-${width}`, width);
      assert.deepEqual(await seriousAxeViolations(page), [], `picker closed at ${width} px`);
      await countryButton(page).click();
      await countrySearch(page).waitFor();
      await page.screenshot({ path: path.join(screenshots, `phone-picker-open-${width}.png`), fullPage: true });
      assert.deepEqual(await seriousAxeViolations(page), [], `picker open at ${width} px`);
      await page.keyboard.press('Escape');
      assert.equal(await countrySearch(page).isVisible(), false, 'Escape closes the picker');
      await page.context().close();
    }
  });
});
