// Hostile and odd input in every field: a clear message, the right status, nothing half-written.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { confirmPassword, csrfTokenIn, signIn, signUp, strongPassword, submitForm, uniqueEmail, type TestApp } from '../support/app.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';

const HOSTILE: Array<[string, string]> = [
  ['a NUL byte', 'abc\u0000def@example.com'],
  ['emoji', '🙂🙂🙂@example.com'],
  ['a very long string', `${'a'.repeat(5_000)}@example.com`],
  ['markup', '<script>alert(1)</script>@example.com'],
  ['an array', ''],
];

describe('bad input', () => {
  const twilio = appOnTwilio();
  let app: TestApp;
  before(() => {
    app = twilio.app;
  });

  for (const [what, email] of HOSTILE) {
    it(`sign-up refuses ${what} in the email with 422 and stores nothing`, async () => {
      const before = await app.services.database.prisma.user.count();
      const agent = app.agent();
      const token = csrfTokenIn((await agent.get('/signup').expect(200)).text);
      const body =
        what === 'an array'
          ? `email=a%40example.com&email=b%40example.com&password=${encodeURIComponent(strongPassword)}&passwordConfirmation=${encodeURIComponent(strongPassword)}&_csrf=${token}`
          : { email, password: strongPassword, passwordConfirmation: strongPassword, _csrf: token };
      const response = await agent.post('/signup').type('form').send(body);
      assert.equal(response.status, 422, what);
      assert.match(response.text, /Enter (an|your) email address|Use an email address of at most 254 characters/);
      assert.doesNotMatch(response.text, /<script>alert/, 'markup is escaped, never echoed raw');
      assert.equal(await app.services.database.prisma.user.count(), before);
    });
  }

  it('refuses control characters in a new password, and accepts emoji', async () => {
    const nul = await submitForm(app.agent(), '/signup', '/signup', {
      email: uniqueEmail('nul'),
      password: `${strongPassword}\u0000`,
      passwordConfirmation: `${strongPassword}\u0000`,
    });
    assert.equal(nul.status, 422);
    assert.match(nul.text, /no control characters/);
    const emoji = '🔐 my keys are under the 🪴 plant';
    const ok = await submitForm(app.agent(), '/signup', '/signup', { email: uniqueEmail('emoji'), password: emoji, passwordConfirmation: emoji });
    assert.equal(ok.status, 303);
  });

  it('answers odd sign-in input with the generic failure, never a 500', async () => {
    const { email } = await signUp(app.agent());
    for (const password of ['\u0000', '🙂'.repeat(300), 'x'.repeat(2_000), ' ']) {
      const response = await signIn(app.agent(), email, password);
      assert.ok([401, 422].includes(response.status), `${response.status} for ${JSON.stringify(password.slice(0, 10))}`);
    }
    const arrays = app.agent();
    const token = csrfTokenIn((await arrays.get('/login').expect(200)).text);
    const response = await arrays.post('/login').type('form').send(`email=${encodeURIComponent(email)}&email=x&password=a&password=b&_csrf=${token}`);
    assert.ok([401, 422].includes(response.status));
  });

  it('answers odd input at the password confirmation with a refusal, never a 500, and confirms nothing', async () => {
    const agent = app.agent();
    await signUp(agent);
    for (const password of ['\u0000', '🙂'.repeat(300), 'x'.repeat(2_000), ' ', '']) {
      const response = await submitForm(agent, '/account/confirm-password', '/account/confirm-password', { password, next: `/${'x'.repeat(5_000)}` });
      assert.ok([401, 422].includes(response.status), `${response.status} for ${JSON.stringify(password.slice(0, 10))}`);
    }
    const token = csrfTokenIn((await agent.get('/account/confirm-password').expect(200)).text);
    const repeated = await agent.post('/account/confirm-password').type('form').send(`password=a&password=${encodeURIComponent(strongPassword)}&_csrf=${token}`);
    assert.equal(repeated.status, 422);
    await agent.get('/account/2fa').expect(303);
  });

  it('ignores a JSON body sent to a form, asking for the fields', async () => {
    const agent = app.agent();
    const token = csrfTokenIn((await agent.get('/login').expect(200)).text);
    const response = await agent.post('/login').set('X-CSRF-Token', token).send({ email: 'a@example.com', password: strongPassword });
    assert.equal(response.status, 422);
    assert.match(response.text, /Enter your email address/);
  });

  it('normalises codes typed with spaces or dashes, and refuses letters without asking Twilio', async () => {
    const agent = app.agent();
    const { email } = await signUp(agent);
    const phone = '+33677000001';
    await turnOnTwoFactor(agent, twilio.standIn, phone);
    const signingIn = app.agent();
    await signIn(signingIn, email, strongPassword);
    for (const code of ['12345a', '١٢٣٤٥٦x', '<b>1</b>', '\u0000123456', '9'.repeat(11)]) {
      const response = await submitForm(signingIn, '/login/2fa', '/login/2fa', { code });
      assert.equal(response.status, 422, JSON.stringify(code));
      assert.match(response.text, /The code is 6 digits|Enter the 6-digit code/);
    }
    const real = twilio.standIn.lastCodeFor(phone)!;
    const dashed = `${real.slice(0, 3)}-${real.slice(3)}`;
    assert.equal((await submitForm(signingIn, '/login/2fa', '/login/2fa', { code: ` ${dashed} ` })).status, 303);
  });

  for (const [phone, status] of [
    ['+33 (0)6 12 34 56 78', 303],
    ['00 33 6 12 34 56 78', 303],
    ['+33.6.12.34.56.78', 303],
    ['☎ 06 12 34 56 78', 422],
    ['0', 422],
    ['+999 123456789', 422],
    ['6'.repeat(200), 422],
  ] as const) {
    it(`answers the phone number ${JSON.stringify(phone.slice(0, 30))} with ${status}`, async () => {
      const agent = app.agent();
      await signUp(agent);
      await confirmPassword(agent);
      const response = await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' });
      assert.equal(response.status, status);
      if (status === 422) assert.match(response.text, /phone number/);
    });
  }
});
