// "Confirm your password" (sudo mode) over real HTTP: who it asks, where it returns, how long
// a confirmation lasts, and that a form sent without one changes nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  agePasswordConfirmation,
  confirmPassword,
  csrfTokenIn,
  sessionCookie,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
} from '../support/app.js';
import { appOnTwilio } from '../support/twilio.js';

describe('password confirmation (sudo mode)', () => {
  const twilio = appOnTwilio();

  /** Signs up, then signs in again with the password: signed in, nothing confirmed. */
  async function signedIn(): Promise<{ agent: Agent; email: string }> {
    const { email } = await signUp(twilio.app.agent());
    const agent = twilio.app.agent();
    assert.equal((await signIn(agent, email, strongPassword)).status, 303);
    return { agent, email };
  }

  const ageConfirmation = (cookie: string, ms: number) => agePasswordConfirmation(twilio.app, cookie, ms);

  it('sends visitors who are not signed in to the sign-in page', async () => {
    const response = await twilio.app.agent().get('/account/confirm-password?next=%2Faccount%2F2fa').expect(303);
    assert.equal(response.headers.location, '/login?next=%2Faccount%2Fconfirm-password%3Fnext%3D%252Faccount%252F2fa');
  });

  it('does not count the password typed at sign-in', async () => {
    const { agent } = await signedIn();
    const asked = await agent.get('/account/2fa').expect(303);
    assert.equal(asked.headers.location, '/account/confirm-password?next=%2Faccount%2F2fa');
    const page = await agent.get(asked.headers.location as string).expect(200);
    assert.match(page.text, /<title>Confirm your password/);
    assert.match(page.text, /name="next" value="\/account\/2fa"/);
    assert.equal(page.headers['cache-control'], 'no-store');
  });

  it('returns to `next` when it is on this site, and to the account page otherwise', async () => {
    const { agent } = await signedIn();
    const local = await submitForm(agent, '/account/confirm-password', '/account/confirm-password', {
      password: strongPassword,
      next: '/account/2fa?from=menu',
    });
    assert.equal(local.headers.location, '/account/2fa?from=menu');
    for (const next of ['//evil.example', 'https://evil.example/', '/\\evil.example', '']) {
      const response = await submitForm(agent, '/account/confirm-password', '/account/confirm-password', {
        password: strongPassword,
        next,
      });
      assert.equal(response.status, 303);
      assert.equal(response.headers.location, '/account', JSON.stringify(next));
    }
  });

  it('lasts five minutes; after that a form sent changes nothing and its page comes back after a new confirmation', async () => {
    const { agent } = await signedIn();
    const confirmed = await submitForm(agent, '/account/confirm-password', '/account/confirm-password', {
      password: strongPassword,
      next: '/account/2fa',
    });
    const phone = '+33611440001';
    assert.equal((await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' })).status, 303);
    const token = csrfTokenIn((await agent.get('/account/2fa/verify').expect(200)).text);

    await ageConfirmation(sessionCookie(confirmed)!, 5 * 60_000 + 1_000);
    const late = await agent
      .post('/account/2fa/verify')
      .type('form')
      .send({ code: twilio.standIn.lastCodeFor(phone)!, _csrf: token });
    assert.equal(late.status, 303);
    assert.equal(late.headers.location, '/account/confirm-password?next=%2Faccount%2F2fa%2Fverify');
    assert.equal(
      await twilio.app.services.database.prisma.userFactor.count({ where: { kind: 'phone', phoneNumber: phone } }),
      0,
      '2FA was not turned on',
    );
    await agent.get('/account/2fa/disable').expect(303);

    await confirmPassword(agent);
    await agent.get('/account/2fa/verify').expect(200);
    const verified = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', {
      code: twilio.standIn.lastCodeFor(phone)!,
    });
    assert.equal(verified.status, 303);
    assert.equal(
      await twilio.app.services.database.prisma.userFactor.count({ where: { kind: 'phone', phoneNumber: phone } }),
      1,
    );
  });

  it('asks again after signing out and in', async () => {
    const { agent, email } = await signedIn();
    await confirmPassword(agent);
    await agent.get('/account/2fa').expect(200);
    const token = csrfTokenIn((await agent.get('/account').expect(200)).text);
    await agent.post('/logout').type('form').send({ _csrf: token }).expect(303);
    assert.equal((await signIn(agent, email, strongPassword)).status, 303);
    await agent.get('/account/2fa').expect(303);
  });
});
