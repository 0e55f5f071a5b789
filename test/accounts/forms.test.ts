// What the forms say after an error, over real HTTP: one error summary listing every field's
// problem at once (each linking to its field), what was typed kept (passwords excepted), no
// message said twice, and on the code step only problems with the code itself at the Code
// field. Also where the code went, and the way back in for a person who lost their phone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appForTests,
  confirmPassword,
  csrfTokenIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  uniqueEmail,
  type Agent,
} from '../support/app.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';

/** The error summary's entries: [link target or undefined, text]. */
function summaryOf(html: string): Array<[string | undefined, string]> {
  const summary = /<div class="error-summary"[\s\S]*?<\/ul>/.exec(html)?.[0] ?? '';
  return [...summary.matchAll(/<li>(?:<a href="#([^"]+)">)?([^<]+)/g)].map((match) => [match[1], match[2]!.trim()]);
}

function occurrences(html: string, text: string): number {
  return html.split(text).length - 1;
}

/** The field's own error, as the page shows it under the field's label. */
function fieldError(html: string, field: string): string | undefined {
  return new RegExp(`id="${field}-error"><span class="visually-hidden">Error:</span> ([^<]+)`).exec(html)?.[1];
}

describe('forms after an error', () => {
  const running = appForTests({ env: { SUPPORT_CONTACT: 'help@example.com' } });

  it("sign-up lists every field's problem at once, in form order, linked to the fields, keeping the email", async () => {
    const agent = running.app.agent();
    const response = await submitForm(agent, '/signup', '/signup', {
      email: 'not an email',
      password: 'short',
      passwordConfirmation: 'other',
    });
    assert.equal(response.status, 422);
    assert.deepEqual(summaryOf(response.text), [
      ['email', 'Enter an email address like name@example.com.'],
      ['password', 'Use at least 8 characters. A few unrelated words make a strong password.'],
      ['passwordConfirmation', 'The two passwords do not match.'],
    ]);
    for (const [field, message] of summaryOf(response.text)) {
      assert.equal(fieldError(response.text, field!), message, `${field} shows its own error`);
      assert.equal(occurrences(response.text, message), 2, `${field}: once in the summary, once at the field`);
    }
    assert.match(response.text, /id="email"[^>]*value="not an email"/);
    assert.doesNotMatch(response.text, /value="short"|value="other"/, 'passwords are never echoed');
    assert.match(
      response.text,
      /<input id="email"[^>]*autofocus/,
      'without JavaScript the first field in error has the focus',
    );
    assert.doesNotMatch(response.text, /highlighted fields/);
  });

  it('sign-in lists both missing fields; a wrong password is one message above the form, the email kept', async () => {
    const agent = running.app.agent();
    const empty = await submitForm(agent, '/login', '/login', { email: '', password: '' });
    assert.deepEqual(
      summaryOf(empty.text).map(([field]) => field),
      ['email', 'password'],
    );
    const { email } = await signUp(running.app.agent());
    const wrong = await signIn(agent, email, 'not the password');
    assert.equal(wrong.status, 401);
    assert.deepEqual(summaryOf(wrong.text), [[undefined, 'Incorrect email or password.']]);
    assert.equal(occurrences(wrong.text, 'Incorrect email or password.'), 1);
    assert.match(wrong.text, new RegExp(`id="email"[^>]*value="${email.replace(/\./g, '\\.')}"`));
  });

  it('confirming the password: a wrong one is shown at the Password field', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    const response = await submitForm(agent, '/account/confirm-password', '/account/confirm-password', {
      password: 'not the password',
    });
    assert.equal(response.status, 401);
    assert.deepEqual(summaryOf(response.text), [['password', 'That password is not right.']]);
    assert.equal(fieldError(response.text, 'password'), 'That password is not right.');
  });

  it('the phone form keeps the number typed and links its problem to the field', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const response = await submitForm(agent, '/account/2fa', '/account/2fa', { phone: '12', country: 'FR' });
    assert.equal(response.status, 422);
    assert.equal(summaryOf(response.text)[0]?.[0], 'phone');
    assert.match(response.text, /id="phone"[^>]*value="12"/);
  });

  it('in development, the code step points to /dev/outbox, but only once a code went out', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    await submitForm(agent, '/account/2fa', '/account/2fa', { phone: '+33 6 12 34 56 78', country: 'FR' });
    const step = await agent.get('/account/2fa/verify').expect(200);
    assert.match(step.text, /We sent a 6-digit code by text message to <strong>\+33 • •• •• •• 78<\/strong>/);
    assert.match(step.text, /href="\/dev\/outbox"/);
    assert.equal(occurrences(step.text, '+33 • •• •• •• 78'), 1, 'said once, not again in a notice');
  });
});

