// Session theft: a stolen or forgotten session can be ended from the account page.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csrfTokenIn, sessionCookie, signIn, signUp, appForTests, strongPassword } from '../support/app.js';

describe('sign out everywhere', () => {
  const running = appForTests();

  it("ends every session of the user, on every device, and no other user's", async () => {
    const laptop = running.app.agent();
    const { email } = await signUp(laptop);
    const phone = running.app.agent();
    const remembered = await signIn(phone, email, strongPassword, { remember: 'on' });
    const stolenCookie = sessionCookie(remembered)!;
    const someoneElse = running.app.agent();
    await signUp(someoneElse);

    const account = await laptop.get('/account').expect(200);
    assert.match(account.text, />Sign out everywhere<\/button>/);
    const response = await laptop
      .post('/account/sign-out-everywhere')
      .type('form')
      .send({ _csrf: csrfTokenIn(account.text) });
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login');
    assert.match((await laptop.get('/login').expect(200)).text, /signed out on every device/);

    await laptop.get('/account').expect(303);
    await phone.get('/account').expect(303);
    assert.equal(
      (await running.app.agent().get('/account').set('Cookie', stolenCookie)).status,
      303,
      'a stolen cookie is dead too',
    );
    await someoneElse.get('/account').expect(200);

    const event = await running.app.services.database.prisma.auditEvent.findFirst({
      where: { type: 'sign_out', detail: { path: ['everywhere'], equals: true } },
    });
    assert.ok(event, 'written to the audit trail');
  });

  it('needs the CSRF token, so another site cannot sign people out everywhere', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    assert.equal((await agent.post('/account/sign-out-everywhere').type('form').send({})).status, 403);
    await agent.get('/account').expect(200);
  });
});
