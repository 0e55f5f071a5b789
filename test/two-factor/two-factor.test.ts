// Phone two-factor authentication over real HTTP, with the real `twilio` SDK talking to the
// Verify stand-in.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  confirmPassword,
  csrfTokenIn,
  sessionCookie,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
} from '../support/app.js';
import { appOnTwilio, startAppOnTwilio, personWithTwoFactor as withTwoFactor } from '../support/twilio.js';

const MOBILE = '+33 6 12 34 56 78';
const MOBILE_E164 = '+33612345678';
const LANDLINE_E164 = '+442079460958';

let phoneCounter = 0;
/** A distinct valid French mobile per test, so codes never mix between tests. */
function nextMobile(): string {
  phoneCounter += 1;
  return `+3361234${String(5600 + phoneCounter).padStart(4, '0')}`;
}

describe('phone two-factor authentication against the Twilio Verify stand-in', () => {
  const twilio = appOnTwilio();
  afterEach(() => twilio.standIn.resetFaults());

  const personWithTwoFactor = (phone = nextMobile()) => withTwoFactor(twilio, phone);

  /** Signs in with the password, ending at the code step; returns the new agent. */
  async function passwordStep(
    email: string,
    extra: Record<string, string> = {},
  ): Promise<{ agent: Agent; cookie: string }> {
    const agent = twilio.app.agent();
    const response = await signIn(agent, email, strongPassword, extra);
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login/2fa');
    return { agent, cookie: sessionCookie(response)! };
  }

  function enterCode(agent: Agent, code: string) {
    return submitForm(agent, '/login/2fa', '/login/2fa', { code });
  }

  /** A fresh sign-in with password and code: signed in, password not confirmed since. */
  async function signedInWithCode(email: string, phone: string): Promise<Agent> {
    const { agent } = await passwordStep(email);
    assert.equal((await enterCode(agent, twilio.standIn.lastCodeFor(phone)!)).status, 303);
    return agent;
  }

  const twoFactorOf = (phone: string) =>
    twilio.app.services.database.prisma.userFactor.findFirst({ where: { kind: 'phone', phoneNumber: phone } });

  it('says "Two-factor authentication: Off" until it is turned on with a checked code', async () => {
    const agent = twilio.app.agent();
    await signUp(agent);
    assert.match((await agent.get('/account').expect(200)).text, /Two-factor authentication: Off/);
    assert.match((await agent.get('/account').expect(200)).text, /Turn on two-factor authentication/);

    const asked = await agent.get('/account/2fa').expect(303);
    assert.equal(
      asked.headers.location,
      '/account/confirm-password?next=%2Faccount%2F2fa',
      'the sign-up password does not count',
    );
    await confirmPassword(agent);
    const form = await agent.get('/account/2fa').expect(200);
    assert.doesNotMatch(form.text, /type="password"/, 'no password field once it is confirmed');
    assert.match(form.text, /<label for="phone">Phone number<\/label>/);
    assert.match(form.text, /Send code<\/button>/);
    const phone = nextMobile();
    const sent = await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' });
    assert.equal(sent.status, 303);
    assert.equal(twilio.standIn.messagesTo(phone).at(-1)?.channel, 'sms');

    const step = await agent.get('/account/2fa/verify').expect(200);
    assert.match(step.text, /<label for="code">Code<\/label>/);
    assert.match(step.text, /autocomplete="one-time-code"/);
    assert.match(step.text, /inputmode="numeric"/);
    for (const button of ['Verify', 'Resend code', 'Call me instead'])
      assert.ok(step.text.includes(`>${button}</button>`), button);
    assert.match(
      (await agent.get('/account').expect(200)).text,
      /Two-factor authentication: Off/,
      'not on before the check',
    );

    const wrong = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', { code: '000000' });
    assert.equal(wrong.status, 422);
    assert.match(wrong.text, /That code is not right/);

    const code = twilio.standIn.lastCodeFor(phone)!;
    const spaced = `${code.slice(0, 3)} ${code.slice(3)}`;
    const ok = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', { code: spaced });
    assert.equal(ok.status, 303);
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /Two-factor authentication: On/);
    assert.ok(!account.text.includes(phone.slice(3, 9)), 'the phone is shown masked');
    assert.ok(await twoFactorOf(phone));
  });

  it('refuses a phone number it cannot read, keeping what was typed', async () => {
    const agent = twilio.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const response = await submitForm(agent, '/account/2fa', '/account/2fa', { phone: '06 12 34', country: 'FR' });
    assert.equal(response.status, 422);
    assert.match(response.text, /not a valid phone number/);
    assert.match(response.text, /value="06 12 34"/);
  });

  it('asks for the code after the password, and lets the person in with it, keeping next and "Remember me"', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent, cookie: pendingCookie } = await passwordStep(email, {
      next: '/account?tab=security',
      remember: 'on',
    });
    assert.equal(twilio.standIn.messagesTo(phone).at(-1)?.channel, 'sms', 'a code is sent automatically');
    const step = await agent.get('/login/2fa').expect(200);
    assert.match(step.text, /\+33 • •• •• •• \d\d/);

    const response = await enterCode(agent, twilio.standIn.lastCodeFor(phone)!);
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/account?tab=security');
    const cookies = (response.headers['set-cookie'] as unknown as string[]).join(';');
    assert.ok(Date.parse(/Expires=([^;]+)/.exec(cookies)![1]!) - Date.now() > 29 * 86_400_000, 'remembered for weeks');
    assert.notEqual(sessionCookie(response), pendingCookie, 'a new session ID after the code');
    await agent.get('/account').expect(200);
    const replay = await twilio.app.agent().get('/account').set('Cookie', pendingCookie);
    assert.equal(replay.status, 303, 'the pending session ID signs no one in');
  });

  it('changes the session ID when the password is accepted, and grants nothing until the code', async () => {
    const { email } = await personWithTwoFactor();
    const agent = twilio.app.agent();
    const form = await agent.get('/login').expect(200);
    const anonymous = sessionCookie(form);
    const response = await agent
      .post('/login')
      .type('form')
      .send({ email, password: strongPassword, _csrf: csrfTokenIn(form.text) });
    assert.equal(response.headers.location, '/login/2fa');
    assert.notEqual(sessionCookie(response), anonymous);
    for (const page of ['/account', '/account/2fa', '/account/2fa/disable']) {
      const refused = await agent.get(page);
      assert.equal(refused.status, 303, page);
      assert.match(refused.headers.location as string, /^\/login/);
    }
    await agent.get('/signup').expect(200);
  });

  it('refuses a wrong code, and a code that is not digits without asking Twilio', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent } = await passwordStep(email);
    for (let i = 0; i < 6; i += 1) {
      const letters = await enterCode(agent, 'abcdef');
      assert.equal(letters.status, 422);
      assert.match(letters.text, /The code is 6 digits/);
    }
    const wrong = await enterCode(agent, '000000');
    assert.equal(wrong.status, 422);
    assert.match(wrong.text, /That code is not right/);
    await agent.get('/account').expect(303);
    // The six non-digit tries used none of Twilio's five checks.
    assert.equal((await enterCode(agent, twilio.standIn.lastCodeFor(phone)!)).status, 303);
  });

  it('kills the code after the 5th wrong one (60202); a new code works', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent } = await passwordStep(email);
    const code = twilio.standIn.lastCodeFor(phone)!;
    const wrongCode = code === '111111' ? '222222' : '111111';
    for (let i = 1; i <= 4; i += 1) assert.equal((await enterCode(agent, wrongCode)).status, 422);
    const fifth = await enterCode(agent, wrongCode);
    assert.equal(fifth.status, 429);
    assert.match(fifth.text, /Too many wrong codes/);
    const rightButDead = await enterCode(agent, code);
    assert.equal(rightButDead.status, 429, 'the right code no longer works');
    await agent.get('/account').expect(303);

    const page = await agent.get('/login/2fa').expect(200);
    const call = await agent
      .post('/login/2fa/call')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) });
    assert.equal(call.status, 303, 'a new code can be sent');
    const fresh = twilio.standIn.messagesTo(phone).at(-1)!;
    assert.equal(fresh.channel, 'call');
    assert.notEqual(
      fresh.verificationSid,
      twilio.standIn.messagesTo(phone).at(-2)!.verificationSid,
      'a new verification',
    );
    assert.equal((await enterCode(agent, fresh.code)).status, 303);
  });

  it('says a code has expired after 10 minutes', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent } = await passwordStep(email);
    const code = twilio.standIn.lastCodeFor(phone)!;
    twilio.standIn.advanceClock(10 * 60_000 + 1_000);
    const response = await enterCode(agent, code);
    assert.equal(response.status, 410);
    assert.match(response.text, /expired/);
    await agent.get('/account').expect(303);
  });

  it('holds back "Resend code" for the cooldown, with Retry-After', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent } = await passwordStep(email);
    const sentBefore = twilio.standIn.messagesTo(phone).length;
    const page = await agent.get('/login/2fa').expect(200);
    assert.match(page.text, /You can ask for a new code in (2\d|30) seconds/);
    const early = await agent
      .post('/login/2fa/resend')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) });
    assert.equal(early.status, 429);
    assert.ok(Number(early.headers['retry-after']) > 0);
    assert.match(early.text, /Please wait \d+ seconds/);
    assert.equal(twilio.standIn.messagesTo(phone).length, sentBefore, 'nothing was sent');
  });

  it('calls instead on request, and the code read out works', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent } = await passwordStep(email);
    const page = await agent.get('/login/2fa').expect(200);
    const call = await agent
      .post('/login/2fa/call')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) });
    assert.equal(call.status, 303);
    assert.equal(twilio.standIn.messagesTo(phone).at(-1)?.channel, 'call');
    const step = await agent.get('/login/2fa').expect(200);
    assert.match(step.text, /We are calling <strong>\+33/);
    assert.equal((await enterCode(agent, twilio.standIn.lastCodeFor(phone)!)).status, 303);
  });

  it('calls a landline automatically when Twilio refuses SMS (60205), and says so', async () => {
    const agent = twilio.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const sent = await submitForm(agent, '/account/2fa', '/account/2fa', { phone: '020 7946 0958', country: 'GB' });
    assert.equal(sent.status, 303);
    assert.equal(twilio.standIn.messagesTo(LANDLINE_E164).at(-1)?.channel, 'call');
    const step = await agent.get('/account/2fa/verify').expect(200);
    assert.match(step.text, /cannot receive text messages right now, so we are calling/);
  });

  it('calls when the SMS route is failing', async () => {
    const { email, phone } = await personWithTwoFactor();
    twilio.standIn.faults.failingChannels = ['sms'];
    const { agent } = await passwordStep(email);
    assert.equal(twilio.standIn.messagesTo(phone).at(-1)?.channel, 'call');
    assert.equal((await enterCode(agent, twilio.standIn.lastCodeFor(phone)!)).status, 303);
  });

  it('lets nobody in while Twilio is down, slow or failing, and shows a calm message', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent } = await passwordStep(email);
    const code = twilio.standIn.lastCodeFor(phone)!;
    for (const fault of ['down', 'slow', 'serverError'] as const) {
      if (fault === 'down') twilio.standIn.faults.down = true;
      if (fault === 'slow') twilio.standIn.faults.delayMs = 1_500;
      if (fault === 'serverError') twilio.standIn.faults.serverError = true;
      const response = await enterCode(agent, code);
      assert.equal(response.status, 503, fault);
      assert.match(response.text, /cannot be sent or checked right now/);
      assert.doesNotMatch(response.text, /RestException|ECONN|at .*\.(js|ts):\d+/);
      await agent.get('/account').expect(303);
      twilio.standIn.resetFaults();
    }
    assert.equal((await enterCode(agent, code)).status, 303, 'works again once Twilio is back');
  });

  it('fails closed when Twilio refuses the credentials (20003)', async () => {
    const wrongCredentials = await startAppOnTwilio(twilio.standIn, { env: { TWILIO_AUTH_TOKEN: 'not-the-token' } });
    try {
      const agent = wrongCredentials.agent();
      await signUp(agent);
      await confirmPassword(agent);
      const response = await submitForm(agent, '/account/2fa', '/account/2fa', { phone: MOBILE, country: 'FR' });
      assert.equal(response.status, 503);
      assert.match(response.text, /cannot be sent or checked right now/);
      assert.equal(twilio.standIn.messagesTo(MOBILE_E164).length, 0);
    } finally {
      await wrongCredentials.close();
    }
  });

  it('turns off only after the password is confirmed on its own page, not with the sign-in one', async () => {
    const { email, phone } = await personWithTwoFactor();
    const agent = await signedInWithCode(email, phone);
    const asked = await agent.get('/account/2fa/disable').expect(303);
    assert.equal(asked.headers.location, '/account/confirm-password?next=%2Faccount%2F2fa%2Fdisable');
    const token = csrfTokenIn((await agent.get('/account').expect(200)).text);
    const unconfirmed = await agent.post('/account/2fa/disable').type('form').send({ _csrf: token });
    assert.equal(unconfirmed.status, 303);
    assert.equal(unconfirmed.headers.location, '/account/confirm-password?next=%2Faccount%2F2fa%2Fdisable');
    assert.ok(await twoFactorOf(phone), 'a POST without a confirmation changes nothing');

    const confirmPage = await agent.get(asked.headers.location as string).expect(200);
    assert.match(confirmPage.text, /<h1>Confirm your password<\/h1>/);
    assert.match(confirmPage.text, /Nothing was changed: confirm your password first/);
    assert.match(confirmPage.text, /<label for="password">Password<\/label>/);
    assert.match(confirmPage.text, /autocomplete="current-password"/);
    assert.match(confirmPage.text, />Confirm<\/button>/);
    const wrong = await agent
      .post('/account/confirm-password')
      .type('form')
      .send({ password: 'not my password', next: '/account/2fa/disable', _csrf: csrfTokenIn(confirmPage.text) });
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /That password is not right/);
    const right = await agent
      .post('/account/confirm-password')
      .type('form')
      .send({ password: strongPassword, next: '/account/2fa/disable', _csrf: csrfTokenIn(wrong.text) });
    assert.equal(right.status, 303);
    assert.equal(right.headers.location, '/account/2fa/disable');

    const page = await agent.get('/account/2fa/disable').expect(200);
    assert.match(page.text, />Turn off two-factor authentication<\/button>/);
    assert.doesNotMatch(page.text, /type="password"/);
    const off = await agent
      .post('/account/2fa/disable')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) });
    assert.equal(off.status, 303);
    assert.match((await agent.get('/account').expect(200)).text, /Two-factor authentication: Off/);
  });

  it('changes the phone only after confirming the password and checking the new number', async () => {
    const { email, phone } = await personWithTwoFactor();
    const agent = await signedInWithCode(email, phone);
    const newPhone = nextMobile();
    const token = csrfTokenIn((await agent.get('/account').expect(200)).text);
    const unconfirmed = await agent
      .post('/account/2fa')
      .type('form')
      .send({ phone: newPhone, country: 'FR', _csrf: token });
    assert.equal(unconfirmed.status, 303);
    assert.equal(unconfirmed.headers.location, '/account/confirm-password?next=%2Faccount%2F2fa');
    assert.equal(twilio.standIn.messagesTo(newPhone).length, 0, 'nothing is sent without a confirmation');
    assert.equal(
      (
        await submitForm(agent, '/account/confirm-password', '/account/confirm-password', {
          password: 'nope nope nope',
        })
      ).status,
      401,
    );
    await agent.get('/account/2fa').expect(303);

    await confirmPassword(agent);
    const form = await agent.get('/account/2fa').expect(200);
    assert.match(form.text, /Change your phone number/);
    assert.doesNotMatch(form.text, /type="password"/);
    const sent = await submitForm(agent, '/account/2fa', '/account/2fa', { phone: newPhone, country: 'FR' });
    assert.equal(sent.status, 303);
    const phones = async () =>
      (
        await twilio.app.services.database.prisma.userFactor.findMany({ where: { user: { email }, kind: 'phone' } })
      ).map((factor) => factor.phoneNumber);
    assert.deepEqual(await phones(), [phone], 'the old phone stays until the new one is checked');
    const verified = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', {
      code: twilio.standIn.lastCodeFor(newPhone)!,
    });
    assert.equal(verified.status, 303);
    assert.deepEqual(await phones(), [newPhone]);
  });

  it('does not send again when "Send code" is pressed twice for the same number', async () => {
    const agent = twilio.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const phone = nextMobile();
    assert.equal((await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' })).status, 303);
    assert.equal((await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' })).status, 303);
    assert.equal(twilio.standIn.messagesTo(phone).length, 1);
    assert.match((await agent.get('/account/2fa/verify').expect(200)).text, /it is still valid/);
  });

  it('says when "Send code" pressed again within the cooldown may be pressed again (Retry-After)', async () => {
    const agent = twilio.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const phone = nextMobile();
    await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' });
    const again = await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' });
    assert.equal(again.status, 303);
    const wait = Number(again.headers['retry-after']);
    assert.ok(wait > 0 && wait <= 30, `Retry-After: ${again.headers['retry-after']}`);
  });

  it('sends the person back to the password after 10 minutes at the code step', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent, cookie } = await passwordStep(email);
    const token = csrfTokenIn((await agent.get('/login/2fa').expect(200)).text);
    // Age the real stored session by ten minutes, as the clock would.
    const sessionId = decodeURIComponent(cookie.split('=')[1]!).slice(2).split('.')[0]!;
    const { store } = twilio.app.services.sessions;
    const stored = await new Promise<Record<string, { startedAt: number }>>((resolve, reject) =>
      store.get(sessionId, (error, data) => (error ? reject(error as Error) : resolve(data as never))),
    );
    stored.pendingSignIn!.startedAt -= 10 * 60_000 + 1_000;
    await new Promise<void>((resolve, reject) =>
      store.set(sessionId, stored as never, (error) => (error ? reject(error as Error) : resolve())),
    );

    const late = await agent
      .post('/login/2fa')
      .type('form')
      .send({ code: twilio.standIn.lastCodeFor(phone)!, _csrf: token });
    assert.equal(late.status, 303);
    assert.equal(late.headers.location, '/login', 'even the right code is too late');
    await agent.get('/account').expect(303);
    assert.match(
      (await agent.get('/login').expect(200)).text,
      /That sign-in took too long/,
      'the message survives a redirect',
    );
  });

  it('does not sign in an account an admin locked while its owner was at the code step', async () => {
    const { email, phone } = await personWithTwoFactor();
    const { agent } = await passwordStep(email);
    const token = csrfTokenIn((await agent.get('/login/2fa').expect(200)).text);
    const { prisma } = twilio.app.services.database;
    const user = await prisma.user.update({ where: { email }, data: { lockedAt: new Date() } });
    const since = new Date();

    const response = await agent
      .post('/login/2fa')
      .type('form')
      .send({ code: twilio.standIn.lastCodeFor(phone)!, _csrf: token });
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login');
    await agent.get('/account').expect(303);
    assert.match((await agent.get('/login').expect(200)).text, /This account is locked/);
    const outcomes = await prisma.auditEvent.findMany({
      where: { userId: user.id, type: 'sign_in', at: { gte: since } },
    });
    assert.deepEqual(
      outcomes.map((event) => event.outcome),
      ['locked'],
    );
  });

  it('"Cancel" at the code step returns to the sign-in page', async () => {
    const { email } = await personWithTwoFactor();
    const { agent } = await passwordStep(email);
    const page = await agent.get('/login/2fa').expect(200);
    const cancel = await agent
      .post('/login/2fa/cancel')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) });
    assert.equal(cancel.status, 303);
    assert.equal(cancel.headers.location, '/login');
    const after = await agent.get('/login/2fa');
    assert.equal(after.status, 303);
    assert.equal(after.headers.location, '/login');
  });

  it('lists no codes on /dev/outbox when codes go through Twilio (only the mail that went to the log)', async () => {
    const page = await twilio.app.agent().get('/dev/outbox').expect(200);
    assert.doesNotMatch(page.text, /<h2>Codes<\/h2>/);
    assert.match(page.text, /<h2>Mail<\/h2>/);
  });
});
