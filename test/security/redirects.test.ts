// `next` can never send anyone off the site: every way of spelling another host, sent through
// every place that honours `next` (sign-in, the code step, sign-up, an already signed-in visit,
// the password confirmation), judged on the Location header the browser actually receives.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { signIn, signUp, strongPassword, submitForm, uniqueEmail, type Agent } from '../support/app.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';

const OFF_SITE_NEXT = [
  '//evil.example',
  '///evil.example',
  '/.//evil.example',
  '/././/evil.example',
  '/%2e//evil.example',
  '/%2E//evil.example',
  '/a/..//evil.example',
  '/a/%2e%2e//evil.example',
  '/..//evil.example',
  '/%2f/evil.example',
  '/%2F%2Fevil.example',
  '/%5c/evil.example',
  '/.%2f/evil.example',
  '/.%2F/evil.example',
  '/..%2f..%2f/evil.example',
  '/\\evil.example',
  '/.\\/evil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  '/.\t//evil.example',
  '/\r\nLocation: https://evil.example',
  'https://evil.example',
  'http:/evil.example',
  'javascript:alert(1)',
  ' /evil.example',
  `/${'a'.repeat(5_000)}`,
];

/** The Location is a path on this site: nothing a browser could read as another host. */
function assertStaysOnSite(location: unknown, sent: string): void {
  const what = `next=${JSON.stringify(sent.slice(0, 40))} gave Location ${JSON.stringify(location)}`;
  assert.equal(typeof location, 'string', what);
  const value = location as string;
  assert.ok(value.startsWith('/'), what);
  assert.doesNotMatch(value, /^.[/\\]/, what);
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  assert.doesNotMatch(value, /[\\\u0000-\u001f\u007f]/, what);
  const decoded = decodeURIComponent(new URL(value, 'http://site.invalid').pathname);
  assert.doesNotMatch(decoded, /^.[/\\]/, what);
  assert.doesNotMatch(
    new URL(decoded, 'http://site.invalid').pathname,
    /^.[/\\]/,
    `${what}, once decoded and normalised`,
  );
  assert.equal(new URL(value, 'http://site.invalid').origin, 'http://site.invalid', what);
}

describe('next never leaves the site', () => {
  const twilio = appOnTwilio();
  let password: { email: string };
  let twoFactor: { email: string; phone: string };

  before(async () => {
    password = await signUp(twilio.app.agent());
    const agent = twilio.app.agent();
    twoFactor = { ...(await signUp(agent)), phone: '+33612340077' };
    await turnOnTwoFactor(agent, twilio.standIn, twoFactor.phone);
  });

  async function throughCodeStep(next: string): Promise<unknown> {
    const agent = twilio.app.agent();
    const passwordStep = await signIn(agent, twoFactor.email, strongPassword, { next });
    assert.equal(passwordStep.headers.location, '/login/2fa');
    const code = twilio.standIn.lastCodeFor(twoFactor.phone)!;
    const codeStep = await submitForm(agent, '/login/2fa', '/login/2fa', { code });
    assert.equal(codeStep.status, 303);
    return codeStep.headers.location;
  }

  async function whenAlreadySignedIn(agent: Agent, next: string): Promise<unknown> {
    const response = await agent.get('/login').query({ next });
    assert.equal(response.status, 303);
    return response.headers.location;
  }

  for (const next of OFF_SITE_NEXT) {
    it(`keeps ${JSON.stringify(next.slice(0, 40))} on the site`, async () => {
      const signingIn = twilio.app.agent();
      const signedIn = await signIn(signingIn, password.email, strongPassword, { next });
      assert.equal(signedIn.status, 303);
      assertStaysOnSite(signedIn.headers.location, next);
      assertStaysOnSite(await whenAlreadySignedIn(signingIn, next), next);
      const confirmed = await submitForm(signingIn, '/account/confirm-password', '/account/confirm-password', {
        password: strongPassword,
        next,
      });
      assert.equal(confirmed.status, 303);
      assertStaysOnSite(confirmed.headers.location, next);

      assertStaysOnSite(await throughCodeStep(next), next);

      const signingUp = await submitForm(twilio.app.agent(), '/signup', '/signup', {
        email: uniqueEmail('next'),
        password: strongPassword,
        passwordConfirmation: strongPassword,
        next,
      });
      assert.equal(signingUp.status, 303);
      assertStaysOnSite(signingUp.headers.location, next);
    });
  }

  it('still honours a plain local path, with its query, through every step', async () => {
    const next = '/account?tab=security';
    assert.equal((await signIn(twilio.app.agent(), password.email, strongPassword, { next })).headers.location, next);
    assert.equal(await throughCodeStep(next), next);
    const signingUp = await submitForm(twilio.app.agent(), '/signup', '/signup', {
      email: uniqueEmail('next'),
      password: strongPassword,
      passwordConfirmation: strongPassword,
      next,
    });
    assert.equal(signingUp.headers.location, next);
  });
});
