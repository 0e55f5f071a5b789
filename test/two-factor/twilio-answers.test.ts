// Twilio's answers read right, over real HTTP with the real `twilio` SDK against the Verify
// stand-in: a code is checked against the verification this code step started, a refused
// check is not a wrong code, permanent refusals say so plainly, and the code page claims a
// code went out only when one did.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createLogger } from '../../src/core/logger.js';
import { ConsoleSender } from '../../src/factors/phone/senders/console.js';
import { VERIFICATION_TTL_MS } from '../../tools/twilio-stand-in/stand-in.js';
import {
  confirmPassword,
  csrfTokenIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
} from '../support/app.js';
import { appOnTwilio, personWithTwoFactor as withTwoFactor } from '../support/twilio.js';

let phoneCounter = 0;
/** A distinct valid French mobile per test, so verifications never mix between tests. */
function nextMobile(): string {
  phoneCounter += 1;
  return `+3361277${String(phoneCounter).padStart(4, '0')}`;
}

describe('Twilio answers, read by the app', () => {
  const twilio = appOnTwilio();
  afterEach(() => twilio.standIn.resetFaults());

  const personWithTwoFactor = (phone = nextMobile()) => withTwoFactor(twilio, phone);

  /** Signs in with the password, ending at the code step. */
  async function passwordStep(email: string): Promise<Agent> {
    const agent = twilio.app.agent();
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.headers.location, '/login/2fa');
    return agent;
  }

  function enterCode(agent: Agent, code: string) {
    return submitForm(agent, '/login/2fa', '/login/2fa', { code });
  }

  async function press(agent: Agent, action: string) {
    const page = await agent.get('/login/2fa').expect(200);
    return agent
      .post(action)
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) });
  }

  async function signedInAdmin(): Promise<Agent> {
    const agent = twilio.app.agent();
    const { email } = await signUp(agent);
    await twilio.app.services.database.prisma.user.update({ where: { email }, data: { role: 'ADMIN' } });
    return agent;
  }

  async function benchSend(admin: Agent, phone: string) {
    const form = await admin.get('/admin/verify').expect(200);
    const sent = await admin
      .post('/admin/verify/send')
      .type('form')
      .send({ phone, country: 'FR', channel: 'sms', _csrf: csrfTokenIn(form.text) });
    assert.equal(sent.status, 200);
    return sent;
  }

  /** Ends every verification the stand-in holds, as ten minutes would, without touching the app's clock. */
  const expireVerifications = () => twilio.standIn.advanceClock(VERIFICATION_TTL_MS + 1_000);

  // ---- Checked against the verification this step started ------------------------------------

  it('does not accept at the code step a code from a verification another sign-in started for the same number', async () => {
    const { email, phone } = await personWithTwoFactor();
    const first = await passwordStep(email);
    expireVerifications();
    const second = await passwordStep(email);
    const [firstSent, secondSent] = twilio.standIn.messagesTo(phone).slice(-2);
    assert.notEqual(secondSent!.verificationSid, firstSent!.verificationSid, 'Twilio started a new verification');

    const borrowed = await enterCode(first, secondSent!.code);
    assert.equal(borrowed.status, 410, "the first step's own verification expired; the other one is not its");
    assert.match(borrowed.text, /expired/);
    await first.get('/account').expect(303);
    assert.equal((await enterCode(second, secondSent!.code)).status, 303, 'the code still works where it was sent');
  });

  it("does not accept at the code step a code the admin test bench had sent to the same number, nor the bench a person's code", async () => {
    const { email, phone } = await personWithTwoFactor();
    const admin = await signedInAdmin();
    const person = await passwordStep(email);
    expireVerifications();
    const bench = await benchSend(admin, phone);
    const benchCode = twilio.standIn.lastCodeFor(phone)!;
    assert.equal((await enterCode(person, benchCode)).status, 410);
    await person.get('/account').expect(303);

    // The other way round: a person's fresh code is not the bench's to use up.
    expireVerifications();
    const again = await press(person, '/login/2fa/call');
    assert.equal(again.status, 303);
    const personCode = twilio.standIn.lastCodeFor(phone)!;
    const benchCheck = await admin
      .post('/admin/verify/check')
      .type('form')
      .send({ code: personCode, _csrf: csrfTokenIn(bench.text) });
    assert.doesNotMatch(benchCheck.text, /data-provider-status>approved</);
    assert.equal((await enterCode(person, personCode)).status, 303, "the person's code was not used up by the bench");
  });

  it('checks the latest verification after a resend started a new one', async () => {
    const { email, phone } = await personWithTwoFactor();
    const agent = await passwordStep(email);
    expireVerifications();
    assert.equal((await press(agent, '/login/2fa/call')).status, 303);
    const [before, latest] = twilio.standIn.messagesTo(phone).slice(-2);
    assert.notEqual(latest!.verificationSid, before!.verificationSid);
    assert.equal((await enterCode(agent, latest!.code)).status, 303);
  });

  // ---- A refused check is not a wrong code ------------------------------------------------------

  it('does not read a refused check (60200) as a wrong code, nor count it toward the lock', async () => {
    const { email, phone } = await personWithTwoFactor();
    const agent = await passwordStep(email);
    const code = twilio.standIn.lastCodeFor(phone)!;
    twilio.standIn.faults.invalidCheckParameter = true;
    // More than the wrong codes a user may enter (10) before the code step locks.
    for (let i = 0; i < 11; i += 1) {
      const refused = await enterCode(agent, code);
      assert.equal(refused.status, 422);
      assert.doesNotMatch(refused.text, /That code is not right|Too many wrong codes/);
      assert.match(refused.text, /could not be checked/);
    }
    const user = await twilio.app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    const outcomes = await twilio.app.services.database.prisma.auditEvent.findMany({
      where: { userId: user.id, type: 'code_checked' },
      select: { outcome: true },
    });
    assert.ok(!outcomes.some(({ outcome }) => outcome === 'wrong_code'), 'no wrong code was written down');
    twilio.standIn.resetFaults();
    assert.equal((await enterCode(agent, code)).status, 303, 'not locked: none of them was a wrong guess');
  });

  // ---- Permanent refusals say so plainly ----------------------------------------------------

  async function turnOnWith(phone: string) {
    const agent = twilio.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    return { agent, response: await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' }) };
  }

  it('says plainly that a fraud-blocked number (60410) gets no code, and does not call it instead', async () => {
    const phone = nextMobile();
    twilio.standIn.faults.fraudBlockedPrefixes = [phone];
    const { response } = await turnOnWith(phone);
    assert.equal(response.status, 403);
    assert.match(
      response.text,
      /No code was sent: text messages to this number are blocked for now, to protect against fraud/,
    );
    assert.match(response.text, /use another number, or contact support/);
    assert.doesNotMatch(response.text, /try again in a minute/);
    assert.equal(twilio.standIn.messagesTo(phone).length, 0, 'no automatic call around a fraud block');
  });

  it("says plainly that codes cannot go to the number's country (60605), on any channel", async () => {
    const phone = nextMobile();
    twilio.standIn.faults.geoBlockedCountries = ['FR'];
    const { response } = await turnOnWith(phone);
    assert.equal(response.status, 422);
    assert.match(
      response.text,
      /codes cannot go to phone numbers in this country. Use a number from another country, or contact support/,
    );
    assert.doesNotMatch(response.text, /try again in a minute/);
    assert.equal(twilio.standIn.messagesTo(phone).length, 0);
  });

  it('calls instead when SMS is turned off (60223) or not enabled for the country (21408), and says so', async () => {
    for (const arrange of [
      () => (twilio.standIn.faults.disabledChannels = ['sms']),
      () => (twilio.standIn.faults.smsDisabledCountries = ['FR']),
    ]) {
      arrange();
      const phone = nextMobile();
      const { agent, response } = await turnOnWith(phone);
      assert.equal(response.status, 303);
      assert.equal(twilio.standIn.messagesTo(phone).at(-1)?.channel, 'call');
      assert.match((await agent.get('/account/2fa/verify').expect(200)).text, /so we are calling/);
      const verified = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', {
        code: twilio.standIn.lastCodeFor(phone)!,
      });
      assert.equal(verified.status, 303);
      twilio.standIn.resetFaults();
    }
  });

  it('says plainly that calls are turned off (60223) when a call is asked for, and offers a text message', async () => {
    const { email, phone } = await personWithTwoFactor();
    const agent = await passwordStep(email);
    twilio.standIn.faults.disabledChannels = ['call'];
    const call = await press(agent, '/login/2fa/call');
    assert.equal(call.status, 422);
    assert.match(
      call.text,
      /codes by phone call are turned off here. Ask for a text message instead, or contact support/,
    );
    assert.doesNotMatch(call.text, /try again in a minute/);
    assert.equal(twilio.standIn.messagesTo(phone).at(-1)?.channel, 'sms', 'no call went out');
  });

  it('answers too many concurrent requests for a number (60212) as a rate limit', async () => {
    const phone = nextMobile();
    twilio.standIn.faults.tooManyConcurrentRequests = true;
    const { response } = await turnOnWith(phone);
    assert.equal(response.status, 429);
    assert.match(response.text, /Too many codes were asked for this number/);
  });

  // ---- The code page claims a code went out only when one did --------------------------------

  it('after a failed send at sign-in, says what happened and offers "Resend code" and "Call me instead", claiming no code', async () => {
    const { email, phone } = await personWithTwoFactor();
    const sentBefore = twilio.standIn.messagesTo(phone).length;
    twilio.standIn.faults.fraudBlockedPrefixes = [phone];
    const agent = await passwordStep(email);
    assert.equal(twilio.standIn.messagesTo(phone).length, sentBefore, 'nothing went out');

    const page = await agent.get('/login/2fa').expect(200);
    assert.doesNotMatch(page.text, /we sent|enter the 6-digit code/i);
    assert.match(page.text, /No code has gone to <strong>\+33/);
    assert.match(page.text, /text messages to this number are blocked for now/, 'what happened');
    for (const button of ['Resend code', 'Call me instead'])
      assert.ok(page.text.includes(`>${button}</button>`), button);
    assert.doesNotMatch(page.text, /name="code"/, 'no code to enter');

    const premature = await agent
      .post('/login/2fa')
      .type('form')
      .send({ code: '123456', _csrf: csrfTokenIn(page.text) });
    assert.equal(premature.status, 409);
    assert.match(premature.text, /No code has been sent yet/);

    // Fraud Guard blocks SMS only: the call the person asks for goes out, and its code works.
    const call = await agent
      .post('/login/2fa/call')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) });
    assert.equal(call.status, 303);
    const after = await agent.get('/login/2fa').expect(200);
    assert.match(after.text, /We are calling <strong>\+33/);
    assert.equal((await enterCode(agent, twilio.standIn.lastCodeFor(phone)!)).status, 303);
  });

  it('after Twilio failed at sign-in, says so without claiming a code went out', async () => {
    const { email } = await personWithTwoFactor();
    twilio.standIn.faults.down = true;
    const agent = await passwordStep(email);
    const page = await agent.get('/login/2fa').expect(200);
    assert.doesNotMatch(page.text, /we sent/i);
    // The connection dropped after the request went out: the code may yet arrive.
    assert.match(page.text, /We could not confirm that your code was sent, so it may or may not arrive/);
    assert.match(page.text, /We could not confirm that a code went to/);
    assert.doesNotMatch(page.text, /No code has gone/);
  });
});

describe('console provider (development)', () => {
  it('checks a code against the verification it names, as Twilio does', async () => {
    const provider = new ConsoleSender(createLogger('silent'));
    const first = await provider.start('+33612880001', 'sms');
    const firstCode = provider.outbox()[0]!.code;
    const wrong = firstCode === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i += 1) await provider.check(first.sid!, wrong);
    const second = await provider.start('+33612880001', 'sms');
    assert.notEqual(second.sid, first.sid, 'a code killed by wrong guesses gives way to a new one');
    const secondCode = provider.outbox()[0]!.code;
    assert.notEqual((await provider.check(first.sid!, secondCode)).status, 'approved', 'not the verification named');
    assert.equal((await provider.check(second.sid!, secondCode)).status, 'approved');
    assert.equal((await provider.check(second.sid!, secondCode)).status, 'expired', 'used once');
  });
});
