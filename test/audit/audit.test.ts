// The audit trail, as an investigator and the account's owner would read it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { confirmPassword, signIn, signUp, strongPassword, submitForm, uniqueEmail } from '../support/app.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';

const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

describe('audit trail', () => {
  const twilio = appOnTwilio();

  const events = (where: object = {}) =>
    twilio.app.services.database.prisma.auditEvent.findMany({ where, orderBy: { id: 'asc' } });

  it('records failed and successful sign-ins with time, user, IP and browser', async () => {
    const { email } = await signUp(twilio.app.agent());
    const user = await twilio.app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    const before = Date.now();
    await signIn(twilio.app.agent().set('User-Agent', FIREFOX), email, 'wrong password here');
    await signIn(twilio.app.agent(), uniqueEmail('ghost'), strongPassword);
    await signIn(twilio.app.agent().set('User-Agent', FIREFOX), email, strongPassword);

    const mine = await events({ userId: user.id, type: { in: ['sign_in_password', 'sign_in'] } });
    assert.deepEqual(
      mine.map((event) => [event.type, event.outcome]),
      [
        ['sign_in', 'ok'], // signing up signs the person in
        ['sign_in_password', 'failed'],
        ['sign_in_password', 'ok'],
        ['sign_in', 'ok'],
      ],
    );
    for (const event of mine) {
      assert.equal(event.ip, '127.0.0.1');
      assert.ok(event.at.getTime() >= before - 60_000 && event.at.getTime() <= Date.now());
    }
    assert.equal(mine[1]!.userAgent, FIREFOX);
    const unknown = await events({ type: 'sign_in_password', userId: null });
    assert.ok(unknown.some((event) => (event.detail as { reason?: string }).reason === 'unknown_account'));
  });

  it('records codes sent and checked, and 2FA turned on and off, without codes, passwords or phone numbers', async () => {
    const agent = twilio.app.agent();
    const { email } = await signUp(agent);
    const phone = '+33698765432';
    await turnOnTwoFactor(agent, twilio.standIn, phone);
    const other = twilio.app.agent();
    await signIn(other, email, strongPassword);
    await submitForm(other, '/login/2fa', '/login/2fa', { code: '000000' });
    await submitForm(other, '/login/2fa', '/login/2fa', { code: twilio.standIn.lastCodeFor(phone)! });
    await submitForm(other, '/account/confirm-password', '/account/confirm-password', { password: 'not it at all' });
    await confirmPassword(other);
    await submitForm(other, '/account/2fa/disable', '/account/2fa/disable', {});

    const user = await twilio.app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    const trail = (await events({ userId: user.id })).map((event) => `${event.type}:${event.outcome}`);
    assert.deepEqual(trail, [
      'sign_up:ok',
      // The link confirming the address, mailed with the sign-up.
      'email_verification_sent:ok',
      'sign_in:ok',
      'password_confirmation:ok',
      'code_sent:ok',
      'code_checked:ok',
      'two_factor_enabled:ok',
      // The first factor brings a set of recovery codes.
      'recovery_codes_made:ok',
      'sign_in_password:ok',
      'code_sent:ok',
      'code_checked:wrong_code',
      'code_checked:ok',
      'sign_in:ok',
      'password_confirmation:failed',
      'password_confirmation:ok',
      'two_factor_disabled:ok',
    ]);
    const sent = (await events({ userId: user.id, type: 'code_sent' }))[0]!;
    assert.deepEqual(sent.detail, {
      channel: 'sms',
      requested: 'sms',
      fellBack: false,
      purpose: 'enrolment',
      phone: '+33…32',
    });

    const everything = JSON.stringify(await events(), (_key, value: unknown) =>
      typeof value === 'bigint' ? String(value) : value,
    );
    for (const message of twilio.standIn.outbox)
      assert.ok(!everything.includes(message.code), 'no code in the audit trail');
    assert.ok(!everything.includes(strongPassword), 'no password in the audit trail');
    assert.ok(!everything.includes('98765432'), 'no full phone number in the audit trail');
  });

  it('shows people their recent sign-ins and the failed attempts since their last visit', async () => {
    const { email } = await signUp(twilio.app.agent());
    await signIn(twilio.app.agent().set('User-Agent', FIREFOX), email, strongPassword);
    for (let i = 0; i < 3; i += 1) await signIn(twilio.app.agent(), email, `guess number ${i}`);
    const agent = twilio.app.agent().set('User-Agent', FIREFOX);
    await signIn(agent, email, strongPassword);
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /3 failed sign-in attempts since your last visit/);
    assert.match(account.text, /Firefox on Windows/);
    assert.equal((account.text.match(/Failed attempt/g) ?? []).length, 3);
    assert.match(account.text, /127\.0\.0\.1/);
  });

  it('does not count a mistyped code while turning 2FA on as a failed sign-in', async () => {
    const agent = twilio.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const phone = '+33698765401';
    await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' });
    const mistyped = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', { code: '000000' });
    assert.equal(mistyped.status, 422, 'the enrolment code was refused');
    const verified = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', {
      code: twilio.standIn.lastCodeFor(phone)!,
    });
    assert.equal(verified.status, 303);

    const account = await agent.get('/account').expect(200);
    assert.doesNotMatch(account.text, /failed sign-in attempt/);
    assert.doesNotMatch(account.text, /Failed attempt/);
  });

  it('counts a wrong code at the sign-in code step, and says what the person can do', async () => {
    const agent = twilio.app.agent();
    const { email } = await signUp(agent);
    const phone = '+33698765402';
    await turnOnTwoFactor(agent, twilio.standIn, phone);
    const other = twilio.app.agent();
    await signIn(other, email, strongPassword);
    await submitForm(other, '/login/2fa', '/login/2fa', { code: '000000' });
    await submitForm(other, '/login/2fa', '/login/2fa', { code: twilio.standIn.lastCodeFor(phone)! });

    const account = await other.get('/account').expect(200);
    assert.match(account.text, /1 failed sign-in attempt since your last visit/);
    assert.match(account.text, /A wrong code was typed after your correct password/);
    assert.match(account.text, /Sign out everywhere/);
    assert.equal((account.text.match(/Failed attempt: wrong code/g) ?? []).length, 1);
  });

  it('tells someone without 2FA to turn it on after wrong passwords, and someone with it that it keeps guessers out', async () => {
    const agent = twilio.app.agent();
    const { email } = await signUp(agent);
    await signIn(twilio.app.agent(), email, 'a wrong guess');
    const without = twilio.app.agent();
    await signIn(without, email, strongPassword);
    const warned = await without.get('/account').expect(200);
    assert.match(warned.text, /1 failed sign-in attempt since your last visit/);
    assert.match(
      warned.text,
      /<a href="\/account\/2fa">Turn on two-factor authentication<\/a> so that your password alone/,
    );
    assert.match(warned.text, /Failed attempt: wrong password/);

    const phone = '+33698765403';
    await turnOnTwoFactor(without, twilio.standIn, phone);
    await signIn(twilio.app.agent(), email, 'another wrong guess');
    const withTwoFactor = twilio.app.agent();
    await signIn(withTwoFactor, email, strongPassword);
    await submitForm(withTwoFactor, '/login/2fa', '/login/2fa', { code: twilio.standIn.lastCodeFor(phone)! });
    const reassured = await withTwoFactor.get('/account').expect(200);
    assert.match(reassured.text, /1 failed sign-in attempt since your last visit/);
    assert.match(reassured.text, /Two-factor authentication\s+keeps them out/);
  });
});