describe('the code step after an error, and the way back in', () => {
  const twilio = appOnTwilio({ env: { SUPPORT_CONTACT: 'help@example.com' } });

  async function atSignInCodeStep(): Promise<{ agent: Agent; phone: string }> {
    const setup = twilio.app.agent();
    const { email } = await signUp(setup);
    const phone = `+336123499${String(10 + Math.floor(Math.random() * 89))}`;
    await turnOnTwoFactor(setup, twilio.standIn, phone);
    const agent = twilio.app.agent();
    assert.equal((await signIn(agent, email, strongPassword)).status, 303);
    return { agent, phone };
  }

  it('puts a wrong code at the Code field, once in the summary and once at the field', async () => {
    const { agent } = await atSignInCodeStep();
    const page = await agent.get('/login/2fa').expect(200);
    const wrong = await agent
      .post('/login/2fa')
      .type('form')
      .send({ code: '000000', _csrf: csrfTokenIn(page.text) });
    assert.equal(wrong.status, 422);
    const [[field, message]] = summaryOf(wrong.text) as [[string, string]];
    assert.equal(field, 'code');
    assert.equal(fieldError(wrong.text, 'code'), message);
    assert.equal(occurrences(wrong.text, message), 2);
    assert.match(wrong.text, /<input id="code"[^>]*aria-invalid="true"/);
  });

  it('says "please wait" above the form, never at the Code field', async () => {
    const { agent } = await atSignInCodeStep();
    const page = await agent.get('/login/2fa').expect(200);
    const early = await agent
      .post('/login/2fa/resend')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) });
    assert.equal(early.status, 429);
    const [[field, message]] = summaryOf(early.text) as [[string | undefined, string]];
    assert.equal(field, undefined);
    assert.match(message, /Please wait \d+ seconds/);
    assert.equal(occurrences(early.text, message), 1);
    assert.equal(fieldError(early.text, 'code'), undefined);
    assert.doesNotMatch(early.text, /aria-invalid/);
  });

  it('says the code went by text message, and does not point to the outbox with Twilio', async () => {
    const { agent } = await atSignInCodeStep();
    const page = await agent.get('/login/2fa').expect(200);
    assert.match(page.text, /We sent a 6-digit code by text message to <strong>\+33/);
    assert.doesNotMatch(page.text, /\/dev\/outbox/);
  });

  it('tells a person at the sign-in code step and on the account page how to get back in without their phone', async () => {
    const { agent } = await atSignInCodeStep();
    const step = await agent.get('/login/2fa').expect(200);
    assert.match(step.text, /Lost your phone\?/);
    assert.match(step.text, /An administrator can turn off two-factor authentication/);
    assert.match(step.text, /email <a href="mailto:help@example\.com">help@example\.com<\/a>\./);

    const setup = twilio.app.agent();
    await signUp(setup, uniqueEmail('lost'));
    await turnOnTwoFactor(setup, twilio.standIn, '+33612349999');
    const account = await setup.get('/account').expect(200);
    assert.match(account.text, /If you lose this phone, sign in with a recovery code\./);
    assert.match(account.text, /Without one, an\s+administrator can turn off two-factor authentication/);
    assert.match(account.text, /href="mailto:help@example\.com"/);
    // Not on the enrolment step: there the person still has the account and can cancel.
    await confirmPassword(setup);
    await submitForm(setup, '/account/2fa', '/account/2fa', { phone: '+33612349998', country: 'FR' });
    assert.doesNotMatch((await setup.get('/account/2fa/verify').expect(200)).text, /Lost your phone/);
  });
});

describe('the way back in without SUPPORT_CONTACT', () => {
  const running = appForTests();

  it("tells a person to contact the site's administrators", async () => {
    const agent = running.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    await submitForm(agent, '/account/2fa', '/account/2fa', { phone: '+33 6 12 34 56 77', country: 'FR' });
    const outbox = await agent.get('/dev/outbox').expect(200);
    const code = /<code class="otp">(\d+)<\/code>/.exec(outbox.text)![1]!;
    assert.equal((await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', { code })).status, 303);
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /To ask\s+for that,\s+contact the site's administrators\./);
  });
});
